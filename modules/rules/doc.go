// Package rules works the event.process job: it evaluates a tenant's rules
// against each stored event and hands matches on. Until rule storage lands,
// the worker records that the event was processed, in the same transaction
// that completes the job.
//
// Tables: none yet (rules and rule_versions arrive with the rules API).
// Routes: none yet.
// Jobs: works event.process (events.ProcessArgs).
// Imports: events, auth, platform.
package rules
