// Package billing owns plans, their limits and usage: per-tenant monthly
// counters (events, rule evaluations, notifications by channel kind), the
// hard-limit admission check of ingestion, and the once-per-period soft
// limit notice.
//
// Tables: usage_counters (sharded: no hot row), usage_notices.
// Routes: GET /api/usage, GET /api/usage/history.
// Jobs: none.
// Imports: auth, platform. Never events or notify (they import billing).
package billing
