// Package notify owns channels and deliveries: it validates and stores
// channels (secrets sealed with platform/secretbox), creates one delivery
// per fired rule action together with its notify.deliver job, and works that
// job through the providers in this package. A delivery carries its
// fallback chain: when it fails for good, or finds its channel's circuit
// open, the next channel's delivery is created in the same transaction
// (fallback.go). Flow control keeps one channel from holding up the
// others (flow.go): a per-process cap on a channel's sends in flight
// (limiter.go), a circuit breaker whose transitions are recorded with the
// outcome that caused them (breaker.go) and release the waiting jobs
// (release.go), a rate cap and a receiver's 429 pause (ratecap.go).
//
// Providers: the Provider interface and Providers, one per channel kind
// (provider.go; webhook.go, telegram.go, whatsapp.go, email.go); the
// channel kinds with a channel's typed config and write-only secrets
// (channelconfig.go), checked by ValidateConfig (validate.go); how a failed
// send is classified and when to retry it (senderror.go); what is kept of a
// response (summary.go).
//
// Tables: channels, channel_flow, deliveries, delivery_attempts.
// Routes: /api/channels, /api/channels/{id}/test, /api/deliveries,
// /api/deliveries/{id}/retry.
// Jobs: notify.deliver (DeliverArgs), enqueued by rules and by retries.
// Events: records channel.circuit_opened and channel.circuit_closed for the
// tenant through Config.RecordEvent (cmd wires events.Service.RecordTx).
// Imports: auth, billing, platform. Never events or rules (rules imports notify).
package notify
