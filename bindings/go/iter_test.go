package sochdb_test

import (
	"bytes"
	"fmt"
	"testing"

	"sochdb.dev/sochdb"
)

func TestIterators(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		for _, k := range []string{"a1", "a2", "a3", "b1", "b2"} {
			must(t, db.Put(e.k(k), []byte("v")))
		}
		must(t, db.Put(e.k("e"), nil))
		must(t, db.Put([]byte(e.prefix+"x"), []byte("outside")))

		equal(t, e.strip(drain(t, db.Scan(e.k("a")))), []string{"a1=v", "a2=v", "a3=v"})
		equal(t, e.strip(drain(t, db.Scan(e.k(""), sochdb.Reverse, sochdb.Limit(2)))), []string{"e=", "b2=v"})
		equal(t, e.strip(drain(t, db.Scan(e.k(""), sochdb.Limit(1)))), []string{"a1=v"})
		equal(t, e.strip(drain(t, db.Scan(e.k(""), nil, sochdb.Limit(0)))), []string{"a1=v", "a2=v", "a3=v", "b1=v", "b2=v", "e="})
		equal(t, e.strip(drain(t, db.Range(e.k("a2"), e.k("b2")))), []string{"a2=v", "a3=v", "b1=v"})
		equal(t, e.strip(drain(t, db.Range(e.k("a"), e.k("b"), sochdb.Reverse))), []string{"a3=v", "a2=v", "a1=v"})
		// An empty end is unbounded.
		got := e.strip(drain(t, db.Range(e.k("b2"), nil)))
		if len(got) < 3 || got[0] != "b2=v" || got[1] != "e=" || got[2] != e.prefix+"x=outside" {
			t.Fatalf("open range: %v", got)
		}
		equal(t, drain(t, db.Scan(e.k("zzz"))), []string(nil))

		// Empty values come back as non-nil empty slices.
		it := db.Scan(e.k("e"))
		if !it.Next() || it.Value() == nil || len(it.Value()) != 0 {
			t.Fatalf("empty value: %#v", it.Value())
		}
		must(t, it.Close())

		// Inside a transaction: its own writes; the iterator ends with the transaction.
		tx, err := db.Begin(true)
		must(t, err)
		must(t, tx.Put(e.k("a0"), []byte("t")))
		must(t, tx.Delete(e.k("a3")))
		equal(t, e.strip(drain(t, tx.Scan(e.k("a")))), []string{"a0=t", "a1=v", "a2=v"})
		equal(t, e.strip(drain(t, tx.Range(e.k("a1"), e.k("b"), sochdb.Reverse))), []string{"a2=v", "a1=v"})
		it = tx.Scan(e.k("a"))
		if !it.Next() || string(it.Key()) != string(e.k("a0")) {
			t.Fatal("first entry")
		}
		_, err = tx.Commit()
		must(t, err)
		if it.Next() {
			t.Fatal("Next after the transaction ended")
		}
		wantErr(t, it.Err(), sochdb.ErrClosed)
		must(t, it.Close())
		it = tx.Scan(e.k("a"))
		if it.Next() {
			t.Fatal("scan on an ended transaction")
		}
		wantErr(t, it.Err(), sochdb.ErrClosed)

		// Close twice is fine; Next after Close is false with ErrClosed.
		it = db.Scan(e.k("a"))
		must(t, it.Close())
		must(t, it.Close())
		if it.Next() {
			t.Fatal("Next after Close")
		}
		wantErr(t, it.Err(), sochdb.ErrClosed)
		if it.Key() != nil || it.Value() != nil {
			t.Fatal("entry after Close")
		}
	})
}

func TestIteratorBatches(t *testing.T) {
	// Enough entries, and entries big enough, to exercise the read-ahead: growing
	// batches, a growing arena, and entries larger than the arena.
	both(t, func(e *env) {
		t := e.t
		db := e.open(&sochdb.Options{Durability: sochdb.DurabilityBuffered})
		var b sochdb.Batch
		const n = 1500
		value := func(i int) []byte {
			size := i % 7
			if i%97 == 0 {
				size = 100_000 + i // larger than the arena
			} else if i%13 == 0 {
				size = 700 + i // fills the arena early
			}
			return bytes.Repeat([]byte{byte('a' + i%26)}, size)
		}
		for i := range n {
			b.Put(e.k(fmt.Sprintf("%05d", i)), value(i))
		}
		_, err := db.Write(&b)
		must(t, err)
		for _, reverse := range []bool{false, true} {
			var opts []sochdb.ScanOption
			if reverse {
				opts = append(opts, sochdb.Reverse)
			}
			it := db.Scan(e.k(""), opts...)
			i := 0
			for it.Next() {
				want := i
				if reverse {
					want = n - 1 - i
				}
				if string(it.Key()) != string(e.k(fmt.Sprintf("%05d", want))) || !bytes.Equal(it.Value(), value(want)) {
					t.Fatalf("entry %d: key %q, %d value bytes", i, it.Key(), len(it.Value()))
				}
				i++
			}
			must(t, it.Err())
			must(t, it.Close())
			equal(t, i, n)
		}
		// A limit larger than one batch.
		equal(t, len(drain(t, db.Scan(e.k(""), sochdb.Limit(300)))), 300)
	})
}
