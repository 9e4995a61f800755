package sochdb

/*
#include "glue.h"

#cgo noescape sgo_get
#cgo nocallback sgo_get
#cgo noescape sgo_read_take
#cgo nocallback sgo_read_take
#cgo noescape sgo_read_error
#cgo nocallback sgo_read_error
#cgo noescape sochdb_put
#cgo nocallback sochdb_put
#cgo noescape sochdb_delete
#cgo nocallback sochdb_delete
#cgo noescape sochdb_path_put
#cgo nocallback sochdb_path_put
#cgo noescape sochdb_path_delete
#cgo nocallback sochdb_path_delete
#cgo noescape sochdb_scan_prefix
#cgo nocallback sochdb_scan_prefix
#cgo noescape sochdb_scan_range
#cgo nocallback sochdb_scan_range
#cgo noescape sochdb_path_scan
#cgo nocallback sochdb_path_scan
*/
import "C"

import "unsafe"

// scope is where an operation runs: on the database alone (tx nil: a transaction of
// its own, or the latest committed state for reads) or inside tx. DB and Tx methods are
// thin wrappers over it, so both run the same code.
type scope struct {
	db *DB
	tx *Tx
}

// enter locks what the call needs and returns the C handles (txn NULL outside a
// transaction); on success the caller must call leave.
func (s scope) enter() (*C.sochdb_db, *C.sochdb_txn, error) {
	if s.tx != nil {
		return s.tx.enter()
	}
	p, err := s.db.enter()
	return p, nil, err
}

// leave releases what enter took.
func (s scope) leave() {
	if s.tx != nil {
		s.tx.leave()
	} else {
		s.db.leave()
	}
}

func (s scope) get(key []byte) ([]byte, error) {
	dp, tp, err := s.enter()
	if err != nil {
		return nil, err
	}
	var small [smallValue]byte
	var out C.sgo_read
	st := C.sgo_get(dp, tp, bytesPtr(key), C.size_t(len(key)), nil,
		(*C.uint8_t)(unsafe.Pointer(&small[0])), smallValue, &out)
	s.leave()
	return getResult(st, &small, &out)
}

// smallValue is the size of the stack buffer a read copies into in the same cgo call;
// larger values take a second call to free the library's buffer.
const smallValue = 256

// getResult turns the outcome of sgo_get into a fresh Go slice.
func getResult(st C.sochdb_status, small *[smallValue]byte, r *C.sgo_read) ([]byte, error) {
	if st != C.SOCHDB_OK {
		return nil, takeError(st, C.sgo_read_error(r))
	}
	out := make([]byte, int(r.len))
	if r.big_data != 0 {
		C.sgo_read_take(r, (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(out))))
	} else {
		copy(out, small[:r.len])
	}
	return out, nil
}

func (s scope) put(key, value []byte) error {
	dp, tp, err := s.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_put(dp, tp, bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)), &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

func (s scope) delete(key []byte) error {
	dp, tp, err := s.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_delete(dp, tp, bytesPtr(key), C.size_t(len(key)), &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

func (s scope) getPath(path string) ([]byte, error) {
	cp, err := cString(path, "path")
	if err != nil {
		return nil, err
	}
	dp, tp, err := s.enter()
	if err != nil {
		return nil, err
	}
	var small [smallValue]byte
	var out C.sgo_read
	st := C.sgo_get(dp, tp, nil, 0, cstr(cp), (*C.uint8_t)(unsafe.Pointer(&small[0])), smallValue, &out)
	s.leave()
	return getResult(st, &small, &out)
}

func (s scope) putPath(path string, value []byte) error {
	cp, err := cString(path, "path")
	if err != nil {
		return err
	}
	dp, tp, err := s.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_path_put(dp, tp, cstr(cp), bytesPtr(value), C.size_t(len(value)), &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

func (s scope) deletePath(path string) error {
	cp, err := cString(path, "path")
	if err != nil {
		return err
	}
	dp, tp, err := s.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_path_delete(dp, tp, cstr(cp), &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

func (s scope) scan(prefix []byte, opts []ScanOption) *Iterator {
	cfg := scanConfigOf(opts)
	dp, tp, err := s.enter()
	if err != nil {
		return failedIterator(err)
	}
	var it *C.sochdb_iter
	var cerr *C.sochdb_error
	st := C.sochdb_scan_prefix(dp, tp, bytesPtr(prefix), C.size_t(len(prefix)), cfg.flags(), C.uint64_t(cfg.limit), &it, &cerr)
	s.leave()
	return s.iterator(st, it, cerr, cfg)
}

func (s scope) scanRange(start, end []byte, opts []ScanOption) *Iterator {
	cfg := scanConfigOf(opts)
	dp, tp, err := s.enter()
	if err != nil {
		return failedIterator(err)
	}
	var it *C.sochdb_iter
	var cerr *C.sochdb_error
	st := C.sochdb_scan_range(dp, tp, bytesPtr(start), C.size_t(len(start)), bytesPtr(end), C.size_t(len(end)),
		cfg.flags(), C.uint64_t(cfg.limit), &it, &cerr)
	s.leave()
	return s.iterator(st, it, cerr, cfg)
}

func (s scope) scanPath(path string, opts []ScanOption) *Iterator {
	cfg := scanConfigOf(opts)
	cp, err := cString(path, "path")
	if err != nil {
		return failedIterator(err)
	}
	dp, tp, err := s.enter()
	if err != nil {
		return failedIterator(err)
	}
	var it *C.sochdb_iter
	var cerr *C.sochdb_error
	st := C.sochdb_path_scan(dp, tp, cstr(cp), cfg.flags(), C.uint64_t(cfg.limit), &it, &cerr)
	s.leave()
	return s.iterator(st, it, cerr, cfg)
}

// iterator wraps the outcome of a scan call.
func (s scope) iterator(st C.sochdb_status, it *C.sochdb_iter, cerr *C.sochdb_error, cfg scanConfig) *Iterator {
	if st != C.SOCHDB_OK {
		return failedIterator(takeError(st, cerr))
	}
	return newIterator(it, s.db, s.tx, cfg)
}
