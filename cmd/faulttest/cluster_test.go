package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq" // database/sql driver "postgres"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/pg"
)

const (
	defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	ownerEmail      = "o@f.test"
	ownerPassword   = "pass word 1"
)

// adminURL is the server the tests create their databases on.
func adminURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return defaultAdminURL
}

// connString is url as the harness's own lib/pq connections read it (a
// multi-host URL needs pg.ConnString, as in the binary).
func connString(t testing.TB, url string) string {
	s, err := pg.ConnString(url)
	require.NoError(t, err)
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// cluster is one scenario's world: a fresh database, its tenant, a webhook
// receiver with a channel and a rule pointing at it, and the serve and work
// processes.
type cluster struct {
	t      *testing.T
	k      knobs
	dir    string
	dbName string
	dbURL  string
	admin  *sql.DB // the admin database, for CREATE/DROP DATABASE and pg_terminate_backend
	db     *sql.DB // the scenario's database, for the invariant checks
	env    []string
	apiKey string
	token  string
	// channel and rule: the webhook channel and the rule sending one
	// delivery per fault.event; digestRule, when added, collects them.
	channel, rule, digestRule string
	rx                        *receiver
	serves                    []*proc
	works                     []*proc
	procs                     []*proc
}

// newCluster creates the database, migrates and seeds it, starts nServe serve
// processes, and creates the channel and the rule. Work processes are started
// by startWorks. env (NAME=value) adds to or overrides the processes' settings.
func newCluster(t *testing.T, nServe int, env ...string) *cluster {
	t.Helper()
	return newClusterOn(t, adminURL(), nServe, env...)
}

// newClusterOn is newCluster on the server(s) of admin, a postgres:// URL
// that may name several hosts (libpq's form): the processes get the same
// hosts in DATABASE_URL.
func newClusterOn(t *testing.T, admin string, nServe int, env ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, k: size(), dir: t.TempDir()}
	c.createDatabase(admin)
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.dir,
		"DATABASE_URL=" + c.dbURL,
		"JWT_SECRET=" + base64.StdEncoding.EncodeToString(randomBytes(t, 48)),
		"SECRET_KEY=" + base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		"ADMIN_TOKEN=" + hex.EncodeToString(randomBytes(t, 24)),
		"WEBHOOK_ALLOW_PRIVATE=true",
		"NOTIFY_RETRY_SCHEDULE=200ms,500ms,1s,2s,2s,2s",
		// Short rescue so a killed worker's jobs come back within the test.
		// QUEUE_RESCUE_AFTER must exceed NOTIFY_TIMEOUT + 10s (a delivery job's
		// own deadline); the receiver is local, so 3 s is plenty.
		"NOTIFY_TIMEOUT=3s",
		"QUEUE_RESCUE_AFTER=14s",
		"QUEUE_JOB_TIMEOUT=5s",
		"LOG_FORMAT=json",
		"LOG_LEVEL=warn",
	}
	c.env = append(c.env, env...) // exec uses the last value of a repeated name
	c.rx = newReceiver(t)
	// Processes stop (and their logs are shown on failure) before the
	// receiver closes and the database is dropped: cleanups run last-in,
	// first-out.
	t.Cleanup(c.stopAll)

	out := c.runCLI("migrate", "up")
	t.Logf("migrate up: %s", strings.TrimSpace(lastLine(out)))
	var seeded struct{ APIKey string }
	out = c.runCLI("seed", "tenant", "--slug", "f", "--name", "F", "--plan", "enterprise",
		"--owner-email", ownerEmail, "--owner-password", ownerPassword, "--json")
	require.NoError(t, json.Unmarshal(out, &seeded), "seed --json printed %q", out)
	require.NotEmpty(t, seeded.APIKey)
	c.apiKey = seeded.APIKey

	for i := range nServe {
		p := c.newProc("serve", i+1)
		c.serves = append(c.serves, p)
		p.start()
	}
	c.login()
	c.configure()
	return c
}

func (c *cluster) createDatabase(adminURL string) {
	t := c.t
	admin, err := sql.Open("postgres", connString(t, adminURL))
	require.NoError(t, err)
	admin.SetMaxOpenConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, admin.PingContext(ctx), "no PostgreSQL at TEST_DATABASE_URL (or the default); start one (Debian: pg_ctlcluster 15 main start)")
	c.admin = admin
	c.dbName = "fault_" + hex.EncodeToString(randomBytes(t, 6))
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+c.dbName)
	require.NoError(t, err)
	t.Cleanup(func() {
		if c.db != nil {
			_ = c.db.Close()
		}
		// The server may just have restarted: retry a few times.
		var err error
		for range 10 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+c.dbName+" WITH (FORCE)")
			cancel()
			if err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			t.Errorf("drop database %s: %v", c.dbName, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	u.Path = "/" + c.dbName
	c.dbURL = u.String()
	c.db, err = sql.Open("postgres", connString(t, c.dbURL))
	require.NoError(t, err)
	c.db.SetMaxOpenConns(4)
}

// runCLI runs a short-lived signalops command and returns its stdout.
func (c *cluster) runCLI(args ...string) []byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(c.t, err, "signalops %s: %s", strings.Join(args, " "), stderr.String())
	if len(out) == 0 {
		return stderr.Bytes()
	}
	return out
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// startWorks starts n work processes.
func (c *cluster) startWorks(n int) {
	c.t.Helper()
	for range n {
		p := c.newProc("work", len(c.works)+1)
		c.works = append(c.works, p)
		p.start()
	}
}

// bases lists the serve processes' base URLs.
func (c *cluster) bases() []string {
	out := make([]string, len(c.serves))
	for i, p := range c.serves {
		out[i] = p.base()
	}
	return out
}

func (c *cluster) api(method, path, body string, header ...string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.serves[0].base()+path, strings.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *cluster) login() {
	c.t.Helper()
	status, body := c.api("POST", "/api/auth/login", `{"email":"`+ownerEmail+`","password":"`+ownerPassword+`"}`)
	require.Equal(c.t, http.StatusOK, status, "login: %s", body)
	var out struct{ AccessToken string }
	require.NoError(c.t, json.Unmarshal(body, &out))
	require.NotEmpty(c.t, out.AccessToken)
	c.token = out.AccessToken
}

// configure creates the webhook channel (pointing at the receiver, with the
// receiver's signing secret) and one rule matching every fault.* event.
func (c *cluster) configure() {
	t := c.t
	t.Helper()
	auth := []string{"Authorization", "Bearer " + c.token}
	status, body := c.api("POST", "/api/channels", `{"name":"receiver","kind":"webhook","config":{"url":"`+c.rx.url()+`/hook"},`+
		`"secrets":{"signingSecret":"whsec_`+base64.StdEncoding.EncodeToString(c.rx.secret)+`"}}`, auth...)
	require.Equal(t, http.StatusCreated, status, "create channel: %s", body)
	var ch struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &ch))
	require.NotEmpty(t, ch.ID)
	c.channel = ch.ID
	c.rule = c.createRule(`{"name":"all faults","enabled":true,"definition":{"match":{"type":"fault.*"},` +
		`"actions":[{"channelId":"` + ch.ID + `","template":"{{.payload.n}}"}]}}`)
}

func (c *cluster) createRule(body string) string {
	c.t.Helper()
	status, out := c.api("POST", "/api/rules", body, "Authorization", "Bearer "+c.token)
	require.Equal(c.t, http.StatusCreated, status, "create rule: %s", out)
	var r struct{ ID string }
	require.NoError(c.t, json.Unmarshal(out, &r))
	return r.ID
}

// addDigestRule adds a second rule over fault.* whose action collects
// every event into digests of the given window and max, to the same
// receiver (the processes need DIGEST_MIN_WINDOW for windows under 1m).
func (c *cluster) addDigestRule(window string, most int) {
	c.t.Helper()
	c.digestRule = c.createRule(fmt.Sprintf(`{"name":"fault digests","definition":{"match":{"type":"fault.*"},`+
		`"actions":[{"channelId":"%s","template":"{{.count}} faults","digest":{"window":"%s","max":%d}}]}}`, c.channel, window, most))
}

// terminateBackends runs pg_terminate_backend on every connection to the
// scenario's database (the harness's own check connections included) and
// returns how many it ended.
func (c *cluster) terminateBackends() int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	require.NoError(c.t, c.admin.QueryRowContext(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
		c.dbName).Scan(&n))
	return n
}

// query runs fn against the scenario database, retrying briefly: the checks'
// own connections die with everyone else's when backends are terminated.
func (c *cluster) query(fn func(ctx context.Context, db *sql.DB) error) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = fn(ctx, c.db)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// count runs a single-number query.
func (c *cluster) count(q string, args ...any) int {
	c.t.Helper()
	var n int
	require.NoError(c.t, c.query(func(ctx context.Context, db *sql.DB) error {
		return db.QueryRowContext(ctx, q, args...).Scan(&n)
	}), q)
	return n
}

// stopAll kills whatever still runs and, when the test failed, shows the tail
// of every process's log.
func (c *cluster) stopAll() {
	for _, p := range c.procs {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if !c.t.Failed() {
		return
	}
	for _, p := range c.procs {
		for _, path := range p.logs {
			c.t.Logf("--- tail of %s ---\n%s", filepath.Base(path), tail(path, 40))
		}
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return "(empty)"
	}
	return strings.Join(lines, "\n")
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// proc is one serve or work process, restartable on the same addresses.
type proc struct {
	c           *cluster
	role        string // serve or work
	name        string // serve-1, work-2, …
	httpAddr    string
	metricsAddr string
	cmd         *exec.Cmd
	done        chan struct{}
	logs        []string // one per run
}

func (c *cluster) newProc(role string, idx int) *proc {
	p := &proc{c: c, role: role, name: fmt.Sprintf("%s-%d", role, idx),
		httpAddr: freePort(c.t), metricsAddr: freePort(c.t)}
	c.procs = append(c.procs, p)
	return p
}

func (p *proc) base() string { return "http://" + p.httpAddr }

func (p *proc) readyURL() string {
	if p.role == "serve" {
		return p.base() + "/readyz"
	}
	return "http://" + p.metricsAddr + "/metrics"
}

// start runs the process (again) and waits until it is ready: serve answers
// /readyz, work serves /metrics (it does so right before River starts).
func (p *proc) start() {
	t := p.c.t
	t.Helper()
	require.False(t, p.running(), "%s is already running", p.name)
	path := filepath.Join(p.c.dir, fmt.Sprintf("%s.run%d.log", p.name, len(p.logs)+1))
	f, err := os.Create(path)
	require.NoError(t, err)
	p.logs = append(p.logs, path)
	cmd := exec.Command(bin, p.role)
	cmd.Dir = p.c.dir
	cmd.Env = append(append([]string(nil), p.c.env...), "HTTP_ADDR="+p.httpAddr, "METRICS_ADDR="+p.metricsAddr)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = procAttr()
	err = cmd.Start()
	_ = f.Close() // the child holds its own descriptor
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(p.c.k.readyWait)
	for {
		select {
		case <-done:
			t.Fatalf("%s exited at start (%s):\n%s", p.name, cmd.ProcessState, tail(path, 20))
		default:
		}
		if resp, err := client.Get(p.readyURL()); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s:\n%s", p.name, p.c.k.readyWait, tail(path, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitState describes how the process ended, or says it still runs.
func (p *proc) exitState() string {
	if p.cmd == nil {
		return "never started"
	}
	if p.running() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// kill is kill -9.
func (p *proc) kill() {
	p.c.t.Helper()
	require.True(p.c.t, p.running(), "%s is not running", p.name)
	require.NoError(p.c.t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// terminate sends SIGTERM and waits up to limit for the exit; it returns the
// exit code (-1: still running after limit, then killed) and how long it took.
func (p *proc) terminate(limit time.Duration) (int, time.Duration) {
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, 0
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(limit):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return -1, time.Since(start)
	}
}
