package pg_test

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

func TestConnString(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, url, want string
	}{
		{"OneHost", "postgres://u:pw@db:5432/app?sslmode=disable",
			`host='db' port='5432' dbname='app' user='u' password='pw' connect_timeout='5' sslmode='disable'`},
		{"PostgresqlScheme", "postgresql://u@db/app",
			`host='db' dbname='app' user='u' connect_timeout='5'`},
		{"PortPerHost", "postgres://u@h1:5432,h2:5433/app?target_session_attrs=read-write",
			`host='h1,h2' port='5432,5433' dbname='app' user='u' connect_timeout='5' target_session_attrs='read-write'`},
		{"PortsInQuery", "postgres://u@h1,h2/app?port=5432,5433&target_session_attrs=read-write",
			`host='h1,h2' port='5432,5433' dbname='app' user='u' connect_timeout='5' target_session_attrs='read-write'`},
		{"OnePortForAllHosts", "postgres://u@h1,h2,h3/app?port=6432",
			`host='h1,h2,h3' port='6432' dbname='app' user='u' connect_timeout='5'`},
		{"HostsWithoutPorts", "postgres://u@h1,h2/app",
			`host='h1,h2' dbname='app' user='u' connect_timeout='5'`},
		{"MissingPortIsDefault", "postgres://u@h1:5433,h2/app",
			`host='h1,h2' port='5433,5432' dbname='app' user='u' connect_timeout='5'`},
		{"QueryPortWins", "postgres://u@h1:1,h2:2/app?port=5432,5433",
			`host='h1,h2' port='5432,5433' dbname='app' user='u' connect_timeout='5'`},
		{"IPv6", "postgres://u@[::1]:5432,[fd00::2]:5433/app",
			`host='::1,fd00::2' port='5432,5433' dbname='app' user='u' connect_timeout='5'`},
		{"IPv4", "postgres://u@127.0.0.1:5432,127.0.0.1:5433/app",
			`host='127.0.0.1,127.0.0.1' port='5432,5433' dbname='app' user='u' connect_timeout='5'`},
		{"EscapedUserAndPassword", "postgres://us%40r:p%40ss'w%5Crd%2F@db/my%20db",
			`host='db' dbname='my db' user='us@r' password='p@ss\'w\\rd/' connect_timeout='5'`},
		{"UnixSocket", "postgres://u@%2Fvar%2Frun%2Fpostgresql/app",
			`host='/var/run/postgresql' dbname='app' user='u' connect_timeout='5'`},
		{"ConnectTimeoutKept", "postgres://db/app?connect_timeout=2&application_name=x",
			`host='db' dbname='app' application_name='x' connect_timeout='2'`},
		{"NoHost", "postgres:///app",
			`dbname='app' connect_timeout='5'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pg.ConnString(tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			// lib/pq reads the result as meant, and pgx the same.
			cfg, err := pq.NewConfig(got)
			require.NoError(t, err)
			pcfg, err := pgxpool.ParseConfig(got)
			require.NoError(t, err)
			require.Equal(t, cfg.User, pcfg.ConnConfig.User)
			require.Equal(t, cfg.Password, pcfg.ConnConfig.Password)
			require.Equal(t, cfg.Database, pcfg.ConnConfig.Database)
		})
	}

	for _, tt := range []struct {
		name, url, wantErr string
	}{
		{"NotPostgres", "mysql://u@db/app", "must be a postgres:// URL"},
		{"NotAURL", "host=db dbname=app", "must be a postgres:// URL"},
		{"BadPort", "postgres://u@h1:5432,h2:54x3/app", `h2 has an invalid port "54x3"`},
		{"PortOutOfRange", "postgres://u@h1:70000/app", `invalid port "70000"`},
		{"PortCountMismatch", "postgres://u@h1,h2,h3/app?port=1,2", "3 hosts but 2 ports"},
		{"EmptyHost", "postgres://u@h1,,h2/app", "an empty host"},
		{"UnclosedBracket", "postgres://u@[::1/app", "lacks its closing ']'"},
		{"BadEscape", "postgres://u:secret%zz@db/app", "not a valid URL"},
	} {
		t.Run("Refuses"+tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := pg.ConnString(tt.url)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			require.NotContains(t, err.Error(), "secret", "the password never reaches an error")
		})
	}
}

// TestMultiHostURL: a URL in libpq's standard multi-host form, whose first
// host refuses connections, works everywhere DATABASE_URL is read: the
// lib/pq pool, golang-migrate and River's migrator over it, and pgx (River's
// LISTEN connection).
func TestMultiHostURL(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testdb.Empty(t))
	require.NoError(t, err)
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	u.Host = "127.0.0.1:" + closedPort(t) + "," + u.Hostname() + ":" + port
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	u.RawQuery = q.Encode()
	multi := u.String()
	ctx := t.Context()

	pool, err := pg.Open(ctx, multi, pg.PoolConfig{MaxOpenConns: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	require.NoError(t, db.Up(ctx, pool.DB, slog.New(slog.DiscardHandler)))
	st, err := db.Version(ctx, pool.DB, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.True(t, st.Current(), "migrations through the multi-host URL: %s", st)

	conn, err := pg.ConnString(multi)
	require.NoError(t, err)
	listener, err := pgxpool.New(ctx, conn)
	require.NoError(t, err)
	t.Cleanup(listener.Close)
	var n int
	require.NoError(t, listener.QueryRow(ctx, `SELECT count(*) FROM river_job`).Scan(&n))
	require.Zero(t, n)
	_, err = listener.Exec(ctx, `LISTEN signalops_test`)
	require.NoError(t, err)
}

// TestConnectFailureIsUnavailable: a pool that cannot open a connection,
// whatever the reason lib/pq gives, is unavailable (503), never a 500.
func TestConnectFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	good := testdb.Empty(t)
	pool, err := pg.Open(t.Context(), good, pg.PoolConfig{MaxOpenConns: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })

	for _, tt := range []struct{ name, url string }{
		{"Refused", "postgres://postgres@127.0.0.1:" + closedPort(t) + "/postgres?sslmode=disable"},
		// The only server is a primary: with target_session_attrs=standby no
		// host is acceptable, as no host is a primary during a failover.
		{"NoAcceptableHost", good + "&target_session_attrs=standby"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pg.Open(context.Background(), tt.url, pg.PoolConfig{MaxOpenConns: 1})
			require.Error(t, err)
			var ce *pg.ConnectError
			require.ErrorAs(t, err, &ce)
			require.True(t, pg.IsUnavailable(err), "%v", err)
		})
	}
}

// closedPort is a local TCP port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return strconv.Itoa(port)
}
