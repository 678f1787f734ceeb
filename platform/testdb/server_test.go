package testdb_test

import (
	"database/sql"
	"testing"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/testdb"
)

// TestServerFailover: a commit acknowledged by a primary with a synchronous
// standby survives a SIGKILL of the primary; the promoted standby has it and
// takes writes.
func TestServerFailover(t *testing.T) {
	t.Parallel()
	primary := testdb.StartServer(t, testdb.ServerOptions{SyncStandby: true})
	standby := primary.StartStandby(t)

	pdb := open(t, primary.URL("postgres"))
	_, err := pdb.Exec(`CREATE TABLE acked (n int)`)
	require.NoError(t, err)
	_, err = pdb.Exec(`INSERT INTO acked SELECT generate_series(1, 1000)`)
	require.NoError(t, err)
	var sync string
	require.NoError(t, pdb.QueryRow(`SELECT sync_state FROM pg_stat_replication`).Scan(&sync))
	require.Equal(t, "sync", sync)

	sdb := open(t, standby.URL("postgres"))
	var inRecovery bool
	require.NoError(t, sdb.QueryRow(`SELECT pg_is_in_recovery()`).Scan(&inRecovery))
	require.True(t, inRecovery)

	primary.Kill()
	require.Error(t, pdb.Ping(), "the primary is gone")
	standby.Promote()
	var n int
	require.NoError(t, sdb.QueryRow(`SELECT count(*) FROM acked`).Scan(&n))
	require.Equal(t, 1000, n, "every acknowledged row is on the promoted standby")
	_, err = sdb.Exec(`INSERT INTO acked VALUES (1001)`)
	require.NoError(t, err)
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	d, err := sql.Open("postgres", url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}
