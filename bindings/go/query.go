package sochdb

/*
#include "glue.h"

#cgo noescape sgo_query
#cgo nocallback sgo_query
#cgo noescape sochdb_result_free
#cgo nocallback sochdb_result_free
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Op is a comparison in a query filter.
type Op uint32

// The comparisons.
const (
	Eq Op = C.SOCHDB_OP_EQ // =
	Ne Op = C.SOCHDB_OP_NE // !=
	Lt Op = C.SOCHDB_OP_LT // <
	Le Op = C.SOCHDB_OP_LE // <=
	Gt Op = C.SOCHDB_OP_GT // >
	Ge Op = C.SOCHDB_OP_GE // >=
)

// Filter is one condition of a query: Column Op Value. The value's Go type must match
// the column (see ColumnType).
type Filter struct {
	// Column is the column compared.
	Column string
	// Op is the comparison.
	Op Op
	// Value is compared with (nil is null).
	Value any
}

// Query selects rows from a table, or from path-shaped keys under a path
// ("docs/1/title" and "docs/1/body" form row "docs/1" with columns title and body).
type Query struct {
	// From is the table name or path.
	From string
	// Columns are the columns wanted, in order (none: all; declared order for a table,
	// sorted for paths).
	Columns []string
	// Where holds conditions, joined with AND.
	Where []Filter
	// Limit caps the number of rows (0: no limit).
	Limit uint64
	// Offset skips rows before the first returned.
	Offset uint64
}

// Result is the outcome of a query: typed rows in key order, and the same rows as TOON
// text, the compact format LLM tool-chains read.
type Result struct {
	// Name is the table or path the rows came from.
	Name string
	// Columns are the column names, in the order of each row's values.
	Columns []string
	// Rows hold the values: int64, uint64, float64, string, []byte, bool or nil.
	Rows [][]any
	// TOON is the result rendered as TOON by the library.
	TOON string
}

// Query runs q over the latest committed state and returns its rows and their TOON
// rendering. A missing table or path gives an error wrapping ErrNotFound.
func (db *DB) Query(q Query) (*Result, error) { return scope{db: db}.query(q) }

// QueryJSON runs q and returns the rows as the library's JSON (an array of objects;
// binary values as base64 strings).
func (db *DB) QueryJSON(q Query) ([]byte, error) { return scope{db: db}.queryJSON(q) }

// Query is DB.Query over the transaction's snapshot and own writes.
func (tx *Tx) Query(q Query) (*Result, error) { return scope{tx.db, tx}.query(q) }

// QueryJSON is DB.QueryJSON over the transaction's snapshot and own writes.
func (tx *Tx) QueryJSON(q Query) ([]byte, error) { return scope{tx.db, tx}.queryJSON(q) }

// encodedQuery is a query laid out for sgo_query.
type encodedQuery struct {
	e       encoder
	source  C.size_t
	columns []C.size_t
	filters []C.sgo_filter
}

func encodeQuery(q Query) (*encodedQuery, error) {
	eq := &encodedQuery{}
	var err error
	if eq.source, err = eq.e.str(q.From, "query source"); err != nil {
		return nil, err
	}
	eq.columns = make([]C.size_t, len(q.Columns))
	for i, c := range q.Columns {
		if eq.columns[i], err = eq.e.str(c, "query column"); err != nil {
			return nil, err
		}
	}
	eq.filters = make([]C.sgo_filter, len(q.Where))
	for i, f := range q.Where {
		col, err := eq.e.str(f.Column, "filter column")
		if err != nil {
			return nil, err
		}
		v, err := eq.e.value(f.Value, fmt.Sprintf("filter on column %s", f.Column))
		if err != nil {
			return nil, err
		}
		eq.filters[i] = C.sgo_filter{column: col, op: C.uint32_t(f.Op), value: v}
	}
	return eq, nil
}

// run executes the query; with keep the result is left for the caller to read and free.
func (s scope) runQuery(q Query, render C.int, keep bool, res *C.struct_sochdb_result) ([]byte, error) {
	eq, err := encodeQuery(q)
	if err != nil {
		return nil, err
	}
	var cols *C.size_t
	if len(eq.columns) > 0 {
		cols = &eq.columns[0]
	}
	var fils *C.sgo_filter
	if len(eq.filters) > 0 {
		fils = &eq.filters[0]
	}
	var keepc C.int
	if keep {
		keepc = 1
	}
	dp, tp, err := s.enter()
	if err != nil {
		return nil, err
	}
	var text C.sochdb_buf
	var cerr *C.sochdb_error
	st := C.sgo_query(dp, tp, eq.e.ptr(), eq.source, cols, C.size_t(len(eq.columns)), fils, C.size_t(len(eq.filters)),
		C.uint64_t(q.Limit), C.uint64_t(q.Offset), render, keepc, res, &text, &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	return takeBuf(&text), nil
}

func (s scope) query(q Query) (*Result, error) {
	var res C.struct_sochdb_result
	toon, err := s.runQuery(q, C.SGO_RENDER_TOON, true, &res)
	if err != nil {
		return nil, err
	}
	defer C.sochdb_result_free(&res)
	ncol, nrow := int(res.column_count), int(res.row_count)
	out := &Result{Name: C.GoString(res.name), Columns: make([]string, ncol), Rows: make([][]any, nrow), TOON: string(toon)}
	if ncol > 0 {
		names := unsafe.Slice(res.columns, ncol)
		for i, n := range names {
			out.Columns[i] = C.GoString(n)
		}
	}
	if ncol > 0 && nrow > 0 {
		all := goValues(res.values, ncol*nrow)
		for r := range nrow {
			out.Rows[r] = all[r*ncol : (r+1)*ncol : (r+1)*ncol]
		}
	} else {
		for r := range nrow {
			out.Rows[r] = []any{}
		}
	}
	return out, nil
}

func (s scope) queryJSON(q Query) ([]byte, error) {
	var res C.struct_sochdb_result
	return s.runQuery(q, C.SGO_RENDER_JSON, false, &res)
}
