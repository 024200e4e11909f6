# parlend — the commands the README documents. CI (.ci/run) calls the same ones.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/parlend-target

.PHONY: setup run test lint fmt pr bench

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
