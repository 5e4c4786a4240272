#!/bin/bash
# Time per clip of `ebr ground-batch` against single `ebr ground` runs minus process start
# (issue 16: within 10%). Process start = a run that loads the model and stops at an unknown
# class. CPU time (user+sys) and wall time per clip, REPS repetitions; run by hand, on an idle
# machine for wall times to mean anything.
#   tools/batch_throughput.sh [N] [REPS]      (from the repository's root, after cargo build --release)
set -euo pipefail
N=${1:-16}
REPS=${2:-3}
ROOT=$(pwd)
E=$ROOT/target/release/ebr
M=$ROOT/fixtures/demo/model
C=$ROOT/fixtures/demo/clip
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
for i in $(seq 1 "$N"); do echo "{\"clip\": \"$C\", \"target\": 0, \"name\": \"r$i\"}"; done >m.jsonl
cpu() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1; }
sum() { awk '{e += $1; c += $2 + $3} END {print e, c}'; }
for rep in $(seq 1 "$REPS"); do
    rm -rf b
    read -r be bu bs <<<"$(cpu "$E" ground-batch --model "$M" --manifest m.jsonl --out b --threads 1 -q)"
    read -r se sc <<<"$(for i in $(seq 1 "$N"); do cpu "$E" ground --model "$M" --clip "$C" --target 0 --threads 1 -q --out "s$i"; done | sum)"
    rm -rf s*
    read -r ee ec <<<"$(for i in $(seq 1 "$N"); do cpu "$E" ground --model "$M" --clip "$C" --target nosuch --threads 1 -q --out e; done | sum)"
    awk -v n="$N" -v be="$be" -v bc="$(echo "$bu + $bs" | bc)" -v se="$se" -v sc="$sc" -v ee="$ee" -v ec="$ec" -v rep="$rep" 'BEGIN {
        bcpu = (bc - ec / n) / n; scpu = (sc - ec) / n; bw = (be - ee / n) / n; sw = (se - ee) / n
        printf "rep %d per clip: cpu batch %.4f s, single-start %.4f s, ratio %.3f | wall batch %.4f s, single-start %.4f s, ratio %.3f\n", rep, bcpu, scpu, bcpu / scpu, bw, sw, bw / sw }'
done
