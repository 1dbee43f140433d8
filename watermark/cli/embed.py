"""``watermark embed``: mark image files with a payload."""

from __future__ import annotations

import argparse
import os
import stat
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import api, api_files, imageio, imagewrite
from ..coding import payload_to_int
from ..errors import FiligraneWarning, InvalidImageError, OutputExistsError, ParameterError
from ..keys import Key
from ..signer import ManifestSigner
from . import embed_registry, outputs
from .batch import EMBED_FIELDS, Job, Outcome, row, run_batch
from .common import (
    ERROR,
    FOUND,
    common_options,
    encoder_quality,
    key_options,
    load_key,
    mark_strength,
    payload,
    say_left_out,
    say_leftovers,
    secret_from_environment,
)

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    embed = commands.add_parser("embed", help="mark image files with a payload")
    embed.add_argument("inputs", nargs="+", metavar="IN", help="image files and directories (searched recursively)")
    embed.add_argument("-o", "--output", metavar="OUT",
                       help="output file (one input, with an image extension) or directory, where each "
                            "directory input's sub-directories are mirrored")
    embed.add_argument("--in-place", action="store_true", help="replace each input (atomically)")
    key_options(embed)
    given = embed.add_mutually_exclusive_group()
    given.add_argument("--payload", help="64-bit payload: 0x hex or decimal")
    given.add_argument("--payload-text", help="payload as up to 8 bytes of UTF-8 text")
    embed.add_argument("--strength", type=mark_strength, default=1.0,
                       help=f"mark amplitude, at most {api.MAX_STRENGTH:g} (default: %(default)s)")
    embed.add_argument("--quality", type=encoder_quality, metavar="1-100",
                       help="JPEG and WebP output quality (default: a JPEG source's own, estimated from its "
                            "quantisation tables, else 95)")
    embed.add_argument("--overwrite", action="store_true", help="replace existing output files")
    embed.add_argument("--diff", action="store_true",
                       help="also write OUT.diff.png: the luminance change, amplified x20 (it shows the mark "
                            "exactly: never publish it)")
    signing = embed.add_argument_group("Content Credentials (pip install 'filigrane[c2pa]')")
    signing.add_argument("--c2pa-cert", metavar="CERT", help="PEM certificate chain, signing certificate first: "
                         "embed a signed C2PA manifest whose soft binding is the mark's payload")
    signing.add_argument("--c2pa-key", metavar="KEY", help="the signing certificate's PEM private key")
    signing.add_argument("--c2pa-key-password-env", metavar="VAR",
                         help="name of an environment variable holding the private key's password, when it is "
                              "encrypted")
    embed_registry.registry_options(embed)
    common_options(embed)
    embed.set_defaults(run=_run_embed)


def _embed_one(pair: tuple[Path, Path], *, key: Key, payload: int | bytes, strength: float, scheme: str,
               quality: int | None, overwrite: bool, diff: bool, max_pixels: int | None,
               c2pa_signer: ManifestSigner | None) -> Outcome:
    source, destination = pair
    if not overwrite and os.path.lexists(destination):
        if _same_file(source, destination):
            raise OutputExistsError(f"{destination}: is the input; write elsewhere, or use --in-place to mark it "
                                    "where it is")
        _check_source(source, max_pixels)
        notice = f"{destination}: already exists, skipped (--overwrite replaces it)"
        return Outcome(row(EMBED_FIELDS, path=str(source), output=str(destination), status="skipped", warning=notice),
                       "skipped", warnings=(notice,))
    manifest_id = api_files.embed_file(source, destination, payload, key, strength=strength, scheme=scheme,
                                       quality=quality, overwrite=overwrite, max_pixels=max_pixels,
                                       c2pa_signer=c2pa_signer)
    difference = _write_difference(source, destination, max_pixels) if diff else None
    text = (f"{destination}: marked" + (f", signed (C2PA manifest {manifest_id})" if manifest_id else "")
            + (f" (difference: {difference})" if difference else ""))
    return Outcome(row(EMBED_FIELDS, path=str(source), output=str(destination), status="marked",
                       diff=None if difference is None else str(difference),
                       c2pa={"signed": manifest_id is not None, "manifest": manifest_id}), "marked", text)


def _embed_failed(pair: tuple[Path, Path], message: str, **options: Any) -> Outcome:
    source, destination = pair
    return Outcome(row(EMBED_FIELDS, path=str(source), output=str(destination), status="failed", error=message),
                   "failed")


def _check_source(source: Path, max_pixels: int | None) -> None:
    """Refuse a ``source`` that is missing, unreadable or no image, by its header, not decoded: a
    skipped output must not hide it. `imageio.load_image` reads one found wrong, to say why in one line."""
    try:
        if stat.S_ISREG(os.stat(source).st_mode):        # opening a pipe would block
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # its size is load_image's to judge
                with Image.open(source):
                    return
    except Exception:      # load_image below names the problem, or keeps the traceback of a bug of ours
        pass
    imageio.load_image(source, max_pixels=max_pixels)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _write_difference(original: Path, marked: Path, max_pixels: int | None) -> Path:
    """An amplified difference image (luminance of marked - original, x20, around mid-grey) next to
    ``marked``, for looking at where the mark went."""
    from ..color import luminance
    from ..image import to_float

    before, _ = to_float(imageio.load_image(original, max_pixels=max_pixels).image)
    after, _ = to_float(imageio.load_image(marked, max_pixels=max_pixels).image)
    if before.shape != after.shape:   # the output format dropped alpha or colour
        raise InvalidImageError(f"{marked}: cannot compare with {original} (different layout)")
    amplified = np.clip(0.5 + 20.0 * (luminance(after) - luminance(before)), 0.0, 1.0)
    path = outputs.difference_path(marked)
    imagewrite.save_image(Image.fromarray(np.rint(amplified * 255).astype(np.uint8)), path, overwrite=True)
    return path


def _run_embed(args: argparse.Namespace) -> int:
    given = args.payload is not None or args.payload_text is not None
    if not given and args.registry is None:
        raise ParameterError("give --payload (or --payload-text), or --registry DB to draw one per copy")
    embed_registry.check_registry_options(args)
    if (args.c2pa_cert is None) != (args.c2pa_key is None):
        raise ParameterError("give both --c2pa-cert and --c2pa-key, or neither")
    key, value = load_key(args), payload(args) if given else None
    if value is not None:
        payload_to_int(value)                                # a bad payload fails before any file
    signer = None if args.c2pa_cert is None else ManifestSigner.load(
        args.c2pa_cert, args.c2pa_key, password=secret_from_environment(args.c2pa_key_password_env,
                                                                        "--c2pa-key-password-env"))
    left_out: Counter[str] = Counter()
    pairs = outputs.destinations(args.inputs, args.output, in_place=args.in_place, diff=args.diff, left_out=left_out)
    if signer is not None:
        for _, destination in pairs:
            signer.check_output(destination)                 # an output without manifests, before any work
    if args.diff and args.registry is None:
        warnings.warn("the .diff.png files show each copy's mark exactly: whoever has one can erase that copy's "
                      "mark, so keep them out of what you publish", FiligraneWarning, stacklevel=2)
    if args.registry is not None:
        job = embed_registry.issue_job(args, key, pairs, value, signer)
    else:
        job = Job(_embed_one, _embed_failed, key=key, payload=value, strength=args.strength, scheme=args.scheme,
                  quality=args.quality, overwrite=args.overwrite or args.in_place, diff=args.diff,
                  max_pixels=args.max_pixels, c2pa_signer=signer)
    made = outputs.make_folders(pairs)                       # every refusal above leaves no directory behind
    say_left_out(left_out)
    say_leftovers(destination for _, destination in pairs)  # a killed run's temporary files, before ours exist
    try:
        counts = run_batch(job, pairs, jobs=args.jobs, json_rows=args.json, label="embedding",
                           statuses=("marked", "skipped", "failed"))
    finally:
        outputs.remove_empty(made)
    return ERROR if counts["failed"] else FOUND
