package sochdb

/*
#include "glue.h"

#cgo noescape sgo_table_create
#cgo nocallback sgo_table_create
#cgo noescape sochdb_table_drop
#cgo nocallback sochdb_table_drop
#cgo noescape sochdb_table_list
#cgo nocallback sochdb_table_list
#cgo noescape sochdb_table_describe
#cgo nocallback sochdb_table_describe
#cgo noescape sgo_row_write
#cgo nocallback sgo_row_write
#cgo noescape sochdb_row_get
#cgo nocallback sochdb_row_get
#cgo noescape sochdb_row_delete
#cgo nocallback sochdb_row_delete
#cgo noescape sochdb_row_free
#cgo nocallback sochdb_row_free
*/
import "C"

import (
	"fmt"
	"slices"
)

// Column is a column of a table.
type Column struct {
	// Name is the column name: non-empty, unique in the table.
	Name string
	// Type is the column's type.
	Type ColumnType
	// Nullable says whether the column accepts null (nil).
	Nullable bool
}

// Table is a table's schema.
type Table struct {
	// Name is the table name.
	Name string
	// Columns are the columns in declared order (the order of GetRow's values).
	Columns []Column
}

// Fields are the values of a row write, by column name: int64, uint64, float64,
// string, []byte, bool, or nil for null (other integer and float types convert).
type Fields map[string]any

// CreateTable creates a table with the given columns (at least one). An existing table
// gives an error wrapping ErrAlreadyExists.
func (db *DB) CreateTable(name string, columns ...Column) error {
	var e encoder
	cname, err := cString(name, "table name")
	if err != nil {
		return err
	}
	cols := make([]C.sgo_column, len(columns))
	for i, c := range columns {
		off, err := e.str(c.Name, fmt.Sprintf("column %d name", i))
		if err != nil {
			return err
		}
		cols[i] = C.sgo_column{name: off, kind: C.uint32_t(c.Type)}
		if c.Nullable {
			cols[i].nullable = 1
		}
	}
	p, err := db.enter()
	if err != nil {
		return err
	}
	var colp *C.sgo_column
	if len(cols) > 0 {
		colp = &cols[0]
	}
	var cerr *C.sochdb_error
	st := C.sgo_table_create(p, cstr(cname), e.ptr(), colp, C.size_t(len(cols)), &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

// DropTable drops a table and all its rows; a missing table gives an error wrapping
// ErrNotFound.
func (db *DB) DropTable(name string) error {
	cname, err := cString(name, "table name")
	if err != nil {
		return err
	}
	p, err := db.enter()
	if err != nil {
		return err
	}
	var cerr *C.sochdb_error
	st := C.sochdb_table_drop(p, cstr(cname), &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return takeError(st, cerr)
	}
	return nil
}

// Tables returns the names of all tables, sorted.
func (db *DB) Tables() ([]string, error) {
	p, err := db.enter()
	if err != nil {
		return nil, err
	}
	var buf C.sochdb_buf
	var cerr *C.sochdb_error
	st := C.sochdb_table_list(p, &buf, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	names := []string{}
	if err := decodeJSON(takeBuf(&buf), &names); err != nil {
		return nil, newError(StatusInternal, "table list: "+err.Error())
	}
	return names, nil
}

// DescribeTable returns a table's schema; a missing table gives an error wrapping
// ErrNotFound.
func (db *DB) DescribeTable(name string) (*Table, error) {
	cname, err := cString(name, "table name")
	if err != nil {
		return nil, err
	}
	p, err := db.enter()
	if err != nil {
		return nil, err
	}
	var buf C.sochdb_buf
	var cerr *C.sochdb_error
	st := C.sochdb_table_describe(p, cstr(cname), &buf, &cerr)
	db.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	var raw struct {
		Name    string `json:"name"`
		Columns []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Nullable bool   `json:"nullable"`
		} `json:"columns"`
	}
	if err := decodeJSON(takeBuf(&buf), &raw); err != nil {
		return nil, newError(StatusInternal, "table description: "+err.Error())
	}
	t := &Table{Name: raw.Name, Columns: make([]Column, len(raw.Columns))}
	for i, c := range raw.Columns {
		ty, ok := columnTypeNamed(c.Type)
		if !ok {
			return nil, newError(StatusInternal, fmt.Sprintf("table %s column %s: unknown type %q", raw.Name, c.Name, c.Type))
		}
		t.Columns[i] = Column{Name: c.Name, Type: ty, Nullable: c.Nullable}
	}
	return t, nil
}

// InsertRow inserts a row under the next free id, which it returns. Columns not in
// fields are null. Outside a transaction, a row write that fails with ErrConflict
// (a concurrent write to the same row) left no trace and is retried like DB.Update.
func (db *DB) InsertRow(table string, fields Fields) (uint64, error) {
	return scope{db: db}.writeRow(C.SGO_INSERT, table, nil, fields)
}

// InsertRowWithID inserts a row under id; a taken id gives an error wrapping
// ErrAlreadyExists.
func (db *DB) InsertRowWithID(table string, id uint64, fields Fields) error {
	_, err := scope{db: db}.writeRow(C.SGO_INSERT, table, &id, fields)
	return err
}

// UpsertRow inserts or replaces the row id: a replaced row takes exactly fields, the
// other columns become null.
func (db *DB) UpsertRow(table string, id uint64, fields Fields) error {
	_, err := scope{db: db}.writeRow(C.SGO_UPSERT, table, &id, fields)
	return err
}

// UpdateRow changes the named columns of row id, leaving the others; a missing row
// gives an error wrapping ErrNotFound.
func (db *DB) UpdateRow(table string, id uint64, fields Fields) error {
	_, err := scope{db: db}.writeRow(C.SGO_UPDATE, table, &id, fields)
	return err
}

// GetRow returns row id's values, one per column in declared order (DescribeTable
// names them), or an error wrapping ErrNotFound when the row (or the table) is absent.
func (db *DB) GetRow(table string, id uint64) ([]any, error) {
	return scope{db: db}.getRow(table, id)
}

// DeleteRow deletes row id and reports whether it existed.
func (db *DB) DeleteRow(table string, id uint64) (bool, error) {
	return scope{db: db}.deleteRow(table, id)
}

// InsertRow is DB.InsertRow inside the transaction.
func (tx *Tx) InsertRow(table string, fields Fields) (uint64, error) {
	return scope{tx.db, tx}.writeRow(C.SGO_INSERT, table, nil, fields)
}

// InsertRowWithID is DB.InsertRowWithID inside the transaction.
func (tx *Tx) InsertRowWithID(table string, id uint64, fields Fields) error {
	_, err := scope{tx.db, tx}.writeRow(C.SGO_INSERT, table, &id, fields)
	return err
}

// UpsertRow is DB.UpsertRow inside the transaction.
func (tx *Tx) UpsertRow(table string, id uint64, fields Fields) error {
	_, err := scope{tx.db, tx}.writeRow(C.SGO_UPSERT, table, &id, fields)
	return err
}

// UpdateRow is DB.UpdateRow inside the transaction.
func (tx *Tx) UpdateRow(table string, id uint64, fields Fields) error {
	_, err := scope{tx.db, tx}.writeRow(C.SGO_UPDATE, table, &id, fields)
	return err
}

// GetRow is DB.GetRow inside the transaction.
func (tx *Tx) GetRow(table string, id uint64) ([]any, error) {
	return scope{tx.db, tx}.getRow(table, id)
}

// DeleteRow is DB.DeleteRow inside the transaction.
func (tx *Tx) DeleteRow(table string, id uint64) (bool, error) {
	return scope{tx.db, tx}.deleteRow(table, id)
}

// writeRow encodes fields (in column-name order, so errors are deterministic) and runs
// one insert, upsert or update.
func (s scope) writeRow(mode C.int, table string, id *uint64, fields Fields) (uint64, error) {
	ctable, err := cString(table, "table name")
	if err != nil {
		return 0, err
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	var e encoder
	cf := make([]C.sgo_field, len(names))
	for i, name := range names {
		off, err := e.str(name, "column name")
		if err != nil {
			return 0, err
		}
		v, err := e.value(fields[name], "column "+name)
		if err != nil {
			return 0, err
		}
		cf[i] = C.sgo_field{name: off, value: v}
	}
	var fp *C.sgo_field
	if len(cf) > 0 {
		fp = &cf[0]
	}
	var given C.uint64_t
	var givenp *C.uint64_t
	if id != nil {
		given = C.uint64_t(*id)
		if mode != C.SGO_UPDATE {
			givenp = &given
		}
	}
	// On its own (no Tx) a row write is a one-shot transaction; one that conflicts
	// (for example two updates of the same row) left no trace and is retried like
	// DB.Update.
	for attempt := 0; ; attempt++ {
		dp, tp, err := s.enter()
		if err != nil {
			return 0, err
		}
		var out C.uint64_t
		var cerr *C.sochdb_error
		st := C.sgo_row_write(mode, dp, tp, cstr(ctable), givenp, given, e.ptr(), fp, C.size_t(len(cf)), &out, &cerr)
		s.leave()
		if st == C.SOCHDB_OK {
			return uint64(out), nil
		}
		err = takeError(st, cerr)
		if s.tx != nil || st != C.SOCHDB_CONFLICT || attempt >= s.db.retries {
			return 0, err
		}
		backoff(attempt + 1)
	}
}

func (s scope) getRow(table string, id uint64) ([]any, error) {
	ctable, err := cString(table, "table name")
	if err != nil {
		return nil, err
	}
	dp, tp, err := s.enter()
	if err != nil {
		return nil, err
	}
	var row C.sochdb_row
	var cerr *C.sochdb_error
	st := C.sochdb_row_get(dp, tp, cstr(ctable), C.uint64_t(id), &row, &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return nil, takeError(st, cerr)
	}
	vals := goValues(row.values, int(row.count))
	C.sochdb_row_free(&row)
	return vals, nil
}

func (s scope) deleteRow(table string, id uint64) (bool, error) {
	ctable, err := cString(table, "table name")
	if err != nil {
		return false, err
	}
	dp, tp, err := s.enter()
	if err != nil {
		return false, err
	}
	var existed C.bool
	var cerr *C.sochdb_error
	st := C.sochdb_row_delete(dp, tp, cstr(ctable), C.uint64_t(id), &existed, &cerr)
	s.leave()
	if st != C.SOCHDB_OK {
		return false, takeError(st, cerr)
	}
	return bool(existed), nil
}
