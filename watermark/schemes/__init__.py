"""The registry of schemes, by name."""

from __future__ import annotations

import importlib

from ..errors import UnknownNameError
from .base import DEFAULT_FALSE_ALARM, Scheme

__all__ = ["Scheme", "get", "names", "DEFAULT_SCHEME", "DEFAULT_FALSE_ALARM"]

DEFAULT_SCHEME = "lattice"
_REGISTRY = {  # name -> "module:Class", imported on first use
    "lattice": "lattice:LatticeScheme",
    "dwtdct": "dwtdct:DwtDctScheme",
    "dwtdctsvd": "dwtdctsvd:DwtDctSvdScheme",
    "spread": "spread:SpreadSpectrumScheme",
}
_INSTANCES: dict[str, Scheme] = {}


def names() -> list[str]:
    """Names of the registered schemes."""
    return list(_REGISTRY)


def get(name: str) -> Scheme:
    """The scheme registered as ``name``.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered; the message lists the known names.
    """
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown scheme {name!r}; known schemes: {', '.join(_REGISTRY)}")
    if name not in _INSTANCES:
        module, cls = _REGISTRY[name].split(":")
        _INSTANCES[name] = getattr(importlib.import_module(f".{module}", __name__), cls)()
    return _INSTANCES[name]
