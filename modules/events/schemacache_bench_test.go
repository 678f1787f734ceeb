package events

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/testdb"
)

// BenchmarkSchemaViewCheck prices the check each process runs per
// ingesting tenant at most once a second (schemacache.go): CatalogVersion,
// one primary-key read, next to reading the versions themselves
// (ListSchemaVersions, done only after a change) for a tenant with 0, 50
// and 500 types with schemas among 20 tenants' catalogs.
func BenchmarkSchemaViewCheck(b *testing.B) {
	pool := testdb.New(b)
	ctx := context.Background()
	tenants := map[int]uuid.UUID{}
	for _, n := range []int{0, 50, 500} {
		tenants[n] = authtest.CreateTenant(ctx, b, pool, nil).ID
	}
	for range 17 {
		tenants[-len(tenants)] = authtest.CreateTenant(ctx, b, pool, nil).ID
	}
	for n, id := range tenants {
		count := n
		if n <= 0 {
			count = 100 // the other tenants hold 100 each (and tenant "0" had some)
		}
		_, err := pool.Exec(`INSERT INTO event_types (tenant_id, type, version) SELECT $1, 't' || i, 2 FROM generate_series(1, $2) i`, id, count)
		require.NoError(b, err)
		_, err = pool.Exec(`INSERT INTO event_type_versions (tenant_id, type, version, description, schema)
			SELECT tenant_id, type, v, '', '{"type":"object"}' FROM event_types, generate_series(1, 2) v WHERE tenant_id = $1`, id)
		require.NoError(b, err)
		if n == 0 {
			_, err = pool.Exec(`DELETE FROM event_types WHERE tenant_id = $1`, id)
			require.NoError(b, err)
		}
	}
	_, err := pool.Exec(`ANALYZE event_types; ANALYZE event_type_versions`)
	require.NoError(b, err)
	for _, n := range []int{0, 50, 500} {
		b.Run(fmt.Sprintf("Types%d", n), func(b *testing.B) {
			for b.Loop() {
				rows, err := repo{}.ListSchemaVersions(ctx, pool, tenants[n])
				if err != nil || len(rows) != n {
					b.Fatal(err, len(rows))
				}
			}
		})
	}
	_, err = pool.Exec(`INSERT INTO event_type_catalogs (tenant_id, version) SELECT DISTINCT tenant_id, 7 FROM event_types`)
	require.NoError(b, err)
	b.Run("CatalogVersion", func(b *testing.B) {
		for b.Loop() {
			if v, err := (repo{}).CatalogVersion(ctx, pool, tenants[500]); err != nil || v != 7 {
				b.Fatal(err, v)
			}
		}
	})
}
