package sochdb

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"time"
)

// Durability says when a commit's bytes reach stable storage.
type Durability uint32

const (
	// DurabilitySync: a commit returns after its bytes are on stable storage (the
	// default). Concurrent commits share one sync.
	DurabilitySync Durability = C.SOCHDB_DURABILITY_SYNC
	// DurabilityBuffered: written to the operating system at commit and synced in the
	// background within Options.BufferedSyncInterval; an OS crash may lose that window.
	DurabilityBuffered Durability = C.SOCHDB_DURABILITY_BUFFERED
	// DurabilityNone: never synced per commit (bulk loads); recovery stays consistent.
	DurabilityNone Durability = C.SOCHDB_DURABILITY_NONE
)

// Isolation is the isolation level of transactions.
type Isolation uint32

const (
	// IsolationDefault: the database's default (for Options: serializable).
	IsolationDefault Isolation = iota
	// IsolationSerializable: optimistic serializable isolation; reads are validated at
	// commit and a conflict fails it with ErrConflict.
	IsolationSerializable
	// IsolationSnapshot: snapshot isolation; only write-write conflicts fail a commit.
	IsolationSnapshot
)

// DefaultUpdateRetries is how many times DB.Update retries a transaction that failed
// with ErrConflict when Options.UpdateRetries is 0.
const DefaultUpdateRetries = 16

// Options configure Open and Connect. The zero value (or a nil *Options) takes every
// default; a zero field takes its default. In socket mode the server's own options
// govern storage, and only ConnectTimeout, RequestTimeout and UpdateRetries apply.
type Options struct {
	// Durability of commits (default DurabilitySync).
	Durability Durability
	// ReadOnly opens the database read-only: writes fail with ErrReadOnly.
	ReadOnly bool
	// Isolation of transactions that do not ask for one (default serializable).
	Isolation Isolation
	// MemtableBudget is how many bytes a memtable may hold before it is flushed
	// (0: the library's default, 64 MiB).
	MemtableBudget uint64
	// CacheBudget is the size of the block cache in bytes (0: default, 128 MiB).
	CacheBudget uint64
	// BufferedSyncInterval is the longest delay before a buffered commit is synced,
	// rounded up to milliseconds (0: default, 100 ms).
	BufferedSyncInterval time.Duration
	// MaxTxnAge aborts a transaction open longer than this (0: the library's limit).
	MaxTxnAge time.Duration
	// MaxTxnWriteBytes fails a transaction that buffers more written bytes (0: the
	// library's limit).
	MaxTxnWriteBytes uint64
	// ConnectTimeout bounds how long Connect waits for the server (0: default).
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request in socket mode (0: no limit).
	RequestTimeout time.Duration
	// UpdateRetries is how many times DB.Update retries after ErrConflict
	// (0: DefaultUpdateRetries; negative: never).
	UpdateRetries int
}

// millis converts a duration option to whole milliseconds, rounding up.
func millis(d time.Duration, name string) (C.uint64_t, error) {
	if d < 0 {
		return 0, newError(StatusInvalidArgument, fmt.Sprintf("option %s is negative (%v)", name, d))
	}
	return C.uint64_t((d + time.Millisecond - 1) / time.Millisecond), nil
}

// toC fills the C options struct from o (nil: the defaults).
func (o *Options) toC() (C.sochdb_options, error) {
	var co C.sochdb_options
	C.sochdb_options_init(&co)
	if o == nil {
		return co, nil
	}
	co.durability = C.uint32_t(o.Durability)
	if o.ReadOnly {
		co.read_only = 1
	}
	switch o.Isolation {
	case IsolationDefault, IsolationSerializable:
		co.default_isolation = C.SOCHDB_ISOLATION_SERIALIZABLE
	case IsolationSnapshot:
		co.default_isolation = C.SOCHDB_ISOLATION_SNAPSHOT
	default:
		return co, newError(StatusInvalidArgument, fmt.Sprintf("option Isolation: unknown value %d", o.Isolation))
	}
	co.memtable_budget = C.uint64_t(o.MemtableBudget)
	co.cache_budget = C.uint64_t(o.CacheBudget)
	co.max_txn_write_bytes = C.uint64_t(o.MaxTxnWriteBytes)
	var err error
	if co.buffered_sync_interval_ms, err = millis(o.BufferedSyncInterval, "BufferedSyncInterval"); err != nil {
		return co, err
	}
	if co.max_txn_age_ms, err = millis(o.MaxTxnAge, "MaxTxnAge"); err != nil {
		return co, err
	}
	if co.connect_timeout_ms, err = millis(o.ConnectTimeout, "ConnectTimeout"); err != nil {
		return co, err
	}
	if co.request_timeout_ms, err = millis(o.RequestTimeout, "RequestTimeout"); err != nil {
		return co, err
	}
	return co, nil
}

// retries is the number of conflict retries of DB.Update.
func (o *Options) retries() int {
	switch {
	case o == nil || o.UpdateRetries == 0:
		return DefaultUpdateRetries
	case o.UpdateRetries < 0:
		return 0
	default:
		return o.UpdateRetries
	}
}

// TxOptions configure DB.BeginTx.
type TxOptions struct {
	// ReadOnly makes a transaction that never conflicts; writes in it fail with
	// ErrReadOnly.
	ReadOnly bool
	// Isolation of the transaction (IsolationDefault: the database's).
	Isolation Isolation
}

// flags encodes the options as sochdb_begin flags.
func (o TxOptions) flags() (C.uint32_t, error) {
	var f C.uint32_t
	if o.ReadOnly {
		f |= C.SOCHDB_TXN_READ_ONLY
	}
	switch o.Isolation {
	case IsolationDefault:
	case IsolationSerializable:
		f |= C.SOCHDB_TXN_SERIALIZABLE
	case IsolationSnapshot:
		f |= C.SOCHDB_TXN_SNAPSHOT
	default:
		return 0, newError(StatusInvalidArgument, fmt.Sprintf("TxOptions.Isolation: unknown value %d", o.Isolation))
	}
	return f, nil
}
