// Package pgtest starts throwaway PostgreSQL servers for tests: initdb into a
// temporary directory, then the postgres server on a free loopback port,
// trusting local connections. Servers can be stopped and started again, to
// test how clients ride out a database outage.
//
// Most tests need only a database of their own: Database gives each test a
// fresh one on the one server the test binary shares (Shared), which the
// binary's TestMain closes with CloseShared. A test that stops or kills the
// server starts its own with New.
//
// The server binaries come from $TIMESHEETS_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout), else $PATH. Without them Start
// fails the test and says to run `make postgres` (hack/postgres.sh), unless
// TIMESHEETS_SKIP_POSTGRES=1, which skips the test and says so loudly.
//
// PostgreSQL refuses to run as root: as root, the server runs as the system
// user "postgres" (or $TIMESHEETS_PG_USER), which owns the temporary
// directory.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables.
const (
	EnvSkip   = "TIMESHEETS_SKIP_POSTGRES" // "1": skip PostgreSQL tests instead of failing
	EnvBinDir = "TIMESHEETS_PG_BIN"        // directory holding initdb and postgres
	EnvUser   = "TIMESHEETS_PG_USER"       // user to run the server as when running as root
)

// ErrNoBinaries says the PostgreSQL server binaries are not installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found: run `make postgres` (hack/postgres.sh) to install them, or set " + EnvSkip + "=1 to skip the PostgreSQL tests")

// Server is a PostgreSQL server in a temporary directory.
type Server struct {
	bin  string // directory of initdb and postgres
	dir  string // temporary directory: data/, postgres.log
	port int
	cred *syscall.Credential // nil: run as the current user

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	shared bool          // the binary's shared server: Stop refuses

	dbSeq atomic.Int64
}

// Start starts a server for the test and returns the URL of its "postgres"
// database and a function that stops the server and removes its files; the
// same happens at the end of the test anyway. It fails the test if the
// server cannot start (see the package documentation).
func Start(t testing.TB) (url string, stop func()) {
	t.Helper()
	s := New(t)
	return s.URL(), func() { _ = s.Close() }
}

// New is Start returning the Server, for tests that stop and restart it or
// create more databases.
func New(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := NewServer()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Require fails the test if PostgreSQL cannot be started here, or skips it,
// loudly, if TIMESHEETS_SKIP_POSTGRES=1.
func Require(t testing.TB) {
	t.Helper()
	if Skipped() {
		t.Log("**************************************************************")
		t.Logf("*** %s=1: SKIPPING a PostgreSQL test; the PostgreSQL store is NOT tested", EnvSkip)
		t.Log("**************************************************************")
		t.Skip(EnvSkip + "=1")
	}
	if _, err := binDir(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Skipped reports whether TIMESHEETS_SKIP_POSTGRES=1 opts out of PostgreSQL
// tests.
func Skipped() bool { return os.Getenv(EnvSkip) == "1" }

// NewServer initialises and starts a server, for use outside a test
// function (e.g. in TestMain). Close it when done.
func NewServer() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	if err := s.init(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	// Another process may take the port between choosing and binding it.
	// PostgreSQL cannot choose a port itself (port 0 is invalid) nor take a
	// listening socket from its parent, and it reports the conflict only
	// as text, in its log and exit status 1 ("could not bind IPv4 address
	// ...: Address already in use"): there is no typed error to match, so
	// the text is. (A Unix socket would avoid the port, but clients, the
	// API included, reach PostgreSQL over TCP, and the tests should too.)
	for try := 0; ; try++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.Start(); err == nil || try == 4 || !strings.Contains(err.Error(), "could not bind") {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// The test binary's shared server.
var shared struct {
	mu  sync.Mutex
	srv *Server
	err error // of the first start, reported to every caller
}

// Shared returns the server the test binary shares, starting it on first
// use. Tests must not stop it (Stop refuses): one that does starts its own
// with New. The binary's TestMain calls CloseShared after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	Require(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = NewServer()
		if shared.err == nil {
			shared.srv.shared = true
		}
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// Database returns the URL of a fresh, empty database on the shared server,
// dropped at the end of the test.
func Database(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	u, name := s.newDatabase(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test's own cleanups may not have closed every connection.
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return u
}

// CloseShared stops the shared server, if one was started, and removes its
// files. TestMain calls it after m.Run.
func CloseShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return nil
	}
	s := shared.srv
	shared.srv, shared.err = nil, errors.New("the shared server was closed")
	s.mu.Lock()
	s.shared = false
	s.mu.Unlock()
	return s.Close()
}

// binDir finds the directory of the PostgreSQL server binaries.
func binDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvBinDir); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%s=%s holds no initdb and postgres: %w", EnvBinDir, d, ErrNoBinaries)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoBinaries
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// init runs initdb, as an unprivileged user if need be.
func (s *Server) init() error {
	if os.Geteuid() == 0 {
		name := os.Getenv(EnvUser)
		if name == "" {
			name = "postgres"
		}
		u, err := user.Lookup(name)
		if err != nil {
			return fmt.Errorf("PostgreSQL refuses to run as root and there is no user %q to run it as (run `make postgres`, which creates it, or set %s): %w", name, EnvUser, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(s.dir, int(uid), int(gid)); err != nil {
			return err
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// Port is the server's TCP port on 127.0.0.1; it stays the same across
// Stop and Start.
func (s *Server) Port() int { return s.port }

// URL is the URL of the "postgres" database, as superuser "postgres".
func (s *Server) URL() string { return s.DatabaseURL("postgres") }

// DatabaseURL is the URL of database name on this server.
func (s *Server) DatabaseURL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// CreateDatabase creates a new, empty database and returns its URL, so
// that tests sharing a server do not see each other's data.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	u, _, err := s.createDatabase(ctx)
	return u, err
}

func (s *Server) createDatabase(ctx context.Context) (url, name string, err error) {
	name = fmt.Sprintf("test_%d_%d", os.Getpid(), s.dbSeq.Add(1))
	if err := s.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", "", err
	}
	return s.DatabaseURL(name), name, nil
}

// exec runs one statement in the "postgres" database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// NewDatabase is CreateDatabase for a test; it fails the test on error.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	u, _ := s.newDatabase(t)
	return u
}

func (s *Server) newDatabase(t testing.TB) (url, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, name, err := s.createDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return u, name
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	// The server runs in the foreground as our child (rather than daemonised
	// by pg_ctl) so that it dies with the test process (see procAttr) and
	// never outlives a crashed test.
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		"-c", "shared_buffers=64MB",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
		"-c", "max_wal_size=1GB",
		// Throwaway data: no flushes to disk. A test stops the server
		// (cleanly) but never crashes the machine under it.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
	)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr(s.cred)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			_ = c.Close(ctx)
			return nil
		}
		select {
		case <-done:
			s.cmd, s.done = nil, nil
			return fmt.Errorf("pgtest: postgres exited at start: %s", s.logSince(logStart))
		case <-ctx.Done():
			stopErr := s.stopLocked()
			return fmt.Errorf("pgtest: postgres did not accept connections within a minute: %w (stopping it: %v)\n%s", err, stopErr, s.logSince(logStart))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) logSince(off int64) string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(bytes.TrimSpace(b[off:]))
}

// Stop shuts the server down (fast shutdown: open connections are closed)
// and waits until it has exited. Start brings it back on the same port.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shared {
		return errors.New("pgtest: the shared server is not to be stopped: start a server of the test's own with New")
	}
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd, s.done = nil, nil }()
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	return errors.New("pgtest: postgres did not shut down; killed")
}

// Close stops the server and removes its files.
func (s *Server) Close() error {
	s.mu.Lock()
	isShared := s.shared
	s.mu.Unlock()
	if isShared {
		return errors.New("pgtest: the shared server is closed by CloseShared, in TestMain")
	}
	err := s.Stop()
	return errors.Join(err, os.RemoveAll(s.dir))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
