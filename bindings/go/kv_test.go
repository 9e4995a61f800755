package sochdb_test

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"sochdb.dev/sochdb"
)

func TestVersionAndStatus(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(sochdb.Version()) {
		t.Fatalf("version %q", sochdb.Version())
	}
	equal(t, sochdb.StatusConflict.String(), "CONFLICT")
	equal(t, sochdb.StatusOK.String(), "OK")
	equal(t, sochdb.Status(99).String(), "UNKNOWN(99)")
	sentinels := map[sochdb.Status]error{
		sochdb.StatusNotFound: sochdb.ErrNotFound, sochdb.StatusConflict: sochdb.ErrConflict,
		sochdb.StatusInvalidArgument: sochdb.ErrInvalidArgument, sochdb.StatusIO: sochdb.ErrIO,
		sochdb.StatusCorruption: sochdb.ErrCorruption, sochdb.StatusLocked: sochdb.ErrLocked,
		sochdb.StatusClosed: sochdb.ErrClosed, sochdb.StatusBusy: sochdb.ErrBusy,
		sochdb.StatusProtocol: sochdb.ErrProtocol, sochdb.StatusTooLarge: sochdb.ErrTooLarge,
		sochdb.StatusInternal: sochdb.ErrInternal, sochdb.StatusReadOnly: sochdb.ErrReadOnly,
		sochdb.StatusTimeout: sochdb.ErrTimeout, sochdb.StatusAlreadyExists: sochdb.ErrAlreadyExists,
	}
	for st, want := range sentinels {
		err := error(&sochdb.Error{Status: st, Message: "m"})
		for _, other := range sentinels {
			if errors.Is(err, other) != (other == want) {
				t.Fatalf("%v: errors.Is(%v) = %v", st, other, !(other == want))
			}
		}
		if err.Error() != "sochdb: m" {
			t.Fatalf("message %q", err.Error())
		}
	}
	equal(t, (&sochdb.Error{Status: sochdb.StatusBusy}).Error(), "sochdb: BUSY")
}

func TestKV(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Put(e.k("a"), []byte("1")))
		v, err := db.Get(e.k("a"))
		must(t, err)
		equal(t, string(v), "1")
		must(t, db.Put(e.k("a"), []byte("two")))
		v, _ = db.Get(e.k("a"))
		equal(t, string(v), "two")

		// The caller may reuse its buffers: the database keeps copies.
		key, val := []byte(e.prefix+"/buf"), []byte("orig")
		must(t, db.Put(key, val))
		copy(val, "XXXX")
		got, _ := db.Get(key)
		copy(got, "YYYY")
		again, _ := db.Get(key)
		equal(t, string(again), "orig")

		// Empty values are values; absent keys are ErrNotFound.
		must(t, db.Put(e.k("empty"), nil))
		v, err = db.Get(e.k("empty"))
		must(t, err)
		if v == nil || len(v) != 0 {
			t.Fatalf("empty value: %#v", v)
		}
		must(t, db.Put(e.k("empty2"), []byte{}))
		_, err = db.Get(e.k("none"))
		wantErr(t, err, sochdb.ErrNotFound)
		var se *sochdb.Error
		if errors.As(err, &se) {
			t.Fatalf("absent key should be the bare sentinel, got %#v", se)
		}

		// Binary keys and values.
		bk := append(e.k("bin"), 0, 1, 0xff)
		bv := []byte{0, 0, 7, 0}
		must(t, db.Put(bk, bv))
		v, _ = db.Get(bk)
		equal(t, v, bv)

		must(t, db.Delete(e.k("a")))
		_, err = db.Get(e.k("a"))
		wantErr(t, err, sochdb.ErrNotFound)
		must(t, db.Delete(e.k("a"))) // absent: fine
	})
}

func TestEmptyKey(t *testing.T) {
	// The empty key is one key of the whole database, so only in-process.
	e := &env{t: t, dir: t.TempDir() + "/db"}
	db := e.open(nil)
	must(t, db.Put(nil, []byte("root")))
	v, err := db.Get([]byte{})
	must(t, err)
	equal(t, string(v), "root")
	equal(t, drain(t, db.Scan(nil)), []string{"=root"})
	must(t, db.Delete(nil))
	_, err = db.Get(nil)
	wantErr(t, err, sochdb.ErrNotFound)
}

func TestKVLimits(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		big := make([]byte, 65536)
		err := db.Put(big, []byte("v"))
		wantErr(t, err, sochdb.ErrTooLarge)
		var se *sochdb.Error
		if !errors.As(err, &se) || se.Status != sochdb.StatusTooLarge || !strings.Contains(se.Message, "sochdb_put") {
			t.Fatalf("error details: %#v", se)
		}
		_, err = db.Get(big)
		wantErr(t, err, sochdb.ErrTooLarge)
		wantErr(t, db.Delete(big), sochdb.ErrTooLarge)
		wantErr(t, db.Put(e.k("big"), make([]byte, 15<<20+1)), sochdb.ErrTooLarge)

		// The largest key and a large value work.
		maxKey := bytes.Repeat([]byte{'k'}, 65535)
		copy(maxKey, e.prefix)
		must(t, db.Put(maxKey, []byte("v")))
		large := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
		must(t, db.Put(e.k("large"), large))
		v, err := db.Get(e.k("large"))
		must(t, err)
		if !bytes.Equal(v, large) {
			t.Fatal("large value differs")
		}
	})
}

func TestOptions(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		for _, d := range []sochdb.Durability{sochdb.DurabilitySync, sochdb.DurabilityBuffered, sochdb.DurabilityNone} {
			db, err := e.tryOpen(&sochdb.Options{
				Durability: d, Isolation: sochdb.IsolationSnapshot, MemtableBudget: 1 << 20,
				CacheBudget: 1 << 20, BufferedSyncInterval: 10 * time.Millisecond, MaxTxnAge: time.Minute,
				MaxTxnWriteBytes: 1 << 24, ConnectTimeout: 5 * time.Second, RequestTimeout: 30 * time.Second,
				UpdateRetries: 3,
			})
			must(t, err)
			must(t, db.Put(e.k("k"), []byte("v")))
			must(t, db.Close())
		}
		bad := []*sochdb.Options{
			{Durability: 7},
			{Isolation: 9},
			{ConnectTimeout: -time.Second},
			{RequestTimeout: -1},
			{MaxTxnAge: -1},
			{BufferedSyncInterval: -1},
		}
		for _, o := range bad {
			_, err := e.tryOpen(o)
			wantErr(t, err, sochdb.ErrInvalidArgument)
		}
		_, err := sochdb.Open("with\x00nul", nil)
		wantErr(t, err, sochdb.ErrInvalidArgument)
		if _, err = sochdb.Open("", nil); err == nil {
			t.Fatal("opened the empty path")
		}

		if e.socket {
			_, err := sochdb.Connect(socketPath+".absent", &sochdb.Options{ConnectTimeout: 100 * time.Millisecond})
			if err == nil {
				t.Fatal("connected to a socket nobody serves")
			}
			return
		}
		// A second in-process open of the directory is refused while the first is open.
		first := e.open(nil)
		_, err = sochdb.Open(e.dir, nil)
		wantErr(t, err, sochdb.ErrLocked)
		must(t, first.Close())

		// Read-only: reads work, writes fail.
		ro := e.open(&sochdb.Options{ReadOnly: true})
		v, err := ro.Get(e.k("k"))
		must(t, err)
		equal(t, string(v), "v")
		wantErr(t, ro.Put(e.k("k2"), nil), sochdb.ErrReadOnly)
		wantErr(t, ro.Update(func(tx *sochdb.Tx) error { return tx.Put(e.k("k3"), nil) }), sochdb.ErrReadOnly)
	})
}

func TestCheckpointAndStats(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Put(e.k("k"), []byte("v")))
		must(t, db.Checkpoint())
		st, err := db.Stats()
		must(t, err)
		if len(st) == 0 {
			t.Fatal("no stats")
		}
		n, ok := st["txns_committed"].(int64)
		if !ok || n < 1 {
			t.Fatalf("txns_committed = %#v in %v", st["txns_committed"], st)
		}
	})
}

func TestCompact(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		const keys = 2000
		key := func(i int) []byte { return e.k(fmt.Sprintf("c%05d", i)) }
		value := func(round, i int) []byte { return []byte(fmt.Sprintf("round %d of key %d %0100d", round, i, 0)) }
		write := func(round int) {
			var b sochdb.Batch
			for i := 0; i < keys; i++ {
				b.Put(key(i), value(round, i))
			}
			_, err := db.Write(&b)
			must(t, err)
		}
		write(0)
		// A snapshot of round 0, held across the compaction.
		old, err := db.Begin(false)
		must(t, err)
		for round := 1; round < 4; round++ {
			write(round)
			must(t, db.Checkpoint()) // each round in its own block file
		}
		var del sochdb.Batch
		for i := 0; i < keys; i += 2 {
			del.Delete(key(i))
		}
		_, err = db.Write(&del)
		must(t, err)
		before, err := db.Stats()
		must(t, err)

		must(t, db.Compact())

		after, err := db.Stats()
		must(t, err)
		read, _ := after["compaction_bytes_read"].(int64)
		was, _ := before["compaction_bytes_read"].(int64)
		if read <= was {
			t.Fatalf("compaction_bytes_read %v -> %v: the compaction read nothing", was, read)
		}
		for i := 0; i < keys; i++ {
			v, err := db.Get(key(i))
			if i%2 == 0 {
				wantErr(t, err, sochdb.ErrNotFound)
			} else {
				must(t, err)
				equal(t, string(v), string(value(3, i)))
			}
			// The snapshot still reads the versions of its time.
			v, err = old.Get(key(i))
			must(t, err)
			equal(t, string(v), string(value(0, i)))
		}
		must(t, old.Rollback())

		if e.socket {
			return
		}
		// In-process: a read-only database cannot be compacted.
		must(t, db.Close())
		ro := e.open(&sochdb.Options{ReadOnly: true})
		wantErr(t, ro.Compact(), sochdb.ErrReadOnly)
		v, err := ro.Get(key(1))
		must(t, err)
		equal(t, string(v), string(value(3, 1)))
	})
}
