package sochdb_test

import (
	"testing"

	"sochdb.dev/sochdb"
)

func TestBatch(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		must(t, db.Put(e.k("old"), []byte("x")))
		var b sochdb.Batch
		equal(t, b.Len(), 0)
		key := e.k("a")
		b.Put(key, []byte("1"))
		key[len(key)-1] = 'z' // the batch copied the key
		b.Put(e.k("a"), []byte("2"))
		b.Put(e.k("e"), nil)
		b.Delete(e.k("old"))
		equal(t, b.Len(), 4)
		ts, err := db.Write(&b)
		must(t, err)
		if ts == 0 {
			t.Fatal("timestamp 0")
		}
		v, _ := db.Get(e.k("a"))
		equal(t, string(v), "2")
		_, err = db.Get(e.k("z"))
		wantErr(t, err, sochdb.ErrNotFound)
		v, err = db.Get(e.k("e"))
		must(t, err)
		equal(t, len(v), 0)
		_, err = db.Get(e.k("old"))
		wantErr(t, err, sochdb.ErrNotFound)

		// Written again, the same batch gets a new timestamp.
		ts2, err := db.Write(&b)
		must(t, err)
		if ts2 <= ts {
			t.Fatalf("timestamps %d then %d", ts, ts2)
		}

		b.Reset()
		equal(t, b.Len(), 0)
		_, err = db.Write(&b) // an empty batch is fine
		must(t, err)
		b.Put(make([]byte, 65536), []byte("v"))
		_, err = db.Write(&b)
		wantErr(t, err, sochdb.ErrTooLarge)
		b.Reset()
		b.Delete(make([]byte, 65536))
		_, err = db.Write(&b)
		wantErr(t, err, sochdb.ErrTooLarge)
		_, err = db.Write(nil)
		wantErr(t, err, sochdb.ErrInvalidArgument)
	})
}
