package sochdb

/*
#include "glue.h"
*/
import "C"

// Batch collects puts and deletes that DB.Write applies atomically under one commit
// timestamp; a later operation on the same key wins. Put and Delete copy their
// arguments, so the caller may reuse them. Limits (key and value sizes, 256 MiB per
// batch) are checked by Write. The zero value is an empty batch. A Batch is not safe
// for concurrent use.
type Batch struct {
	// arena holds every key and value, back to back.
	arena []byte
	// ops describes the operations in order, by offsets into arena.
	ops []C.sgo_op
}

// Put adds a write of key with value.
func (b *Batch) Put(key, value []byte) {
	off := len(b.arena)
	b.arena = append(append(b.arena, key...), value...)
	b.ops = append(b.ops, C.sgo_op{
		kind:      C.SGO_PUT,
		key_off:   C.size_t(off),
		key_len:   C.size_t(len(key)),
		value_off: C.size_t(off + len(key)),
		value_len: C.size_t(len(value)),
	})
}

// Delete adds a delete of key.
func (b *Batch) Delete(key []byte) {
	off := len(b.arena)
	b.arena = append(b.arena, key...)
	b.ops = append(b.ops, C.sgo_op{kind: C.SGO_DELETE, key_off: C.size_t(off), key_len: C.size_t(len(key))})
}

// Len returns the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties the batch, keeping its memory for reuse.
func (b *Batch) Reset() {
	b.arena = b.arena[:0]
	b.ops = b.ops[:0]
}
