#!/usr/bin/env bash
# Brings up the loopchain demo network from a fresh clone: installs prerequisites, builds (dev
# profile, the same one the tests use, so RocksDB is compiled once), then runs `loopchain demo`:
# a radio station (7102, REST 9002) and 4 peers (7100..7400, REST 9000..9300) on 127.0.0.1 with
# two channels (loopchain_default: hello SCORE; token_channel: token SCORE), sample traffic and
# live progress. Ctrl-C stops every process. Data: DEFAULT_STORAGE_PATH, else ./.storage/demo.
# Extra arguments go to `loopchain demo` (e.g. --fresh, --rate 50).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/prereqs.sh
cargo build --locked -p lc-node -p hello -p token -p ledger -p ledger-v2 \
    -p consensus-equal -p consensus-weighted -p consensus-groups -p radio-station
exec "${CARGO_TARGET_DIR:-target}/debug/loopchain" demo "$@"
