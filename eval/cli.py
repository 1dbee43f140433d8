"""``watermark bench``: the benchmark on the command line (registered through an entry point).

::

    watermark bench [--schemes dwtdct,spread,peer:imwatermark-dwtDct] [--suite quick] [--images DIR]
                    [--out bench-out] [--jobs N] [--limit-images N] [--unmarked N] [--seed N] [--json]
                    [--strengths 0.5,2] [--no-perceptual]

writes ``OUT/results.csv`` (one row per scheme, image and attack), ``OUT/report.html``
(self-contained), ``OUT/summary.md`` (the report's tables in Markdown), the plots as PNG files for a
README (``exact_vs_strength.png``, ``bit_accuracy_vs_strength.png``, ``null_p_values.png``,
``tradeoff.png``: robustness against visibility, one curve per scheme over ``--strengths``) and the
cache ``OUT/cache/cells.jsonl`` (a rerun skips finished cells); without the perceptual metrics there is no
``tradeoff.png``, and a run with ``--strengths`` says so. ``--suite security`` runs
:mod:`eval.security` instead (removal, forgery, collusion, double marking; blind and informed reads)
and writes ``OUT/security.md`` and ``OUT/security.csv``. stdout gets the survival table (or,
with ``--json``, one JSON object per row); stderr gets messages, the count of cells that failed and
the progress bar. scikit-image's photographs are the default images, the unmarked images and the
security suite's unrelated ones: without scikit-image, a run that needs them stops before any work.
Exit status: 0 done, 2 error (unknown scheme or suite, no images, scikit-image missing, an unreadable
image, nothing to run, every marked or every unmarked cell failed, a scheme named in ``--schemes``
that could not run). An image file that does not decode is no scheme's failure: its rows in
``results.csv`` carry the error, and ``summary.md`` and ``report.html`` name it and leave it out.
A peer whose library is missing is skipped with a message, and ``summary.md`` and ``report.html`` say
"not run: <peer> (<reason>)"; one skipped from the group ``peers`` leaves the exit status alone. A
rerun into the same ``--out`` removes the outputs of an earlier run that it does not write itself (its
report and plots after ``--no-report``, a plot it has no data for), and only those.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
from collections.abc import Collection
from pathlib import Path

from watermark.cli.common import job_count, mark_strength
from watermark.sources import printable, visible

__all__ = ["register", "non_negative", "DEFAULT_SCHEMES"]

OK, ERROR = 0, 2
DEFAULT_SCHEMES = "lattice,dwtdct,dwtdctsvd,spread"


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def non_negative(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return int(text)


def _strengths(text: str) -> tuple[float, ...]:
    """``--strengths``: comma-separated embedding strengths, each as ``watermark embed --strength`` takes it."""
    return tuple(mark_strength(part) for part in text.split(",") if part.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand to the ``watermark`` command's subparsers."""
    parser = subparsers.add_parser(
        "bench", help="benchmark schemes against an attack suite (CSV + HTML report)",
        description="Mark images with each scheme, attack them, detect, and report robustness, quality and speed.")
    parser.add_argument("--schemes", default=DEFAULT_SCHEMES,
                        help=f"comma-separated scheme names and peers such as peer:imwatermark-dwtDct, "
                             f"peer:imwatermark-dwtDctSvd, peer:blind-watermark, or 'peers' for every "
                             f"installed peer (default: {DEFAULT_SCHEMES})")
    parser.add_argument("--suite", default="quick", help="attack suite (default: quick)")
    parser.add_argument("--images", metavar="DIR", action="append",
                        help="image files or folders (repeatable; default: scikit-image's photographs)")
    parser.add_argument("--out", metavar="DIR", default="bench-out",
                        help="output folder for results.csv, report.html, summary.md and the cache "
                             "(default: bench-out)")
    parser.add_argument("--jobs", type=job_count, default=1, metavar="N",
                        help="worker processes; 0: one per core (default: 1)")
    parser.add_argument("--limit-images", type=_positive, metavar="N", help="use only the first N images")
    parser.add_argument("--unmarked", type=non_negative, default=100, metavar="N",
                        help="unmarked images read per scheme, for false alarms and p-values (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the key, payloads and attacks (default: 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per result row")
    parser.add_argument("--no-report", action="store_true", help="write the CSV only")
    parser.add_argument("--strengths", type=_strengths, default=(), metavar="LIST",
                        help="also run Filigrane's schemes at these embedding strengths (comma-separated, "
                             "e.g. 0.5,2): the robustness-visibility trade-off curve (needs the perceptual "
                             "metrics)")
    parser.add_argument("--no-perceptual", action="store_true",
                        help="skip SSIMULACRA2 and Butteraugli (seconds per megapixel and image)")
    parser.set_defaults(run=_run)


def _schemes(text: str) -> tuple[list[str], dict[str, str]]:
    """The --schemes list resolved (``peers``: every peer): the contenders that can run, each once under its
    own name (``dwtdct@1`` is ``dwtdct``), and those that cannot with the reason (a peer whose library is
    missing), each of these said on stderr."""
    from . import contenders, peers

    names = [part.strip() for part in text.split(",") if part.strip()]
    members = [member for name in names for member in (peers.names() if name == "peers" else [name])]
    chosen, not_run = [], {}
    for name in dict.fromkeys(members):
        try:
            chosen.append(contenders.get(name).name)
        except peers.PeerUnavailableError as exc:
            print(visible(f"watermark bench: skipping {name}: {exc}"), file=sys.stderr)
            not_run[name] = str(exc)
    return list(dict.fromkeys(chosen)), not_run


def _with_strengths(schemes: list[str], strengths: tuple[float, ...]) -> list[str]:
    """``schemes`` (as `_schemes` names them) and, for each Filigrane scheme, its variants at ``strengths``,
    each contender once (a strength repeated, or the one a scheme was named with, is not run twice)."""
    from . import contenders, peers

    out = []
    for name in schemes:
        out.append(name)
        if not name.startswith(peers.PREFIX):
            base = name.partition(contenders.STRENGTH_MARK)[0]
            out += [contenders.get(f"{base}{contenders.STRENGTH_MARK}{value!r}").name for value in strengths]
    return list(dict.fromkeys(out))


def _perceptual_available() -> bool:
    """Whether both perceptual metrics can run; a message naming what to install when not."""
    import shutil

    missing = []
    try:
        import ssimulacra2  # noqa: F401
    except ImportError:
        missing.append("SSIMULACRA2 (pip install 'filigrane[bench]')")
    if shutil.which("butteraugli") is None:
        missing.append("Butteraugli (apt-get install butteraugli)")
    if missing:
        print(f"watermark bench: no {' and no '.join(missing)}: those columns stay empty", file=sys.stderr)
    return len(missing) < 2


def _check_scikit_image(args: argparse.Namespace) -> None:
    """ImportError, one line naming what needs it, when this run needs scikit-image and it is missing."""
    from . import images

    try:
        images.check_scikit_image()
    except ImportError:
        if not args.images:
            raise
        if args.suite == "security":
            raise ImportError("the security suite's unrelated photographs come with scikit-image: "
                              "pip install 'filigrane[bench]'") from None
        if args.unmarked:
            raise ImportError("the unmarked images come with scikit-image: pip install 'filigrane[bench]', "
                              "or pass --unmarked 0") from None


def _command(args: argparse.Namespace) -> str:
    """The ``watermark bench`` command line that reproduces this run (non-default options only)."""
    words = ["watermark", "bench"]
    if args.schemes != DEFAULT_SCHEMES:
        words += ["--schemes", args.schemes]
    if args.suite != "quick":
        words += ["--suite", args.suite]
    for folder in args.images or []:
        words += ["--images", folder]
    for option, default in (("limit_images", None), ("unmarked", 100), ("seed", 0)):
        value = getattr(args, option)
        if value != default:
            words += [f"--{option.replace('_', '-')}", str(value)]
    if args.strengths:
        words += ["--strengths", ",".join(f"{value:.15g}" for value in args.strengths)]
    if args.no_perceptual:
        words.append("--no-perceptual")
    return printable(" ".join(shlex.quote(word) for word in words))


def _unreadable(specs: list) -> set[str]:
    """The names of the image files of ``specs`` that do not decode, each said on a line of its own."""
    from watermark import WatermarkError, imageio

    bad = set()
    for spec in specs:
        if spec.source.startswith("skimage:"):
            continue
        try:
            imageio.load_image(spec.source, reduce_to=64)
        except WatermarkError as exc:
            print(visible(f"watermark bench: {exc}"), file=sys.stderr)
            bad.add(spec.name)
    return bad


def _example_image(specs: list) -> tuple | None:
    """The first image that loads, as (spec, pixels), for the report's thumbnails; None if none does."""
    for spec in specs:
        try:
            return spec, spec.load()
        except (OSError, ValueError):     # an unreadable file is already an error row of the run
            continue
    return None


def _json_row(values: dict) -> str:
    """One JSON line of a result row's fields: NaN and an empty error as null, as every command writes them."""
    return json.dumps({k: (None if (isinstance(v, float) and math.isnan(v)) or (k == "error" and v == "") else v)
                       for k, v in values.items()}, allow_nan=True)


def _say_stopped(out: Path) -> None:
    """Say, on a stop, that the cells finished are kept and that the reports in ``out`` (if any) are an
    earlier run's."""
    from . import report

    outputs = ("results.csv", "summary.md", "report.html", *report.PLOTS)
    earlier = sorted(name for name in outputs if (out / name).exists())
    said = f"; {', '.join(earlier)} there are an earlier run's, not this one's" if earlier else ""
    print(visible(f"watermark bench: stopped: the cells finished are kept in {out}/cache, and the same command "
                  f"continues from them{said}"), file=sys.stderr)


def _remove_stale(out: Path, kept: Collection[str]) -> None:
    """Delete the bench's own outputs in ``out`` but ``kept``: an earlier run's, which this run does not
    write (never any other file)."""
    from . import report

    outputs = {"results.csv", "summary.md", "report.html", *report.PLOTS, "security.md", "security.csv"}
    for name in outputs - set(kept):
        (out / name).unlink(missing_ok=True)


def _security(args: argparse.Namespace, specs: list | None, out: Path) -> int:
    """``--suite security``: :mod:`eval.security` on the images (default: the photographs at 1920x1080)."""
    from . import security, security_tables

    if specs is None:
        specs = security.default_specs()[:args.limit_images] if args.limit_images else security.default_specs()
    else:
        specs = [type(spec)(spec.name, spec.source, size=security.fit_1080(spec)) for spec in specs]
    rows = security.run(specs, seed=args.seed, progress=lambda message: print(message, file=sys.stderr, flush=True))
    security_tables.write(rows, out, _command(args))
    _remove_stale(out, ("security.md", "security.csv"))
    if args.json:                   # one object per row, as the other suites print them
        for row in rows:
            print(_json_row({k: v for k, v in dataclasses.asdict(row).items() if k != "outcomes"}))
    else:
        for table in security_tables.tables(rows):
            print(table.to_markdown() + "\n")
        for line in security_tables.bars(rows):
            print(line)
    print(f"\nsecurity.md, security.csv in {visible(str(out))}/", file=sys.stderr)
    return OK


def _run(args: argparse.Namespace) -> int:
    try:
        import attacks
    except ImportError as exc:
        print(f"watermark bench: the attacks package is missing ({exc})", file=sys.stderr)
        return ERROR
    from watermark import WatermarkError

    from . import images, report, runner, tables

    try:
        chosen, not_run = _schemes(args.schemes)
        schemes = _with_strengths(chosen, args.strengths)
        suite = attacks.suite(args.suite)
        specs = images.images_from(args.images) if args.images else images.default_images()
        _check_scikit_image(args)
    except (WatermarkError, FileNotFoundError, ValueError) as exc:
        print(visible(f"watermark bench: {exc}"), file=sys.stderr)
        return ERROR
    except ImportError as exc:      # scikit-image for the default, unmarked or security images
        print(f"watermark bench: {exc}", file=sys.stderr)
        return ERROR
    if not schemes:
        print("watermark bench: no scheme to run", file=sys.stderr)
        return ERROR
    if args.limit_images:
        specs = specs[:args.limit_images]
    unreadable = _unreadable(specs)         # error rows in results.csv only, and exit 2 at the end
    if len(unreadable) == len(specs):
        where = ", ".join(args.images) if args.images else "the default images"
        print(visible(f"watermark bench: no readable image in {where}"), file=sys.stderr)
        return ERROR
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = "is a file, not a folder" if out.is_file() else f"cannot create it as a folder ({exc.strerror})"
        print(visible(f"watermark bench: {out}: {problem}"), file=sys.stderr)
        return ERROR
    if args.suite == "security":        # multi-image attacks and two reads per image: their own runner
        return _security(args, specs if args.images else None, out)
    perceptual = not args.no_perceptual and _perceptual_available()
    if args.strengths and not perceptual and not args.no_report:
        hint = " (drop --no-perceptual)" if args.no_perceptual else ""
        print(f"watermark bench: no tradeoff.png: the trade-off plot of --strengths needs the perceptual metrics{hint}",
              file=sys.stderr)
    try:
        rows = runner.run(schemes, specs, suite, unmarked=args.unmarked, jobs=args.jobs or os.cpu_count() or 1,
                          cache_dir=str(out / "cache"), seed=args.seed, perceptual=perceptual,
                          null_extra=[spec for spec in specs if spec.name not in unreadable])
    except KeyboardInterrupt:       # Ctrl-C, SIGTERM: what the folder holds is not this run's
        _say_stopped(out)
        raise
    command = _command(args)
    report.write_csv(rows, out / "results.csv")
    # a file nothing decodes is no scheme's failure: named, and left out of what scores the schemes
    scored = [row for row in rows if not (row.marked and row.image in unreadable)]
    reported = not args.no_report
    if reported:
        try:
            report.write_markdown(scored, out / "summary.md", command=command, not_run=not_run,
                                  unreadable=sorted(unreadable))
            example = _example_image(specs)
            pictures = None if example is None else report.pictures_for(
                schemes, example[1], suite, seed=args.seed, name=example[0].name)
            report.write_html(scored, out / "report.html", command=command, pictures=pictures, not_run=not_run,
                              unreadable=sorted(unreadable))
            report.write_plots(scored, out)       # each plot written, or removed when there is no data for it
        except ImportError as exc:      # matplotlib
            print(f"watermark bench: no report ({exc}); pip install 'filigrane[bench]'", file=sys.stderr)
            reported = False
    _remove_stale(out, ["results.csv", "summary.md", "report.html", *report.PLOTS] if reported else ["results.csv"])
    if args.json:
        for row in rows:
            print(_json_row(row.to_dict()))
    else:
        print(tables.survival(scored).to_markdown())
        where = "results.csv, report.html" if reported else "results.csv"
        print(f"\n{len(rows)} rows; {where} in {visible(str(out))}/", file=sys.stderr)
    failed = [row for row in rows if row.error]
    if failed:
        print(visible(f"watermark bench: {len(failed)} of {len(rows)} cells had errors (see the error column), "
                     f"the first: {failed[0].error}"), file=sys.stderr)
    kinds = ([row for row in rows if row.marked], [row for row in rows if not row.marked])
    hollow = any(kind and all(row.error for row in kind) for kind in kinds)    # a table with nothing in it
    named = {part.strip() for part in args.schemes.split(",")}
    return ERROR if unreadable or hollow or named & set(not_run) else OK
