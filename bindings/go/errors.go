package sochdb

/*
#include "glue.h"
*/
import "C"

import (
	"errors"
	"strconv"
)

// Status is a status code of the SochDB C API. The numbering is stable: it never changes
// once released.
type Status int32

// The status codes (see docs/c-api.md).
const (
	StatusOK              Status = C.SOCHDB_OK
	StatusNotFound        Status = C.SOCHDB_NOT_FOUND
	StatusConflict        Status = C.SOCHDB_CONFLICT
	StatusInvalidArgument Status = C.SOCHDB_INVALID_ARGUMENT
	StatusIO              Status = C.SOCHDB_IO
	StatusCorruption      Status = C.SOCHDB_CORRUPTION
	StatusLocked          Status = C.SOCHDB_LOCKED
	StatusClosed          Status = C.SOCHDB_CLOSED
	StatusBusy            Status = C.SOCHDB_BUSY
	StatusProtocol        Status = C.SOCHDB_PROTOCOL
	StatusTooLarge        Status = C.SOCHDB_TOO_LARGE
	StatusInternal        Status = C.SOCHDB_INTERNAL
	StatusReadOnly        Status = C.SOCHDB_READ_ONLY
	StatusTimeout         Status = C.SOCHDB_TIMEOUT
	StatusAlreadyExists   Status = C.SOCHDB_ALREADY_EXISTS
)

// String returns the library's fixed name of the status ("CONFLICT"), or "UNKNOWN(n)".
func (s Status) String() string {
	name := C.GoString(C.sochdb_status_str(C.sochdb_status(s)))
	if name == "UNKNOWN" {
		return "UNKNOWN(" + strconv.Itoa(int(s)) + ")"
	}
	return name
}

// Sentinel errors, one per status. Every error this package returns for a failed call
// wraps one of them, so callers test the kind of failure with errors.Is:
//
//	if errors.Is(err, sochdb.ErrConflict) { /* retry */ }
var (
	// ErrNotFound: the key, path, row or table does not exist.
	ErrNotFound = errors.New("sochdb: not found")
	// ErrConflict: a concurrent transaction committed a conflicting write; retry the
	// whole transaction (DB.Update does so by itself).
	ErrConflict = errors.New("sochdb: conflict")
	// ErrInvalidArgument: a bad argument (a path, a column type, an option value...).
	ErrInvalidArgument = errors.New("sochdb: invalid argument")
	// ErrIO: the operating system reported an I/O error.
	ErrIO = errors.New("sochdb: I/O error")
	// ErrCorruption: stored data failed a checksum or structural check.
	ErrCorruption = errors.New("sochdb: corruption")
	// ErrLocked: the directory is open elsewhere (share a database through socket mode).
	ErrLocked = errors.New("sochdb: locked")
	// ErrClosed: the database, transaction or iterator was closed, or the transaction
	// already ended.
	ErrClosed = errors.New("sochdb: closed")
	// ErrBusy: a limit on concurrent work was reached; try again later.
	ErrBusy = errors.New("sochdb: busy")
	// ErrProtocol: the server broke the socket protocol, or the connection failed.
	ErrProtocol = errors.New("sochdb: protocol error")
	// ErrTooLarge: a key, value or batch exceeds its maximum size.
	ErrTooLarge = errors.New("sochdb: too large")
	// ErrReadOnly: the database or the transaction is read-only.
	ErrReadOnly = errors.New("sochdb: read-only")
	// ErrTimeout: an operation did not finish within its time limit.
	ErrTimeout = errors.New("sochdb: timeout")
	// ErrAlreadyExists: the table, or the row on insert, already exists.
	ErrAlreadyExists = errors.New("sochdb: already exists")
	// ErrInternal: a bug in the library (the message says where).
	ErrInternal = errors.New("sochdb: internal error")
)

// sentinels maps a status to its sentinel error.
var sentinels = map[Status]error{
	StatusNotFound:        ErrNotFound,
	StatusConflict:        ErrConflict,
	StatusInvalidArgument: ErrInvalidArgument,
	StatusIO:              ErrIO,
	StatusCorruption:      ErrCorruption,
	StatusLocked:          ErrLocked,
	StatusClosed:          ErrClosed,
	StatusBusy:            ErrBusy,
	StatusProtocol:        ErrProtocol,
	StatusTooLarge:        ErrTooLarge,
	StatusInternal:        ErrInternal,
	StatusReadOnly:        ErrReadOnly,
	StatusTimeout:         ErrTimeout,
	StatusAlreadyExists:   ErrAlreadyExists,
}

// Error is a failed call: the status and the library's message, which names the
// function and the context (key, column, file). It wraps the sentinel of its status,
// so errors.Is(err, ErrConflict) works; errors.As gives the details.
type Error struct {
	// Status is the library's status code.
	Status Status
	// Message is what failed and why.
	Message string
}

// Error returns "sochdb: " followed by the message.
func (e *Error) Error() string {
	if e.Message == "" {
		return "sochdb: " + e.Status.String()
	}
	return "sochdb: " + e.Message
}

// Unwrap returns the sentinel error of the status (nil for an unknown status).
func (e *Error) Unwrap() error { return sentinels[e.Status] }

// newError makes an error raised on the Go side of the binding.
func newError(status Status, message string) *Error {
	return &Error{Status: status, Message: message}
}

// Errors for handles used after they were closed, raised before any C call.
var (
	errDBClosed   = newError(StatusClosed, "the database handle is closed")
	errTxDone     = newError(StatusClosed, "the transaction has ended")
	errIterClosed = newError(StatusClosed, "the iterator is closed")
	errNoMemory   = newError(StatusInternal, "out of memory in the C glue")
)

// takeError turns a failed status and its error object into a Go error, and frees the
// error object. A status without an object (an absent key) gives the bare sentinel.
func takeError(st C.sochdb_status, cerr *C.sochdb_error) error {
	if st == C.SGO_NO_MEMORY {
		C.sochdb_error_free(cerr)
		return errNoMemory
	}
	if cerr == nil {
		if Status(st) == StatusNotFound {
			return ErrNotFound
		}
		return &Error{Status: Status(st)}
	}
	e := &Error{Status: Status(st), Message: C.GoString(C.sochdb_error_message(cerr))}
	C.sochdb_error_free(cerr)
	return e
}
