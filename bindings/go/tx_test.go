package sochdb_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"

	"sochdb.dev/sochdb"
)

func TestTransactions(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		tx, err := db.Begin(true)
		must(t, err)
		if !tx.Writable() || tx.DB() != db {
			t.Fatal("accessors")
		}
		must(t, tx.Put(e.k("a"), []byte("1")))
		must(t, tx.Put(e.k("b"), []byte("2")))
		must(t, tx.Delete(e.k("b")))
		v, err := tx.Get(e.k("a")) // own write
		must(t, err)
		equal(t, string(v), "1")
		_, err = tx.Get(e.k("b"))
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.Get(e.k("a")) // isolated
		wantErr(t, err, sochdb.ErrNotFound)
		ts1, err := tx.Commit()
		must(t, err)
		if ts1 == 0 {
			t.Fatal("commit timestamp 0")
		}
		v, _ = db.Get(e.k("a"))
		equal(t, string(v), "1")

		// Ended: every call reports ErrClosed.
		wantErr(t, tx.Put(e.k("c"), nil), sochdb.ErrClosed)
		_, err = tx.Get(e.k("a"))
		wantErr(t, err, sochdb.ErrClosed)
		_, err = tx.Commit()
		wantErr(t, err, sochdb.ErrClosed)
		wantErr(t, tx.Rollback(), sochdb.ErrClosed)

		// Rollback discards.
		tx, err = db.BeginTx(sochdb.TxOptions{Isolation: sochdb.IsolationSnapshot})
		must(t, err)
		must(t, tx.Put(e.k("gone"), []byte("x")))
		must(t, tx.Rollback())
		_, err = db.Get(e.k("gone"))
		wantErr(t, err, sochdb.ErrNotFound)

		// Timestamps increase.
		tx, _ = db.BeginTx(sochdb.TxOptions{Isolation: sochdb.IsolationSerializable})
		must(t, tx.Put(e.k("a"), []byte("again")))
		ts2, err := tx.Commit()
		must(t, err)
		if ts2 <= ts1 {
			t.Fatalf("timestamps %d then %d", ts1, ts2)
		}

		// Read-only transactions read and refuse writes.
		tx, err = db.Begin(false)
		must(t, err)
		if tx.Writable() {
			t.Fatal("read-only tx is writable")
		}
		v, _ = tx.Get(e.k("a"))
		equal(t, string(v), "again")
		wantErr(t, tx.Put(e.k("ro"), nil), sochdb.ErrReadOnly)
		_, err = tx.Commit()
		must(t, err)

		_, err = db.BeginTx(sochdb.TxOptions{Isolation: 42})
		wantErr(t, err, sochdb.ErrInvalidArgument)
	})
}

func TestConflict(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Put(e.k("k"), []byte("0")))
		t1, _ := db.Begin(true)
		t2, _ := db.Begin(true)
		_, _ = t1.Get(e.k("k"))
		_, _ = t2.Get(e.k("k"))
		must(t, t1.Put(e.k("k"), []byte("1")))
		must(t, t2.Put(e.k("k"), []byte("2")))
		_, err := t1.Commit()
		must(t, err)
		_, err = t2.Commit()
		wantErr(t, err, sochdb.ErrConflict)
		wantErr(t, t2.Put(e.k("k"), nil), sochdb.ErrClosed)
		v, _ := db.Get(e.k("k"))
		equal(t, string(v), "1")
	})
}

// increment adds 1 to the decimal counter at key.
func increment(tx *sochdb.Tx, key []byte) error {
	n := 0
	v, err := tx.Get(key)
	switch {
	case err == nil:
		n, err = strconv.Atoi(string(v))
		if err != nil {
			return err
		}
	case !errors.Is(err, sochdb.ErrNotFound):
		return err
	}
	return tx.Put(key, []byte(strconv.Itoa(n+1)))
}

func TestUpdateRetriesConflicts(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(&sochdb.Options{UpdateRetries: 1000})
		const workers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if err := db.Update(func(tx *sochdb.Tx) error { return increment(tx, e.k("counter")) }); err != nil {
						errs <- err
						return
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
		equal(t, string(v), strconv.Itoa(workers*each))
	})
}

func TestUpdateGivesUpAfterRetries(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(&sochdb.Options{UpdateRetries: 2})
		must(t, db.Put(e.k("k"), []byte("0")))
		attempts := 0
		err := db.Update(func(tx *sochdb.Tx) error {
			attempts++
			if _, err := tx.Get(e.k("k")); err != nil {
				return err
			}
			// A concurrent commit of the key read makes every attempt conflict.
			if err := db.Put(e.k("k"), []byte(strconv.Itoa(attempts))); err != nil {
				return err
			}
			return tx.Put(e.k("k"), []byte("mine"))
		})
		wantErr(t, err, sochdb.ErrConflict)
		equal(t, attempts, 3)

		must(t, db.Close())
		none := e.open(&sochdb.Options{UpdateRetries: -1})
		attempts = 0
		err = none.Update(func(tx *sochdb.Tx) error {
			attempts++
			_, _ = tx.Get(e.k("k"))
			_ = none.Put(e.k("k"), []byte("x"))
			return tx.Put(e.k("k"), []byte("mine"))
		})
		wantErr(t, err, sochdb.ErrConflict)
		equal(t, attempts, 1)
	})
}

func TestUpdateAndView(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Update(func(tx *sochdb.Tx) error { return tx.Put(e.k("a"), []byte("1")) }))

		// An error from fn rolls back and is returned as is.
		boom := errors.New("boom")
		err := db.Update(func(tx *sochdb.Tx) error {
			must(t, tx.Put(e.k("b"), []byte("1")))
			return boom
		})
		if err != boom {
			t.Fatalf("got %v", err)
		}
		_, err = db.Get(e.k("b"))
		wantErr(t, err, sochdb.ErrNotFound)

		// A panic rolls back and propagates.
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			_ = db.Update(func(tx *sochdb.Tx) error {
				must(t, tx.Put(e.k("c"), []byte("1")))
				panic("in fn")
			})
		}()
		_, err = db.Get(e.k("c"))
		wantErr(t, err, sochdb.ErrNotFound)

		// fn may not end the transaction itself.
		var leaked *sochdb.Tx
		must(t, db.Update(func(tx *sochdb.Tx) error {
			leaked = tx
			_, err := tx.Commit()
			wantErr(t, err, sochdb.ErrInvalidArgument)
			wantErr(t, tx.Rollback(), sochdb.ErrInvalidArgument)
			return nil
		}))
		wantErr(t, leaked.Put(e.k("late"), nil), sochdb.ErrClosed)

		must(t, db.View(func(tx *sochdb.Tx) error {
			if tx.Writable() {
				t.Fatal("View is writable")
			}
			v, err := tx.Get(e.k("a"))
			must(t, err)
			equal(t, string(v), "1")
			wantErr(t, tx.Put(e.k("x"), nil), sochdb.ErrReadOnly)
			return nil
		}))
		err = db.View(func(tx *sochdb.Tx) error { return boom })
		if err != boom {
			t.Fatalf("got %v", err)
		}
	})
}
