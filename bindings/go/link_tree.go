//go:build !sochdb_pkgconfig

package sochdb

// Inside the repository the package builds against the header in include/ and the
// library in target/release (built by `cargo build --release --lib`), found at run time
// through the rpath. Build with -tags sochdb_pkgconfig to use an installed copy instead.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../target/release -Wl,-rpath,${SRCDIR}/../../target/release -lsochdb
*/
import "C"
