"""Run contenders x images x attacks, in parallel, resumably, into tidy result rows.

A *cell* is one (scheme, image, attack). Work goes to processes in tasks of one contender, one
image and a few attacks: the image is marked once per task (embedding is deterministic, so a task
that is split or rerun marks it identically), then each attack is applied with its own seed and the
contender reads the result. Every finished cell is appended to the cache as it arrives, so an
interrupted run loses at most the tasks in flight and a rerun computes only what is missing.
A cell that fails becomes a row with an ``error`` and the run goes on; a worker that dies (killed,
out of memory) breaks the pool, so every task not yet finished gets such rows, and a rerun computes
them (only errors about the input, such as an image too small for a scheme, are cached).

Besides the marked cells, ``unmarked`` images without any mark are read with the same key: their
p-values and scores are the null distribution (``marked`` is False in those rows, ``attack`` is
"none"), from which the report draws the false-positive-rate threshold and the calibration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from watermark import batch, coding
from watermark.sources import printable

from . import contenders, metrics
from . import images as images_mod
from .cache import Cache, cell_key, code_fingerprint

__all__ = ["Result", "COLUMNS", "NO_ATTACK", "run", "attack_seed"]

NO_ATTACK = "none"          # the attack column of the marked image as embedded, and of null rows
_ATTACKS_PER_TASK = 8


@dataclass(frozen=True)
class Result:
    """One row of the benchmark: one scheme, one image, one attack (the CSV's columns, in order).

    Attributes
    ----------
    scheme : str
        Contender name: a Filigrane scheme ("lattice", "dwtdct", ...) or a peer ("peer:...").
    image : str
        Image name (scikit-image name, or the path relative to ``--images``, the path as given where two
        folders hold that name: see ``eval.images.images_from``); null images carry "~k" for the k-th
        crop and rescale.
    attack : str
        The attack as it prints, e.g. "jpeg(quality=50)"; "none" for the unattacked image.
    family : str
        The attack's family ("codec", "geometry", ...); "none" when unattacked.
    strength : float
        The attack's primary parameter (NaN when it has none).
    marked : bool
        False for the null rows (an image that was never marked, read with the same key).
    seed : int
        The attack's seed (replays the cell alone); the run's seed for null rows.
    payload_bits : int
        Size of the contender's payload, in bits (64 for Filigrane).
    bit_accuracy : float
        Share of payload bits read correctly (see ``eval.contenders``); NaN when unreadable.
    exact : bool
        The whole payload came back (for Filigrane: found, CRC-checked and equal).
    found : bool
        The contender declared its mark present (p-value at most its false-alarm rate, 1e-9).
    p_value, score : float
        The detection p-value and statistic (peers: a known-message binomial test, see ``eval.peers``).
    psnr, ssim : float
        Quality of the marked image against the original (dB; SSIM on luma); NaN for null rows.
    ssimulacra2, butteraugli : float
        Perceptual quality of the marked image (SSIMULACRA2 score, Butteraugli's maximum distance), on
        the unattacked row of a run with ``perceptual=True``; NaN elsewhere, or when the metric's
        implementation is missing.
    embed_ms, detect_ms : float
        Wall time of one embedding and one detection in the worker, in milliseconds.
    width, height : int
        Size of the image that was marked (or read, for null rows), in pixels.
    error : str
        Empty, or "ExceptionName: message" when the cell could not be computed (metrics are NaN).
    """

    scheme: str
    image: str
    attack: str
    family: str
    strength: float
    marked: bool
    seed: int
    payload_bits: int
    bit_accuracy: float
    exact: bool
    found: bool
    p_value: float
    score: float
    psnr: float
    ssim: float
    ssimulacra2: float
    butteraugli: float
    embed_ms: float
    detect_ms: float
    width: int
    height: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict, keys in column order."""
        return dataclasses.asdict(self)


COLUMNS = tuple(field.name for field in dataclasses.fields(Result))


@dataclass(frozen=True)
class _Task:
    contender: str
    image: images_mod.ImageSpec
    attacks: tuple            # of (attack or None, seed)
    marked: bool
    seed: int
    perceptual: bool = False


def _perceptual(original: np.ndarray, marked: np.ndarray) -> dict[str, float]:
    """SSIMULACRA2 and Butteraugli of ``marked``; NaN for a metric whose implementation is missing."""
    values = {}
    for name in ("ssimulacra2", "butteraugli"):
        try:
            values[name] = getattr(metrics, name)(original, marked)
        except metrics.MissingMetricError:
            values[name] = math.nan
    return values


def attack_seed(seed: int, image: str, attack: str) -> int:
    """The seed of the cell (``image``, ``attack``) in a run seeded ``seed``: the ``seed`` column of its row."""
    digest = hashlib.blake2b(f"{seed}/{image}/{attack}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") >> 1


def _describe(attack: Any) -> tuple[str, str, float]:
    if attack is None:
        return NO_ATTACK, NO_ATTACK, math.nan
    strength = getattr(attack, "strength", None)
    return str(attack), str(getattr(attack, "family", "")), math.nan if strength is None else float(strength)


def _failed(task: _Task, attack: Any, seed: int, contender: Any, shape: tuple, error: str) -> Result:
    name, family, strength = _describe(attack)
    return Result(scheme=task.contender, image=task.image.name, attack=name, family=family, strength=strength,
                  marked=task.marked, seed=seed, payload_bits=getattr(contender, "payload_bits", 0),
                  bit_accuracy=math.nan, exact=False, found=False, p_value=math.nan, score=math.nan,
                  psnr=math.nan, ssim=math.nan, ssimulacra2=math.nan, butteraugli=math.nan,
                  embed_ms=math.nan, detect_ms=math.nan,
                  width=shape[1] if shape else 0, height=shape[0] if shape else 0, error=error)


def _error_text(exc: BaseException) -> str:
    return printable(f"{type(exc).__name__}: {exc}").splitlines()[0][:300]


def _cacheable(row: Result) -> bool:
    """Deterministic outcomes only: a Filigrane error about the input (too small...) is one, a crash is not."""
    return not row.error or row.error.split(":")[0] in {"ImageTooSmallError", "InvalidImageError",
                                                         "PayloadTooLargeError", "ParameterError"}


def _do_task(task: _Task) -> list[Result]:
    """Compute one task's rows (runs in a worker process, or inline with ``jobs=1``)."""
    try:
        contender = contenders.get(task.contender)
        original = task.image.load()
    except Exception as exc:   # unreadable file, peer missing in the worker: record, never stop the run
        return [_failed(task, a, s, None, (), _error_text(exc)) for a, s in task.attacks]
    key = contenders.bench_key(task.seed)
    payload = contenders.payload_for(task.image.name, task.seed, contender.payload_bits)
    truth = coding.int_to_bits(payload, contender.payload_bits)
    quality = {"psnr": math.nan, "ssim": math.nan, "ssimulacra2": math.nan, "butteraugli": math.nan,
               "embed_ms": math.nan}
    image = original
    if task.marked:
        try:
            start = time.perf_counter()
            image = contender.embed(original, payload, key)
            quality["embed_ms"] = 1e3 * (time.perf_counter() - start)
            quality["psnr"] = metrics.psnr(original, image)
            quality["ssim"] = metrics.ssim(original, image)
            if task.perceptual and any(attack is None for attack, _ in task.attacks):
                quality.update(_perceptual(original, image))
        except Exception as exc:    # too small for this scheme, or a peer's failure: every cell says so
            return [_failed(task, a, s, contender, original.shape, _error_text(exc)) for a, s in task.attacks]
    rows = []
    for attack, seed in task.attacks:
        try:
            attacked = image if attack is None else np.asarray(attack(image, seed=seed))
            start = time.perf_counter()
            reading = contender.read(attacked, key, payload)
            detect_ms = 1e3 * (time.perf_counter() - start)
            bit_accuracy = metrics.bit_accuracy(reading.bits, truth)
        except Exception as exc:
            rows.append(_failed(task, attack, seed, contender, original.shape, _error_text(exc)))
            continue
        name, family, strength = _describe(attack)
        rows.append(Result(
            scheme=task.contender, image=task.image.name, attack=name, family=family, strength=strength,
            marked=task.marked, seed=seed, payload_bits=contender.payload_bits,
            bit_accuracy=bit_accuracy,
            exact=bool(task.marked and reading.payload == payload and reading.found),
            found=bool(reading.found), p_value=float(reading.p_value), score=float(reading.score),
            psnr=quality["psnr"], ssim=quality["ssim"],
            ssimulacra2=quality["ssimulacra2"] if attack is None else math.nan,
            butteraugli=quality["butteraugli"] if attack is None else math.nan,
            embed_ms=quality["embed_ms"], detect_ms=detect_ms,
            width=int(original.shape[1]), height=int(original.shape[0])))
    return rows


def _chunks(items: Sequence, size: int) -> Iterable[tuple]:
    for start in range(0, len(items), size):
        yield tuple(items[start:start + size])


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="cell", desc="bench", file=sys.stderr, dynamic_ncols=True)


def run(schemes: Sequence[str], images: Sequence[images_mod.ImageSpec] | None = None,
        attacks: Sequence[Any] | None = None, *, unmarked: int = 0, jobs: int = 1,
        cache_dir: str | None = None, seed: int = 0, progress: bool | None = None,
        perceptual: bool = False, null_extra: Sequence[images_mod.ImageSpec] | None = None) -> list[Result]:
    """Benchmark ``schemes`` on ``images`` under ``attacks``; one :class:`Result` per cell.

    Parameters
    ----------
    schemes : sequence of str
        Filigrane scheme names and/or peers ("peer:imwatermark-dwtDct"); see ``contenders.names()``.
    images : sequence of ImageSpec, optional
        Default: :func:`eval.images.default_images` (scikit-image's colour photographs).
    attacks : sequence of attacks.Attack, optional
        Default: ``attacks.suite("quick")``. The unattacked marked image is always measured too
        (``attack="none"``).
    unmarked : int
        Number of unmarked images to read per scheme (the null distribution); 0 for none.
    null_extra : sequence of ImageSpec, optional
        The images the unmarked ones are also made from, besides scikit-image's; default: ``images``
        (the bench leaves out the files that do not decode).
    jobs : int
        Worker processes; 1 computes in this process, with OpenCV and BLAS on one thread as in each worker
        (OpenCV's parallel MAGSAC++ draws its samples per thread: a registration read otherwise).
    cache_dir : str, optional
        Where finished cells are kept (``cells.jsonl``); a rerun skips them. None: no cache.
    seed : int
        Seeds the key, the payloads and every attack.
    progress : bool, optional
        Draw a progress bar on stderr; default: only when stderr is a terminal.
    perceptual : bool
        Also measure SSIMULACRA2 and Butteraugli of each marked image (seconds per megapixel).

    Returns
    -------
    list of Result
        In a stable order: scheme, then image, then attack (marked rows), then the null rows.

    Raises
    ------
    watermark.UnknownNameError, eval.peers.PeerUnavailableError
        An unknown scheme, or a peer whose library is not installed.
    ValueError
        Two images share a name.

    Examples
    --------
    >>> from eval import runner  # doctest: +SKIP
    >>> rows = runner.run(["dwtdct"], attacks=attacks.suite("quick"), jobs=2, cache_dir="bench-out")  # doctest: +SKIP
    """
    if attacks is None:
        import attacks as attacks_pkg

        attacks = attacks_pkg.suite("quick")
    images = list(images_mod.default_images() if images is None else images)
    # fail early on unknown / missing; each contender once ("dwtdct@1" is "dwtdct"): twice, its cells count twice
    chosen = list({contender.name: contender for contender in map(contenders.get, schemes)}.values())
    fingerprint = code_fingerprint()
    plan: list[tuple[str, images_mod.ImageSpec, bool, list]] = []
    extra = images if null_extra is None else list(null_extra)
    null_specs = images_mod.null_images(unmarked, extra=extra, min_side=contenders.null_min_side()) \
        if unmarked > 0 else []
    images_mod.check_unique(images)        # a cell is found by its image's name: two would be one
    images_mod.check_unique(null_specs)
    for contender in chosen:
        for spec in images:
            entries = [(None, seed)] + [(a, attack_seed(seed, spec.name, str(a))) for a in attacks]
            plan.append((contender.name, spec, True, entries))
        for spec in null_specs:
            plan.append((contender.name, spec, False, [(None, seed)]))

    content = {spec.source: images_mod.digest(spec.source) for spec in [*images, *null_specs]}
    keys: dict[tuple, str] = {}
    for name, spec, marked, entries in plan:
        for attack, cell_seed in entries:
            keys[(name, spec.name, marked, str(attack) if attack else NO_ATTACK)] = cell_key(
                scheme=name, version=contenders.get(name).version, code=fingerprint, image=spec.name,
                source=spec.source, content=content[spec.source], variant=spec.variant, min_side=spec.min_side,
                size=spec.size, marked=marked, attack=str(attack) if attack else NO_ATTACK, seed=cell_seed,
                run_seed=seed, perceptual=perceptual and marked)

    results: dict[str, Result] = {}
    with Cache(cache_dir) as cache:
        tasks = []
        for name, spec, marked, entries in plan:
            missing = []
            for attack, cell_seed in entries:
                key = keys[(name, spec.name, marked, str(attack) if attack else NO_ATTACK)]
                if key in cache:
                    results[key] = Result(**cache.get(key))
                else:
                    missing.append((attack, cell_seed))
            for chunk in _chunks(missing, _ATTACKS_PER_TASK):
                tasks.append(_Task(name, spec, chunk, marked, seed, perceptual))
        bar = _progress(sum(len(t.attacks) for t in tasks), progress)

        def collect(rows: list[Result]) -> None:
            for row in rows:
                key = keys[(row.scheme, row.image, row.marked, row.attack)]
                results[key] = row
                if _cacheable(row):
                    cache.put(key, row.to_dict())
            if bar is not None:
                bar.update(len(rows))

        try:   # the commands' pool: a Ctrl-C stops its workers at once, and what they sent is kept
            for task, rows in batch.run(tasks, _do_task, jobs=max(1, min(jobs, len(tasks)))):
                if isinstance(rows, BaseException):   # a worker died on it twice, or a bug: error rows, not cached
                    rows = [_failed(task, a, s, None, (), _error_text(rows)) for a, s in task.attacks]
                collect(rows)
        finally:
            if bar is not None:
                bar.close()

    ordered = []
    for name, spec, marked, entries in plan:
        for attack, _ in entries:
            ordered.append(results[keys[(name, spec.name, marked, str(attack) if attack else NO_ATTACK)]])
    return ordered
