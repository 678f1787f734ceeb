package cmd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/pg"
)

// devDir holds everything `dev` keeps between runs: the private cluster,
// generated secrets, the demo tenant's key.
const devDir = ".signalops"

func newDevCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Run everything for local development: PostgreSQL (if DATABASE_URL is unset), migrations, a demo tenant, serve and work",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), a)
		},
	}
}

func runDev(ctx context.Context, a *app) error {
	if err := os.MkdirAll(devDir, 0o755); err != nil { //nolint:gosec // G301: as root, the postgres user must reach ./.signalops/pg
		return fmt.Errorf("create %s: %w", devDir, err)
	}
	cfg := a.cfg
	if err := devSecrets(&cfg); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		cluster, err := startPrivatePostgres(ctx, a.logger)
		if err != nil {
			return err
		}
		defer cluster.stop(a.logger)
		cfg.DatabaseURL = cluster.url
	}
	pool, err := pg.Open(ctx, cfg.DatabaseURL, pg.PoolConfig{MaxOpenConns: cfg.DB.MaxConns, MaxIdleConns: cfg.DB.MaxConns, StatementCache: cfg.DB.StatementCache})
	if err != nil {
		return err
	}
	if err := db.Up(ctx, pool.DB, a.logger); err != nil {
		_ = pool.Close()
		return err
	}
	key, err := seedDemo(ctx, pool, a.logger)
	if err != nil {
		_ = pool.Close()
		return err
	}
	sys, err := wire(pool, cfg, a.logger)
	if err != nil {
		_ = pool.Close()
		return err
	}
	defer sys.close()
	sys.console.SetSignInHint("Dev mode: the demo owner is " + demoOwnerEmail + " with password " + demoOwnerPassword + ".")

	host := cfg.HTTP.Addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	fmt.Fprintf(a.stdout, `
SignalOps is running (dev mode).

Console:  http://%[1]s/console/   (sign in as %[3]s / %[4]s)

Demo tenant "demo", API key:

  %[2]s

Send an event:

  curl -sS -X POST http://%[1]s/api/events \
    -H 'content-type: application/json' -H 'x-api-key: %[2]s' \
    -d '{"type":"order.created","payload":{"orderId":"A-1","amount":1250}}'

Read it back: curl -sS -H 'x-api-key: %[2]s' http://%[1]s/api/events
API docs:     http://%[1]s/api/docs
%[5]sStop with Ctrl-C.

`, host, key, demoOwnerEmail, demoOwnerPassword, privateHint(cfg.Notify.WebhookAllowPrivate))

	// One half failing stops the other.
	return background.Supervise(ctx,
		func(ctx context.Context) error { return runServe(ctx, sys) },
		func(ctx context.Context) error { return runWork(ctx, sys) })
}

// devSecrets fills JWT_SECRET and SECRET_KEY from .signalops/secrets.env,
// generating them once: channel secrets encrypted in one run still decrypt
// in the next.
func devSecrets(cfg *config.Config) error {
	path := filepath.Join(devDir, "secrets.env")
	vals := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				vals[k] = v
			}
		}
	}
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	changed := false
	for k, n := range map[string]int{"JWT_SECRET": 48, "SECRET_KEY": 32, "ADMIN_TOKEN": 32} {
		if vals[k] == "" {
			vals[k], changed = random(n), true
		}
	}
	if changed {
		content := fmt.Sprintf("JWT_SECRET=%s\nSECRET_KEY=%s\nADMIN_TOKEN=%s\n", vals["JWT_SECRET"], vals["SECRET_KEY"], vals["ADMIN_TOKEN"])
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if cfg.JWTSecret == "" {
		cfg.JWTSecret = vals["JWT_SECRET"]
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = vals["ADMIN_TOKEN"]
	}
	if len(cfg.SecretKey) == 0 {
		cfg.SecretKey, _ = base64.StdEncoding.DecodeString(vals["SECRET_KEY"])
	}
	return cfg.RequireSecrets()
}

// privateHint tells a newcomer why a webhook to their own machine fails.
func privateHint(allowed bool) string {
	if allowed {
		return ""
	}
	return "Webhooks to localhost or private addresses are refused; set WEBHOOK_ALLOW_PRIVATE=true to allow them.\n"
}

// The demo tenant's owner (dev only; printed at start).
const (
	demoOwnerEmail    = "owner@demo.test"
	demoOwnerPassword = "demo-password"
)

// seedDemo creates tenant "demo" on the first run and keeps its key in
// .signalops/demo.key (dev only: the key is otherwise never stored).
func seedDemo(ctx context.Context, pool *sqlx.DB, logger *slog.Logger) (string, error) {
	keyPath := filepath.Join(devDir, "demo.key")
	out, err := auth.NewService(pool, logger, auth.Options{}).CreateTenant(ctx, auth.CreateTenantInput{
		Slug: "demo", Name: "Demo", OwnerEmail: demoOwnerEmail, OwnerPassword: demoOwnerPassword,
	})
	switch {
	case err == nil:
		if err := os.WriteFile(keyPath, []byte(out.APIKey+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w", keyPath, err)
		}
		return out.APIKey, nil
	case apperr.IsKind(err, apperr.KindConflict):
		b, rerr := os.ReadFile(keyPath)
		if rerr != nil {
			return "(the demo tenant exists, but its key is not in " + keyPath + ")", nil
		}
		return strings.TrimSpace(string(b)), nil
	default:
		return "", fmt.Errorf("seed demo tenant: %w", err)
	}
}

// privatePostgres is a cluster in .signalops/pg run by the local pg_ctl.
type privatePostgres struct {
	pgCtl, dataDir string
	cred           *syscall.Credential
	url            string
	started        bool
}

func startPrivatePostgres(ctx context.Context, logger *slog.Logger) (*privatePostgres, error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(devDir, "pg"))
	if err != nil {
		return nil, err
	}
	cred, ok := pg.ServerUser()
	if !ok {
		return nil, errors.New("dev runs as root, and PostgreSQL refuses to: create a 'postgres' user or run as another user")
	}
	p := &privatePostgres{pgCtl: filepath.Join(bin, "pg_ctl"), dataDir: dir, cred: cred}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		logger.InfoContext(ctx, "creating private postgres cluster", slog.String("dir", dir))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if p.cred != nil {
			if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				return nil, err
			}
		}
		if out, err := p.run(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, tail(out))
		}
	}
	port, err := runningPort(dir)
	if err != nil {
		if port, err = freePort(); err != nil {
			return nil, err
		}
		logger.InfoContext(ctx, "starting private postgres", slog.Int("port", port))
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", port)
		if out, err := p.run(ctx, p.pgCtl, "-D", dir, "-l", filepath.Join(dir, "server.log"), "-o", opts, "-w", "start"); err != nil {
			return nil, fmt.Errorf("pg_ctl start: %w: %s", err, tail(out))
		}
		p.started = true
	}
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/signalops?sslmode=disable", port)
	if err := ensureDatabase(ctx, port); err != nil {
		p.stop(logger)
		return nil, err
	}
	return p, nil
}

func (p *privatePostgres) run(ctx context.Context, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = "/"
	// Its own process group: a terminal's Ctrl-C reaches dev, which then
	// stops the cluster in order, instead of reaching postgres directly.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	out, err := c.CombinedOutput()
	return string(out), err
}

// stop shuts the cluster down if this run started it.
func (p *privatePostgres) stop(logger *slog.Logger) {
	if !p.started {
		return
	}
	//nolint:forbidigo // the cluster must stop after ctx is canceled
	if out, err := p.run(context.Background(), p.pgCtl, "-D", p.dataDir, "-m", "fast", "-w", "stop"); err != nil {
		logger.Warn("stopping private postgres failed", slog.Any("error", err), slog.String("output", tail(out)))
	}
}

// findPostgresBin finds initdb and pg_ctl (pg.ServerBin).
func findPostgresBin() (string, error) {
	if dir, ok := pg.ServerBin("initdb", "pg_ctl"); ok {
		return dir, nil
	}
	return "", errors.New("DATABASE_URL is unset and no PostgreSQL server binaries (initdb, pg_ctl) were found: " +
		"install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL")
}

// runningPort reads the port of a cluster already running in dir.
func runningPort(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, errors.New("short postmaster.pid")
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, errors.New("stale postmaster.pid")
	}
	return strconv.Atoi(strings.TrimSpace(lines[3]))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ensureDatabase(ctx context.Context, port int) error {
	admin, err := pg.Open(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), pg.PoolConfig{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	defer admin.Close()
	var exists bool
	if err := admin.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'signalops')`); err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE signalops`); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}
	return nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
