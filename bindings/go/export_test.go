package sochdb

import "unsafe"

// CHandle exposes the C handle to the benchmarks that compare with C loops.
func CHandle(db *DB) unsafe.Pointer { return unsafe.Pointer(db.ptr) }
