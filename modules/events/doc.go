// Package events owns ingestion: it validates producers' events, stores each
// exactly once (idempotency keys) and, in the same transaction, enqueues the
// event.process job that the rules module works.
//
// Tables: events.
// Routes: POST /api/events, GET /api/events, GET /api/events/{id}.
// Jobs: publishes event.process (ProcessArgs); works none.
// Imports: auth (principal, scopes), platform.
package events
