#!/bin/sh
# The main job on the bundled photographs: a key and a registry, copies marked for two recipients,
# attacked copies, and a scan of them all against the registry (with its HTML report).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo-out}
mkdir -p "$out"
rm -rf "$out/demo.key" "$out/filigrane.db" "$out/filigrane.db-wal" "$out/filigrane.db-shm" \
    "$out/agence-x" "$out/studio-y" "$out/suspects" "$out/report"

watermark keygen "$out/demo.key"
watermark registry init "$out/filigrane.db"
for recipient in "Agence X" "Studio Y"; do
    folder="$out/$(echo "$recipient" | tr 'A-Z ' 'a-z-')"
    watermark embed "$here"/*.jpg -o "$folder" --key "$out/demo.key" --registry "$out/filigrane.db" \
        --recipient "$recipient" --meta licence=editorial
done

mkdir -p "$out/suspects"
watermark attack "$out/agence-x/coffee.jpg" -o "$out/suspects/coffee-rotated.jpg" \
    --attack "rotate:degrees=3,crop=true" --attack "jpeg:quality=80"
watermark attack "$out/studio-y/rocket.jpg" -o "$out/suspects/rocket-smaller.jpg" \
    --attack "rescale:factor=0.75" --attack "jpeg:quality=70"
cp "$out/studio-y/astronaut.jpg" "$out/suspects/astronaut-copy.jpg"
cp "$here/coffee.jpg" "$out/suspects/coffee-original.jpg"

echo "--- scanning the suspects against the registry:"
watermark scan "$out/suspects" --key "$out/demo.key" --registry "$out/filigrane.db" --report "$out/report" || true
echo "--- the report: $out/report/report.html"
