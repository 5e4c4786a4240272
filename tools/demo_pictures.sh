#!/usr/bin/env bash
# Redraws the README's pictures of the demo from the committed model and clip:
# fixtures/demo/sheet.png and fixtures/demo/timeline.svg (spec/render.md REN-5, REN-7).
# Run from the root of the checkout after the demo model changes:
#   bash tools/demo_pictures.sh
set -euo pipefail
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo run --release --quiet -- ground --model fixtures/demo/model --clip fixtures/demo/clip \
    --target square_up --quiet --out "$out/ground"
cp "$out/ground/sheet.png" fixtures/demo/sheet.png
cp "$out/ground/timeline.svg" fixtures/demo/timeline.svg
echo "wrote fixtures/demo/sheet.png and fixtures/demo/timeline.svg"
