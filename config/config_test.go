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
		require.Error(t, c.RequireDatabase())
		require.Error(t, c.RequireSecrets())
	})

	t.Run("SecretsFromFilesAndRedacted", func(t *testing.T) {
		dir := t.TempDir()
		path := dir + "/jwt"
		require.NoError(t, writeFile(path, strings.Repeat("j", 40)+"\n"))
		c, err := config.Load(env(map[string]string{
			"DATABASE_URL":    "postgres://u:hunter2@db/x",
			"JWT_SECRET_FILE": path,
			"SECRET_KEY":      "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		}))
		require.NoError(t, err)
		require.NoError(t, c.RequireSecrets())
		red := c.Redacted()
		require.NotContains(t, red["database_url"], "hunter2")
		require.Equal(t, "(set)", red["jwt_secret"])
	})

	for _, tt := range []struct{ name, key, value string }{
		{"BadDatabaseURL", "DATABASE_URL", "mysql://x"},
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
