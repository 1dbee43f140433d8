#!/bin/sh
# The main job on the bundled photographs: a key, marked copies, an attacked copy, a scan.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo-out}
mkdir -p "$out"
rm -f "$out/demo.key"

watermark keygen "$out/demo.key"
watermark embed "$here"/*.jpg -o "$out" --key "$out/demo.key" --payload 0xC0FFEE --overwrite --diff
watermark attack "$out/coffee.jpg" -o "$out/coffee-attacked.jpg" --overwrite \
    --attack "rotate:degrees=3,crop=true" --attack "jpeg:quality=80"
echo "--- scanning the marked, the attacked and the original (unmarked) photographs:"
watermark detect "$out"/*.jpg "$here" --key "$out/demo.key" || true
echo "--- amplified differences (marked - original, x20): $out/*.diff.png"
