// Package cbench runs SochDB operations in loops written in C, so that one cgo call
// covers many operations and the per-operation cost of the C API is measured without
// the cost of crossing from Go. The Go SDK's benchmarks compare against it.
package cbench

/*
#include <stdlib.h>
#include "sochdb.h"

// n gets of key, each value copied out and freed as a C program would; returns the
// number of failed gets.
static long cb_get(sochdb_db *db, const uint8_t *key, size_t key_len, long n) {
    long failed = 0;
    for (long i = 0; i < n; i++) {
        sochdb_buf v = {0};
        if (sochdb_get(db, NULL, key, key_len, &v, NULL) != SOCHDB_OK) failed++;
        sochdb_buf_free(&v);
    }
    return failed;
}

// n puts of key with value; returns the number of failed puts.
static long cb_put(sochdb_db *db, const uint8_t *key, size_t key_len, const uint8_t *value,
                   size_t value_len, long n) {
    long failed = 0;
    for (long i = 0; i < n; i++)
        if (sochdb_put(db, NULL, key, key_len, value, value_len, NULL) != SOCHDB_OK) failed++;
    return failed;
}

// Reads n entries from prefix scans (a new scan whenever one ends); returns the number
// of entries read, or -1 on a failure.
static long cb_scan(sochdb_db *db, const uint8_t *prefix, size_t prefix_len, long n) {
    long read = 0;
    while (read < n) {
        sochdb_iter *it = NULL;
        if (sochdb_scan_prefix(db, NULL, prefix, prefix_len, 0, 0, &it, NULL) != SOCHDB_OK) return -1;
        long before = read;
        sochdb_slice k, v;
        while (read < n && sochdb_iter_next(it, &k, &v, NULL) == SOCHDB_OK) read++;
        sochdb_iter_free(it);
        if (read == before) return -1;
    }
    return read;
}

static void cb_noop(void) {}
*/
import "C"

import "unsafe"

func ptr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// Get runs n gets of key on the database handle db (a sochdb_db *); it returns the
// number that failed.
func Get(db unsafe.Pointer, key []byte, n int) int {
	return int(C.cb_get((*C.sochdb_db)(db), ptr(key), C.size_t(len(key)), C.long(n)))
}

// Put runs n puts of key and value; it returns the number that failed.
func Put(db unsafe.Pointer, key, value []byte, n int) int {
	return int(C.cb_put((*C.sochdb_db)(db), ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value)), C.long(n)))
}

// Scan reads n entries from prefix scans; it returns the number read (-1 on failure).
func Scan(db unsafe.Pointer, prefix []byte, n int) int {
	return int(C.cb_scan((*C.sochdb_db)(db), ptr(prefix), C.size_t(len(prefix)), C.long(n)))
}

// Noop makes one cgo call to an empty C function: the floor of any call from Go.
func Noop() { C.cb_noop() }
