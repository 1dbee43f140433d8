"""The C2PA signing identity: a certificate chain and its private key, checked once, then signing outputs.

`ManifestSigner.load` reads the PEM files and refuses, in one line naming the file, whatever would
make every signature fail: a missing or corrupt file, an encrypted key, a key the certificate does not
certify, a certificate out of its validity period, a CA certificate, an algorithm C2PA does not sign
with. It then signs a tiny image as a trial, so that c2pa-rs's own certificate rules (key usage,
extended key usage) fail here, before any file is marked, and not on the first output.

`ManifestSigner.sign` turns the encoded bytes of a marked output into the same bytes with an embedded,
signed manifest (see `provenance` for what it says), for ``imagewrite.save_image(..., finish=...)`` to
write atomically. The signer pickles (certificate and key stay in memory, as `Key` does) so that
worker processes receive it; each process builds its own native signer on first use.
"""

from __future__ import annotations

import datetime
import functools
import io
import os
import stat
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import CredentialsError, ImageFileError, InvalidImageError, ParameterError
from .keys import warn_if_shared
from .provenance import WATERMARK_ACTION, binding_value, c2pa_module, soft_binding_alg

__all__ = ["SIGNABLE_EXTENSIONS", "ManifestSigner", "new_manifest_id"]

# Output formats c2pa-rs embeds a manifest in, among those `imagewrite.save_image` writes.
SIGNABLE_EXTENSIONS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
                       ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff", ".gif": "image/gif"}
_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


def _settings(verify_after_sign: bool) -> dict:
    """No thumbnail (it would cost seconds), nothing fetched online; verification is the trial's job."""
    return {"builder": {"thumbnail": {"enabled": False}},
            "verify": {"verify_after_sign": verify_after_sign, "remote_manifest_fetch": False, "ocsp_fetch": False}}


def new_manifest_id() -> str:
    """A fresh manifest label, ``urn:c2pa:`` and a random UUID, known before signing."""
    return f"urn:c2pa:{uuid.uuid4()}"


class ManifestSigner:
    """A checked C2PA signing certificate chain and private key; `load` makes one.

    Attributes
    ----------
    alg : str
        The signature algorithm the key implies: es256, es384, es512 (EC P-256/384/521), ps256 (RSA),
        ed25519.
    subject, issuer : str
        The signing certificate's subject and issuer, e.g. ``"CN=Photo desk, O=Agence X"``.
    not_after : datetime.datetime
        When the signing certificate expires (UTC).
    """

    def __init__(self, cert_path: Path, chain_pem: bytes, key_pem: bytes, alg: str, subject: str, issuer: str,
                 not_after: datetime.datetime) -> None:
        self.cert_path, self._chain_pem, self._key_pem = cert_path, chain_pem, key_pem
        self.alg, self.subject, self.issuer, self.not_after = alg, subject, issuer, not_after
        self._native: tuple[Any, Any] | None = None

    @classmethod
    def load(cls, cert_path: str | os.PathLike, key_path: str | os.PathLike, *,
             password: bytes | None = None) -> ManifestSigner:
        """Read and check a PEM certificate chain (signing certificate first) and its PEM private key,
        decrypted with ``password`` when it is encrypted (the key then need not lie on disk in clear).

        Raises
        ------
        CredentialsError
            One line naming the file and the problem.
        MissingExtraError
            c2pa-python is not installed.
        """
        c2pa_module()
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert_path, key_path = Path(cert_path), Path(key_path)
        try:
            chain = x509.load_pem_x509_certificates(_read(cert_path, "certificate"))
        except ValueError:
            raise CredentialsError(f"{cert_path}: not a PEM certificate chain (-----BEGIN CERTIFICATE-----)") \
                from None
        pem = _read(key_path, "private key")
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except TypeError:    # cryptography's word for "encrypted, and no password given" (or the reverse)
            raise CredentialsError(f"{key_path}: the private key is encrypted; give its password (embed "
                                   "--c2pa-key-password-env VAR)" if password is None else
                                   f"{key_path}: the private key is not encrypted; give no password") from None
        except (ValueError, NotImplementedError):
            if password is not None and b"ENCRYPTED" in pem:
                raise CredentialsError(f"{key_path}: cannot decrypt the private key with the password given") \
                    from None
            raise CredentialsError(f"{key_path}: not a PEM private key (-----BEGIN PRIVATE KEY-----)") from None
        warn_if_shared(key_path, stat.S_IMODE(key_path.stat().st_mode))
        leaf = chain[0]
        alg = _algorithm(key, key_path)
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if (key.public_key().public_bytes(serialization.Encoding.DER, public)
                != leaf.public_key().public_bytes(serialization.Encoding.DER, public)):
            raise CredentialsError(f"{key_path}: does not match the certificate in {cert_path} "
                                   f"({_name(leaf.subject)}); give that certificate's own key")
        _check_certificate(leaf, cert_path)
        pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())      # c2pa-rs reads PKCS#8 only
        chain_pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain)
        signer = cls(cert_path, chain_pem, pkcs8, alg, _name(leaf.subject), _name(leaf.issuer),
                     leaf.not_valid_after_utc)
        signer._trial()
        return signer

    def __repr__(self) -> str:
        return f"ManifestSigner(subject={self.subject!r}, issuer={self.issuer!r}, alg={self.alg!r})"

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_native": None}    # native handles stay in their process

    def check_output(self, path: str | os.PathLike) -> None:
        """Refuse an output format that cannot carry a manifest (`ParameterError`), before any work."""
        path = Path(path)
        if path.suffix.lower() not in SIGNABLE_EXTENSIONS:
            kind = f"a {path.suffix}" if path.suffix else "an extensionless"
            raise ParameterError(f"{path}: a C2PA manifest cannot be embedded in {kind} file; "
                                 "write .jpg, .png, .webp, .tif or .gif")

    def sign(self, data: bytes, *, output: str | os.PathLike, source: str | os.PathLike, source_format: str,
             payload: int, key_id: str, scheme: str, manifest_id: str) -> bytes:
        """``data``, the encoded output file, with a signed manifest embedded.

        Parameters
        ----------
        output : path
            Where ``data`` will be written: its extension is the format, its name the title.
        source : path
            The master that was marked, recorded as the parent ingredient (with its own manifest).
        source_format : str
            The master's format as Pillow names it (``LoadedImage.format``: "JPEG", "PNG", ...).
        manifest_id : str
            The manifest's label, from `new_manifest_id`.

        Raises
        ------
        ParameterError
            An output format without manifests.
        InvalidImageError
            c2pa-rs could not sign this file.
        ImageFileError
            The master cannot be read.
        """
        output, source = Path(output), Path(source)
        self.check_output(output)
        try:
            parent = open(source, "rb")
        except OSError as exc:
            raise ImageFileError(f"{source}: cannot read the master for the C2PA manifest "
                                 f"({exc.strerror or exc})") from None
        try:
            with parent:
                return self._sign(data, SIGNABLE_EXTENSIONS[output.suffix.lower()], parent, _mime(source_format),
                                  title=output.name, parent_title=source.name, payload=payload,
                                  key_id=key_id, scheme=scheme, manifest_id=manifest_id)
        except c2pa_module().C2paError as exc:
            raise InvalidImageError(f"{output}: C2PA signing failed ({' '.join(str(exc).split())})") from None

    def _sign(self, data: bytes, mime: str, parent: Any, parent_mime: str, *, title: str, parent_title: str,
              payload: int, key_id: str, scheme: str, manifest_id: str, verify: bool = False) -> bytes:
        c2pa = c2pa_module()
        native, context = self._native_signer()
        if verify:
            context = c2pa.Context.from_dict(_settings(verify_after_sign=True))
        definition = {
            "claim_generator_info": [{"name": "Filigrane", "version": _version()}],
            "label": manifest_id,
            "title": title,
            "assertions": [{"label": "c2pa.soft-binding", "data": {
                "alg": soft_binding_alg(scheme),
                "blocks": [{"scope": {}, "value": binding_value(payload, key_id)}],
                "name": "Filigrane invisible watermark: the key's public id, then the 64-bit payload",
                "pad": []}}],
        }
        with c2pa.Builder(definition, context=context) as builder:
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            builder.add_ingredient({"title": parent_title, "relationship": "parentOf"}, parent_mime, parent)
            builder.add_action({"action": WATERMARK_ACTION,
                                "softwareAgent": {"name": "Filigrane", "version": _version()}})
            signed = io.BytesIO()
            builder.sign(native, mime, io.BytesIO(data), signed)
        return signed.getvalue()

    def _native_signer(self) -> tuple[Any, Any]:
        if self._native is None:
            c2pa = c2pa_module()
            info = c2pa.C2paSignerInfo(self.alg, self._chain_pem, self._key_pem, None)
            self._native = (c2pa.Signer.from_info(info), c2pa.Context.from_dict(_settings(verify_after_sign=False)))
        return self._native

    def _trial(self) -> None:
        """Sign a tiny JPEG and verify it, so that c2pa-rs's certificate rules apply now, not per output
        (outputs are not verified after signing: it would add about 40 % to each signature)."""
        c2pa = c2pa_module()
        encoded = io.BytesIO()
        Image.new("RGB", (16, 16), "grey").save(encoded, format="JPEG")
        try:
            self._sign(encoded.getvalue(), "image/jpeg", io.BytesIO(encoded.getvalue()), "image/jpeg",
                       title="trial.jpg", parent_title="trial.jpg", payload=0, key_id="00" * 16,
                       scheme="trial", manifest_id=new_manifest_id(), verify=True)
        except c2pa.C2paError as exc:
            reason = " ".join(str(exc).split())
            raise CredentialsError(f"{self.cert_path}: C2PA refuses to sign with this certificate and key "
                                   f"({reason})") from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CredentialsError(f"{path}: no such {what} file") from None
    except IsADirectoryError:
        raise CredentialsError(f"{path}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise CredentialsError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None


def _algorithm(key: Any, path: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return _CURVES[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return "ps256"
    raise CredentialsError(f"{path}: C2PA signs with EC P-256, P-384 or P-521, Ed25519 or RSA >= 2048 bits "
                           f"keys, not this {type(key).__name__.lstrip('_')}")


def _check_certificate(leaf: Any, path: Path) -> None:
    """The signing certificate is in its validity period and is not a CA's."""
    from cryptography import x509

    now = datetime.datetime.now(datetime.UTC)
    if now > leaf.not_valid_after_utc:
        raise CredentialsError(f"{path}: the certificate {_name(leaf.subject)} expired on "
                               f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if now < leaf.not_valid_before_utc:
        raise CredentialsError(f"{path}: the certificate {_name(leaf.subject)} is not valid before "
                               f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    try:
        is_ca = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise CredentialsError(f"{path}: {_name(leaf.subject)} is a CA certificate; sign with an end-entity "
                               "certificate it issued (first in the file)")
    try:
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise CredentialsError(f"{path}: {_name(leaf.subject)} has no extended key usage; C2PA signing "
                               "certificates need one, e.g. emailProtection (1.3.6.1.5.5.7.3.4)") from None


def _name(name: Any) -> str:
    """``"CN=..., O=..."`` in the certificate's own order."""
    return ", ".join(f"{attribute.rfc4514_attribute_name}={attribute.value}" for attribute in name)


def _mime(pillow_format: str) -> str:
    """The MIME type c2pa-rs reads a format's manifest by (an MPO is a JPEG); unknown ones still sign."""
    return "image/jpeg" if pillow_format == "MPO" else Image.MIME.get(pillow_format, "application/octet-stream")


@functools.lru_cache(maxsize=1)
def _version() -> str:
    """watermark.__version__'s value, read here too: importing the package from here would be a cycle."""
    try:
        return metadata.version("filigrane")
    except metadata.PackageNotFoundError:
        return "0+unknown"
