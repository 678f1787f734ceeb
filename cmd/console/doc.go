// Package console is the tenant web console, served under /console/ by
// serve (and so by dev): sign-in, overview, events with a live tail and
// their detail, rules (dry run, backtest, versions, diff, rollback),
// channels, deliveries, the dead-letter queue, API keys and users.
//
// Pages are rendered on the server with html/template (docs/adr/0009).
// Every piece of data comes from the public JSON API, called in-process
// with the signed-in user's token (client.go): the console has no access
// of its own to any table, and tenant scoping, roles, validation and rate
// limits are the API's. Assets (one stylesheet, one small script) are
// embedded; there is no third-party code and no build step.
//
// Safety: the session cookie holds the API token (HttpOnly,
// SameSite=Strict, Secure over TLS, expiring with the token); every state
// change needs a CSRF token bound to the session and passes Go's
// cross-origin protection; the CSP allows only the console's own script
// and stylesheet and no framing; secrets (API keys, generated signing
// secrets) appear only in the response that created them.
//
// Imports: platform/httpx only. No module imports console; cmd mounts it.
package console
