#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs prerequisites, builds once (one cargo
# profile: dev, so RocksDB is compiled once), runs every test of the workspace.
# Exits non-zero when anything fails. Prints per-stage timings.
set -euo pipefail
cd "$(dirname "$0")/.."

stage_start=$SECONDS
stage() {
    local now=$SECONDS
    [ -n "${STAGE:-}" ] && printf '==> stage %-8s took %4ds\n' "$STAGE" $((now - stage_start))
    STAGE=$1
    stage_start=$now
    [ "$1" = done ] || echo "==> stage $1"
}
total_start=$SECONDS

stage prereqs
bash .ci/prereqs.sh --with-browser

stage lint
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add clippy rustfmt
fi
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings

stage build
cargo build --locked --workspace --all-targets

stage test
cargo test --locked --workspace --no-fail-fast

stage done
echo "==> all tests passed in $((SECONDS - total_start))s"
