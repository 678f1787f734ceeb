// Package rules owns tenants' versioned JSON rules: the rule language
// (definition.go: validation with JSON paths; event.go: what a rule sees
// of an event; compiled.go: a compiled rule, Match and GroupKey;
// compile.go: the compiler; eval.go: condition trees and operators;
// field.go, typematch.go, valueset.go, number.go: field paths, type globs,
// in/nin sets, exact decimals; template.go: strict templates), storage
// with immutable versions, and the event.process worker, which evaluates
// the tenant's enabled rules against each stored event, records matches
// (whether each fired and, if not, why), decides thresholds and cooldowns
// under a per-group row lock, collects digest actions and hands firings to
// notify — all in one transaction (shared by a group of jobs, see
// jobs.go); River completes the jobs after it committed. The rules.digest
// worker turns a digest into one delivery (digest.go, workflow.go).
//
// Tables: rules, rule_versions, rule_matches, rule_groups, rule_digests,
// rule_digest_items.
// Routes: /api/rules, /api/rules/{id}, /api/rules/{id}/versions,
// /api/rules/{id}/rollback, /api/rules/test, /api/rules/backtest.
// Jobs: works event.process (events.ProcessArgs); publishes and works
// rules.digest (DigestArgs); enqueues notify.deliver (with an action's
// fallback chain) through notify.Service.EnqueueTx.
// Imports: events, notify, billing, auth, platform.
package rules
