#!/usr/bin/env bash
# Redraws the README's pictures of the demo from the committed model and clip:
# fixtures/demo/sheet.png and fixtures/demo/timeline.svg (spec/render.md REN-5, REN-7).
# Run from the root of the checkout after the demo model changes:
#   bash tools/demo_pictures.sh
# The target is the demo clip's GT class (its index, "gt_class" in fixtures/demo/clip.json,
# written by tools/train_synthetic.py), so a retrained demo with another clip needs no edit.
set -euo pipefail
target=$(sed -n 's/^ *"gt_class": *\([0-9][0-9]*\),*$/\1/p' fixtures/demo/clip.json)
if [ -z "$target" ]; then
    echo "no \"gt_class\" in fixtures/demo/clip.json" >&2
    exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --release --quiet -- ground --model fixtures/demo/model --clip fixtures/demo/clip \
    --target "$target" --quiet --out "$out/ground"
cp "$out/ground/sheet.png" fixtures/demo/sheet.png
cp "$out/ground/timeline.svg" fixtures/demo/timeline.svg
echo "wrote fixtures/demo/sheet.png and fixtures/demo/timeline.svg"
