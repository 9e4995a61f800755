package sochdb

/*
#include "glue.h"

#cgo noescape sgo_iter_fill
#cgo nocallback sgo_iter_fill
#cgo nocallback sochdb_iter_free
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// ScanOption adjusts a scan: Reverse, Limit.
type ScanOption func(*scanConfig)

// scanConfig is what the options of one scan set.
type scanConfig struct {
	// reverse returns keys in descending order.
	reverse bool
	// limit caps the number of entries (0: none).
	limit uint64
}

// Reverse makes a scan return keys in descending order.
var Reverse ScanOption = func(c *scanConfig) { c.reverse = true }

// Limit makes a scan return at most n entries (0: no limit).
func Limit(n uint64) ScanOption { return func(c *scanConfig) { c.limit = n } }

func scanConfigOf(opts []ScanOption) scanConfig {
	var c scanConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c scanConfig) flags() C.uint32_t {
	if c.reverse {
		return C.SOCHDB_SCAN_REVERSE
	}
	return 0
}

// Read-ahead: the first refill copies up to firstStep entries; each later one doubles
// up to maxStep. The arena grows from firstArena up to maxArena bytes; an entry that
// does not fit is copied on its own.
const (
	firstStep  = 8
	maxStep    = 256
	firstArena = 1 << 10
	maxArena   = 64 << 10
)

// Iterator walks the entries of a scan in key order (or reverse):
//
//	it := db.Scan([]byte("users/"))
//	defer it.Close()
//	for it.Next() {
//		fmt.Printf("%s = %s\n", it.Key(), it.Value())
//	}
//	if err := it.Err(); err != nil { ... }
//
// It streams: entries are read from the library in growing batches as Next advances,
// one cgo call per batch. Key and Value return slices that stay valid only until the
// next call to Next or Close (copy them to keep them). An iterator made in a
// transaction stops with ErrClosed when the transaction ends; one made on the database
// stops with ErrClosed when the database is closed. Calls on one Iterator are
// serialized; Close releases it (an unreachable one is released by the garbage
// collector as a safety net).
type Iterator struct {
	// mu serializes calls and guards everything below.
	mu sync.Mutex
	// ptr is the C iterator; nil once exhausted, failed or closed.
	ptr *C.sochdb_iter
	// db and tx are where the iterator came from (tx may be nil).
	db *DB
	tx *Tx
	// cleanup frees a leaked C iterator; stopped when ptr is released.
	cleanup runtime.Cleanup
	// arena holds the entries of the last refill, key then value, back to back.
	arena []byte
	// lens holds the key and value lengths of the entries in arena.
	lens []C.size_t
	// n is the number of entries in arena, pos the next one, off its offset.
	n, pos, off int
	// spill holds an entry that did not fit in arena, returned after arena's entries.
	spill []byte
	// spillKey is the key length of the spilled entry; hasSpill says one is pending.
	spillKey int
	hasSpill bool
	// grow asks the next refill to enlarge arena (an entry did not fit).
	grow bool
	// step is the number of entries the next refill may copy.
	step int
	// done is set when the library reported the end.
	done bool
	// closed is set by Close.
	closed bool
	// err is the error that stopped the iteration.
	err error
	// key and value are the current entry.
	key, value []byte
}

// failedIterator is an iterator whose creation failed: Next is false, Err says why.
func failedIterator(err error) *Iterator { return &Iterator{err: err, done: true} }

func newIterator(p *C.sochdb_iter, db *DB, tx *Tx, cfg scanConfig) *Iterator {
	it := &Iterator{ptr: p, db: db, tx: tx, step: firstStep}
	if cfg.limit > 0 && cfg.limit < firstStep {
		it.step = int(cfg.limit)
	}
	it.cleanup = runtime.AddCleanup(it, func(p *C.sochdb_iter) { C.sochdb_iter_free(p) }, p)
	return it
}

// Next advances to the next entry and reports whether there is one. It returns false
// at the end or on an error (see Err).
func (it *Iterator) Next() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.key, it.value = nil, nil
	if it.err != nil {
		return false
	}
	if it.closed {
		it.err = errIterClosed
		return false
	}
	if it.tx != nil && it.tx.ended.Load() {
		it.fail(errTxDone)
		return false
	}
	if it.db != nil && it.db.closed.Load() {
		it.fail(errDBClosed)
		return false
	}
	if it.pos == it.n && !it.hasSpill {
		if it.done || !it.refill() {
			return false
		}
	}
	if it.pos < it.n {
		kl, vl := int(it.lens[2*it.pos]), int(it.lens[2*it.pos+1])
		it.key = it.arena[it.off : it.off+kl : it.off+kl]
		it.value = it.arena[it.off+kl : it.off+kl+vl : it.off+kl+vl]
		it.off += kl + vl
		it.pos++
		return true
	}
	it.hasSpill = false
	it.key = it.spill[:it.spillKey:it.spillKey]
	it.value = it.spill[it.spillKey:len(it.spill):len(it.spill)]
	return true
}

// refill copies the next batch of entries from the library; false at the end or on an
// error. it.mu is held.
func (it *Iterator) refill() bool {
	if it.ptr == nil {
		return false
	}
	if it.arena == nil {
		it.arena = make([]byte, firstArena)
		it.lens = make([]C.size_t, 2*maxStep)
	} else if it.grow {
		it.arena = make([]byte, min(2*len(it.arena), maxArena))
		it.grow = false
	}
	var count C.size_t
	var done, spilled C.int
	var sk, sv C.sochdb_slice
	var cerr *C.sochdb_error
	st := C.sgo_iter_fill(it.ptr, (*C.uint8_t)(unsafe.Pointer(&it.arena[0])), C.size_t(len(it.arena)),
		&it.lens[0], C.size_t(it.step), &count, &done, &sk, &sv, &spilled, &cerr)
	switch st {
	case C.SOCHDB_OK:
	case C.SOCHDB_NOT_FOUND:
		it.done = true
		it.release()
		return false
	default:
		it.fail(takeError(st, cerr))
		return false
	}
	it.n, it.pos, it.off = int(count), 0, 0
	if spilled != 0 {
		// The views die with the next call on the C iterator: copy them now.
		kl, vl := int(sk.len), int(sv.len)
		if cap(it.spill) < kl+vl {
			it.spill = make([]byte, kl+vl)
		}
		it.spill = it.spill[:kl+vl]
		if kl > 0 {
			copy(it.spill, unsafe.Slice((*byte)(unsafe.Pointer(sk.data)), kl))
		}
		if vl > 0 {
			copy(it.spill[kl:], unsafe.Slice((*byte)(unsafe.Pointer(sv.data)), vl))
		}
		it.spillKey = kl
		it.hasSpill = true
		it.grow = len(it.arena) < maxArena
	}
	if done != 0 {
		it.done = true
		it.release()
	}
	it.step = min(2*it.step, maxStep)
	return true
}

// fail stops the iteration with err; it.mu is held.
func (it *Iterator) fail(err error) {
	it.err = err
	it.n, it.pos, it.hasSpill = 0, 0, false
	it.release()
}

// release frees the C iterator; it.mu is held.
func (it *Iterator) release() {
	if it.ptr != nil {
		it.cleanup.Stop()
		C.sochdb_iter_free(it.ptr)
		it.ptr = nil
	}
}

// Key returns the current entry's key, valid until the next Next or Close.
func (it *Iterator) Key() []byte {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.key
}

// Value returns the current entry's value (an empty value is a non-nil empty slice),
// valid until the next Next or Close.
func (it *Iterator) Value() []byte {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.value == nil && it.key != nil {
		return []byte{}
	}
	return it.value
}

// Err returns the error that stopped the iteration, or nil after a normal end.
func (it *Iterator) Err() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.err
}

// Close releases the iterator. It is safe to call more than once; Next after Close
// returns false and Err then wraps ErrClosed.
func (it *Iterator) Close() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.closed = true
	it.key, it.value = nil, nil
	it.n, it.pos, it.hasSpill = 0, 0, false
	it.release()
	return nil
}
