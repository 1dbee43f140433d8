"""``watermark keygen``: a new random key file."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ParameterError
from ..keys import Key
from .common import FOUND, say_leftovers, visible

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    keygen = commands.add_parser("keygen", help="write a new random key file (mode 0600)")
    keygen.add_argument("keyfile", metavar="KEYFILE")
    keygen.set_defaults(run=_run_keygen)


def _run_keygen(args: argparse.Namespace) -> int:
    if args.keyfile == "-":        # it wrote the secret to a file named "-"
        raise ParameterError("- is no file: a key is written to a file (KEYFILE, mode 0600), never to standard "
                             "output")
    say_leftovers([Path(args.keyfile)])          # a killed keygen's copy of its key
    key = Key.generate()
    key.save(args.keyfile)
    print(visible(f"{args.keyfile}: new key, fingerprint {key.fingerprint} (in messages), "
                  f"public id {key.public_id} (the key of registry records and scan rows)"))
    return FOUND
