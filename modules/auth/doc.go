// Package auth owns tenants, their API keys and users, and the middleware
// that turns a credential into a Principal in the request context.
//
// Tables: tenants, api_keys, users.
// Routes: POST /api/auth/login, GET /api/me, /api/api-keys, /api/users, and
// the operator API /api/admin/tenants.
// Jobs: none.
// Imports: platform only; every other module may import auth.
//
// Files: service.go is the Service (options, limits, caches); its use
// cases are split by topic, one file each: tenants.go, apikeys.go (issuing,
// revoking and authenticating keys, with the key caches and last-use
// flushing), users.go, login.go (sign-in, bearer and operator tokens). The
// types they work on sit below them with their validation: tenant.go,
// apikey.go (the key format), user.go, principal.go; repo.go is the SQL.
//
// API keys look like so_live_<43 base62 chars> (32 random bytes). Only their
// SHA-256 digest and a display prefix are stored; the key is shown once.
package auth
