package sochdb_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"sochdb.dev/sochdb"
)

func TestTables(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		people := e.s("people")
		cols := []sochdb.Column{
			{Name: "name", Type: sochdb.TypeText},
			{Name: "age", Type: sochdb.TypeInt64, Nullable: true},
			{Name: "score", Type: sochdb.TypeFloat64, Nullable: true},
			{Name: "active", Type: sochdb.TypeBool, Nullable: true},
			{Name: "visits", Type: sochdb.TypeUInt64, Nullable: true},
			{Name: "avatar", Type: sochdb.TypeBinary, Nullable: true},
		}
		must(t, db.CreateTable(people, cols...))
		wantErr(t, db.CreateTable(people, cols...), sochdb.ErrAlreadyExists)

		names, err := db.Tables()
		must(t, err)
		if !slices.Contains(names, people) || !slices.IsSorted(names) {
			t.Fatalf("tables %v", names)
		}
		desc, err := db.DescribeTable(people)
		must(t, err)
		equal(t, desc, &sochdb.Table{Name: people, Columns: cols})
		equal(t, desc.Columns[4].Type.String(), "UInt64")
		_, err = db.DescribeTable(e.s("nope"))
		wantErr(t, err, sochdb.ErrNotFound)

		// Every Go type, an assigned and a given id.
		id, err := db.InsertRow(people, sochdb.Fields{
			"name": "Ann", "age": int64(-4), "score": 9.5, "active": true,
			"visits": uint64(math.MaxUint64), "avatar": []byte{0, 1, 2},
		})
		must(t, err)
		if id == 0 {
			t.Fatal("id 0")
		}
		row, err := db.GetRow(people, id)
		must(t, err)
		equal(t, row, []any{"Ann", int64(-4), 9.5, true, uint64(math.MaxUint64), []byte{0, 1, 2}})

		must(t, db.InsertRowWithID(people, 1000, sochdb.Fields{"name": "Bob", "age": 7, "score": float32(1.5), "visits": uint32(3)}))
		wantErr(t, db.InsertRowWithID(people, 1000, sochdb.Fields{"name": "Bob"}), sochdb.ErrAlreadyExists)
		row, err = db.GetRow(people, 1000)
		must(t, err)
		equal(t, row, []any{"Bob", int64(7), 1.5, nil, uint64(3), nil})

		// Update changes the named columns; upsert replaces the row.
		must(t, db.UpdateRow(people, 1000, sochdb.Fields{"age": int8(5), "avatar": []byte{}}))
		row, _ = db.GetRow(people, 1000)
		equal(t, row, []any{"Bob", int64(5), 1.5, nil, uint64(3), []byte{}})
		wantErr(t, db.UpdateRow(people, 4242, sochdb.Fields{"age": 1}), sochdb.ErrNotFound)
		must(t, db.UpsertRow(people, 1000, sochdb.Fields{"name": "Carl", "age": nil}))
		row, _ = db.GetRow(people, 1000)
		equal(t, row, []any{"Carl", nil, nil, nil, nil, nil})
		must(t, db.UpsertRow(people, 2000, sochdb.Fields{"name": "Dora"}))
		_, err = db.GetRow(people, 2000)
		must(t, err)

		// Rows in a transaction.
		tx, err := db.Begin(true)
		must(t, err)
		tid, err := tx.InsertRow(people, sochdb.Fields{"name": "Eve"})
		must(t, err)
		must(t, tx.InsertRowWithID(people, 3000, sochdb.Fields{"name": "Fay"}))
		must(t, tx.UpsertRow(people, 3001, sochdb.Fields{"name": "Gus"}))
		must(t, tx.UpdateRow(people, 3000, sochdb.Fields{"age": 30}))
		row, err = tx.GetRow(people, 3000)
		must(t, err)
		equal(t, row[:2], []any{"Fay", int64(30)})
		existed, err := tx.DeleteRow(people, 3001)
		must(t, err)
		equal(t, existed, true)
		_, err = db.GetRow(people, tid)
		wantErr(t, err, sochdb.ErrNotFound)
		must(t, tx.Rollback())
		_, err = db.GetRow(people, 3000)
		wantErr(t, err, sochdb.ErrNotFound)

		// Typed errors name the column.
		err = db.InsertRowWithID(people, 5000, sochdb.Fields{"name": 1})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		if !strings.Contains(err.Error(), "name") {
			t.Fatalf("error does not name the column: %v", err)
		}
		wantErr(t, db.InsertRowWithID(people, 5000, sochdb.Fields{"name": nil}), sochdb.ErrInvalidArgument)
		err = db.InsertRowWithID(people, 5000, sochdb.Fields{"name": "x", "height": 1})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		if !strings.Contains(err.Error(), "height") {
			t.Fatalf("error does not name the column: %v", err)
		}
		err = db.InsertRowWithID(people, 5000, sochdb.Fields{"name": "x", "age": struct{}{}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		if !strings.Contains(err.Error(), "column age") || !strings.Contains(err.Error(), "struct {}") {
			t.Fatalf("error: %v", err)
		}
		wantErr(t, db.InsertRowWithID(people, 5000, sochdb.Fields{"name": "\xc3"}), sochdb.ErrInvalidArgument)
		wantErr(t, db.InsertRowWithID(people, 5000, sochdb.Fields{"na\x00me": "x"}), sochdb.ErrInvalidArgument)
		_, err = db.InsertRow(e.s("nope"), sochdb.Fields{"name": "x"})
		wantErr(t, err, sochdb.ErrNotFound)
		var se *sochdb.Error
		if !errors.As(err, &se) || se.Message == "" {
			t.Fatalf("a missing table carries a message: %#v", se)
		}
		_, err = db.GetRow(e.s("nope"), 1)
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.GetRow("bad\x00", 1)
		wantErr(t, err, sochdb.ErrInvalidArgument)

		wantErr(t, db.CreateTable(e.s("bad"), sochdb.Column{Name: "a", Type: 9}), sochdb.ErrInvalidArgument)
		wantErr(t, db.CreateTable(e.s("bad")), sochdb.ErrInvalidArgument)
		wantErr(t, db.CreateTable(e.s("bad"), sochdb.Column{Name: "", Type: sochdb.TypeInt64}), sochdb.ErrInvalidArgument)
		wantErr(t, db.CreateTable(e.s("bad"), sochdb.Column{Name: "a\x00", Type: sochdb.TypeInt64}), sochdb.ErrInvalidArgument)
		wantErr(t, db.CreateTable("bad\x00", sochdb.Column{Name: "a", Type: sochdb.TypeInt64}), sochdb.ErrInvalidArgument)

		// Many columns (more than the glue's stack arrays).
		var wide []sochdb.Column
		fields := sochdb.Fields{}
		for i := range 40 {
			name := "c" + string(rune('A'+i%26)) + string(rune('a'+i/26))
			wide = append(wide, sochdb.Column{Name: name, Type: sochdb.TypeInt64})
			fields[name] = i
		}
		must(t, db.CreateTable(e.s("wide"), wide...))
		wid, err := db.InsertRow(e.s("wide"), fields)
		must(t, err)
		row, err = db.GetRow(e.s("wide"), wid)
		must(t, err)
		equal(t, len(row), 40)
		equal(t, row[39], int64(39))

		existed, err = db.DeleteRow(people, id)
		must(t, err)
		equal(t, existed, true)
		existed, err = db.DeleteRow(people, id)
		must(t, err)
		equal(t, existed, false)
		must(t, db.DropTable(people))
		wantErr(t, db.DropTable(people), sochdb.ErrNotFound)
		wantErr(t, db.DropTable("x\x00"), sochdb.ErrInvalidArgument)
		_, err = db.DescribeTable("x\x00")
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.GetRow(people, 1000)
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.DeleteRow("x\x00", 1)
		wantErr(t, err, sochdb.ErrInvalidArgument)
	})
}
