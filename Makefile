# parlend — the commands the README documents. CI (.ci/run) calls the same ones.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/parlend-target

.PHONY: setup run test lint fmt pr bench soak fuzz fuzz-build fuzz-smoke screenshots

## Install build prerequisites when missing (libclang for RocksDB's bindings).
setup:
	@./scripts/setup.sh

## Start a dev node: embedded RocksDB in ~/.parlend/dev, RPC on 127.0.0.1:8545.
run: setup
	cargo run --release --bin parlend -- run --dev

## Run every test in the workspace.
test: setup
	cargo test --workspace

## Formatting and lints, as CI checks them.
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## The gate before every change lands: lint, docs, tests.
pr: lint test
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

## Executor benchmarks (release build).
bench: setup
	cargo run --release --bin parlend -- bench exec --workload lending-mix

## Crash soak: kill -9 a node under a mixed lending load SOAK_CYCLES times
## (default 100) and check every acknowledged transaction, conservation of
## every asset and nonces after each restart. `make test` runs 6 cycles.
SOAK_CYCLES ?= 100
soak: setup
	PARLEND_SOAK_CYCLES=$(SOAK_CYCLES) cargo test -p parlend-tests --test crash -- --nocapture

## Coverage-guided fuzzing (libFuzzer via libfuzzer-sys, stable toolchain:
## the sanitizer-coverage pass through -C passes and -C llvm-args). Every
## target runs FUZZ_RUNS executions or FUZZ_SECONDS seconds, whichever ends
## first. The fuzz crate is outside the workspace, so `make test` never
## builds it.
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 3600
FUZZ_TARGETS ?= transaction rpc_params log_reader scenario
FUZZ_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
FUZZ_TARGET_DIR ?= $(CARGO_TARGET_DIR)/fuzz
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing
# The targets link RocksDB (through parlend-log and parlend-sim) but never
# call it: reuse the library a workspace build already compiled instead of
# compiling it again with the fuzz flags.
ROCKSDB_BUILT := $(firstword $(wildcard $(CARGO_TARGET_DIR)/*/build/librocksdb-sys-*/out/librocksdb.a))

fuzz-build: setup
	cd fuzz && RUSTFLAGS="$(FUZZ_RUSTFLAGS)" \
		$(if $(ROCKSDB_BUILT),ROCKSDB_LIB_DIR=$(dir $(ROCKSDB_BUILT)) ROCKSDB_STATIC=1) \
		cargo build --release --bins --target $(FUZZ_TRIPLE) --target-dir $(FUZZ_TARGET_DIR)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_TARGET_DIR)/$(FUZZ_TRIPLE)/release $(FUZZ_RUNS) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

## A short fuzz run (10,000 executions per target), cheap enough for CI.
fuzz-smoke:
	$(MAKE) fuzz FUZZ_RUNS=10000 FUZZ_SECONDS=60

## The README's dashboard screenshots: the browser test (a liquidation) and a
## lending-mix workload, in headless Chromium (see tests/browser).
SCREENSHOT_DIR ?= $(CURDIR)/docs/images
screenshots: setup
	cargo build --release --bin parlend
	cd tests/browser && ([ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund)
	cd tests/browser && PARLEND_BIN=$(CARGO_TARGET_DIR)/release/parlend SCREENSHOT_DIR=$(SCREENSHOT_DIR) node dashboard.test.mjs
	cd tests/browser && PARLEND_BIN=$(CARGO_TARGET_DIR)/release/parlend SCREENSHOT_DIR=$(SCREENSHOT_DIR) RATE=2000 TXS=40000 node screenshots.mjs
