"""Placement of small crops by the mark (`watermark.placement`), measured on photographs.

``python -m eval.placement [--images DIR] [--seeds 4] [--forgeries 200]`` marks each photograph at
1920x1080 under a fresh key, cuts crops to 5 % of the area (JPEG 90) and prints:

1. per crop source, how many crops local features register to their master, how many the tile
   phase and the thumbnail place where they were cut (within 3 px), and either;
2. the content check's margins: the largest RMS difference and the smallest correlation with the
   thumbnail where a crop was cut, against the best place (every position) in the other
   photographs' thumbnails, and how many of those would pass both thresholds;
3. placement in the master file itself (`watermark.original.place`, what a scan does when the
   master file is at hand and nothing else placed a crop): how many crops it places where they were
   cut, the least correlation of luminance and of fine detail there, and the most a crop of one
   photograph reaches in any other (`original.MIN_LIKENESS` and `original.MIN_DETAIL` must lie
   between them);
4. forgeries: a mark copied at the master's scale (`attacks.copy_mark`) onto unrelated photographs,
   cut to 2-10 % of the area: how many pass the phase gate, and how many are placed in any master,
   by the phase and thumbnail or by the master files (each of those named, with its fine detail).
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

import attacks
import watermark as wm
from watermark import color, original, placement
from watermark.features import master_print
from watermark.registration import register

from . import images, suspects

__all__ = ["main"]

_SIZE = (1920, 1080)


def _frame(pixels: np.ndarray) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(pixels[:, :, :3]), _SIZE, interpolation=cv2.INTER_AREA)


def _cut(pixels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``suspects.crop_area``'s crop as JPEG 90, and where it was cut (left, top)."""
    left, top, _, _ = suspects.crop_box(pixels.shape, fraction=fraction, seed=seed)
    return suspects.jpeg(suspects.crop_area(pixels, fraction=fraction, seed=seed), 90), (left, top)


def _phase(crop: np.ndarray, key: wm.Key) -> placement.Phase | None:
    """The crop's tile phase at the masters' scale, if it passes the gate."""
    phase = placement.phase_at(crop, crop.shape[1::-1], _SIZE, key)
    return phase if phase is not None and phase.p_value <= placement.PHASE_GATE else None


def _near(homography: np.ndarray | None, left: int, top: int) -> bool:
    """The placement puts the crop's corner within 3 px of where it was cut."""
    return homography is not None and max(abs(homography[0, 2] - left), abs(homography[1, 2] - top)) <= 3


def _small(crop: np.ndarray, thumbnail: np.ndarray) -> np.ndarray:
    """The crop at the thumbnail's scale, as the content check sees it."""
    height, width = thumbnail.shape[:2]
    size = (round(crop.shape[1] * width / _SIZE[0]), round(crop.shape[0] * height / _SIZE[1]))
    return placement.at_thumbnail_scale(crop.astype(np.float32) / 255.0, size)


def _at_cut(crop: np.ndarray, thumbnail: np.ndarray, left: int, top: int) -> tuple[float, float]:
    """(RMS, correlation) of the crop against the thumbnail where it was cut."""
    scale = thumbnail.shape[1] / _SIZE[0]
    return placement.compare(thumbnail, _small(crop, thumbnail), left * scale, top * scale)


def _best_elsewhere(crop: np.ndarray, thumbnails: list[np.ndarray]) -> tuple[float, float]:
    """(RMS, correlation) at the least-RMS position (every position) in any of ``thumbnails``."""
    small = _small(crop, thumbnails[0])
    best = (np.inf, 0.0)
    for thumbnail in thumbnails:
        squares = cv2.matchTemplate(thumbnail, small, cv2.TM_SQDIFF)
        y, x = np.unravel_index(int(np.argmin(squares)), squares.shape)
        best = min(best, placement.compare(thumbnail, small, float(x), float(y)))
    return best


def _on_file(crop: np.ndarray, master: np.ndarray) -> float | None:
    """The fine detail's correlation where `original.place` places the crop in a master's luminance
    (at full size); None where it does not."""
    found = original.place(crop, crop.shape[1::-1], master, _SIZE)
    return None if found is None else found[1]


def _likeness(crop: np.ndarray, master: np.ndarray) -> tuple[float, float]:
    """Where the crop's luminance matches best in a master's (at full size): the correlation of
    luminance and of fine detail there ((-1, -1) where it is not sought)."""
    found = original.place(crop, crop.shape[1::-1], master, _SIZE, min_detail=-1.0, min_likeness=-1.0)
    if found is None:
        return -1.0, -1.0
    registration, detail = found
    x, y = (int(round(value)) for value in registration.homography[:2, 2])
    luma = color.luminance(crop.astype(np.float32) / 255.0)
    there = master[y:y + luma.shape[0], x:x + luma.shape[1]]
    return float(cv2.matchTemplate(there, luma, cv2.TM_CCOEFF_NORMED)[0, 0]), detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.placement", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=images.existing, help="more photographs (a directory or files)")
    parser.add_argument("--seeds", type=int, default=4, help="crops per photograph (default 4)")
    parser.add_argument("--forgeries", type=int, default=200, help="forged crops (default 200)")
    args = parser.parse_args(argv)

    key = wm.Key.generate()
    specs = images.default_images() + (images.images_from(args.images) if args.images else [])
    masters = [_frame(spec.load()) for spec in specs]
    prints = [master_print(master) for master in masters]
    thumbnails = [placement.smoothed_thumbnail(p) for p in prints]
    copies = [np.asarray(wm.embed(master, number + 1, key)) for number, master in enumerate(masters)]
    lumas = [color.luminance(master.astype(np.float32) / 255.0) for master in masters]
    registered = placed = either = on_file = 0
    at_cut, elsewhere, likeness_at_cut, likeness_elsewhere = [], [], [], []
    for index, copy in enumerate(copies):
        for seed in range(args.seeds):
            crop, (left, top) = _cut(copy, 0.05, seed)
            features = register(crop, prints[index]).matched
            phase = _phase(crop, key)
            where = None if phase is None else placement.place(crop, crop.shape[1::-1], prints[index], phase)
            right = where is not None and _near(where[0].homography, left, top)
            registered, placed, either = registered + features, placed + right, either + (features or right)
            found = original.place(crop, crop.shape[1::-1], lumas[index], _SIZE)
            on_file += found is not None and _near(found[0].homography, left, top)
            likeness_at_cut.append(_likeness(crop, lumas[index]))
            clean, _ = _cut(masters[index], 0.05, seed)
            likeness_elsewhere.extend(_likeness(clean, luma) for number, luma in enumerate(lumas) if number != index)
            at_cut.append(_at_cut(clean, thumbnails[index], left, top))
            elsewhere.append(_best_elsewhere(clean, thumbnails[:index] + thumbnails[index + 1:]))
    crops = len(masters) * args.seeds
    print(f"## 5 % crops of {len(masters)} photographs at {_SIZE[0]}x{_SIZE[1]} ({crops} crops, JPEG 90)\n")
    print(f"registered by features {registered}, placed by the mark where cut {placed}, either {either} "
          f"({either / crops:.0%})")
    cut, other = np.array(at_cut), np.array(elsewhere)
    passes = (other[:, 0] <= placement.MAX_RMS) & (other[:, 1] >= placement.MIN_CORRELATION)
    print(f"content check where cut: RMS at most {cut[:, 0].max():.3f} (MAX_RMS {placement.MAX_RMS}), correlation "
          f"at least {cut[:, 1].min():.3f} (MIN_CORRELATION {placement.MIN_CORRELATION})")
    print(f"the best place in another photograph's thumbnail (least RMS, any position): RMS at least "
          f"{other[:, 0].min():.3f}; under MAX_RMS {int(np.sum(other[:, 0] <= placement.MAX_RMS))}, "
          f"of which correlated {int(passes.sum())}")

    mine, others = np.array(likeness_at_cut), np.array(likeness_elsewhere)
    both = (others[:, 0] >= original.MIN_LIKENESS) & (others[:, 1] >= original.MIN_DETAIL)
    print(f"\nplaced in the master file where cut {on_file} ({on_file / crops:.0%}); where a crop matches best in "
          f"its master, luminance correlates by at least {mine[:, 0].min():.3f} (MIN_LIKENESS {original.MIN_LIKENESS}) "
          f"and fine detail by {mine[:, 1].min():.2f} (MIN_DETAIL {original.MIN_DETAIL}); in another photograph by at "
          f"most {others[:, 0].max():.3f} and {others[:, 1].max():.2f}, both over the thresholds {int(both.sum())}")

    targets = [(spec.name, _frame(spec.load())) for spec in images.null_images(25, min_side=512)]
    gated = forged_placed = 0
    on_files: list[str] = []
    for number in range(args.forgeries):
        forged = attacks.copy_mark(targets[number % len(targets)][1], source=copies[number % len(copies)])
        crop, _ = _cut(forged, (0.02, 0.05, 0.1)[number % 3], number)
        phase = _phase(crop, key)
        gated += phase is not None
        if phase is not None:
            forged_placed += any(placement.place(crop, crop.shape[1::-1], p, phase) is not None for p in prints)
        for spec, luma in zip(specs, lumas):
            if (detail := _on_file(crop, luma)) is not None:
                on_files.append(f"{targets[number % len(targets)][0]} placed in {spec.name} (fine detail {detail:.2f})")
    print(f"\n## Marks copied at the master's scale onto unrelated photographs, cut to 2-10 % "
          f"({args.forgeries} crops)\n\npilot phase through the gate {gated}, placed in a master {forged_placed}, "
          f"placed in a master file {len(on_files)}")
    for line in on_files:
        print(f"  a crop of {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
