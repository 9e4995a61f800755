package sochdb

/*
#include "glue.h"

#cgo noescape sochdb_begin
#cgo nocallback sochdb_begin
#cgo noescape sgo_commit
#cgo nocallback sgo_commit
#cgo nocallback sochdb_txn_free
*/
import "C"

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Tx is a transaction: it reads a snapshot taken when it began plus its own writes, and
// its writes become visible together when Commit succeeds.
//
// A transaction ends with Commit or Rollback (after which its methods return errors
// wrapping ErrClosed). Calls on one Tx are serialized, so sharing it between goroutines
// is safe, though rarely useful. One left open and unreachable is rolled back by the
// garbage collector as a safety net.
type Tx struct {
	// mu serializes calls on the transaction and guards ptr.
	mu sync.Mutex
	// db is the database the transaction belongs to.
	db *DB
	// ptr is the C handle; nil once the transaction ended.
	ptr *C.sochdb_txn
	// ended is set when the transaction ends (read without mu by iterators).
	ended atomic.Bool
	// writable is false for read-only transactions.
	writable bool
	// managed marks transactions run by Update and View, which end them themselves.
	managed bool
	// cleanup frees a leaked handle; stopped when the transaction ends.
	cleanup runtime.Cleanup
}

// Begin starts a transaction: read-write when writable is true, read-only otherwise
// (a read-only transaction never conflicts; writes in it fail with ErrReadOnly).
// The caller must end it with Commit or Rollback; prefer Update and View.
func (db *DB) Begin(writable bool) (*Tx, error) {
	return db.BeginTx(TxOptions{ReadOnly: !writable})
}

// BeginTx starts a transaction with options (isolation, read-only).
func (db *DB) BeginTx(opts TxOptions) (*Tx, error) {
	flags, err := opts.flags()
	if err != nil {
		return nil, err
	}
	p, err := db.enter()
	if err != nil {
		return nil, err
	}
	var t *C.sochdb_txn
	var cerr *C.sochdb_error
	st := C.sochdb_begin(p, flags, &t, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	tx := &Tx{db: db, ptr: t, writable: !opts.ReadOnly}
	tx.cleanup = runtime.AddCleanup(tx, func(t *C.sochdb_txn) { C.sochdb_txn_free(t) }, t)
	return tx, nil
}

// Update runs fn in a read-write transaction and commits it. If fn returns an error
// (or panics) the transaction is rolled back and the error returned. If the commit (or
// an operation in fn) fails with ErrConflict, the whole transaction is retried with a
// short randomized backoff, up to Options.UpdateRetries times, so fn may run more
// than once and must not have effects outside the transaction. fn must not call Commit
// or Rollback.
func (db *DB) Update(fn func(*Tx) error) error {
	if db == nil {
		return errDBClosed
	}
	var err error
	for attempt := 0; attempt <= db.retries; attempt++ {
		if attempt > 0 {
			backoff(attempt)
		}
		err = db.runUpdate(fn)
		if err == nil || !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return err
}

// runUpdate makes one attempt of Update.
func (db *DB) runUpdate(fn func(*Tx) error) error {
	tx, err := db.BeginTx(TxOptions{})
	if err != nil {
		return err
	}
	tx.managed = true
	defer tx.end()
	if err := fn(tx); err != nil {
		return err
	}
	_, err = tx.commit()
	return err
}

// View runs fn in a read-only transaction (a consistent snapshot), then ends it.
// fn must not call Commit or Rollback.
func (db *DB) View(fn func(*Tx) error) error {
	tx, err := db.BeginTx(TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	tx.managed = true
	defer tx.end()
	return fn(tx)
}

// backoff sleeps before retry attempt n (n >= 1): a random time below 50µs·2ⁿ, at most
// 10ms, so conflicting writers spread out.
func backoff(n int) {
	limit := 50 * time.Microsecond << min(n, 8)
	limit = min(limit, 10*time.Millisecond)
	time.Sleep(time.Duration(rand.Int64N(int64(limit)) + 1))
}

// DB returns the database the transaction belongs to.
func (tx *Tx) DB() *DB { return tx.db }

// Writable reports whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.writable }

// enter locks the transaction and the database and returns their handles; on success
// the caller must call leave.
func (tx *Tx) enter() (*C.sochdb_db, *C.sochdb_txn, error) {
	if tx == nil {
		return nil, nil, errTxDone
	}
	tx.mu.Lock()
	if tx.ptr == nil {
		tx.mu.Unlock()
		return nil, nil, errTxDone
	}
	p, err := tx.db.enter()
	if err != nil {
		tx.mu.Unlock()
		return nil, nil, err
	}
	return p, tx.ptr, nil
}

// leave releases what enter took.
func (tx *Tx) leave() {
	tx.db.leave()
	tx.mu.Unlock()
}

var errManaged = newError(StatusInvalidArgument, "Commit and Rollback are not allowed inside Update or View")

// Commit commits the transaction and returns its commit timestamp (for a read-only
// transaction, its snapshot timestamp). The transaction has ended when Commit returns,
// whatever the outcome. ErrConflict means nothing of it became visible: run it again.
func (tx *Tx) Commit() (uint64, error) {
	if tx == nil {
		return 0, errTxDone
	}
	if tx.managed {
		return 0, errManaged
	}
	return tx.commit()
}

func (tx *Tx) commit() (uint64, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.ptr == nil {
		return 0, errTxDone
	}
	var ts C.uint64_t
	var cerr *C.sochdb_error
	st := C.sgo_commit(tx.ptr, &ts, &cerr)
	tx.markEnded()
	if st != C.SOCHDB_OK {
		return 0, takeError(st, cerr)
	}
	return uint64(ts), nil
}

// Rollback discards the transaction's writes and ends it. Rolling back a transaction
// that already ended returns an error wrapping ErrClosed, so `defer tx.Rollback()`
// after a Commit is harmless.
func (tx *Tx) Rollback() error {
	if tx == nil {
		return errTxDone
	}
	if tx.managed {
		return errManaged
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.ptr == nil {
		return errTxDone
	}
	C.sochdb_txn_free(tx.ptr)
	tx.markEnded()
	return nil
}

// end rolls back the transaction if it is still open (Update and View).
func (tx *Tx) end() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.ptr != nil {
		C.sochdb_txn_free(tx.ptr)
		tx.markEnded()
	}
}

// markEnded forgets the (already freed) handle; tx.mu is held.
func (tx *Tx) markEnded() {
	tx.cleanup.Stop()
	tx.ptr = nil
	tx.ended.Store(true)
}

// Get is DB.Get inside the transaction (its snapshot and own writes).
func (tx *Tx) Get(key []byte) ([]byte, error) { return scope{tx.db, tx}.get(key) }

// Put is DB.Put inside the transaction.
func (tx *Tx) Put(key, value []byte) error { return scope{tx.db, tx}.put(key, value) }

// Delete is DB.Delete inside the transaction.
func (tx *Tx) Delete(key []byte) error { return scope{tx.db, tx}.delete(key) }

// Scan is DB.Scan over the transaction's snapshot and own writes. The iterator fails
// with ErrClosed once the transaction ends.
func (tx *Tx) Scan(prefix []byte, opts ...ScanOption) *Iterator {
	return scope{tx.db, tx}.scan(prefix, opts)
}

// Range is DB.Range over the transaction's snapshot and own writes.
func (tx *Tx) Range(start, end []byte, opts ...ScanOption) *Iterator {
	return scope{tx.db, tx}.scanRange(start, end, opts)
}
