package sochdb

/*
#include "glue.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// ColumnType is the type of a table column.
type ColumnType uint32

// The column types. Go values map to them as: int64 (and the other signed integer
// types) to TypeInt64, uint64 (and the other unsigned ones) to TypeUInt64, float64
// and float32 to TypeFloat64, string to TypeText, []byte to TypeBinary, bool to
// TypeBool; nil is null.
const (
	TypeInt64   ColumnType = C.SOCHDB_TYPE_INT64
	TypeUInt64  ColumnType = C.SOCHDB_TYPE_UINT64
	TypeFloat64 ColumnType = C.SOCHDB_TYPE_FLOAT64
	TypeText    ColumnType = C.SOCHDB_TYPE_TEXT
	TypeBinary  ColumnType = C.SOCHDB_TYPE_BINARY
	TypeBool    ColumnType = C.SOCHDB_TYPE_BOOL
)

var typeNames = [...]string{"Int64", "UInt64", "Float64", "Text", "Binary", "Bool"}

// String returns the type's name as DescribeTable reports it ("Int64").
func (t ColumnType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("ColumnType(%d)", uint32(t))
}

// columnTypeNamed is the type with the given name.
func columnTypeNamed(name string) (ColumnType, bool) {
	for i, n := range typeNames {
		if n == name {
			return ColumnType(i), true
		}
	}
	return 0, false
}

// encoder lays out the inputs of one call in a single pointer-free arena: names
// NUL-terminated, text and binary values raw, referred to by offset.
type encoder struct {
	arena []byte
}

// str appends s with a NUL terminator and returns its offset.
func (e *encoder) str(s, what string) (C.size_t, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return 0, newError(StatusInvalidArgument, what+" contains a NUL byte")
	}
	off := len(e.arena)
	e.arena = append(append(e.arena, s...), 0)
	return C.size_t(off), nil
}

// value encodes a Go value; what names it in errors.
func (e *encoder) value(v any, what string) (C.sgo_value, error) {
	var out C.sgo_value
	switch x := v.(type) {
	case nil:
		out.kind = C.SOCHDB_TYPE_NULL
	case int64:
		out.kind, out.int64 = C.SOCHDB_TYPE_INT64, C.int64_t(x)
	case int:
		out.kind, out.int64 = C.SOCHDB_TYPE_INT64, C.int64_t(x)
	case int32:
		out.kind, out.int64 = C.SOCHDB_TYPE_INT64, C.int64_t(x)
	case int16:
		out.kind, out.int64 = C.SOCHDB_TYPE_INT64, C.int64_t(x)
	case int8:
		out.kind, out.int64 = C.SOCHDB_TYPE_INT64, C.int64_t(x)
	case uint64:
		out.kind, out.uint64 = C.SOCHDB_TYPE_UINT64, C.uint64_t(x)
	case uint:
		out.kind, out.uint64 = C.SOCHDB_TYPE_UINT64, C.uint64_t(x)
	case uint32:
		out.kind, out.uint64 = C.SOCHDB_TYPE_UINT64, C.uint64_t(x)
	case uint16:
		out.kind, out.uint64 = C.SOCHDB_TYPE_UINT64, C.uint64_t(x)
	case uint8:
		out.kind, out.uint64 = C.SOCHDB_TYPE_UINT64, C.uint64_t(x)
	case float64:
		out.kind, out.float64 = C.SOCHDB_TYPE_FLOAT64, C.double(x)
	case float32:
		out.kind, out.float64 = C.SOCHDB_TYPE_FLOAT64, C.double(x)
	case bool:
		out.kind = C.SOCHDB_TYPE_BOOL
		if x {
			out.boolean = 1
		}
	case string:
		out.kind, out.off, out.len = C.SOCHDB_TYPE_TEXT, C.size_t(len(e.arena)), C.size_t(len(x))
		e.arena = append(e.arena, x...)
	case []byte:
		out.kind, out.off, out.len = C.SOCHDB_TYPE_BINARY, C.size_t(len(e.arena)), C.size_t(len(x))
		e.arena = append(e.arena, x...)
	default:
		return out, newError(StatusInvalidArgument, fmt.Sprintf("%s: unsupported Go type %T (use int64, uint64, float64, string, []byte, bool or nil)", what, v))
	}
	return out, nil
}

// ptr is the arena's C view (NULL when empty).
func (e *encoder) ptr() *C.uint8_t { return bytesPtr(e.arena) }

// goValue converts a value owned by the library into a Go value (copying bytes).
func goValue(v *C.sochdb_value) any {
	switch v.kind {
	case C.SOCHDB_TYPE_INT64:
		return int64(v.int64)
	case C.SOCHDB_TYPE_UINT64:
		return uint64(v.uint64)
	case C.SOCHDB_TYPE_FLOAT64:
		return float64(v.float64)
	case C.SOCHDB_TYPE_BOOL:
		return v.boolean != 0
	case C.SOCHDB_TYPE_TEXT:
		if v.len == 0 {
			return ""
		}
		return string(unsafe.Slice((*byte)(unsafe.Pointer(v.data)), int(v.len)))
	case C.SOCHDB_TYPE_BINARY:
		out := make([]byte, int(v.len))
		if v.len > 0 {
			copy(out, unsafe.Slice((*byte)(unsafe.Pointer(v.data)), int(v.len)))
		}
		return out
	default:
		return nil
	}
}

// goValues converts n values starting at p.
func goValues(p *C.sochdb_value, n int) []any {
	out := make([]any, n)
	if n == 0 {
		return out
	}
	vals := unsafe.Slice(p, n)
	for i := range vals {
		out[i] = goValue(&vals[i])
	}
	return out
}
