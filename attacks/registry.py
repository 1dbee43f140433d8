"""Named attacks: the :class:`Attack` record, :func:`attack`, :func:`parse` and :func:`chain`.

An attack is data: a name and its parameters, printed as ``rotate(degrees=5, crop=True)``, applied
by calling it. Parameters print in the function's order, the ones given explicitly only.
"""

from __future__ import annotations

import difflib
import numbers
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from watermark.errors import AttackParameterError, UnknownNameError

from . import bending, codec, colour, filters, geometry, noise, overlay, resizing, security  # noqa: F401 (registering)
from ._spec import SPECS, RngLike, Spec, check_seed, number

__all__ = ["Attack", "attack", "parse", "chain", "names", "describe", "spec"]


def spec(name: str) -> Spec:
    """The registry's entry for ``name``; UnknownNameError (listing the known names) if none."""
    try:
        return SPECS[name]
    except KeyError:
        close = difflib.get_close_matches(name, SPECS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownNameError(f"unknown attack {name!r}; {hint}known attacks: {', '.join(names())} "
                               "(watermark attack --list describes them)") from None


def names() -> list[str]:
    """The registered attack names, sorted."""
    return sorted(SPECS)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_format(item) for item in value) + ")"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):      # bare only when it reads back as this text (not 2024, true, 1e3)
        plain = re.fullmatch(r"[A-Za-z0-9_.:+-]+", value) and isinstance(_value(value), str)
        return value if plain else repr(value)     # Python's escapes, which _unescape reads
    return str(value)


@dataclass(frozen=True)
class Attack:
    """One named attack with its parameters, or a chain of attacks (``parts``), ready to apply.

    Build it with :func:`attack`, :func:`parse` or :func:`chain`. ``str(attack)`` is stable and
    reads back with :func:`parse`; ``attack(image, seed=0)`` applies it (``seed`` matters to
    random attacks only: the same seed gives the same output).
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()
    parts: tuple[Attack, ...] = ()

    def __post_init__(self) -> None:
        if self.parts:
            return
        checked = spec(self.name).check(dict(self.params))
        object.__setattr__(self, "params", tuple(checked.items()))

    @property
    def family(self) -> str:
        """``codec``, ``noise``, ``filter``, ``geometry``, ``bending``, ``colour``, ``overlay``,
        ``print-scan``, ``security``, or ``chain``."""
        return "chain" if self.parts else SPECS[self.name].family

    @property
    def strength(self) -> float | None:
        """The value of the primary parameter (given or default), for strength plots; else None."""
        if self.parts:
            return None
        entry = SPECS[self.name]
        if entry.primary is None:
            return None
        value = dict(self.params).get(entry.primary, entry.defaults[entry.primary])
        return float(value) if isinstance(value, numbers.Real) else None

    @property
    def random(self) -> bool:
        """Whether the output depends on ``seed``."""
        return any(part.random for part in self.parts) if self.parts else SPECS[self.name].random

    @property
    def inputs(self) -> str | None:
        """The keyword that takes a multi-image attack's other images (``others``, ``source``,
        ``copies``), or None for an image -> image attack."""
        if self.parts:
            return next((part.inputs for part in self.parts if part.inputs), None)
        return SPECS[self.name].inputs

    @property
    def needs_inputs(self) -> bool:
        """Whether the attack needs other images (:attr:`inputs`) to mean anything."""
        if self.parts:
            return any(part.needs_inputs for part in self.parts)
        spec = SPECS[self.name]
        return spec.inputs is not None and not spec.inputs_optional

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as a new dict (given ones only)."""
        return dict(self.params)

    def __str__(self) -> str:
        if self.parts:
            return " + ".join(str(part) for part in self.parts)
        return f"{self.name}({', '.join(f'{key}={_format(value)}' for key, value in self.params)})"

    @property
    def filename(self) -> str:
        """A file-system-safe name: ``rotate_degrees=5_crop=True``; chain parts joined by ``+``."""
        if self.parts:
            return "+".join(part.filename for part in self.parts)
        words = [self.name] + [f"{key}={_format(value).strip(chr(39))}" for key, value in self.params]
        text = "_".join(words).replace("(", "").replace(")", "").replace(", ", ",")
        return re.sub(r"[^A-Za-z0-9_.,=+-]", "-", text)[:200]

    def __call__(self, image: Any, seed: RngLike = None, **inputs: Any) -> Any:
        """Apply the attack; a multi-image attack's other images come as their keyword (:attr:`inputs`)."""
        if self.parts:
            for part, child in zip(self.parts, _child_seeds(seed, len(self.parts))):
                image = part(image, seed=child, **(inputs if part.inputs else {}))
            return image
        entry = SPECS[self.name]
        kwargs = dict(self.params)
        if entry.random:
            kwargs["seed"] = seed
        return entry.function(image, **kwargs, **inputs)

    def last_step(self, image: Any, seed: RngLike = None) -> tuple[Attack, Any]:
        """The chain's last attack and the image it gets (a single attack: itself and ``image``), the attacks
        before it applied as :meth:`__call__` applies them: a codec's file can then be kept as it was encoded."""
        if not self.parts:
            return self, image
        for part, child in zip(self.parts[:-1], _child_seeds(seed, len(self.parts))):
            image = part(image, seed=child)
        return self.parts[-1], image


def _child_seeds(seed: RngLike, count: int) -> list[np.random.Generator]:
    """Independent generators for the parts of a chain, all determined by ``seed``."""
    if isinstance(seed, np.random.Generator):
        return [np.random.Generator(np.random.PCG64(int(s))) for s in seed.integers(0, 2**63, size=count)]
    check_seed(seed)
    return [np.random.Generator(np.random.PCG64(child)) for child in np.random.SeedSequence(seed).spawn(count)]


def attack(name: str, **params: Any) -> Attack:
    """The attack ``name`` with ``params``, checked now.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered (the message lists the names).
    AttackParameterError
        A parameter is unknown, of the wrong type or out of range.

    Examples
    --------
    >>> a = attack("rotate", degrees=5, crop=True)
    >>> str(a), a.family, a.strength
    ('rotate(degrees=5, crop=True)', 'geometry', 5.0)
    """
    return Attack(name, tuple(params.items()))


def chain(*attacks: Attack | str) -> Attack:
    """Apply ``attacks`` in order, as one attack printing ``rescale(factor=0.75) + jpeg(quality=75)``.

    Strings are parsed with :func:`parse`; nested chains are flattened.

    Examples
    --------
    >>> str(chain(attack("rescale", factor=0.75), "jpeg:quality=75"))
    'rescale(factor=0.75) + jpeg(quality=75)'
    """
    if not attacks:
        raise AttackParameterError("chain: give at least one attack")
    parts: list[Attack] = []
    for item in attacks:
        item = parse(item) if isinstance(item, str) else item
        if not isinstance(item, Attack):
            raise AttackParameterError(f"chain: expected attacks, got {type(item).__name__}")
        parts.extend(item.parts or (item,))
    return parts[0] if len(parts) == 1 else Attack("chain", (), tuple(parts))


def _split(text: str, separators: str) -> list[str]:
    """Split at ``separators`` outside brackets and quotes (where a backslash escapes the next character)."""
    pieces, depth, quote, start, escaped = [], 0, "", 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in separators:
            if char == "+" and not re.match(r"\s*[A-Za-z_]", text[index + 1:]):
                continue            # a sign (degrees=+5, 1e+3), not a chain
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


_ESCAPE = re.compile(r"\\([\\'\"nrt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def _unescape(text: str) -> str:
    """Read the escapes that ``repr`` writes (``\\\\``, ``\\'``, ``\\n``, ``\\xhh``, ``\\uhhhh``...) as Python
    does, and ``\\"``; any other backslash stays as typed (``'C:\\photos'``)."""
    def one(found: re.Match[str]) -> str:
        code = found.group(1)
        if len(code) == 1:
            return {"n": "\n", "r": "\r", "t": "\t"}.get(code, code)
        point = int(code[1:], 16)
        return chr(point) if point <= 0x10FFFF else found.group(0)
    return _ESCAPE.sub(one, text)


def _value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _unescape(text[1:-1])
    if text[:1] in "([" and text[-1:] in ")]":
        return tuple(_value(item) for item in _split(text[1:-1], ",;") if item.strip())
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    value = number(text)
    return text if value is None else value


def parse(text: str) -> Attack:
    """Read an attack from the command-line syntax or from its printed form.

    ``"rotate:degrees=5,crop=true"``, ``"rotate(degrees=5, crop=True)"`` and chains joined by
    ``+`` (``"rescale:factor=0.5 + jpeg:quality=50"``) are all accepted. Text may be quoted, ``'...'``
    or ``"..."``, with the backslash escapes of Python's ``repr`` (``\\\\``, ``\\'``, ``\\n``, ``\\u200b``);
    a backslash before any other character stays.

    Examples
    --------
    >>> str(parse("rotate:degrees=5,crop=true"))
    'rotate(degrees=5, crop=True)'
    """
    if not isinstance(text, str) or not text.strip():
        raise AttackParameterError(f"empty attack specification {text!r}; write e.g. 'jpeg:quality=50'")
    pieces = _split(text, "+")
    if len(pieces) > 1:
        return chain(*(parse(piece) for piece in pieces))
    text = text.strip()
    found = re.fullmatch(r"([A-Za-z_]\w*)\s*(?:\((.*)\)|:(.*))?", text, flags=re.DOTALL)
    if not found:
        raise AttackParameterError(f"cannot read attack {text!r}; write name:key=value,key=value "
                                   "(e.g. 'rotate:degrees=5,crop=true')")
    name, body = found.group(1), found.group(2) if found.group(2) is not None else found.group(3) or ""
    params: dict[str, Any] = {}
    for item in _split(body, ","):
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not key.isidentifier():
            raise AttackParameterError(f"{name}: cannot read {item.strip()!r}; write key=value, e.g. 'degrees=5'")
        if key in params:
            raise AttackParameterError(f"{name}: {key} is given twice; give each parameter once")
        if not value.strip():
            raise AttackParameterError(f"{name}: {key} has an empty value; write {key}=VALUE")
        params[key] = _value(value)
    return attack(name, **params)


def describe(name: str) -> str:
    """One line: name, family, parameters with defaults, ranges and meaning, summary."""
    entry = spec(name)
    params = ", ".join(f"{key}={_format(entry.defaults[key])} [{entry.params[key].describe()}"
                       f"{'; ' + entry.params[key].doc if entry.params[key].doc else ''}]" for key in entry.params)
    marks = " random" if entry.random else ""
    return f"{name} ({entry.family}{marks}): {params or 'no parameters'} -- {entry.summary}"
