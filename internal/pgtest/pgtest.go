// Package pgtest starts private PostgreSQL servers for tests: initdb into
// a temporary directory and a postgres process listening on a free
// 127.0.0.1 port, its unix socket in the same directory, stopped by
// t.Cleanup. When the test runs as root, initdb and postgres run as the
// "postgres" operating system user, which owns the directory.
//
// The binaries are looked up on PATH and in /usr/lib/postgresql/*/bin.
// When they are missing the test is skipped, or fails when the CI
// environment variable is "true".
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Password is the password of the "postgres" role; TCP connections
// authenticate with it (scram-sha-256), the unix socket trusts.
const Password = "pgtest-secret"

// Options configure a server.
type Options struct {
	// CertFile and KeyFile, when set, turn TLS on with this certificate
	// (PEM) and key.
	CertFile, KeyFile string
	// Settings are extra "name=value" server settings (postgres -c).
	Settings []string
}

// Server is a running private PostgreSQL server.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int

	t    testing.TB
	bin  string
	dir  string
	data string
	opts Options
	cred *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	dbs  int
}

// Bin returns the directory of the PostgreSQL binaries, or "" when they are
// not installed.
func Bin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Reverse(dirs) // newest version first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}

// Require skips t when the PostgreSQL binaries are missing, or fails it
// under CI=true.
func Require(t testing.TB) string {
	t.Helper()
	bin := Bin()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: PostgreSQL binaries not found (initdb on PATH or /usr/lib/postgresql/*/bin); run scripts/install-test-deps")
		}
		t.Skip("pgtest: PostgreSQL binaries not found; run scripts/install-test-deps")
	}
	return bin
}

// Start initialises and starts a server for t.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Require(t)
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: dir, data: filepath.Join(dir, "data"), opts: opts}
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	pw := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pw, []byte(Password+"\n"), 0o644); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	for _, f := range []string{opts.CertFile, opts.KeyFile} {
		if f != "" {
			s.own(f, 0o600)
		}
	}
	s.own(pw, 0o600)
	out, err := s.command("initdb", "-D", s.data, "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pw).CombinedOutput()
	if err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	s.Port = freePort(t)
	s.Start()
	return s
}

// own hands file f to the server's user with mode perm.
func (s *Server) own(f string, perm os.FileMode) {
	if s.cred != nil {
		if err := os.Chown(f, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.t.Fatalf("pgtest: %v", err)
		}
	}
	if err := os.Chmod(f, perm); err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts the server again after Stop (same data, same port) and
// waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	args := []string{"-D", s.data, "-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir, "-c", "max_connections=60"}
	if s.opts.CertFile != "" {
		args = append(args, "-c", "ssl=on", "-c", "ssl_cert_file="+s.opts.CertFile, "-c", "ssl_key_file="+s.opts.KeyFile)
	}
	for _, kv := range s.opts.Settings {
		args = append(args, "-c", kv)
	}
	cmd := s.command("postgres", args...)
	logf, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("pgtest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("pgtest: start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			_ = c.Close(ctx)
			cancel()
			return
		}
		cancel()
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("pgtest: postgres exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pgtest: postgres not ready after 60s: %v\n%s", err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server (fast shutdown: sessions are terminated, open
// transactions roll back) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// DSN returns a URL connecting to database db over TCP with the password,
// without TLS.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", Password, s.Port, db)
}

// CreateDB creates a fresh database and returns its name.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	s.dbs++
	name := "db" + strconv.Itoa(s.dbs)
	s.mu.Unlock()
	s.Exec(t, "postgres", "CREATE DATABASE "+name)
	return name
}

// Exec runs sql in database db and fails t on error.
func (s *Server) Exec(t testing.TB, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN(db))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", strings.TrimSpace(sql), err)
	}
}
