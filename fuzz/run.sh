#!/usr/bin/env bash
# Runs every fuzz target of ebr for a bounded time, one after the other; for people to run by
# hand (CI does not run it). Usage: fuzz/run.sh [SECONDS_PER_TARGET] (default 60); each target
# first replays its corpus, which adds some seconds once the corpus has grown.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo fuzz needs nightly compiler features
# (-Zsanitizer); on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them, as done here.
# Each target grows its corpus in fuzz/corpus/<target> (not committed) from the seeds in
# fuzz/seeds/<target>. A crash leaves its input in fuzz/artifacts/<target>/ and stops the run
# with a non-zero exit code: keep the input as a regression test
# (tests/regressions/<target>/<name>, replayed by tests/regressions/main.rs) and fix the cause.
set -euo pipefail

seconds="${1:-60}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

for target in npy model frames caffemodel prototxt; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds} s"
    cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
