package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		c, err := config.Load(env(nil))
		require.NoError(t, err)
		require.Equal(t, ":3000", c.HTTP.Addr)
		require.Equal(t, 10*time.Millisecond, c.Queue.FetchCooldown)
		require.Equal(t, time.Minute, c.Rules.DigestMinWindow, "SPEC §10: digest windows from 1 min")
		require.Equal(t, config.Breaker{Failures: 10, Probe: 30 * time.Second, ProbeMax: 10 * time.Minute}, c.Notify.Breaker,
			"SPEC §8: 10 failures, probe after 30 s doubling to 10 min")
		require.Equal(t, 20, c.Notify.ChannelConcurrency)
		require.True(t, c.AdaptiveProcs)
		require.Error(t, c.RequireDatabase())
		require.Error(t, c.RequireSecrets())
	})

	t.Run("SecretsFromFilesAndRedacted", func(t *testing.T) {
		dir := t.TempDir()
		path := dir + "/jwt"
		require.NoError(t, writeFile(path, strings.Repeat("j", 40)+"\n"))
		require.NoError(t, writeFile(dir+"/db", "postgres://u:hunter2@db1:5432,db2:5433/x?target_session_attrs=read-write\n"))
		c, err := config.Load(env(map[string]string{
			"DATABASE_URL_FILE": dir + "/db",
			"DATABASE_READ_URL": "postgres://r:hunter3@replica/x",
			"JWT_SECRET_FILE":   path,
			"SECRET_KEY":        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		}))
		require.NoError(t, err)
		require.NoError(t, c.RequireSecrets())
		require.NoError(t, c.RequireDatabase())
		require.Equal(t, "postgres://u:hunter2@db1:5432,db2:5433/x?target_session_attrs=read-write", c.DatabaseURL)
		require.Equal(t, "postgres://r:hunter3@replica/x", c.DatabaseReadURL)
		red := c.Redacted()
		require.Equal(t, "postgres://r:redacted@replica/x", red["database_read_url"])
		require.Equal(t, "postgres://u:redacted@db1:5432,db2:5433/x?target_session_attrs=read-write", red["database_url"])
		require.Equal(t, "(set)", red["jwt_secret"])
	})

	t.Run("AdaptiveProcsOffWhenGOMAXPROCSIsSet", func(t *testing.T) {
		for _, tt := range []struct {
			env  map[string]string
			want bool
		}{
			{map[string]string{"ADAPTIVE_GOMAXPROCS": "false"}, false},
			{map[string]string{"GOMAXPROCS": "2"}, false},
			{map[string]string{"ADAPTIVE_GOMAXPROCS": "true", "GOMAXPROCS": "4"}, false},
			{map[string]string{"ADAPTIVE_GOMAXPROCS": "true"}, true},
		} {
			c, err := config.Load(env(tt.env))
			require.NoError(t, err)
			require.Equal(t, tt.want, c.AdaptiveProcs, "%v", tt.env)
		}
	})

	t.Run("MultiHostIPv6", func(t *testing.T) {
		c, err := config.Load(env(map[string]string{"DATABASE_URL": "postgresql://u:p%40ss@[fd00::1]:5432,[fd00::2]:5433/x"}))
		require.NoError(t, err)
		require.Equal(t, "postgresql://u:redacted@[fd00::1]:5432,[fd00::2]:5433/x", c.Redacted()["database_url"])
	})

	for _, tt := range []struct{ name, key, value string }{
		{"BadDatabaseURL", "DATABASE_URL", "mysql://x"},
		{"BadDatabaseReadURL", "DATABASE_READ_URL", "replica:5432"},
		{"UnreadableDatabaseURLFile", "DATABASE_URL_FILE", "/nonexistent/database_url"},
		{"BadInt", "DB_MAX_CONNS", "many"},
		{"IntOutOfRange", "DB_MAX_CONNS", "0"},
		{"BadDuration", "REQUEST_TIMEOUT", "10"},
		{"NegativeDuration", "SHUTDOWN_TIMEOUT", "-1s"},
		{"SecretKeyNotBase64", "SECRET_KEY", "not base64!"},
		{"SecretKeyWrongLength", "SECRET_KEY", "c2hvcnQ="},
		{"LogFormat", "LOG_FORMAT", "xml"},
		{"LogLevel", "LOG_LEVEL", "loud"},
		{"RescueBeforeTimeout", "QUEUE_RESCUE_AFTER", "1s"},
		{"ZeroJobTimeout", "QUEUE_JOB_TIMEOUT", "0s"},
		{"ZeroCooldown", "QUEUE_FETCH_COOLDOWN", "0"},
		{"PollShorterThanCooldown", "QUEUE_FETCH_POLL_INTERVAL", "1ms"},
		{"BadRate", "INGEST_RATE_LIMIT", "fast"},
		{"ChannelConcurrencyZero", "NOTIFY_CHANNEL_CONCURRENCY", "0"},
		{"BreakerFailuresZero", "CHANNEL_BREAKER_FAILURES", "0"},
		{"BreakerFailuresNotANumber", "CHANNEL_BREAKER_FAILURES", "ten"},
		{"BreakerProbeTooShort", "CHANNEL_BREAKER_PROBE", "10ms"},
		{"BreakerProbeNotADuration", "CHANNEL_BREAKER_PROBE", "30"},
		{"BreakerProbeMaxTooLong", "CHANNEL_BREAKER_PROBE_MAX", "48h"},
		{"BreakerProbeMaxBelowProbe", "CHANNEL_BREAKER_PROBE_MAX", "10s"},
		{"DigestWindowBelowFloor", "DIGEST_MIN_WINDOW", "500ms"},
		{"DigestWindowAboveProduct", "DIGEST_MIN_WINDOW", "2m"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tt.key: tt.value}))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.key, "the error names the setting")
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
