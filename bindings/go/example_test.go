package sochdb_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"sochdb.dev/sochdb"
)

// tempDB opens a database in a fresh temporary directory for an example.
func tempDB() (*sochdb.DB, func()) {
	dir, err := os.MkdirTemp("", "sochdb-example-")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sochdb.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "sochdb-example-")
	defer os.RemoveAll(dir)

	db, err := sochdb.Open(filepath.Join(dir, "db"), &sochdb.Options{Durability: sochdb.DurabilitySync})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Put([]byte("greeting"), []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := db.Get([]byte("greeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", v)

	_, err = db.Get([]byte("missing"))
	fmt.Println(errors.Is(err, sochdb.ErrNotFound))
	// Output:
	// hello
	// true
}

func ExampleConnect() {
	// A `sochdb serve --db ./data --socket ./data/sochdb.sock` process owns the
	// database; any number of processes connect to it and use the same API.
	db, err := sochdb.Connect("./data/sochdb.sock", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Put([]byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
}

func ExampleDB_Update() {
	db, done := tempDB()
	defer done()

	// Move 30 from alice to bob, atomically. Update retries the function if a
	// concurrent transaction conflicts with it.
	db.Put([]byte("balance/alice"), []byte("100"))
	db.Put([]byte("balance/bob"), []byte("0"))
	err := db.Update(func(tx *sochdb.Tx) error {
		var a, b int
		v, err := tx.Get([]byte("balance/alice"))
		if err != nil {
			return err
		}
		fmt.Sscan(string(v), &a)
		if v, err = tx.Get([]byte("balance/bob")); err != nil {
			return err
		}
		fmt.Sscan(string(v), &b)
		if a < 30 {
			return errors.New("insufficient funds")
		}
		if err := tx.Put([]byte("balance/alice"), []byte(fmt.Sprint(a-30))); err != nil {
			return err
		}
		return tx.Put([]byte("balance/bob"), []byte(fmt.Sprint(b+30)))
	})
	if err != nil {
		log.Fatal(err)
	}
	db.View(func(tx *sochdb.Tx) error {
		it := tx.Scan([]byte("balance/"))
		defer it.Close()
		for it.Next() {
			fmt.Printf("%s=%s\n", it.Key(), it.Value())
		}
		return it.Err()
	})
	// Output:
	// balance/alice=70
	// balance/bob=30
}

func ExampleDB_Begin() {
	db, done := tempDB()
	defer done()

	tx, err := db.Begin(true)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback() // harmless after Commit
	tx.Put([]byte("a"), []byte("1"))
	ts, err := tx.Commit()
	if errors.Is(err, sochdb.ErrConflict) {
		// Nothing was written: begin again and retry.
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ts > 0)
	// Output: true
}

func ExampleDB_Scan() {
	db, done := tempDB()
	defer done()
	for _, k := range []string{"fruit/apple", "fruit/banana", "fruit/cherry", "veg/leek"} {
		db.Put([]byte(k), []byte("x"))
	}

	it := db.Scan([]byte("fruit/"), sochdb.Reverse, sochdb.Limit(2))
	defer it.Close()
	for it.Next() {
		fmt.Printf("%s\n", it.Key())
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// fruit/cherry
	// fruit/banana
}

func ExampleDB_Range() {
	db, done := tempDB()
	defer done()
	for _, k := range []string{"a", "b", "c", "d"} {
		db.Put([]byte(k), []byte(k+k))
	}
	it := db.Range([]byte("b"), []byte("d"))
	defer it.Close()
	for it.Next() {
		fmt.Printf("%s=%s\n", it.Key(), it.Value())
	}
	// Output:
	// b=bb
	// c=cc
}

func ExampleBatch() {
	db, done := tempDB()
	defer done()

	var b sochdb.Batch
	b.Put([]byte("user/1"), []byte("ann"))
	b.Put([]byte("user/2"), []byte("bob"))
	b.Delete([]byte("user/0"))
	if _, err := db.Write(&b); err != nil { // all or nothing, one commit
		log.Fatal(err)
	}
	v, _ := db.Get([]byte("user/2"))
	fmt.Printf("%d ops, user/2=%s\n", b.Len(), v)
	// Output: 3 ops, user/2=bob
}

func ExampleDB_PutPath() {
	db, done := tempDB()
	defer done()

	db.PutPath("users/alice/email", []byte("alice@example.com"))
	db.PutPath("users/alice/name", []byte("Alice"))
	db.PutPath("users/bob/email", []byte("bob@example.com"))

	it := db.ScanPath("users/alice")
	defer it.Close()
	for it.Next() {
		fmt.Printf("%s: %s\n", it.Key(), it.Value())
	}
	// Output:
	// users/alice/email: alice@example.com
	// users/alice/name: Alice
}

func ExampleDB_Query() {
	db, done := tempDB()
	defer done()

	db.CreateTable("users",
		sochdb.Column{Name: "name", Type: sochdb.TypeText},
		sochdb.Column{Name: "age", Type: sochdb.TypeInt64},
		sochdb.Column{Name: "email", Type: sochdb.TypeText, Nullable: true})
	db.InsertRow("users", sochdb.Fields{"name": "Alice", "age": 34, "email": "alice@example.com"})
	db.InsertRow("users", sochdb.Fields{"name": "Bob", "age": 27})
	db.InsertRow("users", sochdb.Fields{"name": "Carol", "age": 41})

	res, err := db.Query(sochdb.Query{
		From:    "users",
		Columns: []string{"name", "email"},
		Where:   []sochdb.Filter{{Column: "age", Op: sochdb.Gt, Value: 30}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.TOON)
	fmt.Println(res.Rows)
	// Output:
	// users[2]{name,email}:
	//   Alice,alice@example.com
	//   Carol,null
	// [[Alice alice@example.com] [Carol <nil>]]
}

func ExampleDB_GetRow() {
	db, done := tempDB()
	defer done()

	db.CreateTable("items",
		sochdb.Column{Name: "title", Type: sochdb.TypeText},
		sochdb.Column{Name: "price", Type: sochdb.TypeFloat64},
		sochdb.Column{Name: "stock", Type: sochdb.TypeUInt64, Nullable: true})
	id, _ := db.InsertRow("items", sochdb.Fields{"title": "pen", "price": 1.5})
	db.UpdateRow("items", id, sochdb.Fields{"stock": uint64(12)})

	row, err := db.GetRow("items", id)
	if err != nil {
		log.Fatal(err)
	}
	table, _ := db.DescribeTable("items")
	for i, c := range table.Columns {
		fmt.Printf("%s (%s) = %v\n", c.Name, c.Type, row[i])
	}
	// Output:
	// title (Text) = pen
	// price (Float64) = 1.5
	// stock (UInt64) = 12
}

func ExampleDB_Compact() {
	db, done := tempDB()
	defer done()

	// Every key written three times, then half of them deleted: the files hold all of
	// it until a compaction keeps only what can still be read.
	for round := 0; round < 3; round++ {
		var b sochdb.Batch
		for i := 0; i < 1000; i++ {
			b.Put([]byte(fmt.Sprintf("key/%04d", i)), []byte(fmt.Sprintf("round %d", round)))
		}
		if _, err := db.Write(&b); err != nil {
			log.Fatal(err)
		}
	}
	var del sochdb.Batch
	for i := 0; i < 1000; i += 2 {
		del.Delete([]byte(fmt.Sprintf("key/%04d", i)))
	}
	if _, err := db.Write(&del); err != nil {
		log.Fatal(err)
	}

	if err := db.Compact(); err != nil {
		log.Fatal(err)
	}
	v, _ := db.Get([]byte("key/0001"))
	_, err := db.Get([]byte("key/0002"))
	fmt.Printf("key/0001=%s, key/0002 deleted: %v\n", v, errors.Is(err, sochdb.ErrNotFound))
	// Output: key/0001=round 2, key/0002 deleted: true
}

func ExampleError() {
	db, done := tempDB()
	defer done()

	err := db.PutPath("a//b", []byte("x"))
	var e *sochdb.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, errors.Is(err, sochdb.ErrInvalidArgument))
	}
	// Output: INVALID_ARGUMENT true
}
