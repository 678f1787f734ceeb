// Package faulttest is SignalOps' reliability fault-test harness ("nothing
// accepted is lost"). Its tests build the signalops binary once, run real
// serve and work processes against a fresh database, drive load at them while
// killing processes, terminating database connections or stopping them with
// SIGTERM, and then check the invariants of docs/reliability.md: every
// acknowledged event is stored, processed and delivered to a webhook receiver
// that verifies signatures, with duplicates only where at-least-once delivery
// allows them.
//
// The tests are skipped unless SIGNALOPS_FAULT is set:
//
//	SIGNALOPS_FAULT=short go test -count=1 -timeout 8m -v ./cmd/faulttest/   # CI: every scenario, under 4 minutes
//	SIGNALOPS_FAULT=long  go test -count=1 -timeout 30m -v ./cmd/faulttest/  # longer load, plus a PostgreSQL restart
//
// TestPrimaryFailover builds its own primary and synchronous standby from the
// PostgreSQL server binaries on the machine (platform/testdb.StartServer),
// kills the primary and promotes the standby.
//
// They need PostgreSQL at TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) as a role that
// may create databases and terminate their backends. The long form restarts
// the whole PostgreSQL cluster with pg_ctlcluster (as root; the newest version,
// cluster "main", or SIGNALOPS_FAULT_PG_CLUSTER=<version>/<name>): run it
// alone, never beside other tests.
package faulttest
