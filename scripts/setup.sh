#!/usr/bin/env bash
# Installs what building parlend needs and a fresh machine may lack: libclang
# (RocksDB's Rust bindings are generated with it). Idempotent: does nothing
# when everything is present.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain from https://rustup.rs" >&2
    exit 1
fi

have_libclang() {
    # bindgen looks for libclang.so (or a versioned one) in the usual places.
    [ -n "${LIBCLANG_PATH:-}" ] && return 0
    ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' && return 0
    compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
    return 1
}

if ! have_libclang; then
    echo "Installing libclang (needed to build RocksDB's bindings)..."
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    if command -v apt-get >/dev/null 2>&1; then
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq libclang-dev clang >/dev/null
    elif command -v dnf >/dev/null 2>&1; then
        $sudo_cmd dnf install -y clang-devel
    elif command -v brew >/dev/null 2>&1; then
        brew install llvm
    else
        echo "Please install libclang (e.g. libclang-dev) with your package manager." >&2
        exit 1
    fi
fi
