//go:build sochdb_pkgconfig

package cbench

/*
#cgo pkg-config: sochdb
*/
import "C"
