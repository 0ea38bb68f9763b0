#!/usr/bin/env bash
# Fuzzes loopchain's decoders (see README.md). NOT run by CI (DESIGN §11).
#
#   tests/fuzz/run.sh                  # every target, FUZZ_SECONDS each
#   tests/fuzz/run.sh tx grpc          # only these
#   FUZZ_SECONDS=60 FUZZ_JOBS=2 nice -n 19 tests/fuzz/run.sh
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 600)
#   FUZZ_JOBS       targets fuzzed at the same time (default 1)
#   FUZZ_SANITIZER  cargo-fuzz sanitizer: address (default), none, ...
#   FUZZ_ARGS       extra libFuzzer flags for every target (e.g. "-dict=... -seed=1")
#
# Installs cargo-fuzz when missing and a C++ compiler for libFuzzer (apt, via sudo -n when not
# root). Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only
# flags (-Zsanitizer, sanitizer coverage). Seeds come from examples/make_corpus.rs, written into
# corpus/<target>/ next to what earlier runs found. A crash stops that target; its input is kept in
# artifacts/<target>/ and its log in logs/<target>.log. Exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")"

ALL_TARGETS=(tx block vote qc tc consensus_msg grpc config proof lft)
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_ARGS=${FUZZ_ARGS:-}
export RUSTC_BOOTSTRAP=1

# Largest input per target: enough for a block with a few transactions, a proof of a few headers or
# a gRPC batch; small enough that the fuzzer spends its time on structure, not on bulk.
max_len() {
    case "$1" in
        vote | qc) echo 1024 ;;
        tc | lft) echo 2048 ;;
        tx | config) echo 4096 ;;
        *) echo 16384 ;;
    esac
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "error: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# ---- prerequisites
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: Rust is required (cargo not found). Install it from https://rustup.rs and retry." >&2
    exit 1
fi
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    echo "==> installing g++ (libFuzzer is C++)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
        echo "error: g++ is missing and there is no root or passwordless sudo: sudo apt-get install -y g++" >&2
        exit 1
    fi
    "${SUDO[@]}" apt-get update -q
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q --no-install-recommends g++
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# ---- build (all targets at once: parallel runs then find them built) and seeds
echo "==> building fuzz targets (sanitizer: $FUZZ_SANITIZER) with $(cargo fuzz --version)"
cargo fuzz build -s "$FUZZ_SANITIZER"
echo "==> writing seed corpora"
cargo run --quiet --example make_corpus -- corpus

mkdir -p logs
stats_of() { # target -> "runs exec/s"
    local log="logs/$1.log" runs eps
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    # After a crash libFuzzer prints no final stats: take its last status line.
    [ -n "$runs" ] || runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
    [ -n "$eps" ] || eps=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    echo "${runs:-?} ${eps:-?}"
}
artifacts_of() { if [ -d "artifacts/$1" ]; then find "artifacts/$1" -type f | wc -l; else echo 0; fi; }

fuzz_one() {
    local t=$1 before status
    before=$(artifacts_of "$t")
    mkdir -p "corpus/$t" "artifacts/$t"
    local started=$SECONDS
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    if cargo fuzz run -s "$FUZZ_SANITIZER" "$t" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$t")" -timeout=10 -print_final_stats=1 \
        $FUZZ_ARGS >"logs/$t.log" 2>&1; then
        status=0
    else
        status=$?
    fi
    local crashes=$(($(artifacts_of "$t") - before))
    read -r runs eps <<<"$(stats_of "$t")"
    printf '%-14s %6ss %12s runs %8s exec/s %7s corpus %3s crashes%s\n' "$t" $((SECONDS - started)) "$runs" "$eps" \
        "$(find "corpus/$t" -type f | wc -l)" "$crashes" "$([ "$status" -ne 0 ] && echo "  (exit $status, see logs/$t.log)")"
    [ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]
}

echo "==> fuzzing ${targets[*]}: ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
failed=()
declare -A pid_target=()
collect() { # waits for one job
    local pid
    if wait -n -p pid; then :; else failed+=("${pid_target[$pid]}"); fi
    unset "pid_target[$pid]"
}
for t in "${targets[@]}"; do
    while [ ${#pid_target[@]} -ge "$FUZZ_JOBS" ]; do collect; done
    fuzz_one "$t" &
    pid_target[$!]=$t
done
while [ ${#pid_target[@]} -gt 0 ]; do collect; done

if [ ${#failed[@]} -gt 0 ]; then
    echo "==> CRASHES in: ${failed[*]} (inputs in artifacts/<target>/, logs in logs/<target>.log;"
    echo "    reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/<file>)"
    exit 1
fi
echo "==> no crash in ${#targets[@]} targets"
