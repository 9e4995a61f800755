//go:build !sochdb_pkgconfig

package cbench

/*
#cgo CFLAGS: -I${SRCDIR}/../../../../include
#cgo LDFLAGS: -L${SRCDIR}/../../../../target/release -Wl,-rpath,${SRCDIR}/../../../../target/release -lsochdb
*/
import "C"
