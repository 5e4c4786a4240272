#!/usr/bin/env bash
# ebr against the PyTorch peer, alternately, so that both see the same machine: ROUNDS rounds
# (default 3) of cEB-R to conv5_1 and to the input, T = 16 at 224 px, 2 threads, each run the
# median of 3 repeats. Prints every round's times and ratio, then the median ratio.
# ebr runs with --conv $EBR_CONV (default auto) and, in the same round, --conv direct.
# Usage: tools/bench/side_by_side.sh [ROUNDS] [PYTHON]   (PYTHON: one with torch; default
# venv/bin/python). Build first: cargo build --release.
set -euo pipefail
rounds="${1:-3}"
python="${2:-venv/bin/python}"
cd "$(dirname "$0")/../.."
ebr=target/release/ebr
for layer in conv5_1 data; do
    ratios=()
    for round in $(seq "$rounds"); do
        # ebr bench runs the direct path and --conv (default auto) one after the other
        conv="${EBR_CONV:-auto}"
        out=$("$ebr" bench --frames 16 --repeat 3 --scenario "$layer" --no-breakdown --conv "$conv")
        ours=$(echo "$out" | awk -v s="$layer" -v c="$conv" '$1 == s && $2 == c { print $4 }')
        direct=$(echo "$out" | awk -v s="$layer" '$1 == s && $2 == "direct" { print $4 }')
        peer=$("$python" tools/bench/torch_cebr.py --frames 16 --size 224 --layer "$layer" --repeat 3 |
            sed -n 's/.*cebr_total_s median=\([0-9.]*\).*/\1/p')
        ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
        ratios+=("$ratio")
        direct_ratio=$(awk -v a="$direct" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
        echo "cEB-R to $layer, round $round: ebr --conv $conv ${ours} s, PyTorch ${peer} s, ratio $ratio (ebr --conv direct ${direct} s, ratio $direct_ratio)"
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "cEB-R to $layer: median ratio ebr / PyTorch $median over $rounds rounds"
done
