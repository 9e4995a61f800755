package sochdb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sochdb.dev/sochdb"
	"sochdb.dev/sochdb/internal/cbench"
)

// Benchmarks of the Go SDK next to the same operations looped in C (internal/cbench:
// one cgo call runs all b.N operations), so the difference is the cost of the binding:
// the cgo crossing, locking, and copying results into Go memory.
//
//	go test -run '^$' -bench . -benchmem

// benchDB opens a database for a benchmark in the given mode, seeded with scanKeys
// entries under "scan/" and the key "bench/key".
func benchDB(b *testing.B, socket bool) *sochdb.DB {
	b.Helper()
	var db *sochdb.DB
	var err error
	if socket {
		if socketPath == "" {
			b.Skipf("socket mode unavailable: %v", serverErr)
		}
		db, err = sochdb.Connect(socketPath, nil)
	} else {
		dir, derr := os.MkdirTemp("", "sochdb-bench-")
		if derr != nil {
			b.Fatal(derr)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		db, err = sochdb.Open(filepath.Join(dir, "db"), &sochdb.Options{Durability: sochdb.DurabilityBuffered})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	var batch sochdb.Batch
	for i := range scanKeys {
		batch.Put(fmt.Appendf(nil, "scan/%06d", i), benchValue)
	}
	batch.Put(benchKey, benchValue)
	if _, err := db.Write(&batch); err != nil {
		b.Fatal(err)
	}
	return db
}

const scanKeys = 10_000

var (
	benchKey   = []byte("bench/key-0001")
	benchValue = make([]byte, 100)
)

func modesFor(b *testing.B, fn func(b *testing.B, socket bool)) {
	b.Run("inproc", func(b *testing.B) { fn(b, false) })
	b.Run("socket", func(b *testing.B) { fn(b, true) })
}

func BenchmarkCgoNoop(b *testing.B) {
	for b.Loop() {
		cbench.Noop()
	}
}

func BenchmarkGet(b *testing.B) {
	modesFor(b, func(b *testing.B, socket bool) {
		db := benchDB(b, socket)
		b.Run("Go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.Get(benchKey); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("C", func(b *testing.B) {
			if failed := cbench.Get(sochdb.CHandle(db), benchKey, b.N); failed != 0 {
				b.Fatalf("%d gets failed", failed)
			}
		})
	})
}

func BenchmarkPut(b *testing.B) {
	modesFor(b, func(b *testing.B, socket bool) {
		db := benchDB(b, socket)
		b.Run("Go", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := db.Put(benchKey, benchValue); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("C", func(b *testing.B) {
			if failed := cbench.Put(sochdb.CHandle(db), benchKey, benchValue, b.N); failed != 0 {
				b.Fatalf("%d puts failed", failed)
			}
		})
	})
}

// BenchmarkScan measures one entry of a prefix scan (key and value read).
func BenchmarkScan(b *testing.B) {
	modesFor(b, func(b *testing.B, socket bool) {
		db := benchDB(b, socket)
		prefix := []byte("scan/")
		b.Run("Go", func(b *testing.B) {
			b.ReportAllocs()
			read := 0
			for read < b.N {
				it := db.Scan(prefix)
				for read < b.N && it.Next() {
					_, _ = it.Key(), it.Value()
					read++
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
				it.Close()
			}
		})
		b.Run("C", func(b *testing.B) {
			if n := cbench.Scan(sochdb.CHandle(db), prefix, b.N); n != b.N {
				b.Fatalf("read %d entries", n)
			}
		})
	})
}
