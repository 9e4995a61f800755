package sochdb_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sochdb.dev/sochdb"
)

// The suite runs every test twice: in-process (Open on a fresh directory per test) and
// in socket mode (Connect to one `sochdb serve` that TestMain starts; tests then share
// its database, so each one works under its own key prefix and table names).

var (
	// socketPath is the served socket ("" when the server could not start).
	socketPath string
	// serverErr says why the server could not start.
	serverErr error
)

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "sochdb-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	stop := startServer(tmp)
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "sochdb serve:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// serverBinary is the sochdb command of the build tree (or $SOCHDB_BIN).
func serverBinary() string {
	if b := os.Getenv("SOCHDB_BIN"); b != "" {
		return b
	}
	return filepath.Join("..", "..", "target", "release", "sochdb")
}

// startServer starts `sochdb serve` on a database under tmp and waits for its socket.
// It returns the function that stops it (SIGTERM, then waits for a clean exit).
func startServer(tmp string) func() error {
	sock := filepath.Join(tmp, "served.sock")
	var logBuf bytes.Buffer
	cmd := exec.Command(serverBinary(), "serve", "--db", filepath.Join(tmp, "served"), "--socket", sock)
	cmd.Stdout = &logBuf
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		serverErr = fmt.Errorf("cannot start %s: %w", serverBinary(), err)
		return func() error { return nil }
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			socketPath = sock
			break
		}
		select {
		case err := <-exited:
			serverErr = fmt.Errorf("sochdb serve exited (%v): %s", err, strings.TrimSpace(logBuf.String()))
			return func() error { return nil }
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			serverErr = fmt.Errorf("sochdb serve did not create %s: %s", sock, logBuf.String())
			return func() error { return nil }
		}
	}
	return func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("exit: %v: %s", err, logBuf.String())
			}
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("did not stop within 30s of SIGTERM")
		}
	}
}

// mode is one way of reaching a database.
type mode struct {
	// name is "inproc" or "socket".
	name string
	// socket is true in socket mode.
	socket bool
}

var modes = []mode{{"inproc", false}, {"socket", true}}

// env is one test in one mode.
type env struct {
	t *testing.T
	mode
	// dir is the test's database directory (in-process).
	dir string
	// prefix makes the test's keys, paths and table names unique in a shared database.
	prefix string
}

// both runs fn as a subtest in each mode.
func both(t *testing.T, fn func(e *env)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if m.socket && socketPath == "" {
				t.Fatalf("socket mode unavailable: %v", serverErr)
			}
			name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
			fn(&env{t: t, mode: m, dir: filepath.Join(t.TempDir(), "db"), prefix: name})
		})
	}
}

// open returns a database handle for the test (closed at its end).
func (e *env) open(opts *sochdb.Options) *sochdb.DB {
	e.t.Helper()
	db, err := e.tryOpen(opts)
	if err != nil {
		e.t.Fatalf("open (%s): %v", e.name, err)
	}
	e.t.Cleanup(func() { _ = db.Close() })
	return db
}

// tryOpen opens the test's database without registering a cleanup.
func (e *env) tryOpen(opts *sochdb.Options) (*sochdb.DB, error) {
	if e.socket {
		return sochdb.Connect(socketPath, opts)
	}
	return sochdb.Open(e.dir, opts)
}

// k is the test's key for name.
func (e *env) k(name string) []byte { return []byte(e.prefix + "/" + name) }

// s is the test's name (table, path root) for name.
func (e *env) s(name string) string { return e.prefix + "_" + name }

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// drain collects an iterator's entries as "k=v" strings and closes it.
func drain(t *testing.T, it *sochdb.Iterator) []string {
	t.Helper()
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	must(t, it.Err())
	return out
}

// stripPrefix removes the test's prefix from "k=v" strings.
func (e *env) strip(entries []string) []string {
	out := make([]string, len(entries))
	for i, s := range entries {
		out[i] = strings.TrimPrefix(s, e.prefix+"/")
	}
	return out
}

func equal(t *testing.T, got, want any) {
	t.Helper()
	if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}
