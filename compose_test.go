package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestCompose checks compose.yaml without Docker: it parses (anchors and
// merge keys resolved, as compose does), publishes nothing beyond
// 127.0.0.1, and holds no usable secret — JWT_SECRET and SECRET_KEY must
// come from the operator, with an error that says how.
func TestCompose(t *testing.T) {
	t.Parallel()

	raw, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	var file struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       string            `yaml:"build"`
			Command     []string          `yaml:"command"`
			Ports       []string          `yaml:"ports"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &file))

	commands := map[string][]string{}
	for name, svc := range file.Services {
		commands[name] = svc.Command
	}
	require.Equal(t, map[string][]string{
		"postgres": nil, "migrate": {"migrate", "up"}, "serve": {"serve"}, "work": {"work"},
	}, commands, "the services and what they run")

	// ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
	interp := regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

	t.Run("PortsBindLoopbackOnly", func(t *testing.T) {
		t.Parallel()
		published := 0
		for name, svc := range file.Services {
			for _, p := range svc.Ports {
				require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %q beyond 127.0.0.1", name, p)
				published++
			}
		}
		require.Equal(t, 3, published, "the API, work's metrics and PostgreSQL")
	})

	t.Run("SecretsAreRequired", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"migrate", "serve", "work"} {
			env := file.Services[name].Environment
			for _, secret := range []string{"JWT_SECRET", "SECRET_KEY"} {
				m := interp.FindStringSubmatch(env[secret])
				require.NotNil(t, m, "%s: %s comes from the operator's environment", name, secret)
				require.Equal(t, env[secret], m[0], "%s: %s is only the variable", name, secret)
				require.Equal(t, secret, m[1])
				require.Equal(t, ":?", m[2], "%s: %s has no fallback and fails when unset or empty", name, secret)
				require.Contains(t, m[3], "openssl rand", "%s: the error says how to make one", name)
			}
			m := interp.FindStringSubmatch(env["ADMIN_TOKEN"])
			require.NotNil(t, m)
			require.Equal(t, ":-", m[2])
			require.Empty(t, m[3], "%s: without ADMIN_TOKEN the operator API stays disabled", name)
		}
	})

	t.Run("NoFallbackHoldsASecret", func(t *testing.T) {
		t.Parallel()
		for _, m := range interp.FindAllStringSubmatch(string(raw), -1) {
			if (m[2] == ":-" || m[2] == "-") && m[3] != "" {
				require.NotRegexp(t, `(?i)SECRET|TOKEN|KEY|PASSWORD`, m[1], "%s falls back to a value written in the file", m[0])
			}
		}
	})
}
