# SochDB build, run and test entry points. See README.md.
SHELL := /bin/bash
CARGO ?= cargo
PREFIX ?= /usr/local
DATA ?= ./sochdb-data
RELEASE_DIR := target/release
LIB := $(RELEASE_DIR)/libsochdb.so
BIN := $(RELEASE_DIR)/sochdb

.PHONY: all build run test test-rust test-c test-go test-python test-bench bench lint header install clean

all: build

## build: the release library (libsochdb.so), the `sochdb` binary and the header check
build:
	$(CARGO) build --release --lib --bins
	ln -sf libsochdb.so $(RELEASE_DIR)/libsochdb.so.0

## run: build, then serve the database in ./sochdb-data on ./sochdb-data/sochdb.sock
run: build
	$(BIN) serve --db $(DATA)

## test: every test suite (Rust, C, Go, Python, the benchmark harness's quick mode)
test: build
	@bash scripts/test-all.sh

test-rust:
	$(CARGO) test --release

test-c: build
	$(MAKE) -C bindings/c test

test-go: build
	bash scripts/test-go.sh

test-python: build
	bash scripts/test-python.sh

test-bench: build
	bash bench/run.sh --quick

## bench: the full benchmark run against the peers (about 12 minutes); see bench/README.md
bench: build
	bash bench/run.sh

## lint: formatting, clippy and the API documentation, as CI checks them
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --quiet

## header: refresh the checked-in include/sochdb.h from src/ffi
header:
	$(CARGO) build --release --lib
	cp "$$(ls -t target/release/build/sochdb-*/out/sochdb.h | head -n 1)" include/sochdb.h

## install: libsochdb.so (soname libsochdb.so.0, with its symlinks), the header,
## sochdb.pc for pkg-config and the sochdb binary under $(PREFIX) (and $(DESTDIR))
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
LIBDIR_INSTALL := $(DESTDIR)$(PREFIX)/lib
install: build
	install -d $(LIBDIR_INSTALL)/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(LIB) $(LIBDIR_INSTALL)/libsochdb.so.$(VERSION)
	ln -sf libsochdb.so.$(VERSION) $(LIBDIR_INSTALL)/libsochdb.so.0
	ln -sf libsochdb.so.0 $(LIBDIR_INSTALL)/libsochdb.so
	install -m 644 include/sochdb.h $(DESTDIR)$(PREFIX)/include/sochdb.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' bindings/c/sochdb.pc.in \
		> $(LIBDIR_INSTALL)/pkgconfig/sochdb.pc
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sochdb

clean:
	$(CARGO) clean
