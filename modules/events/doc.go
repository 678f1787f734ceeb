// Package events owns ingestion: it validates producers' events, stores each
// exactly once (idempotency keys), asks billing for quota and counts usage,
// and, in the same transaction, enqueues the event.process job that the
// rules module works. Single-event requests are group-committed (commit.go);
// batches are one transaction (batch.go).
//
// Tables: events.
// Routes: POST /api/events, POST /api/events/batch, GET /api/events,
// GET /api/events/{id}.
// Jobs: publishes event.process (ProcessArgs); works none.
// Imports: auth (principal, scopes), billing (quota, usage), platform.
package events
