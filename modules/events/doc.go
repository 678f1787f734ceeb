// Package events owns ingestion: it validates producers' events, stores each
// exactly once (idempotency keys), asks billing for quota and counts usage,
// and, in the same transaction, enqueues the event.process job that the
// rules module works. Single-event requests are group-committed (commit.go);
// batches are one transaction (batch.go). The events table is partitioned
// by retention and time, and kept by the events.partitions job
// (partition.go, docs/storage.md). SignalOps' own events for a tenant
// (source "signalops": the soft-limit notice, a channel's circuit opening
// and closing) go through RecordTx in the caller's transaction and are
// processed like any other. Each tenant keeps a versioned catalog of its
// event types (catalog.go); a type's JSON Schema validates its payloads at
// ingestion, in the request goroutine before the group commit
// (ingestschema.go), with compiled schemas cached per process
// (schemacache.go) under budgets that bound what a tenant's schema can cost
// (schema.go, schemacost.go).
//
// Tables: events (and its partitions events_r<days>[_p<date>]),
// event_idempotency, event_types, event_type_versions, event_type_catalogs.
// Routes: POST /api/events, POST /api/events/batch, GET /api/events,
// GET /api/events/stream (Server-Sent Events, polled), GET /api/events/{id};
// the catalog: GET /api/event-types, GET/PUT/DELETE /api/event-types/{type},
// GET /api/event-types/{type}/versions, POST /api/event-types/{type}/rollback.
// Jobs: publishes event.process (ProcessArgs); works events.partitions
// (PartitionsArgs, periodic).
// Imports: auth (principal, scopes), billing (quota, usage), platform.
package events
