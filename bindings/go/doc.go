// Package sochdb is the Go SDK of SochDB, an embedded transactional key-value database
// with paths, typed tables and TOON queries. It binds libsochdb through cgo and works
// the same in-process (Open) and against a `sochdb serve` process (Connect).
//
//	db, err := sochdb.Open("./data", nil)
//	if err != nil { ... }
//	defer db.Close()
//	err = db.Put([]byte("greeting"), []byte("hello"))
//	v, err := db.Get([]byte("greeting"))
//	err = db.Update(func(tx *sochdb.Tx) error {
//		return tx.Put([]byte("counter"), []byte("1"))
//	})
//
// Errors wrap sentinel values (ErrNotFound, ErrConflict, ErrClosed, ...) that
// errors.Is recognizes; *Error carries the library's status and message. A *DB is safe
// for concurrent use by many goroutines.
package sochdb
