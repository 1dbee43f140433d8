"""Registration: where a suspect's pixels lie in a master's frame, from local features and RANSAC.

`register` matches a suspect's SIFT keypoints to a master's print (Lowe's ratio test, each master
keypoint's two nearest suspect keypoints), fits a homography from the suspect's pixels to the
master's pixels with a robust estimator (OpenCV's USAC MAGSAC++ where available, else RANSAC), and a
similarity (RANSAC), the similarity kept where the matches do not support more (Torr's GRIC: a plain
crop of a smooth photograph, whose few clustered keypoints a homography overfits), and
decides: a registration is ``matched`` when at least :data:`MIN_INLIERS` matches agree on a
homography, or :data:`MIN_SIMILARITY_INLIERS` on a similarity (rotation, scale and shift: a crop or a
rescaled copy), and the map is plausible (orientation kept, no fold, area ratio within 1/1024..1024).
A mirrored copy is tried when the direct one fails. The threshold was chosen on photographs
(``python -m eval.lookup``): perspective warps, a camera tilt, StirMark bending, a crop to 5 % of
the area and collages register; unrelated photograph pairs stay far below it.

`to_master_frame` then resamples the suspect into the master's frame at any size, with the mask of
the master pixels it covers: what an informed read (``read_in_frame``) takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .features import MASTER_SIDE, Features, MasterPrint, suspect_features
from .image import ImageLike, from_float, to_float

__all__ = ["Registration", "Suspect", "register", "frame_scaling", "to_master_frame", "MIN_INLIERS",
           "MIN_SIMILARITY_INLIERS"]

MIN_INLIERS = 12            # matches that must agree on one homography
MIN_SIMILARITY_INLIERS = 8  # or on a similarity (rotation, scale, shift: 4 degrees of freedom, not 8)
WHOLE_KEYPOINTS = 2000      # a whole copy's keypoints, found at the master print's scale
_RATIO = 0.8                # Lowe's ratio test
_PIXEL_ERROR = 3.0          # px at the master's feature resolution (long side 1024)
_METHOD = getattr(cv2, "USAC_MAGSAC", cv2.RANSAC)


class Suspect:
    """A suspect image and its keypoints, computed once when first needed (and mirrored on demand).

    ``whole``: the suspect is known to show a master whole (a perceptual-hash match), so its
    keypoints are found at the scale of the master's print (long side ``MASTER_SIDE``) rather than
    at the scale a collage's quarter-size cell needs: SIFT on a quarter of the pixels, and the print's
    keypoints matched at their own scale (tests/watermark/test_registration.py: under a pixel at
    full size).
    """

    def __init__(self, image: ImageLike, *, whole: bool = False) -> None:
        self.image = image
        self.whole = whole
        self._features: dict[bool, Features] = {}

    def features(self, *, mirrored: bool = False) -> Features:
        """The suspect's keypoints, or those of its mirror image (x -> width - 1 - x)."""
        if mirrored not in self._features:
            image = self.image
            if mirrored:
                pixels, fmt = to_float(image)
                image = np.ascontiguousarray(pixels[:, ::-1])
            scale = {"long_side": MASTER_SIDE, "keypoints": WHOLE_KEYPOINTS} if self.whole else {}
            self._features[mirrored] = suspect_features(image, **scale)
        return self._features[mirrored]


@dataclass(frozen=True, eq=False)
class Registration:
    """Where a suspect lies in a master.

    Attributes
    ----------
    matched : bool
        At least ``MIN_INLIERS`` inliers and a plausible homography.
    homography : numpy.ndarray or None
        3 x 3 map from the suspect's pixels (x, y) to the master's full-resolution pixels.
    inliers, matches : int
        Matches agreeing with the homography, and tentative matches after the ratio test.
    mirrored : bool
        The suspect is a mirror image of the master (``homography`` includes the flip).
    coverage : float
        Fraction of the master's area that the suspect covers (0 when unmatched).
    """

    matched: bool
    homography: np.ndarray | None = field(repr=False)
    inliers: int
    matches: int
    mirrored: bool = False
    coverage: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"matched": self.matched, "inliers": self.inliers, "matches": self.matches, "mirrored": self.mirrored,
                "coverage": round(self.coverage, 4),
                "homography": None if self.homography is None else np.round(self.homography, 8).tolist()}


def _match(suspect: Features, master: Features) -> tuple[np.ndarray, np.ndarray]:
    """Tentative pairs (suspect points, master points): each master keypoint's nearest suspect
    keypoint, kept when clearly nearer than the second nearest."""
    if len(suspect) < 2 or len(master) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(master.descriptors, suspect.descriptors, k=2)
    kept = [(best.trainIdx, best.queryIdx) for best, second in (p for p in pairs if len(p) == 2)
            if best.distance < _RATIO * second.distance]
    if not kept:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    suspect_index, master_index = np.array(kept).T
    return suspect.points[suspect_index], master.points[master_index]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def _plausible(homography: np.ndarray, width: int, height: int) -> bool:
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
    mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), homography).reshape(-1, 2)
    if not np.all(np.isfinite(mapped)):
        return False
    edges = np.roll(mapped, -1, axis=0) - mapped
    turns = _cross(edges, np.roll(edges, -1, axis=0))
    if not np.all(turns > 0):                      # convex, same orientation: no fold, no mirror
        return False
    area = 0.5 * abs(_cross(mapped, np.roll(mapped, -1, axis=0)).sum())
    return bool(1 / 1024 < area / (width * height) < 1024)


def _coverage(homography: np.ndarray, suspect: Features, master: Features) -> float:
    corners = np.array([[0, 0], [suspect.width, 0], [suspect.width, suspect.height], [0, suspect.height]],
                       np.float32)
    mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), homography).reshape(-1, 2)
    frame = np.array([[0, 0], [master.width, 0], [master.width, master.height], [0, master.height]], np.float32)
    inside, _ = cv2.intersectConvexConvex(mapped, frame)
    return float(inside) / (master.width * master.height)


def _register_once(suspect: Features, master: Features, min_inliers: int) -> Registration:
    suspect_points, master_points = _match(suspect, master)
    if len(suspect_points) < 4:
        return Registration(False, None, 0, len(suspect_points))
    error = _PIXEL_ERROR * max(1.0, max(master.width, master.height) / MASTER_SIDE)
    homography, mask = cv2.findHomography(suspect_points, master_points, _METHOD, error,
                                          maxIters=4000, confidence=0.999)
    if homography is None or mask is None:
        return Registration(False, None, 0, len(suspect_points))
    inliers = int(mask.sum())
    matched = inliers >= min_inliers and bool(_plausible(homography, suspect.width, suspect.height))
    similarity, similar = cv2.estimateAffinePartial2D(suspect_points, master_points, method=cv2.RANSAC,
                                                      ransacReprojThreshold=error, maxIters=4000, confidence=0.999)
    if similarity is not None and int(similar.sum()) >= MIN_SIMILARITY_INLIERS:
        simpler = np.vstack([similarity, [0.0, 0.0, 1.0]])
        # a crop or a rescaled copy: the simpler model needs fewer agreeing matches; and where the
        # homography matched, the similarity replaces it when the matches do not support more
        if (not matched or _prefer_similarity(suspect_points, master_points, homography, mask.ravel() > 0,
                                              simpler, error)) and _plausible(simpler, suspect.width, suspect.height):
            homography, inliers, matched = simpler, int(similar.sum()), True
    return Registration(matched, homography, inliers, len(suspect_points), False,
                        _coverage(homography, suspect, master) if matched else 0.0)


def _squared_errors(model: np.ndarray, suspect_points: np.ndarray, master_points: np.ndarray) -> np.ndarray:
    mapped = cv2.perspectiveTransform(suspect_points.reshape(-1, 1, 2).astype(np.float64), model).reshape(-1, 2)
    return np.sum((mapped - master_points) ** 2, axis=1)


def _prefer_similarity(suspect_points: np.ndarray, master_points: np.ndarray, homography: np.ndarray,
                       inlying: np.ndarray, similarity: np.ndarray, error: float) -> bool:
    """Whether the matches support no more than a similarity: Torr's GRIC (Geometric Robust Information
    Criterion, Torr 1998) of each model, the lower kept. For n matches, each a point of R^4 (r = 4)
    on a manifold of dimension d = 2 for both models, with k = 8 parameters (homography) or 4
    (similarity): GRIC = sum of min(e^2 / sigma^2, lambda3 (r - d)) + lambda1 d n + lambda2 k, with
    lambda1 = log r, lambda2 = log(r n), lambda3 = 2; e the transfer error in the master's pixels and
    sigma the noise of the homography's inliers (robust: their median squared error over chi2(2)'s
    median, 2 log 2), at least a twentieth of the inlier threshold. A homography fitted on a few
    clustered keypoints of a smooth image fits their noise a little better and the picture's far
    corners tens of pixels wrong; a perspective warp's matches leave the similarity far off."""
    n, r, d = len(suspect_points), 4, 2
    squared = _squared_errors(homography, suspect_points, master_points)
    noise = np.median(squared[inlying]) / (2.0 * np.log(2.0)) if inlying.any() else error ** 2
    sigma2 = max(float(noise), (error / 6.0) ** 2)

    def gric(model_squared: np.ndarray, k: int) -> float:
        rho = np.minimum(model_squared / sigma2, 2.0 * (r - d)).sum()
        return float(rho + np.log(r) * d * n + np.log(r * n) * k)

    return gric(_squared_errors(similarity, suspect_points, master_points), 4) <= gric(squared, 8)


def register(suspect: Suspect | ImageLike, master: MasterPrint, *, min_inliers: int = MIN_INLIERS) -> Registration:
    """Register a suspect to a master's print; a mirrored copy is tried when the direct one fails.

    Examples
    --------
    >>> from skimage import data
    >>> from watermark.features import master_print
    >>> photo = data.astronaut()
    >>> registration = register(photo[100:400, 50:450], master_print(photo))
    >>> registration.matched, np.round(registration.homography[:2, 2]).tolist()
    (True, [50.0, 100.0])
    """
    suspect = suspect if isinstance(suspect, Suspect) else Suspect(suspect)
    direct = _register_once(suspect.features(), master.features, min_inliers)
    if direct.matched:
        return direct
    flipped = _register_once(suspect.features(mirrored=True), master.features, min_inliers)
    if not flipped.matched:
        return direct if direct.inliers >= flipped.inliers else flipped
    width = suspect.features().width
    mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return Registration(True, flipped.homography @ mirror, flipped.inliers, flipped.matches, True, flipped.coverage)


def frame_scaling(master_size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """3x3 map from the master's full-resolution pixels (x, y) to a frame of ``shape`` (height, width)
    scaled from it, pixel centres on pixel centres (as `cv2.resize` and the embedder's resampling
    place them: a frame without this half-pixel term lies a quarter pixel off at 1080p)."""
    sx, sy = shape[1] / master_size[0], shape[0] / master_size[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def to_master_frame(suspect: ImageLike, registration: Registration, master_size: tuple[int, int],
                    shape: tuple[int, int] | None = None) -> tuple[ImageLike, np.ndarray]:
    """Resample the suspect into the master's frame.

    Parameters
    ----------
    master_size : (width, height)
        The master's full-resolution size (``MasterPrint.width``, ``.height`` or the registry's).
    shape : (height, width), optional
        The output's size; the master's full size by default. A smaller one (e.g. the working
        resolution) is the master's frame scaled down.

    Returns
    -------
    image, mask
        The suspect in the master's frame (same kind and dtype as ``suspect``, bilinear), and a
        boolean ``(height, width)`` mask of the pixels it covers (one pixel in from its edges).
    """
    if registration.homography is None:
        raise ValueError("the registration has no homography (it did not match)")
    width, height = master_size
    warp = frame_scaling(master_size, shape if shape is not None else (height, width)) @ registration.homography
    out_height, out_width = shape if shape is not None else (height, width)
    pixels, fmt = to_float(suspect)
    warped = cv2.warpPerspective(pixels, warp, (out_width, out_height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = np.ones(pixels.shape[:2], np.uint8)
    covered = cv2.warpPerspective(ones, warp, (out_width, out_height), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0
    return from_float(warped, fmt), mask
