package testdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signalops/signalops/platform/pg"
)

// Server is a private PostgreSQL cluster a test starts itself, with the
// initdb/pg_ctl/pg_basebackup found on PATH or in /usr/lib/postgresql/*/bin,
// for what the shared server does not allow: streaming replicas, failover,
// killing the server. As root it runs as the postgres user (PostgreSQL
// refuses root). It listens on 127.0.0.1 only, authenticates by trust, and is
// stopped and deleted when the test ends.
type Server struct {
	Port int
	Dir  string // data directory

	t       testing.TB
	bin     string
	cred    *syscall.Credential
	primary *Server // set on a standby
	stopped bool
}

// ServerOptions configures StartServer.
type ServerOptions struct {
	// SyncStandby makes every commit wait until a standby has flushed it
	// (synchronous_standby_names='*'), so an acknowledged commit survives the
	// loss of the primary. Commits block until a standby is attached.
	SyncStandby bool
	// Settings are extra -c name=value server settings.
	Settings []string
}

// StartServer initialises and starts a new cluster. It skips the test when
// no PostgreSQL server binaries are installed.
func StartServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	s := newServer(t)
	out, err := s.run("initdb", "-D", s.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	if err != nil {
		t.Fatalf("testdb: initdb: %v\n%s", err, out)
	}
	settings := append([]string(nil), opts.Settings...)
	if opts.SyncStandby {
		// On the command line, not in the data directory: pg_basebackup
		// copies the configuration files, and a promoted standby must not
		// wait for a standby of its own.
		settings = append(settings, "synchronous_standby_names='*'")
	}
	s.start(settings)
	return s
}

func newServer(t testing.TB) *Server {
	t.Helper()
	bin, err := serverBin()
	if err != nil {
		t.Skipf("testdb: %v", err)
	}
	cred, ok := pg.ServerUser()
	if !ok {
		t.Skip("testdb: running as root without a postgres user; PostgreSQL refuses to run as root")
	}
	s := &Server{t: t, bin: bin, cred: cred}
	// Not t.TempDir: its parents are private to root, and the server runs
	// as postgres. MkdirTemp makes it 0700, as initdb wants.
	dir, err := os.MkdirTemp("", "signalops-pg-")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatalf("testdb: %v", err)
		}
	}
	s.Dir = filepath.Join(dir, "data")
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	s.Port = freePort(t)
	return s
}

// StartStandby makes a streaming standby of s (pg_basebackup -R) and starts
// it; it returns once s reports the standby streaming (and, with
// SyncStandby, synchronous).
func (s *Server) StartStandby(t testing.TB) *Server {
	t.Helper()
	sb := newServer(t)
	sb.primary = s
	// The standby names itself in primary_conninfo (application_name), so it
	// can be told apart in pg_stat_replication.
	out, err := sb.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres",
		"-D", sb.Dir, "-R", "-X", "stream", "-c", "fast", "--no-sync",
		"-d", fmt.Sprintf("application_name=standby_%d", sb.Port))
	if err != nil {
		t.Fatalf("testdb: pg_basebackup: %v\n%s", err, out)
	}
	sb.start(nil)
	admin := s.open(t, "postgres")
	defer admin.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var state, sync string
		err := admin.QueryRow(`SELECT state, sync_state FROM pg_stat_replication WHERE application_name = $1`,
			fmt.Sprintf("standby_%d", sb.Port)).Scan(&state, &sync)
		if err == nil && state == "streaming" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("testdb: standby on port %d not streaming after 30 s (%v)", sb.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sb
}

// URL is a postgres:// URL of database db on this server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Kill ends the server the way a crashed machine would: SIGKILL to the
// postmaster and every one of its processes at once, no shutdown.
func (s *Server) Kill() {
	s.t.Helper()
	pid := s.postmasterPID()
	pids := append([]int{pid}, childrenOf(pid)...)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	s.stopped = true
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Promote turns a standby into a primary (pg_ctl promote) and returns once
// it accepts writes.
func (s *Server) Promote() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.Dir, "-w", "-t", "60", "promote"); err != nil {
		s.t.Fatalf("testdb: pg_ctl promote: %v\n%s", err, out)
	}
	s.primary = nil
}

// Stop shuts the server down at once (pg_ctl stop -m immediate); a killed or
// stopped server is left alone.
func (s *Server) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	if out, err := s.run("pg_ctl", "-D", s.Dir, "-m", "immediate", "-w", "stop"); err != nil {
		s.t.Logf("testdb: pg_ctl stop: %v\n%s", err, out)
	}
}

// Log is the server's log file.
func (s *Server) Log() string { return filepath.Join(s.Dir, "server.log") }

func (s *Server) start(settings []string) {
	s.t.Helper()
	opts := []string{"-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=''", "-c", "max_connections=200"}
	for _, kv := range settings {
		opts = append(opts, "-c", kv)
	}
	out, err := s.run("pg_ctl", "-D", s.Dir, "-l", s.Log(), "-o", strings.Join(opts, " "), "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(s.Log())
		s.t.Fatalf("testdb: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (s *Server) open(t testing.TB, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("postgres", s.URL(db))
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.PingContext(ctx); err != nil {
		t.Fatalf("testdb: connect to port %d: %v", s.Port, err)
	}
	return d
}

func (s *Server) postmasterPID() int {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		s.t.Fatalf("testdb: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		s.t.Fatalf("testdb: postmaster.pid: %v", err)
	}
	return pid
}

func (s *Server) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	c.Dir = "/"
	c.Env = append(os.Environ(), "LC_ALL=C")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	out, err := c.CombinedOutput()
	return string(out), err
}

// childrenOf lists the processes whose parent is pid (Linux /proc).
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b)[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// serverBin finds the directory of initdb, pg_ctl and pg_basebackup.
func serverBin() (string, error) {
	if dir, ok := pg.ServerBin("initdb", "pg_ctl", "pg_basebackup"); ok {
		return dir, nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) on PATH or in /usr/lib/postgresql/*/bin")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
