#!/usr/bin/env bash
# Brings up loopchain from a fresh clone: installs prerequisites, builds (dev profile, the same
# one the tests use, so RocksDB is compiled once), and runs a node whose default channel is a
# one-validator dev chain. REST: http://127.0.0.1:9000/api/v1/...  Ctrl-C stops it cleanly.
# Extra arguments go to `loopchain peer` (e.g. -p 7200, -o configs/peer_config.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/prereqs.sh
cargo build --locked -p lc-node -p hello -p token -p ledger -p ledger-v2 \
    -p consensus-equal -p consensus-weighted -p consensus-groups
exec "${CARGO_TARGET_DIR:-target}/debug/loopchain" peer "$@"
