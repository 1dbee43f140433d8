"""Named suites of attacks, as data: ``stirmark``, ``stirmark-as-shipped``, ``social``, ``modern``, ``quick``,
``training``, ``security``.

Where StirMark's parameter sets come from:

* StirMark Benchmark 4.0 (Petitcolas et al., "A public automated web-based evaluation service for
  watermarking schemes: StirMark Benchmark", SPIE 4314, 2001). Its profile
  ``Profiles/SMBsettings.ini`` holds one ``[Test_...]`` section per test with its parameter list;
  the lists below are the ones a run of the shipped profile applies, as its report
  (``SMBReport*.log``, which lists every test with every parameter) shows. How each test uses its
  parameter comes from SMB 4.0's sources (``Tests/SMBTest_*.cpp``, ``SpecialTransforms/``,
  ``GeometricTransforms/``): cropping keeps ``int(W p / 100)`` centred, line removal drops one
  line in ``k``, rotation-crop and rotation-scale use StirMark's inner-rectangle scale, the
  convolution filters are ``filterN = width, height, divisor, coefficients`` and the affine test
  reads 2 x 3 matrices ``mat1``, ``mat2``, ... until one is missing.
* StirMark 3.1 (Petitcolas and Kuhn, ``bench.h`` in the StirMark 3.1 sources; Petitcolas, Anderson
  and Kuhn, "Attacks on copyright marking systems", IH'98; Kutter and Petitcolas, "A fair
  benchmark for image watermarking systems", SPIE 3657, 1999) for the shears, the three general
  linear matrices, the convolution kernels and the random bending defaults.

Deviations, on purpose and documented: SMB's ``Test_PSNR`` sweeps the *embedding* strength (0 to
100) and attacks nothing; here it becomes :func:`attacks.psnr` (noise to a target PSNR) at
{20, 25, ..., 50} dB. SMB's ``Test_EmbedTime`` measures speed and has no counterpart here. The
profile's affine matrices themselves were not available to us: they are reconstructed from
StirMark 3.1's shears and linear maps and from the report's pattern (see ``STIRMARK_AFFINE``).
"""

from __future__ import annotations

from typing import Any

from watermark.errors import UnknownNameError

from .registry import Attack, attack, chain

__all__ = ["suite", "suites", "STIRMARK_AFFINE", "STIRMARK_AFFINE_AS_SHIPPED", "SUITES"]

JPEG_QUALITIES = (15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 90, 100)           # Test_JPEG
NOISE_LEVELS = (0, 20, 40, 60, 80, 100)                                       # Test_AddNoise
PSNR_TARGETS = (20, 25, 30, 35, 40, 45, 50)                                   # see the module notes
MEDIAN_SIZES = (3, 5, 7, 9)                                                   # Test_MedianCut
KERNELS = ("gaussian", "sharpen")                                             # Test_ConvFilter 1, 2
SELF_SIMILARITY_MODES = (1, 2, 3)                                             # Test_SelfSimilarities
REMOVE_LINES = tuple(range(10, 101, 10))                                      # Test_RemoveLines
CROP_PERCENTS = (1, 2, 5, 10, 15, 20, 25, 50, 75)                             # Test_Cropping
RESCALE_PERCENTS = (50, 75, 90, 110, 150, 200)                                # Test_Rescale
SMALL_ANGLES = (-2, -1, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1, 2)            # Test_RotationCrop/Scale
ROTATION_ANGLES = SMALL_ANGLES + (5, 10, 15, 30, 45, 90)                      # Test_Rotation
DISTORTION_FACTORS = (0.95, 1, 1.05, 1.1)                                     # Test_(Latest)SmallRandomDistortions

# Test_Affine: StirMark 3.1's six shears (bench.h SHIFTS, 1 % and 5 %, in y, x and both) and its
# three general linear maps (LINEAR_TRANSFORMATIONS), as (a, b, c, d): x' = a x + b y, y' = c x + d y.
STIRMARK_AFFINE: tuple[tuple[float, ...], ...] = (
    (1, 0, 0.01, 1), (1, 0, 0.05, 1),            # shear in y
    (1, 0.01, 0, 1), (1, 0.05, 0, 1),            # shear in x
    (1, 0.01, 0.01, 1), (1, 0.05, 0.05, 1),      # shear in x and y
    (1.010, 0.013, 0.009, 1.011), (1.007, 0.010, 0.010, 1.012), (1.013, 0.008, 0.011, 1.008),
)
# The shipped profile defines one AFFINE_n name twice, so one shear never runs and the test runs
# eight matrices. The SMB 4.0 report pairs matrices 1/3 and 2/4 (1 % and 5 % shears) and puts 5
# with the ~1 % linear maps: the 5 % shear in both directions is the one lost.
STIRMARK_AFFINE_AS_SHIPPED = STIRMARK_AFFINE[:5] + STIRMARK_AFFINE[6:]


def _stirmark(as_shipped: bool) -> tuple[Attack, ...]:
    shipped = {"as_shipped": True} if as_shipped else {}
    out = [attack("psnr", db=db) for db in PSNR_TARGETS]
    out += [attack("add_noise", level=level, **shipped) for level in NOISE_LEVELS]
    out += [attack("jpeg", quality=q) for q in JPEG_QUALITIES]
    out += [attack("median", size=size) for size in MEDIAN_SIZES]
    out += [attack("convolution", kernel=kernel, **shipped) for kernel in KERNELS]
    out += [attack("self_similarities", mode=mode) for mode in SELF_SIMILARITY_MODES]
    out += [attack("remove_lines", every=every) for every in REMOVE_LINES]
    out += [attack("crop", percent=p) for p in CROP_PERCENTS]
    out += [attack("rescale", factor=p / 100) for p in RESCALE_PERCENTS]
    out += [attack("rotate", degrees=d, expand=True) for d in ROTATION_ANGLES]
    out += [attack("rotate", degrees=d, crop=True) for d in SMALL_ANGLES]
    out += [attack("rotate", degrees=d, scale=True) for d in SMALL_ANGLES]
    matrices = STIRMARK_AFFINE_AS_SHIPPED if as_shipped else STIRMARK_AFFINE
    out += [attack("affine", matrix=m) for m in matrices]
    out += [attack("small_random_distortions", factor=f) for f in DISTORTION_FACTORS]
    out += [attack("latest_small_random_distortions", factor=f) for f in DISTORTION_FACTORS]
    out += [attack("random_bending", **shipped)]
    return tuple(out)


def _social() -> tuple[Attack, ...]:
    def upload(max_side: int, codec: Attack) -> Attack:
        return chain(attack("downscale", max_side=max_side), codec, attack("strip_metadata"))

    out = [upload(side, attack("jpeg", quality=q, subsampling="4:2:0"))
           for side, q in ((1080, 70), (1080, 75), (1080, 80), (1080, 85), (2048, 70), (2048, 85))]
    out += [upload(side, attack("webp", quality=q)) for side, q in ((1080, 75), (2048, 80))]
    out += [attack("screenshot", scale=s) for s in (0.75, 1.25)]
    # a 16:9 picture posted whole in a 4:5 frame, and in a square over its own blurred copy
    out += [chain(attack("canvas", ratio=ratio, fill=fill), attack("jpeg", quality=85, subsampling="4:2:0"),
                  attack("strip_metadata")) for ratio, fill in ((0.8, "white"), (1.0, "blur"))]
    return tuple(out)


def _modern() -> tuple[Attack, ...]:
    return (
        attack("colour_jitter"), attack("colour_jitter", brightness=0.4, contrast=0.4, saturation=0.4, hue=30),
        attack("hue", degrees=15), attack("hue", degrees=60),
        attack("saturation", factor=0.5), attack("saturation", factor=1.5),
        attack("grayscale"),
        attack("palette", colors=256, dither=True), attack("palette", colors=64, dither=False),
        attack("text"), attack("logo"),
        attack("perspective", strength=0.02), attack("perspective", strength=0.05),
        attack("print_scan"), attack("print_scan", blur=2.0, noise=0.03, gamma=1.4, warp=0.02),
        attack("avif", quality=50), attack("avif", quality=30),
        attack("denoise", strength=5.0), attack("denoise", strength=10.0),
    )


def _quick() -> tuple[Attack, ...]:
    """A dozen or so representative attacks; three of them at a few strengths, for the report's curves."""
    return (
        attack("jpeg", quality=30), attack("jpeg", quality=50), attack("jpeg", quality=80),
        attack("gaussian_noise", sigma=0.02), attack("median", size=3), attack("gaussian_blur", sigma=1.0),
        attack("rescale", factor=0.5), attack("rescale", factor=0.75), attack("crop", percent=75),
        attack("rotate", degrees=2, crop=True), attack("rotate", degrees=10, crop=True),
        attack("random_bending"), attack("colour_jitter"),
        chain(attack("rescale", factor=0.75), attack("jpeg", quality=75)),
    )


def _training() -> tuple[Attack, ...]:
    """What a data pipeline does to a scraped image: stored resized (256 or 512 px shorter side) as JPEG 75
    or 90, and cropped to 224 px for evaluation or at random for training, flipped."""
    jpeg75, jpeg90 = attack("jpeg", quality=75), attack("jpeg", quality=90)
    return (
        attack("resize_crop"), chain(attack("resize_crop"), jpeg90), chain(attack("resize_crop"), jpeg75),
        chain(attack("resize_crop"), attack("flip"), jpeg75),
        chain(attack("resize_short", side=256), jpeg75), chain(attack("resize_short", side=512), jpeg75),
        attack("random_resized_crop", scale_min=0.5), attack("random_resized_crop"),
    )


def _security() -> tuple[Attack, ...]:
    """What an attacker with the code does with published marked images (``eval.security`` supplies the
    other images the multi-image attacks take)."""
    out = [attack("remove_mark", gain=g) for g in (0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)]
    out += [attack("copy_mark"), attack("copy_mark", residual=1.0), attack("copy_mark", residual=1.0, band=64.0)]
    out += [attack("collude_average"), attack("collude_mosaic")]
    out += [attack("remark"), attack("remove_and_remark")]
    return tuple(out)


SUITES: dict[str, Any] = {
    "stirmark": lambda: _stirmark(False),
    "stirmark-as-shipped": lambda: _stirmark(True),
    "social": _social,
    "modern": _modern,
    "quick": _quick,
    "training": _training,
    "security": _security,
}


def suites() -> list[str]:
    """The names of the suites."""
    return list(SUITES)


def suite(name: str) -> tuple[Attack, ...]:
    """The attacks of suite ``name``, in a fixed order.

    ``stirmark``: StirMark Benchmark 4.0's tests with their parameter sets (113 attacks), quirks
    of the shipped profile fixed; ``stirmark-as-shipped``: the same as the shipped profile runs
    them (kernels divided by 9, AddNoise saturating, eight affine matrices; 112 attacks);
    ``social``: uploads to platforms (downscale, JPEG 4:2:0 or WebP, metadata stripped) and
    screenshots; ``modern``: colour, palettes, overlays, perspective, print-and-scan; ``quick``:
    a dozen representative attacks; ``training``: a machine-learning data pipeline (resized to a 256 or
    512 px shorter side, cropped to 224 px, JPEG 75 or 90); ``security``: estimate-and-remove, copy,
    collusion and re-marking (multi-image attacks: ``watermark bench --suite security`` runs them
    through ``eval.security``).

    Examples
    --------
    >>> [str(a) for a in suite("quick")][:2]
    ['jpeg(quality=30)', 'jpeg(quality=50)']
    """
    try:
        build = SUITES[name]
    except KeyError:
        raise UnknownNameError(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}") from None
    return build()
