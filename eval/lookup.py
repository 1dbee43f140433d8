"""Lookup benchmark: how fast and how well a registry finds the master of a suspect.

``python -m eval.lookup [--images DIR]`` prints

1. the perceptual hash on photographs: the share of copies within ``MAX_DISTANCE`` bits after each
   whole-image change, and the unrelated pairs (tiles of different photographs) that come as close;
2. registration on photographs: the share of suspects registered to their master after each
   partial or geometric change, and the false registrations among unrelated pairs (each suspect
   against the other photographs' masters, and tiles against masters);
3. whole-image lookup: median ms per query in a `HashIndex` of 1,000,000 masters (random hashes),
   one core;
4. partial-copy lookup: median ms per query of `FeatureIndex.candidates` and the share of suspects
   (crops to 5 % of the area, 3x3 collages at 0.25 scale) whose master is among the candidates,
   with 1k, 10k and 100k masters: a third of the photographs as real masters, a third to fill the
   collages, and synthetic masters whose keypoints are drawn from the last third's tiles;
5. registry bytes per master.

Photographs: scikit-image's by default, or every image in ``--images DIR``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from watermark.featureindex import CANDIDATES, SHORTLIST, FeatureIndex
from watermark.features import Features, master_print, suspect_features
from watermark.fingerprint import MAX_DISTANCE, hamming, perceptual_hash
from watermark.hashindex import HashIndex
from watermark.registration import MIN_INLIERS, Suspect, register
from watermark.registry import Registry, register_master

from . import images, suspects

__all__ = ["main"]


def _photos(folder: str | None) -> list[np.ndarray]:
    names = [name for name in images.DEFAULT_IMAGES + images.NULL_PHOTOS
             if name != "motorcycle_right"]                  # the same scene as motorcycle_left: not unrelated
    specs = images.images_from(folder) if folder else [images.ImageSpec(name, f"skimage:{name}") for name in names]
    return [spec.load() for spec in specs if min(spec.load().shape[:2]) >= 256]


def hash_quality(photos: list[np.ndarray]) -> None:
    print(f"\n## Perceptual hash: copies within {MAX_DISTANCE} bits of their master ({len(photos)} photographs)")
    reference = [perceptual_hash(photo) for photo in photos]
    for name, change in suspects.WHOLE_IMAGE.items():
        distances = [hamming(ref, perceptual_hash(change(photo))) for ref, photo in zip(reference, photos)]
        found = np.mean(np.array(distances) <= MAX_DISTANCE)
        print(f"{name:28s} {found:6.3f}   (95th percentile distance {np.percentile(distances, 95):.0f})")
    tiles = suspects.unrelated_tiles(photos)
    owners = np.array([owner for owner, _ in tiles])
    hashes = np.array([perceptual_hash(tile) for _, tile in tiles], dtype=np.uint64)
    distances = np.bitwise_count(hashes[:, None] ^ hashes[None, :])
    upper = np.triu_indices(len(tiles), 1)
    unrelated = distances[upper][owners[upper[0]] != owners[upper[1]]]
    print(f"unrelated: {len(tiles)} tiles, {unrelated.size} pairs of different photographs, "
          f"{int((unrelated <= MAX_DISTANCE).sum())} within {MAX_DISTANCE} bits (closest {unrelated.min()}, "
          f"0.01 % quantile {np.percentile(unrelated, 0.01):.0f}, median {np.median(unrelated):.0f})")


def registration_quality(photos: list[np.ndarray]) -> None:
    print(f"\n## Registration: suspects registered to their master ({MIN_INLIERS}+ inliers, "
          f"{len(photos)} photographs)")
    prints = [master_print(photo) for photo in photos]
    rng = np.random.default_rng(7)
    false, pairs, inliers_unrelated = 0, 0, []
    name_width = max(22, *map(len, suspects.PARTIAL))
    for name, make in suspects.PARTIAL.items():
        matched, inliers = [], []
        for index, photo in enumerate(photos):
            shuffled = [j for j in rng.permutation(len(photos)) if j != index]
            fillers, strangers = shuffled[:8], shuffled[8:14]        # a collage's other cells are not strangers
            suspect = Suspect(make(photo, [photos[j] for j in fillers], int(rng.integers(1 << 31))))
            result = register(suspect, prints[index])
            matched.append(result.matched)
            inliers.append(result.inliers)
            for other in strangers:
                wrong = register(suspect, prints[other])
                false += wrong.matched
                pairs += 1
                inliers_unrelated.append(wrong.inliers)
        print(f"{name:{name_width}s} {np.mean(matched):6.3f}   (median inliers {np.median(inliers):.0f}, "
              f"fewest {min(inliers)})")
    for owner, tile in suspects.unrelated_tiles(photos, sizes=(384,))[::2]:
        suspect = Suspect(tile)
        for other in [j for j in rng.permutation(len(photos)) if j != owner][:3]:
            wrong = register(suspect, prints[other])
            false += wrong.matched
            pairs += 1
            inliers_unrelated.append(wrong.inliers)
    print(f"unrelated pairs: {false} false registrations in {pairs} (most inliers {max(inliers_unrelated)}, "
          f"99th percentile {np.percentile(inliers_unrelated, 99):.0f})")


def _median_ms(call, queries) -> float:
    times = []
    for query in queries:
        start = time.perf_counter()
        call(query)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def whole_lookup(count: int) -> None:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**64, count, dtype=np.uint64)
    index = HashIndex(np.arange(count), hashes)
    queries = []
    for position in rng.integers(0, count, 300):
        flips = rng.choice(64, int(rng.integers(0, MAX_DISTANCE + 1)), replace=False)
        queries.append(int(hashes[position]) ^ int(sum(1 << int(bit) for bit in flips)))
    hits = sum(bool(index.query(query, max_distance=MAX_DISTANCE)) for query in queries)
    print(f"\n## Whole-image lookup: {_median_ms(lambda q: index.query(q, max_distance=MAX_DISTANCE), queries):.3f} "
          f"ms per query (median) with {count:,} masters, one core; {hits}/{len(queries)} planted copies found")


def _synthetic(pool: np.ndarray, count: int, seed: int):
    """``count`` masters whose keypoints are real descriptors (from ``pool``) in random combinations."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        picked = pool[rng.integers(0, len(pool), 400)] + rng.normal(0, 0.02, (400, 128)).astype(np.float32)
        picked = np.maximum(picked, 0)
        picked /= np.linalg.norm(picked, axis=1, keepdims=True)
        yield Features(np.zeros((400, 2), np.float32), picked, 1, 1)


def _index(prints: list, pool: np.ndarray, size: int) -> FeatureIndex:
    """The real masters, then synthetic ones: 300 with their own descriptors (the whitening is fitted
    on the first 100,000 descriptors), the rest by codes gathered from the pool's codes (a 100,000
    master index is built in minutes instead of hours)."""
    index = FeatureIndex()
    for i, print_ in enumerate(prints):
        index.add(i, print_)
    made = min(size - len(prints), 300)
    for i, features in enumerate(_synthetic(pool, made, seed=size)):
        index.add(len(prints) + i, features)
    if size - len(prints) - made > 0:
        pool_codes = index.codes(pool)
        rng = np.random.default_rng(size)
        for i in range(len(prints) + made, size):
            index.add_codes(i, pool_codes[rng.integers(0, len(pool), 400)])
    return index.build()


def partial_lookup(photos: list[np.ndarray], sizes: list[int]) -> None:
    masters, fillers, donors = photos[0::3], photos[1::3], photos[2::3]      # three disjoint sets
    prints = [master_print(photo) for photo in masters]
    pool = np.concatenate([suspect_features(tile, keypoints=400).descriptors
                           for _, tile in suspects.unrelated_tiles(donors, sizes=(256, 512))])
    queries = []
    for index, photo in enumerate(masters):
        queries.append((index, suspect_features(suspects.jpeg(suspects.crop_area(photo, seed=index), 90))))
        queries.append((index, suspect_features(suspects.collage(photo, fillers, grid=3, seed=index))))
    print(f"\n## Partial-copy lookup ({len(masters)} real masters among synthetic ones made of {len(pool)} real "
          f"descriptors of other photographs; {len(queries)} suspects: 5 % crops and 3x3 collages at 0.25)")
    for size in sizes:
        start = time.perf_counter()
        index = _index(prints, pool, size)
        built = time.perf_counter() - start
        found = np.mean([any(m == true for m, _ in index.candidates(features)) for true, features in queries])
        ms = _median_ms(index.candidates, [features for _, features in queries])
        print(f"{size:>8,} masters: {ms:8.2f} ms per query (median), true master among the candidates "
              f"{found:.3f} ({SHORTLIST}, up to {CANDIDATES} with near votes; index built in {built:.0f} s)")


def registry_size(photos: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, photo in enumerate(photos):
            path = Path(folder, f"{index}.png")
            cv2.imwrite(str(path), photo[:, :, ::-1])
            paths.append(path)
        with Registry(Path(folder, "r.db"), create=True) as registry:
            prints = [len(register_master(registry, path).print) for path in paths]
        size = Path(folder, "r.db").stat().st_size
    print(f"\n## Registry size: {size / len(photos) / 1024:.1f} KiB per master (prints: mean "
          f"{np.mean(prints) / 1024:.1f} KiB, largest {max(prints) / 1024:.1f} KiB; 64 KiB allowed)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.lookup", description=__doc__.splitlines()[0])
    parser.add_argument("--images", metavar="DIR", type=images.existing,
                        help="photographs to use (default: scikit-image's)")
    parser.add_argument("--masters", type=int, default=1_000_000, help="whole-image index size")
    parser.add_argument("--partial", default="1000,10000,100000", help="partial-copy index sizes")
    parser.add_argument("--only", choices=("hash", "registration", "whole", "partial", "size"), action="append")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photos = _photos(args.images)
    sections = args.only or ["hash", "registration", "whole", "partial", "size"]
    if "hash" in sections:
        hash_quality(photos)
    if "registration" in sections:
        registration_quality(photos)
    if "whole" in sections:
        whole_lookup(args.masters)
    if "partial" in sections:
        partial_lookup(photos, [int(size) for size in args.partial.split(",")])
    if "size" in sections:
        registry_size(photos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
