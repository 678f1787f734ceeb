// Package notify owns channels and deliveries: it validates and stores
// channels (secrets sealed with platform/secretbox), creates one delivery
// per fired rule action together with its notify.deliver job, and works that
// job through the providers in this package. A delivery carries its
// fallback chain: when it fails for good, the next channel's delivery is
// created in the same transaction (fallback.go).
//
// Tables: channels, deliveries, delivery_attempts.
// Routes: /api/channels, /api/channels/{id}/test, /api/deliveries,
// /api/deliveries/{id}/retry.
// Jobs: notify.deliver (DeliverArgs), enqueued by rules and by retries.
// Imports: auth, platform. Never events or rules (rules imports notify).
package notify
