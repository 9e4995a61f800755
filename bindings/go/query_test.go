package sochdb_test

import (
	"encoding/json"
	"testing"

	"sochdb.dev/sochdb"
)

func TestQuery(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		users := e.s("users")
		must(t, db.CreateTable(users,
			sochdb.Column{Name: "name", Type: sochdb.TypeText},
			sochdb.Column{Name: "score", Type: sochdb.TypeFloat64, Nullable: true},
			sochdb.Column{Name: "active", Type: sochdb.TypeBool},
			sochdb.Column{Name: "pic", Type: sochdb.TypeBinary, Nullable: true}))
		rows := []sochdb.Fields{
			{"name": "Alice", "score": 95.5, "active": true, "pic": []byte("hi")},
			{"name": "Bob, Jr.", "score": 87.0, "active": false},
			{"name": "Carol", "active": true},
		}
		for i, f := range rows {
			must(t, db.InsertRowWithID(users, uint64(i+1), f))
		}

		r, err := db.Query(sochdb.Query{From: users})
		must(t, err)
		equal(t, r.Name, users)
		equal(t, r.Columns, []string{"name", "score", "active", "pic"})
		equal(t, r.Rows, [][]any{
			{"Alice", 95.5, true, []byte("hi")},
			{"Bob, Jr.", 87.0, false, nil},
			{"Carol", nil, true, nil},
		})
		equal(t, r.TOON, users+"[3]{name,score,active,pic}:\n  Alice,95.5,true,aGk=\n  \"Bob, Jr.\",87,false,null\n  Carol,null,true,null")

		r, err = db.Query(sochdb.Query{From: users, Columns: []string{"name"},
			Where: []sochdb.Filter{{Column: "score", Op: sochdb.Ge, Value: 80.0}}, Limit: 1, Offset: 1})
		must(t, err)
		equal(t, r.TOON, users+"[1]{name}:\n  \"Bob, Jr.\"")
		equal(t, r.Rows, [][]any{{"Bob, Jr."}})

		for op, want := range map[sochdb.Op]int{sochdb.Eq: 1, sochdb.Ne: 1, sochdb.Lt: 0, sochdb.Le: 1, sochdb.Gt: 1, sochdb.Ge: 2} {
			r, err = db.Query(sochdb.Query{From: users, Where: []sochdb.Filter{{Column: "score", Op: op, Value: 87.0}}})
			must(t, err)
			if len(r.Rows) != want {
				t.Fatalf("op %d: %d rows, want %d", op, len(r.Rows), want)
			}
		}

		r, err = db.Query(sochdb.Query{From: users, Where: []sochdb.Filter{{Column: "name", Op: sochdb.Eq, Value: "Zed"}}})
		must(t, err)
		equal(t, len(r.Rows), 0)
		equal(t, r.TOON, users+": []")

		j, err := db.QueryJSON(sochdb.Query{From: users, Columns: []string{"name", "pic"}})
		must(t, err)
		var decoded []map[string]any
		must(t, json.Unmarshal(j, &decoded))
		equal(t, decoded, []map[string]any{{"name": "Alice", "pic": "aGk="}, {"name": "Bob, Jr.", "pic": nil}, {"name": "Carol", "pic": nil}})

		// Over paths, and inside a transaction (own writes).
		docs := e.s("docs")
		must(t, db.PutPath(docs+"/1/title", []byte("Intro")))
		must(t, db.PutPath(docs+"/1/body", []byte("Hello")))
		tx, err := db.Begin(true)
		must(t, err)
		must(t, tx.PutPath(docs+"/2/title", []byte("Next")))
		r, err = tx.Query(sochdb.Query{From: docs})
		must(t, err)
		equal(t, len(r.Rows), 2)
		j, err = tx.QueryJSON(sochdb.Query{From: docs})
		must(t, err)
		must(t, json.Unmarshal(j, &decoded))
		equal(t, len(decoded), 2)
		must(t, tx.Rollback())
		r, err = db.Query(sochdb.Query{From: docs})
		must(t, err)
		equal(t, len(r.Rows), 1)

		// Bad requests.
		_, err = db.Query(sochdb.Query{From: users, Where: []sochdb.Filter{{Column: "score", Op: 17, Value: 1.0}}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.Query(sochdb.Query{From: users, Where: []sochdb.Filter{{Column: "score", Op: sochdb.Eq, Value: []int{1}}}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.Query(sochdb.Query{From: users, Columns: []string{"nope"}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.Query(sochdb.Query{})
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.Query(sochdb.Query{From: "a\x00"})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.Query(sochdb.Query{From: users, Columns: []string{"a\x00"}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		_, err = db.Query(sochdb.Query{From: users, Where: []sochdb.Filter{{Column: "a\x00"}}})
		wantErr(t, err, sochdb.ErrInvalidArgument)
		// A source that is neither a table nor a valid path is not found; a valid path
		// with nothing under it is an empty result.
		_, err = db.QueryJSON(sochdb.Query{From: e.s("missing") + "//x"})
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.Query(sochdb.Query{From: e.s("missing") + "//x"})
		wantErr(t, err, sochdb.ErrNotFound)
		r, err = db.Query(sochdb.Query{From: e.s("missing")})
		must(t, err)
		equal(t, len(r.Rows), 0)
	})
}
