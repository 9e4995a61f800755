//go:build sochdb_pkgconfig

package sochdb

// With -tags sochdb_pkgconfig the package builds against an installed SochDB
// (`make install PREFIX=...`), found through pkg-config (set PKG_CONFIG_PATH for a
// prefix pkg-config does not search, and LD_LIBRARY_PATH or ldconfig for the loader).

/*
#cgo pkg-config: sochdb
*/
import "C"
