package sochdb

/*
#include <stdlib.h>
#include "glue.h"

#cgo noescape sochdb_open
#cgo nocallback sochdb_open
#cgo noescape sochdb_connect
#cgo nocallback sochdb_connect
#cgo noescape sochdb_close
#cgo nocallback sochdb_close
#cgo noescape sochdb_checkpoint
#cgo nocallback sochdb_checkpoint
#cgo noescape sochdb_compact
#cgo nocallback sochdb_compact
#cgo noescape sochdb_stats
#cgo nocallback sochdb_stats
#cgo noescape sochdb_buf_free
#cgo nocallback sochdb_buf_free
#cgo noescape sochdb_options_init
#cgo nocallback sochdb_options_init
#cgo noescape sgo_write_batch
#cgo nocallback sgo_write_batch
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Version returns the version of the loaded libsochdb ("0.1.0").
func Version() string { return C.GoString(C.sochdb_version()) }

// DB is an open database: the engine running in this process (Open) or a connection to
// a `sochdb serve` process (Connect). Both behave the same.
//
// A DB is safe for concurrent use by many goroutines. Close it when done; after Close
// every method returns an error wrapping ErrClosed. A DB that becomes unreachable
// without Close is closed by the garbage collector as a safety net, but only Close
// reports errors and releases the database (and its directory lock) at a known time.
type DB struct {
	// mu is held shared by every call that passes ptr to C, and exclusively by Close,
	// so the handle is never used while or after it is freed.
	mu sync.RWMutex
	// ptr is the C handle; nil once closed.
	ptr *C.sochdb_db
	// closed is set by Close (read without mu by iterators).
	closed atomic.Bool
	// cleanup closes a leaked handle; stopped by Close.
	cleanup runtime.Cleanup
	// retries is the number of conflict retries of Update.
	retries int
}

// Open opens (creating it if needed) the database in directory path, running the
// engine in this process. Only one handle, in one process, may hold a directory at a
// time: a second Open fails with ErrLocked. Processes share a database through
// `sochdb serve` and Connect. opts may be nil.
func Open(path string, opts *Options) (*DB, error) {
	return open(path, opts, false)
}

// Connect connects to the `sochdb serve` listening on the Unix socket socketPath.
// Every method then works as on an Open database. opts may be nil.
func Connect(socketPath string, opts *Options) (*DB, error) {
	return open(socketPath, opts, true)
}

func open(where string, opts *Options, remote bool) (*DB, error) {
	co, err := opts.toC()
	if err != nil {
		return nil, err
	}
	what := "database path"
	if remote {
		what = "socket path"
	}
	cpath, err := cString(where, what)
	if err != nil {
		return nil, err
	}
	var p *C.sochdb_db
	var cerr *C.sochdb_error
	var st C.sochdb_status
	if remote {
		st = C.sochdb_connect(cstr(cpath), &co, &p, &cerr)
	} else {
		st = C.sochdb_open(cstr(cpath), &co, &p, &cerr)
	}
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	db := &DB{ptr: p, retries: opts.retries()}
	db.cleanup = runtime.AddCleanup(db, func(p *C.sochdb_db) { C.sochdb_close(p, nil) }, p)
	return db, nil
}

// enter takes the shared lock and returns the live handle, or an error (without the
// lock) once the database is closed. Every successful enter is paired with leave.
func (db *DB) enter() (*C.sochdb_db, error) {
	if db == nil {
		return nil, errDBClosed
	}
	db.mu.RLock()
	if db.ptr == nil {
		db.mu.RUnlock()
		return nil, errDBClosed
	}
	return db.ptr, nil
}

// leave releases what enter took.
func (db *DB) leave() { db.mu.RUnlock() }

// Close closes the database (in socket mode: the connection; the server aborts this
// connection's open transactions). It waits for calls in progress to finish. Open
// transactions and iterators fail with ErrClosed afterwards and should still be ended
// or closed. Closing twice returns an error wrapping ErrClosed.
func (db *DB) Close() error {
	if db == nil {
		return errDBClosed
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.ptr == nil {
		return errDBClosed
	}
	db.cleanup.Stop()
	db.closed.Store(true)
	var cerr *C.sochdb_error
	st := C.sochdb_close(db.ptr, &cerr)
	db.ptr = nil
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

// Get returns a copy of the value of key, or an error wrapping ErrNotFound when the key
// is absent. An empty stored value is returned as a non-nil empty slice.
func (db *DB) Get(key []byte) ([]byte, error) { return scope{db: db}.get(key) }

// Put writes key (the empty key is a key) with value (the empty value is a value) in a
// transaction of its own, durable when Put returns (per Options.Durability).
func (db *DB) Put(key, value []byte) error { return scope{db: db}.put(key, value) }

// Delete removes key; deleting an absent key is not an error.
func (db *DB) Delete(key []byte) error { return scope{db: db}.delete(key) }

// Scan returns an iterator over the keys that start with prefix (an empty prefix
// covers every key), in ascending order unless Reverse is given, over the latest
// committed state. See Iterator for the loop.
func (db *DB) Scan(prefix []byte, opts ...ScanOption) *Iterator {
	return scope{db: db}.scan(prefix, opts)
}

// Range returns an iterator over the keys in [start, end); an empty end means no upper
// bound. Options as for Scan.
func (db *DB) Range(start, end []byte, opts ...ScanOption) *Iterator {
	return scope{db: db}.scanRange(start, end, opts)
}

// Checkpoint flushes the memtable, syncs, and trims the log (in socket mode, on the
// server).
func (db *DB) Checkpoint() error {
	p, err := db.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_checkpoint(p, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

// Compact runs a full manual compaction (like RocksDB's CompactRange over every key, or
// SQLite's VACUUM): it flushes the memtable, then rewrites every level of block files
// into the last one, dropping overwritten versions no open transaction can read and
// deleted keys, so the database takes about the space its live data needs. In socket
// mode the server does the work. It returns when done, which takes about as long as
// reading and writing the whole database once; other goroutines (and other clients)
// keep reading and writing meanwhile. Errors: ErrReadOnly on a database opened
// read-only, ErrClosed once the database is closed.
func (db *DB) Compact() error {
	p, err := db.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_compact(p, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

// Stats returns figures about the database (transactions, memtable and log bytes; in
// socket mode also the server's connection counters), decoded from the library's JSON:
// integers as int64 (uint64 when they exceed it), other numbers as float64, nested
// objects as map[string]any.
func (db *DB) Stats() (map[string]any, error) {
	p, err := db.enter()
	if err != nil {
		return nil, err
	}
	var buf C.sochdb_buf
	var cerr *C.sochdb_error
	st := C.sochdb_stats(p, &buf, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	text := takeBuf(&buf)
	var out map[string]any
	if err := decodeJSON(text, &out); err != nil {
		return nil, newError(StatusInternal, "stats: "+err.Error())
	}
	normalizeNumbers(out)
	return out, nil
}

// Write applies every operation of the batch atomically, under one commit timestamp,
// which it returns. The batch is left as it was and may be written again.
func (db *DB) Write(b *Batch) (uint64, error) {
	if b == nil {
		return 0, newError(StatusInvalidArgument, "Write: batch is nil")
	}
	p, err := db.enter()
	if err != nil {
		return 0, err
	}
	var ts C.uint64_t
	var cerr *C.sochdb_error
	var ops *C.sgo_op
	if len(b.ops) > 0 {
		ops = &b.ops[0]
	}
	st := C.sgo_write_batch(p, bytesPtr(b.arena), ops, C.size_t(len(b.ops)), &ts, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return 0, takeError(st, cerr)
	}
	return uint64(ts), nil
}

// takeBuf copies a library buffer into Go memory and frees it. The result is never nil.
func takeBuf(buf *C.sochdb_buf) []byte {
	n := int(buf.len)
	out := make([]byte, n)
	if buf.data != nil {
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(buf.data)), n))
		C.sochdb_buf_free(buf)
	}
	return out
}

// bytesPtr is the C view of b's bytes: NULL when b is empty.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// cString copies s into Go memory with a NUL terminator, refusing embedded NULs.
func cString(s, what string) ([]byte, error) {
	if i := bytes.IndexByte([]byte(s), 0); i >= 0 {
		return nil, newError(StatusInvalidArgument, what+" contains a NUL byte")
	}
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b, nil
}

// cstr is the C view of a NUL-terminated buffer made by cString.
func cstr(b []byte) *C.char { return (*C.char)(unsafe.Pointer(unsafe.SliceData(b))) }

// decodeJSON decodes the library's JSON, keeping numbers exact.
func decodeJSON(text []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	return d.Decode(v)
}

// normalizeNumbers replaces json.Number values (recursively) by int64, uint64 or
// float64.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}
