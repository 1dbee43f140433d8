"""``watermark attack``: attack image files from the command line (registered through an entry point).

::

    watermark attack IN -o OUT --attack "rotate:degrees=5,crop=true" [--attack ...]   # one chain
    watermark attack --suite stirmark IN [IN ...] -o DIR      # one file per attack (and input)
    watermark attack --list                                   # attacks, parameters, defaults; suites

Several ``--attack`` options form one chain, applied in order. With ``--suite``, or several inputs,
``-o`` is a folder (created if missing) and files are named by attack and parameters, such as
``rotate_degrees=5_crop=True.png`` (in a subfolder per input when there are several). Outputs are
PNG unless ``--format`` says otherwise, written atomically; an existing file is replaced only with
``--overwrite``, and an input never. An output in the format of the codec that ends the chain
(``jpeg`` to .jpg or .jpeg, ``webp`` to .webp, ``avif`` to .avif) is the file that codec encoded,
with the input's EXIF and ICC profile; any other is encoded anew, JPEG and WebP at quality 95 (a
lossy step after the attacks, which a warning line on stderr says once). Attacks that need other
images as well (the security suite's copies and collusions) are refused: the Python API gives them
their images, and ``watermark bench --suite security`` runs that suite (``--list`` marks it).
stdout gets one line per output (``--json``: one JSON object with ``input``, ``attack``, ``output``,
``error``). Exit status: 0 done, 2 on any error (a bad attack specification, its parameters checked
together too, stops before any work; a bad file is reported and the others go on).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from watermark.cli.batch import row
from watermark.cli.common import visible

__all__ = ["register"]

OK, ERROR = 0, 2
_FORMATS = ("png", "tif", "tiff", "webp", "bmp", "jpg", "jpeg", "gif")   # what watermark.imagewrite writes
_FIELDS = ("input", "attack", "output", "error")     # of a --json row


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``attack`` subcommand to the ``watermark`` command's subparsers."""
    parser = subparsers.add_parser(
        "attack", help="apply attacks (StirMark and others) to image files",
        description="Apply named attacks or a whole suite to images, for robustness tests.",
        epilog="Attack syntax: name:key=value,key=value, e.g. 'jpeg:quality=50' or "
               "'affine:matrix=(1,0,0.01,1)'. 'watermark attack --list' shows every attack.")
    parser.add_argument("inputs", nargs="*", metavar="IN", help="image files")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file (one input, --attack) or folder (--suite or several inputs)")
    parser.add_argument("--attack", "-a", action="append", metavar="SPEC", dest="attacks",
                        help="an attack such as 'rotate:degrees=5,crop=true' (repeat to chain)")
    parser.add_argument("--suite", metavar="NAME", help="apply every attack of a suite: stirmark, "
                        "stirmark-as-shipped, social, modern, quick, training (security needs other images: "
                        "'watermark bench --suite security' runs it)")
    parser.add_argument("--list", action="store_true", help="list attacks with parameters and defaults, and suites")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random attacks (default: 0)")
    parser.add_argument("--format", default="png", choices=_FORMATS, metavar="EXT",
                        help=f"extension of outputs written into a folder: {', '.join(_FORMATS)} (default: png)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    parser.add_argument("--json", action="store_true", help="one JSON object per output on stdout")
    parser.set_defaults(run=_run)


def _fail(message: str) -> int:
    print(visible(f"watermark attack: {message}"), file=sys.stderr)
    return ERROR


def _list(as_json: bool) -> int:
    import attacks
    from attacks._spec import SPECS

    for name in attacks.names():
        spec = SPECS[name]
        if as_json:
            print(json.dumps({"attack": name, "family": spec.family, "random": spec.random,
                              "defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.defaults.items()},
                              "meanings": {k: param.doc for k, param in spec.params.items() if param.doc},
                              "summary": spec.summary}))
        else:
            print(attacks.describe(name))
    for name in attacks.suites():
        chosen = attacks.suite(name)
        bench_only = any(attack.needs_inputs for attack in chosen)
        if as_json:
            print(json.dumps({"suite": name, "size": len(chosen), "bench_only": bench_only}))
        else:
            note = f" (needs other images: 'watermark bench --suite {name}' runs it)" if bench_only else ""
            print(f"suite {name}: {len(chosen)} attacks{note}")
    return OK


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(args.json)
    import attacks
    from watermark.errors import WatermarkError

    if not args.inputs:
        return _fail("give at least one input image (or --list)")
    if bool(args.attacks) == bool(args.suite):
        return _fail("give either --attack SPEC (repeatable) or --suite NAME")
    if not args.output:
        return _fail("give -o OUT: an output file, or a folder for --suite")
    if args.output == "-":         # it made a folder named "-"
        return _fail("-o - is no file or folder: the attacked images are written to files (-o OUT)")
    try:
        if args.suite:
            chosen = list(attacks.suite(args.suite))
        else:
            chosen = [attacks.chain(*(attacks.parse(text) for text in args.attacks))]
    except WatermarkError as exc:
        return _fail(str(exc))
    needing = sorted({part.name for attack in chosen for part in (attack.parts or (attack,)) if part.needs_inputs})
    if needing:
        return _fail(f"{', '.join(needing)}: need other images besides the input, which this command does not "
                     "take; use the Python API, or 'watermark bench --suite security'")
    output = Path(args.output)
    extension = "." + args.format.lstrip(".").lower()
    into_folder = (bool(args.suite) or len(args.inputs) > 1 or output.is_dir() or not output.suffix
                   or args.output.endswith(os.sep))
    if into_folder and output.suffix.lower().lstrip(".") in _FORMATS and not output.is_dir():
        return _fail(f"-o {args.output}: with --suite or several inputs, -o is a folder that gets one file "
                     "per attack; give a folder name without an image extension")
    folder = output if into_folder else output.parent
    blocked = next((path for path in (folder, *folder.parents) if path.exists() and not path.is_dir()), None)
    if blocked is not None:
        return _fail(f"-o {args.output}: {blocked} is a file, not a folder")
    folders = _folders(output, args.inputs)
    status = OK
    warned: set[str] = set()
    for source in args.inputs:
        targets = [(attack, folders[source] / (attack.filename + extension) if into_folder else output)
                   for attack in chosen]
        status = max(status, _attack_file(source, targets, args, warned))
    return status


def _folders(output: Path, inputs: list[str]) -> dict[str, Path]:
    """Where each input's outputs go: OUT itself for one input, else OUT/<stem> (OUT/<name> on clashes)."""
    if len(inputs) == 1:
        return {inputs[0]: output}
    stems = [Path(source).stem for source in inputs]
    return {source: output / (stem if stems.count(stem) == 1 else Path(source).name.replace(".", "_"))
            for source, stem in zip(inputs, stems)}


def _report(args: argparse.Namespace, source: str, attack: Any, target: Path | None, error: str | None) -> None:
    if args.json:
        print(json.dumps(row(_FIELDS, input=source, attack=str(attack), output=str(target) if target else None,
                             error=error)), flush=True)
    elif error:
        print(visible(f"watermark attack: {error}"), file=sys.stderr)
    else:
        print(visible(f"{source} -> {target}  [{attack}]"), flush=True)


def _attack_file(source: str, targets: list[tuple[Any, Path]], args: argparse.Namespace, warned: set[str]) -> int:
    """Apply each attack to one input; every failure is reported and the others go on. ``warned`` holds the
    warnings said so far (each is said once)."""
    from watermark.errors import WatermarkError
    from watermark.imageio import load_image
    from watermark.imagewrite import save_image

    try:
        loaded = load_image(source, animated="first")
    except WatermarkError as exc:
        for attack, _ in targets:
            _report(args, source, attack, None, str(exc))
        return ERROR
    status = OK
    for attack, target in targets:
        try:
            if _same_file(Path(source), target):
                raise _refusal(f"{target}: is the input image; attack outputs never replace inputs")
            stripped = "strip_metadata" in {part.name for part in (attack.parts or (attack,))}
            encoded = _codec_file(attack, loaded, target, args.seed, stripped)
            target.parent.mkdir(parents=True, exist_ok=True)
            if encoded is not None:
                _write(target, encoded, args.overwrite)
            else:
                result = attack(loaded.image, seed=args.seed)
                if _lossy(target, None if stripped else loaded):
                    _warn_once("JPEG and WebP outputs are encoded anew at quality 95, a lossy step after the "
                               "attacks; end the chain with that codec (jpeg, webp), or write .png", warned)
                # quality 95, documented, rather than the source JPEG's own: an attack's output is a test input
                save_image(result, target, like=None if stripped else loaded, quality=95, overwrite=args.overwrite)
        except (WatermarkError, OSError) as exc:
            _report(args, source, attack, target, str(exc) if isinstance(exc, WatermarkError)
                    else f"{target}: cannot write ({exc.strerror or exc})")
            status = ERROR
            continue
        _report(args, source, attack, target, None)
    return status


def _codec_file(attack: Any, loaded: Any, target: Path, seed: int, stripped: bool) -> bytes | None:
    """The file that the chain's last attack encoded when it is the codec of ``target``'s format, to be written
    as it is; None for any other attack or format, and for an image with alpha (which that file drops)."""
    from attacks import codec
    from watermark.errors import ImageFileError
    from watermark.image import pixels_of
    from watermark.imageformats import OUTPUT_EXTENSIONS

    last = (attack.parts or (attack,))[-1]
    suffixes = codec.EXTENSIONS.get(last.name, ())
    alpha = pixels_of(loaded.image)[1].channels in (2, 4)
    if alpha and target.suffix.lower() not in OUTPUT_EXTENSIONS:
        raise ImageFileError(f"{target}: an image with alpha is written by Filigrane's own writer, which has no "
                                f"{target.suffix} (a codec's file would drop the alpha): write .png or .webp")
    if target.suffix.lower() not in suffixes or alpha:
        return None
    _, image = attack.last_step(loaded.image, seed=seed)
    return codec.encoded(image, last.name, last.kwargs, **_metadata(loaded, image, stripped))


def _metadata(loaded: Any, image: Any, stripped: bool) -> dict[str, bytes]:
    """The input's EXIF, and its ICC profile where it describes ``image``'s colours; none after strip_metadata."""
    from watermark.image import pixels_of

    if stripped:
        return {}
    space = b"GRAY" if pixels_of(image)[1].channels == 1 else b"RGB "
    icc = loaded.info.get("icc_profile") or b""
    return {name: data for name, data in (("exif", loaded.info.get("exif") or b""),
                                          ("icc_profile", icc if icc[16:20] == space else b"")) if data}


def _write(target: Path, data: bytes, overwrite: bool) -> None:
    """``data`` as the file ``target``, atomically; an existing one is replaced only with ``overwrite``."""
    from watermark import atomic
    from watermark.errors import OutputExistsError

    try:
        atomic.write_file(target, data, replace=overwrite)
    except FileExistsError:
        raise OutputExistsError(f"{target}: already exists; pass --overwrite to replace it") from None


def _lossy(target: Path, like: Any) -> bool:
    """Whether ``save_image`` writes ``target`` with a lossy codec (a WebP like a lossless source is lossless)."""
    suffix = target.suffix.lower()
    return suffix in (".jpg", ".jpeg") or (suffix == ".webp" and not (like is not None and like.webp_lossless))


def _warn_once(message: str, warned: set[str]) -> None:
    """Print ``message`` as a warning on stderr unless it is in ``warned``; add it there."""
    if message not in warned:
        print(f"watermark attack: warning: {message}", file=sys.stderr)
        warned.add(message)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _refusal(message: str) -> Exception:
    from watermark.errors import OutputExistsError

    return OutputExistsError(message)
