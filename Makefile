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

## lint: formatting and clippy, as CI checks them
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## header: refresh the checked-in include/sochdb.h from src/ffi
header:
	$(CARGO) build --release --lib
	cp "$$(ls -td target/release/build/sochdb-*/out | head -n 1)/sochdb.h" include/sochdb.h

clean:
	$(CARGO) clean
