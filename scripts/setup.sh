#!/usr/bin/env bash
# Installs what building parlend needs and a fresh machine may lack: libclang
# (RocksDB's Rust bindings are generated with it). Idempotent: does nothing
# when everything is present.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain from https://rustup.rs" >&2
    exit 1
fi

# Library folders bindgen searches, in its own order. Overridable so the test
# of this detection (tests/setup_detect.sh) can point it at a fake tree.
LIBCLANG_SEARCH_DIRS="${LIBCLANG_SEARCH_DIRS:-/usr/lib /usr/lib64 /usr/local/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib/llvm-*/lib}"

# True when a real libclang is present: `libclang.so`, `libclang.so.N` or
# `libclang-N.so*`. `libclang-cpp*.so` is the C++ library, not libclang:
# bindgen cannot load it, so it does not count.
is_libclang() {
    case "$(basename "$1")" in
        libclang-cpp*) return 1 ;;
        libclang.so | libclang.so.* | libclang-[0-9]*.so | libclang-[0-9]*.so.*) return 0 ;;
        *) return 1 ;;
    esac
}

have_libclang() {
    if [ -n "${LIBCLANG_PATH:-}" ]; then
        for f in "$LIBCLANG_PATH"/libclang*.so*; do
            is_libclang "$f" && return 0
        done
        return 1
    fi
    local dir f
    for dir in $LIBCLANG_SEARCH_DIRS; do
        for f in "$dir"/libclang*.so*; do
            [ -e "$f" ] && is_libclang "$f" && return 0
        done
    done
    return 1
}

# `setup.sh --check` only reports: exit 0 when libclang is present, 3 when the
# install would run. Used by the detection test.
if [ "${1:-}" = "--check" ]; then
    if have_libclang; then echo "libclang: found"; exit 0; fi
    echo "libclang: missing"; exit 3
fi

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
