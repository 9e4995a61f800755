package sochdb_test

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"sochdb.dev/sochdb"
)

func TestConcurrentUse(t *testing.T) {
	// Many goroutines share one *DB: puts, gets, scans, batches, transactions with
	// conflicts, rows and queries, all checked.
	both(t, func(e *env) {
		t := e.t
		db := e.open(&sochdb.Options{UpdateRetries: 1000})
		table := e.s("events")
		must(t, db.CreateTable(table, sochdb.Column{Name: "g", Type: sochdb.TypeInt64}, sochdb.Column{Name: "i", Type: sochdb.TypeInt64}))
		const workers, ops = 16, 40
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for g := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fail := func(format string, args ...any) {
					errs <- fmt.Errorf("worker %d: "+format, append([]any{g}, args...)...)
				}
				for i := range ops {
					key := e.k(fmt.Sprintf("w%02d/%03d", g, i))
					val := []byte(strconv.Itoa(i * 7))
					if err := db.Put(key, val); err != nil {
						fail("put: %v", err)
						return
					}
					got, err := db.Get(key)
					if err != nil || !bytes.Equal(got, val) {
						fail("get %q: %q %v", key, got, err)
						return
					}
					if err := db.Update(func(tx *sochdb.Tx) error { return increment(tx, e.k("counter")) }); err != nil {
						fail("update: %v", err)
						return
					}
					if _, err := db.InsertRow(table, sochdb.Fields{"g": g, "i": i}); err != nil {
						fail("insert: %v", err)
						return
					}
					if i%8 == 0 {
						n := 0
						it := db.Scan(e.k(fmt.Sprintf("w%02d/", g)))
						for it.Next() {
							n++
						}
						if err := it.Err(); err != nil || n != i+1 {
							fail("scan: %d entries, %v", n, err)
							return
						}
						it.Close()
						var b sochdb.Batch
						b.Put(e.k(fmt.Sprintf("b%02d/%03d", g, i)), val)
						if _, err := db.Write(&b); err != nil {
							fail("batch: %v", err)
							return
						}
						if err := db.View(func(tx *sochdb.Tx) error {
							_, err := tx.Get(key)
							return err
						}); err != nil {
							fail("view: %v", err)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		v, err := db.Get(e.k("counter"))
		must(t, err)
		equal(t, string(v), strconv.Itoa(workers*ops))
		r, err := db.Query(sochdb.Query{From: table})
		must(t, err)
		equal(t, len(r.Rows), workers*ops)
	})
}

func TestSharedTransactionAndIterator(t *testing.T) {
	// A Tx and an Iterator used from several goroutines at once stay consistent (calls
	// are serialized).
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		for i := range 200 {
			must(t, db.Put(e.k(fmt.Sprintf("%03d", i)), []byte("v")))
		}
		tx, err := db.Begin(true)
		must(t, err)
		it := tx.Scan(e.k(""))
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := 0
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					_ = tx.Put(e.k(fmt.Sprintf("tx%d-%d", g, i)), nil)
					if it.Next() {
						mu.Lock()
						seen++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		must(t, it.Err())
		must(t, it.Close())
		equal(t, seen, 200)
		_, err = tx.Commit()
		must(t, err)
		n := len(drain(t, db.Scan(e.k("tx"))))
		equal(t, n, 200)
	})
}
