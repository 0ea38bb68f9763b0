#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing (Debian/Ubuntu):
#   g++ and pkg-config (RocksDB's C++), libclang-dev (bindgen for librocksdb-sys).
#   chromium (headless, for the dashboard's browser test tests/tests/dashboard_e2e.rs), only with
#   --with-browser (the test suite passes it; the demo does not need a browser).
# Protos (later) are compiled with the pure-Rust protox, so no protoc is needed.
# Uses sudo -n when not root; fails with a clear message when it cannot install.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: Rust is required (cargo not found). Install it from https://rustup.rs and retry." >&2
    exit 1
fi

need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ "${1:-}" = "--with-browser" ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
have_libclang() {
    if command -v dpkg >/dev/null 2>&1 && dpkg -s libclang-dev >/dev/null 2>&1; then return 0; fi
    compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null || compgen -G "/usr/lib/*/libclang.so" >/dev/null
}
[ -n "${LIBCLANG_PATH:-}" ] || have_libclang || need+=(libclang-dev)

if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing missing system packages: ${need[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "error: missing packages (${need[*]}) and no root or passwordless sudo to install them." >&2
        echo "       run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: apt-get not found; install ${need[*]} with your package manager." >&2
        exit 1
    fi
    "${SUDO[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi
