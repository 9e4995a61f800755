package sochdb_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"sochdb.dev/sochdb"
)

// everyCall runs each method of db once and returns the errors, by name.
func everyCall(db *sochdb.DB, e *env) map[string]error {
	errs := map[string]error{}
	k := e.k("k")
	errs["Put"] = db.Put(k, nil)
	_, errs["Get"] = db.Get(k)
	errs["Delete"] = db.Delete(k)
	errs["Scan"] = db.Scan(k).Err()
	errs["Range"] = db.Range(k, nil).Err()
	errs["PutPath"] = db.PutPath(e.s("p"), nil)
	_, errs["GetPath"] = db.GetPath(e.s("p"))
	errs["DeletePath"] = db.DeletePath(e.s("p"))
	errs["ScanPath"] = db.ScanPath(e.s("p")).Err()
	_, errs["Begin"] = db.Begin(true)
	_, errs["BeginTx"] = db.BeginTx(sochdb.TxOptions{ReadOnly: true})
	errs["Update"] = db.Update(func(*sochdb.Tx) error { return nil })
	errs["View"] = db.View(func(*sochdb.Tx) error { return nil })
	var b sochdb.Batch
	b.Put(k, nil)
	_, errs["Write"] = db.Write(&b)
	errs["Checkpoint"] = db.Checkpoint()
	errs["Compact"] = db.Compact()
	_, errs["Stats"] = db.Stats()
	errs["CreateTable"] = db.CreateTable(e.s("t"), sochdb.Column{Name: "a", Type: sochdb.TypeInt64})
	errs["DropTable"] = db.DropTable(e.s("t"))
	_, errs["Tables"] = db.Tables()
	_, errs["DescribeTable"] = db.DescribeTable(e.s("t"))
	_, errs["InsertRow"] = db.InsertRow(e.s("t"), sochdb.Fields{"a": 1})
	errs["InsertRowWithID"] = db.InsertRowWithID(e.s("t"), 1, sochdb.Fields{"a": 1})
	errs["UpsertRow"] = db.UpsertRow(e.s("t"), 1, sochdb.Fields{"a": 1})
	errs["UpdateRow"] = db.UpdateRow(e.s("t"), 1, sochdb.Fields{"a": 1})
	_, errs["GetRow"] = db.GetRow(e.s("t"), 1)
	_, errs["DeleteRow"] = db.DeleteRow(e.s("t"), 1)
	_, errs["Query"] = db.Query(sochdb.Query{From: e.s("t")})
	_, errs["QueryJSON"] = db.QueryJSON(sochdb.Query{From: e.s("t")})
	errs["Close"] = db.Close()
	return errs
}

// everyTxCall runs each method of tx once and returns the errors, by name.
func everyTxCall(tx *sochdb.Tx, e *env) map[string]error {
	errs := map[string]error{}
	k := e.k("k")
	errs["Put"] = tx.Put(k, nil)
	_, errs["Get"] = tx.Get(k)
	errs["Delete"] = tx.Delete(k)
	errs["Scan"] = tx.Scan(k).Err()
	errs["Range"] = tx.Range(k, nil).Err()
	errs["PutPath"] = tx.PutPath(e.s("p"), nil)
	_, errs["GetPath"] = tx.GetPath(e.s("p"))
	errs["DeletePath"] = tx.DeletePath(e.s("p"))
	errs["ScanPath"] = tx.ScanPath(e.s("p")).Err()
	_, errs["InsertRow"] = tx.InsertRow(e.s("t"), sochdb.Fields{"a": 1})
	errs["InsertRowWithID"] = tx.InsertRowWithID(e.s("t"), 1, sochdb.Fields{"a": 1})
	errs["UpsertRow"] = tx.UpsertRow(e.s("t"), 1, sochdb.Fields{"a": 1})
	errs["UpdateRow"] = tx.UpdateRow(e.s("t"), 1, sochdb.Fields{"a": 1})
	_, errs["GetRow"] = tx.GetRow(e.s("t"), 1)
	_, errs["DeleteRow"] = tx.DeleteRow(e.s("t"), 1)
	_, errs["Query"] = tx.Query(sochdb.Query{From: e.s("t")})
	_, errs["QueryJSON"] = tx.QueryJSON(sochdb.Query{From: e.s("t")})
	_, errs["Commit"] = tx.Commit()
	errs["Rollback"] = tx.Rollback()
	return errs
}

func allClosed(t *testing.T, what string, errs map[string]error) {
	t.Helper()
	for name, err := range errs {
		if !errors.Is(err, sochdb.ErrClosed) {
			t.Errorf("%s.%s: got %v, want ErrClosed", what, name, err)
		}
	}
}

func TestUseAfterClose(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Put(e.k("a"), []byte("1")))
		must(t, db.Put(e.k("b"), []byte("2")))
		tx, err := db.Begin(true)
		must(t, err)
		must(t, tx.Put(e.k("c"), []byte("3")))
		it := db.Scan(e.k(""))
		if !it.Next() {
			t.Fatal("no first entry")
		}
		txIt := tx.Scan(e.k(""))
		must(t, db.Close())

		allClosed(t, "DB", everyCall(db, e))
		allClosed(t, "Tx", everyTxCall(tx, e))
		if it.Next() || txIt.Next() {
			t.Fatal("iterator went on after Close")
		}
		wantErr(t, it.Err(), sochdb.ErrClosed)
		wantErr(t, txIt.Err(), sochdb.ErrClosed)
		must(t, it.Close())
		must(t, txIt.Close())

		// A transaction still open when the database closed fails to commit.
		db2, err := e.tryOpen(nil)
		must(t, err)
		tx2, err := db2.Begin(true)
		must(t, err)
		must(t, tx2.Put(e.k("late"), []byte("x")))
		must(t, db2.Close())
		_, err = tx2.Commit()
		wantErr(t, err, sochdb.ErrClosed)

		// nil handles are closed handles, never a crash.
		var nilDB *sochdb.DB
		wantErr(t, nilDB.Put(e.k("x"), nil), sochdb.ErrClosed)
		wantErr(t, nilDB.Close(), sochdb.ErrClosed)
		wantErr(t, nilDB.Update(func(*sochdb.Tx) error { return nil }), sochdb.ErrClosed)
		var nilTx *sochdb.Tx
		_, err = nilTx.Commit()
		wantErr(t, err, sochdb.ErrClosed)
		wantErr(t, nilTx.Rollback(), sochdb.ErrClosed)
	})
}

func TestCloseWhileBusy(t *testing.T) {
	// Goroutines hammer one handle while it is closed: every call succeeds or fails
	// with ErrClosed; nothing crashes.
	both(t, func(e *env) {
		t := e.t
		db, err := e.tryOpen(nil)
		must(t, err)
		must(t, db.Put(e.k("seed"), []byte("v")))
		var wg sync.WaitGroup
		started := make(chan struct{}, 8)
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started <- struct{}{}
				for i := 0; i < 2000; i++ {
					var err error
					switch i % 5 {
					case 0:
						err = db.Put(e.k(fmt.Sprintf("g%d-%d", g, i)), []byte("v"))
					case 1:
						_, err = db.Get(e.k("seed"))
					case 2:
						it := db.Scan(e.k("seed"))
						for it.Next() {
						}
						err = it.Err()
						it.Close()
					case 3:
						err = db.Update(func(tx *sochdb.Tx) error { return tx.Put(e.k(fmt.Sprintf("u%d", g)), []byte("v")) })
					case 4:
						_, err = db.Query(sochdb.Query{From: e.s("none")})
						if errors.Is(err, sochdb.ErrNotFound) {
							err = nil
						}
					}
					if errors.Is(err, sochdb.ErrClosed) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for range 8 {
			<-started
		}
		must(t, db.Close())
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("unexpected error: %v", err)
		}
	})
}

func TestLeakedHandlesAreFreed(t *testing.T) {
	// A DB dropped without Close is closed by the garbage collector, which releases the
	// directory lock; leaked transactions and iterators are freed too.
	dir := t.TempDir() + "/db"
	func() {
		db, err := sochdb.Open(dir, nil)
		must(t, err)
		must(t, db.Put([]byte("k"), []byte("v")))
		tx, err := db.Begin(true)
		must(t, err)
		must(t, tx.Put([]byte("t"), nil))
		it := db.Scan(nil)
		it.Next()
		_ = tx
	}()
	var db *sochdb.DB
	var err error
	for range 200 {
		runtime.GC()
		db, err = sochdb.Open(dir, nil)
		if err == nil {
			break
		}
		wantErr(t, err, sochdb.ErrLocked)
		time.Sleep(10 * time.Millisecond)
	}
	must(t, err)
	v, err := db.Get([]byte("k"))
	must(t, err)
	equal(t, string(v), "v")
	_, err = db.Get([]byte("t")) // the leaked transaction never committed
	wantErr(t, err, sochdb.ErrNotFound)
	must(t, db.Close())
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
