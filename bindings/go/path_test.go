package sochdb_test

import (
	"testing"

	"sochdb.dev/sochdb"
)

func TestPaths(t *testing.T) {
	both(t, func(e *env) {
		t := e.t
		db := e.open(nil)
		root := e.s("users")
		must(t, db.PutPath(root+"/alice/email", []byte("a@x")))
		must(t, db.PutPath(root+"/alice/name", []byte("Alice")))
		must(t, db.PutPath(root+"/bob/email", []byte("b@x")))
		must(t, db.PutPath(root+"_archive/carol/email", []byte("c@x")))
		v, err := db.GetPath(root + "/alice/email")
		must(t, err)
		equal(t, string(v), "a@x")
		v, err = db.Get([]byte(root + "/bob/email")) // stored under its bytes
		must(t, err)
		equal(t, string(v), "b@x")
		_, err = db.GetPath(root + "/nobody")
		wantErr(t, err, sochdb.ErrNotFound)

		equal(t, drain(t, db.ScanPath(root)), []string{
			root + "/alice/email=a@x", root + "/alice/name=Alice", root + "/bob/email=b@x"})
		equal(t, drain(t, db.ScanPath(root, sochdb.Reverse, sochdb.Limit(1))), []string{root + "/bob/email=b@x"})

		tx, err := db.Begin(true)
		must(t, err)
		must(t, tx.DeletePath(root+"/alice/name"))
		must(t, tx.PutPath(root+"/alice/age", []byte("30")))
		_, err = tx.GetPath(root + "/alice/name")
		wantErr(t, err, sochdb.ErrNotFound)
		_, err = db.GetPath(root + "/alice/name")
		must(t, err)
		equal(t, drain(t, tx.ScanPath(root+"/alice")), []string{root + "/alice/age=30", root + "/alice/email=a@x"})
		v, err = tx.GetPath(root + "/alice/age")
		must(t, err)
		equal(t, string(v), "30")
		_, err = tx.Commit()
		must(t, err)
		_, err = db.GetPath(root + "/alice/name")
		wantErr(t, err, sochdb.ErrNotFound)
		must(t, db.DeletePath(root+"/alice/age"))
		_, err = db.GetPath(root + "/alice/age")
		wantErr(t, err, sochdb.ErrNotFound)

		for _, bad := range []string{"a//b", "", "/a", "a/", "\xff\xfe", "a\x00b"} {
			wantErr(t, db.PutPath(bad, []byte("x")), sochdb.ErrInvalidArgument)
		}
		_, err = db.GetPath("a//b")
		wantErr(t, err, sochdb.ErrInvalidArgument)
		wantErr(t, db.DeletePath("a\x00"), sochdb.ErrInvalidArgument)
		it := db.ScanPath("a//b")
		if it.Next() {
			t.Fatal("scan of a bad path")
		}
		wantErr(t, it.Err(), sochdb.ErrInvalidArgument)
		it = db.ScanPath("a\x00")
		wantErr(t, it.Err(), sochdb.ErrInvalidArgument)
		must(t, it.Close())
	})
}
