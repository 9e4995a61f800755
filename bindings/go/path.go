package sochdb

// Paths are hierarchical keys such as "users/alice/email": non-empty UTF-8 segments
// joined by '/'. A path is stored under the key of its bytes, so Get([]byte(path))
// reads it too; path scans are segment-aware ("users" covers "users/alice/email" but
// not "users_archive/x").

// GetPath returns the value stored at path, or an error wrapping ErrNotFound.
func (db *DB) GetPath(path string) ([]byte, error) { return scope{db: db}.getPath(path) }

// PutPath stores value at path; a malformed path ("a//b", "") wraps ErrInvalidArgument.
func (db *DB) PutPath(path string, value []byte) error {
	return scope{db: db}.putPath(path, value)
}

// DeletePath removes the value at path (absent is not an error).
func (db *DB) DeletePath(path string) error { return scope{db: db}.deletePath(path) }

// ScanPath iterates over every path under path (path itself included), in key order
// (or reverse); the keys are the full paths.
func (db *DB) ScanPath(path string, opts ...ScanOption) *Iterator {
	return scope{db: db}.scanPath(path, opts)
}

// GetPath is DB.GetPath inside the transaction.
func (tx *Tx) GetPath(path string) ([]byte, error) { return scope{tx.db, tx}.getPath(path) }

// PutPath is DB.PutPath inside the transaction.
func (tx *Tx) PutPath(path string, value []byte) error {
	return scope{tx.db, tx}.putPath(path, value)
}

// DeletePath is DB.DeletePath inside the transaction.
func (tx *Tx) DeletePath(path string) error { return scope{tx.db, tx}.deletePath(path) }

// ScanPath is DB.ScanPath over the transaction's snapshot and own writes.
func (tx *Tx) ScanPath(path string, opts ...ScanOption) *Iterator {
	return scope{tx.db, tx}.scanPath(path, opts)
}
