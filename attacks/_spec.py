"""How an attack function declares itself: family, primary parameter, parameter ranges.

Every public attack function is wrapped by :func:`registered`, which checks and normalises its
keyword parameters (the same checks for a direct call, for ``attacks.attack(...)`` and for the
command line) and records a :class:`Spec` in :data:`SPECS`, the registry's single source.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import numbers
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from watermark.errors import AttackParameterError

__all__ = ["Param", "Spec", "SPECS", "registered", "make_rng", "check_seed", "RngLike", "recording", "record",
           "number"]

RngLike = int | np.random.Generator | None


@dataclass(frozen=True)
class Param:
    """The type and range of one keyword parameter.

    ``kind`` is ``int``, ``float``, ``bool``, ``str`` or ``tuple`` (of numbers, ``length`` of them).
    """

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    length: tuple[int, ...] | None = None
    doc: str = ""

    def check(self, attack: str, name: str, value: Any) -> Any:
        """``value`` converted to this kind, or AttackParameterError saying what and how to fix."""
        where = f"{attack}: {name}"
        if self.kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, numbers.Integral) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.lower() in _BOOLS:
                return _BOOLS[value.lower()]
            raise AttackParameterError(f"{where} must be true or false, got {value!r}")
        if self.kind in (int, float):
            value = _number(where, value, integral=self.kind is int)
            if self.low is not None and value < self.low or self.high is not None and value > self.high:
                raise AttackParameterError(f"{where} must be in [{_fmt(self.low)}, {_fmt(self.high)}], got {value}")
            return value
        if self.kind is str:
            if not isinstance(value, str):
                raise AttackParameterError(f"{where} must be text, got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise AttackParameterError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}")
            return value
        if self.kind is tuple:
            if isinstance(value, np.ndarray):
                value = value.ravel().tolist()
            if not isinstance(value, (tuple, list)):
                raise AttackParameterError(f"{where} must be a list of numbers such as (1, 0, 0.01, 1), got {value!r}")
            items = tuple(_number(where, item, integral=False) for item in value)
            if self.length is not None and len(items) not in self.length:
                raise AttackParameterError(
                    f"{where} must have {' or '.join(map(str, self.length))} numbers, got {len(items)}")
            return items
        raise TypeError(f"unsupported parameter kind {self.kind}")  # our bug, not the user's

    def describe(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        if self.kind in (int, float) and (self.low is not None or self.high is not None):
            return f"{self.kind.__name__} in [{_fmt(self.low)}, {_fmt(self.high)}]"
        return self.kind.__name__


_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False, "on": True, "off": False}


def _fmt(bound: float | None) -> str:
    return "-inf" if bound is None else f"{bound:g}"


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def number(text: str) -> int | float | None:
    """``text`` as a number when it is one in ASCII decimal notation (``-5``, ``0.5``, ``1e-3``), else None:
    no ``1_000``, no digits of other scripts, no ``inf`` or ``nan``."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    return float(text) if _DECIMAL.fullmatch(text) else None


def _number(where: str, value: Any, *, integral: bool) -> int | float:
    if isinstance(value, (bool, np.bool_)):
        raise AttackParameterError(f"{where} must be a number, got {value!r}")
    if isinstance(value, str):
        parsed = number(value)
        if parsed is None:
            raise AttackParameterError(f"{where} must be a number, got {value!r}")
        value = parsed
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not np.isfinite(value):
            raise AttackParameterError(f"{where} must be finite, got {value}")
        if integral:
            if not value.is_integer():
                raise AttackParameterError(f"{where} must be a whole number, got {value}")
            return int(value)
        return value
    raise AttackParameterError(f"{where} must be a number, got {value!r}")


@dataclass(frozen=True)
class Spec:
    """What the registry knows about one attack function."""

    name: str
    function: Callable[..., Any]   # the public function, which checks its parameters
    family: str
    primary: str | None
    random: bool
    params: dict[str, Param]
    defaults: dict[str, Any]
    summary: str                   # the docstring's first paragraph, on one line
    inputs: str | None = None      # keyword that takes other images (multi-image attacks), not a parameter
    inputs_optional: bool = False  # whether the attack means something without them
    combined: Callable[[dict[str, Any]], None] | None = None   # raises when the parameters do not go together

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """Checked, normalised copies of ``params``, in the function's parameter order; the parameters are
        also checked together (defaults filled in), so that no image is needed to refuse them."""
        unknown = [key for key in params if key not in self.params]
        if unknown:
            known = ", ".join(self.params) or "no parameters"
            raise AttackParameterError(f"{self.name}: unknown parameter {unknown[0]!r}; {self.name} takes {known}")
        checked = {key: self.params[key].check(self.name, key, params[key]) for key in self.params if key in params}
        if self.combined is not None:
            self.combined({**self.defaults, **checked})
        return checked


SPECS: dict[str, Spec] = {}


def _none(images: Any) -> bool:
    """Whether a multi-image attack's other images are missing (None or an empty sequence)."""
    return images is None or (isinstance(images, (list, tuple)) and not images)


def registered(*, family: str, primary: str | None = None, random: bool = False, inputs: str | None = None,
               inputs_optional: bool = False, combined: Callable[[dict[str, Any]], None] | None = None,
               **params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an attack function and check its keyword parameters on every call.

    The decorated function takes the image positionally, its parameters by keyword, and ``seed``
    (keyword) when ``random``. A multi-image attack names in ``inputs`` the keyword that takes its
    other images (a sequence of images, or one image); they are passed through unchecked and never
    printed, and are required unless ``inputs_optional``. ``combined`` gets every parameter (defaults
    filled in) and raises AttackParameterError when they do not go together, whatever the image.
    """
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        defaults = {name: p.default for name, p in signature.parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("seed", inputs)}
        if set(defaults) != set(params):  # our bug: declaration and signature disagree
            raise TypeError(f"{func.__name__}: declared {sorted(params)} but signature has {sorted(defaults)}")
        @functools.wraps(func)
        def wrapper(image: Any, **kwargs: Any) -> Any:
            seed = kwargs.pop("seed", None)   # accepted by every attack, used by the random ones
            others = {inputs: kwargs.pop(inputs)} if inputs is not None and inputs in kwargs else {}
            if inputs is not None and not inputs_optional and _none(others.get(inputs)):
                raise AttackParameterError(f"{func.__name__}: give {inputs}=, the other images it works with")
            checked = spec.check(kwargs)
            if random:
                checked["seed"] = seed
            return func(image, **checked, **others)

        spec = Spec(name=func.__name__, function=wrapper, family=family, primary=primary, random=random,
                    params={name: params[name] for name in defaults}, defaults=defaults,
                    summary=" ".join((inspect.getdoc(func) or "").split("\n\n")[0].split()), inputs=inputs,
                    inputs_optional=inputs_optional, combined=combined)
        wrapper.spec = spec  # type: ignore[attr-defined]
        SPECS[spec.name] = spec
        return wrapper
    return decorate


def make_rng(seed: RngLike) -> np.random.Generator:
    """A Generator from ``seed``: an int (reproducible), a Generator (used as is) or None (fresh)."""
    if isinstance(seed, np.random.Generator):
        return seed
    check_seed(seed)
    return np.random.Generator(np.random.PCG64(seed))


def check_seed(seed: RngLike) -> None:
    """AttackParameterError unless ``seed`` is None, an int >= 0 or a numpy Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise AttackParameterError(f"seed must be an integer >= 0 or a numpy Generator, got {seed!r}")


_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("attacks_drawn", default=None)


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Collect what the random attacks drew while the block runs, as ``(attack, values)`` pairs.

    Examples
    --------
    >>> import numpy as np, attacks
    >>> with attacks.recording() as drawn:
    ...     _ = attacks.crop(np.zeros((10, 10), np.uint8), percent=50, position="random", seed=1)
    >>> drawn[0][0], sorted(drawn[0][1])
    ('crop', ['x', 'y'])
    """
    entries: list[tuple[str, dict[str, Any]]] = []
    token = _RECORD.set(entries)
    try:
        yield entries
    finally:
        _RECORD.reset(token)


def record(attack: str, **values: Any) -> None:
    """Note what ``attack`` drew, when someone is :func:`recording` (plain Python numbers and lists)."""
    entries = _RECORD.get()
    if entries is not None:
        entries.append((attack, {key: np.asarray(value).tolist() for key, value in values.items()}))
