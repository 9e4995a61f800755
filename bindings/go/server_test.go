package sochdb_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sochdb.dev/sochdb"
)

// startPrivateServer starts a `sochdb serve` of its own for one test and returns its
// socket and the command.
func startPrivateServer(t *testing.T) (string, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	cmd := exec.Command(serverBinary(), "serve", "--db", filepath.Join(dir, "db"), "--socket", sock, "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	for range 1000 {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return sock, cmd
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the server did not create its socket")
	return "", nil
}

func TestServerGoesAway(t *testing.T) {
	// A connection whose server stopped fails cleanly, and Close still works.
	sock, cmd := startPrivateServer(t)
	db, err := sochdb.Connect(sock, &sochdb.Options{ConnectTimeout: 200 * time.Millisecond, RequestTimeout: 5 * time.Second})
	must(t, err)
	must(t, db.Put([]byte("k"), []byte("v")))
	tx, err := db.Begin(true)
	must(t, err)
	must(t, tx.Put([]byte("t"), []byte("x")))
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	_, _ = cmd.Process.Wait()

	_, err = db.Get([]byte("k"))
	if err == nil {
		t.Fatal("read from a stopped server")
	}
	var se *sochdb.Error
	if !errors.As(err, &se) || se.Message == "" {
		t.Fatalf("error without details: %v", err)
	}
	wantErr(t, err, sochdb.ErrProtocol)
	if _, err := tx.Commit(); err == nil {
		t.Fatal("commit on a stopped server")
	}
	_ = db.Close()
	wantErr(t, db.Close(), sochdb.ErrClosed)
}
