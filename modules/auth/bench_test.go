package auth_test

import (
	"testing"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/testdb"
)

// BenchmarkAuthenticateKey is the per-request cost of API-key auth on the
// ingestion hot path once the key is cached: one SHA-256, a map lookup, a
// constant-time compare. The cache refreshes from the database every 2 s.
func BenchmarkAuthenticateKey(b *testing.B) {
	pool := testdb.New(b)
	tenant := authtest.CreateTenant(b.Context(), b, pool, nil)
	svc := authtest.Service(pool)
	if _, err := svc.AuthenticateKey(b.Context(), tenant.APIKey, "192.0.2.1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.AuthenticateKey(b.Context(), tenant.APIKey, "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
	}
}
