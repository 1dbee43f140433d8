"""Content Credentials (C2PA): sign marked outputs with a soft binding to the mark, read suspects' manifests.

An output of ``embed_file(..., c2pa_signer=...)`` carries a signed C2PA manifest whose
``c2pa.soft-binding`` assertion names the mark: ``alg`` is :func:`soft_binding_alg` of the scheme
(``org.filigrane.lattice.v1``), its one block covers the whole image (empty ``scope``) and its
``value`` is :func:`binding_value`: the base64 of the key's 128-bit public id (`Key.public_id`)
followed by the 64-bit payload, big-endian (24 bytes, 32 characters). A detector holding the key and
the payload it read makes the same string, which is what a soft-binding resolver (the C2PA Soft
Binding Resolution API, ``/matches/byBinding?alg=...&value=...``) looks up: `parse_binding_value`
gives it back the (payload, key id) pair under which a registry keeps the issued copy. The actions
are ``c2pa.opened`` (the master, as parent ingredient, with its own manifest if it had one) and
:data:`WATERMARK_ACTION`. No thumbnail is written; the key never is.

Reading: :func:`read_credentials` answers per file with a `ContentCredentials` ("no manifest" is an
answer). ``watermark scan --c2pa`` reads each suspect's, and compares the soft binding with the mark
read from the pixels, payload and key::

    credentials = provenance.read_credentials(path, trust_anchors=anchors)   # anchors: PEM file or None
    agrees = credentials.agrees_with(detection.payload, key.public_id)

Only a ``valid`` manifest's soft binding is evidence: an invalid one may have been edited.

c2pa-python (``pip install 'filigrane[c2pa]'``) is imported only inside the functions that need it;
this module's constants and value codec work without it. The signing side is `watermark.signer`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import imageopen
from .errors import CredentialsError, ImageFileError, MissingExtraError

__all__ = ["ALG_PREFIX", "WATERMARK_ACTION", "ContentCredentials", "available", "soft_binding_alg",
           "binding_value", "parse_binding_value", "read_anchors", "read_credentials", "read_credentials_bytes"]

ALG_PREFIX = "org.filigrane."
WATERMARK_ACTION = "c2pa.watermarked.bound"   # C2PA 2.3+: a watermark that this manifest's soft binding describes
EXTRA = "pip install 'filigrane[c2pa]'"
_PAYLOAD_BYTES = 8
_UNTRUSTED = "signingCredential.untrusted"     # reported as ``trusted``, not as an error
_SOFT_BINDING_LABEL = re.compile(r"c2pa\.soft-binding(__\d+)?$")


def c2pa_module() -> Any:
    """The ``c2pa`` package, or `MissingExtraError` naming the extra to install."""
    try:
        import c2pa
    except ImportError as exc:
        raise MissingExtraError(f"Content Credentials need c2pa-python: {EXTRA} ({exc})") from None
    return c2pa


def available() -> bool:
    """Whether c2pa-python is installed (Content Credentials can be signed and read)."""
    try:
        c2pa_module()
    except MissingExtraError:
        return False
    return True


def soft_binding_alg(scheme: str) -> str:
    """The soft-binding ``alg`` of a scheme's mark: ``org.filigrane.<scheme>.v1``."""
    return f"{ALG_PREFIX}{scheme}.v1"


def binding_value(payload: int, key_id: str) -> str:
    """The soft-binding value: base64 of the key id's bytes (hex in ``key_id``), then the payload's 8
    bytes, big-endian.

    Examples
    --------
    >>> value = binding_value(0x5EEDCAFE, "00112233445566778899aabbccddeeff")
    >>> value
    'ABEiM0RVZneImaq7zN3u/wAAAABe7cr+'
    >>> parse_binding_value(value) == (0x5EEDCAFE, "00112233445566778899aabbccddeeff")
    True
    """
    if not 0 <= payload < 2 ** (8 * _PAYLOAD_BYTES):
        raise ValueError(f"payload must be in [0, 2**64), got {payload}")
    return base64.b64encode(bytes.fromhex(key_id) + payload.to_bytes(_PAYLOAD_BYTES, "big")).decode()


def parse_binding_value(value: str) -> tuple[int, str]:
    """``(payload, key_id)`` from a value made by `binding_value`; ValueError otherwise."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError) as exc:
        raise ValueError(f"soft-binding value {value!r} is not base64") from exc
    if len(raw) <= _PAYLOAD_BYTES:
        raise ValueError(f"soft-binding value {value!r} holds {len(raw)} bytes, not a key id and a payload")
    return int.from_bytes(raw[-_PAYLOAD_BYTES:], "big"), raw[:-_PAYLOAD_BYTES].hex()


@dataclass(frozen=True)
class ContentCredentials:
    """The C2PA manifest found in one file, as `read_credentials` reads it.

    Attributes
    ----------
    present : bool
        The file carries a C2PA manifest (readable or not).
    valid : bool
        Its signature, hashes and structure check out: the file is as signed (trust aside).
    trusted : bool
        The signing certificate chains to one of the trust anchors given to `read_credentials`.
    manifest_id : str or None
        The active manifest's label (``urn:c2pa:...``), the ``manifestId`` a resolver returns.
    signer, issuer : str or None
        Subject and issuer of the signing certificate, e.g. ``"CN=Photo desk, O=Agence X"``.
    errors : tuple of str
        Why it is not valid: C2PA status codes with their explanation.
    alg : str or None
        The soft-binding algorithm, ``org.filigrane.<scheme>.v1`` for ours (or another vendor's).
    payload : int or None
        The payload the soft binding carries (ours only).
    key_id : str or None
        The public id (`Key.public_id`) of the key the payload was marked with (ours only).
    """

    present: bool
    valid: bool = False
    trusted: bool = False
    manifest_id: str | None = None
    signer: str | None = None
    issuer: str | None = None
    errors: tuple[str, ...] = ()
    alg: str | None = None
    payload: int | None = None
    key_id: str | None = None

    def agrees_with(self, payload: int | None, key_id: str | None = None) -> bool | None:
        """Whether the soft binding names this payload (and key); None when either side has none."""
        if payload is None or self.payload is None:
            return None
        return payload == self.payload and (key_id is None or key_id == self.key_id)

    def __str__(self) -> str:
        if not self.present:
            return "no C2PA manifest"
        if self.valid:
            state = "valid, trusted" if self.trusted else "valid, untrusted signer"
        else:
            state = "INVALID: " + "; ".join(self.errors)
        text = f"C2PA manifest {self.manifest_id or '(unlabelled)'} {state}"
        if self.signer:
            text += f"; signed by {self.signer}" + (f" (issuer {self.issuer})" if self.issuer else "")
        if self.payload is not None:
            text += f"; soft binding {self.alg}: payload {self.payload:#018x}, key {self.key_id}"
        elif self.alg:
            text += f"; soft binding {self.alg}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields; the payload as ``0x`` and 16 hex digits, as in `Detection.to_dict`."""
        fields = asdict(self)
        fields["errors"] = list(self.errors)
        fields["payload"] = None if self.payload is None else f"{self.payload:#018x}"
        return fields


def read_credentials(path: str | os.PathLike, *, trust_anchors: str | os.PathLike | None = None
                     ) -> ContentCredentials:
    """Read and validate the C2PA manifest embedded in an image file, offline.

    Parameters
    ----------
    trust_anchors : path, optional
        A PEM file of root certificates whose signers count as ``trusted``. Without it no signer is.

    Raises
    ------
    ImageFileError
        The file is missing or unreadable.
    CredentialsError
        ``trust_anchors`` is missing or holds no certificate.
    MissingExtraError
        c2pa-python is not installed.
    """
    path = Path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ImageFileError(f"{path}: not a regular file")
    except FileNotFoundError:
        raise ImageFileError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageFileError(f"{path}: permission denied; check the file's permissions") from None
    return _read(lambda c2pa, context: c2pa.Reader.try_create(str(path), context=context), path, trust_anchors)


def read_credentials_bytes(data: bytes, name: str, *, trust_anchors: str | os.PathLike | None = None
                           ) -> ContentCredentials:
    """`read_credentials` for a file's bytes already read (a scan's); ``name`` is how errors name it."""
    try:
        with imageopen.open_own(data) as image:     # a scan's file, read within its pixel limit already
            mime = image.get_format_mimetype()
    except (OSError, ValueError):
        mime = None
    if mime is None:
        return ContentCredentials(present=False)
    return _read(lambda c2pa, context: c2pa.Reader.try_create(mime, io.BytesIO(data), context=context),
                 Path(name), trust_anchors)


def _read(open_reader: Callable[[Any, Any], Any], path: Path, trust_anchors: str | os.PathLike | None
          ) -> ContentCredentials:
    """The credentials of the reader that ``open_reader(c2pa, context)`` makes; errors name ``path``."""
    c2pa = c2pa_module()
    context = _reading_context(read_anchors(trust_anchors) if trust_anchors is not None else None)
    try:
        reader = open_reader(c2pa, context)
    except c2pa.C2paError.NotSupported:        # a format that cannot carry a manifest, or not an image
        return ContentCredentials(present=False)
    except c2pa.C2paError.Io as exc:
        raise ImageFileError(f"{path}: cannot read ({exc})") from None
    except c2pa.C2paError as exc:              # a manifest is there but cannot be parsed
        return ContentCredentials(present=True, errors=(f"manifest unreadable: {exc}",))
    if reader is None:
        return ContentCredentials(present=False)
    with reader:
        return _credentials(json.loads(reader.json()), json.loads(reader.crjson()))


def read_anchors(path: str | os.PathLike) -> str:
    """The PEM text of a trust-anchor file; `CredentialsError` (one line) if unreadable or without a certificate."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: cannot read trust anchors ({getattr(exc, 'strerror', None) or exc})") \
            from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise CredentialsError(f"{path}: no PEM certificate in this trust-anchor file")
    return text


@functools.lru_cache(maxsize=8)
def _reading_context(anchors: str | None) -> Any:
    """A c2pa Context that never goes online (no remote manifests, no OCSP), with these trust anchors."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors is not None:
        settings["trust"] = {"trust_anchors": anchors}
    return c2pa_module().Context.from_dict(settings)


def _credentials(store: dict, standard: dict) -> ContentCredentials:
    """A `ContentCredentials` from a manifest store's JSON and its crJSON (which has certificate names)."""
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label, {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = results.get("failure", store.get("validation_status", []))
    state = store.get("validation_state")
    errors = tuple(f"{item.get('code')}: {item.get('explanation', '')}".rstrip(": ")
                   for item in failures if item.get("code") != _UNTRUSTED)
    signer, issuer = _certificate_names(standard, label, manifest)
    binding = _soft_binding(manifest)
    return ContentCredentials(present=True, valid=state in ("Valid", "Trusted"), trusted=state == "Trusted",
                              manifest_id=label, signer=signer, issuer=issuer,
                              errors=errors if state not in ("Valid", "Trusted") else (), **binding)


def _certificate_names(standard: dict, label: str | None, manifest: dict) -> tuple[str | None, str | None]:
    for entry in standard.get("manifests", []):
        if entry.get("label") == label:
            info = entry.get("signature", {}).get("certificateInfo", {})
            return _name(info.get("subject")), _name(info.get("issuer"))
    info = manifest.get("signature_info", {})
    return info.get("common_name"), info.get("issuer")


def _name(parts: dict | None) -> str | None:
    return ", ".join(f"{key}={value}" for key, value in parts.items()) if parts else None


def _soft_binding(manifest: dict) -> dict[str, Any]:
    """``alg``, ``payload`` and ``key_id`` of the manifest's soft binding, ours first."""
    found: dict[str, Any] = {}
    for assertion in manifest.get("assertions", []):
        if not _SOFT_BINDING_LABEL.match(assertion.get("label", "")):
            continue
        data = assertion.get("data", {})
        alg, blocks = data.get("alg"), data.get("blocks") or [{}]
        if not str(alg).startswith(ALG_PREFIX):
            found = found or {"alg": alg}
            continue
        try:
            payload, key_id = parse_binding_value(blocks[0].get("value", ""))
        except ValueError:
            found = found or {"alg": alg}
            continue
        return {"alg": alg, "payload": payload, "key_id": key_id}
    return found
