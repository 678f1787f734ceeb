// Package events owns ingestion: it validates producers' events, stores each
// exactly once (idempotency keys), asks billing for quota and counts usage,
// and, in the same transaction, enqueues the event.process job that the
// rules module works. Single-event requests are group-committed (commit.go);
// batches are one transaction (batch.go). The events table is partitioned
// by retention and time, and kept by the events.partitions job
// (partition.go, docs/storage.md). SignalOps' own events for a tenant
// (source "signalops": the soft-limit notice, a channel's circuit opening
// and closing) go through RecordTx in the caller's transaction and are
// processed like any other.
//
// Tables: events (and its partitions events_r<days>[_p<date>]),
// event_idempotency.
// Routes: POST /api/events, POST /api/events/batch, GET /api/events,
// GET /api/events/stream (Server-Sent Events, polled), GET /api/events/{id}.
// Jobs: publishes event.process (ProcessArgs); works events.partitions
// (PartitionsArgs, periodic).
// Imports: auth (principal, scopes), billing (quota, usage), platform.
package events
