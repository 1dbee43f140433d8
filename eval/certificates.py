"""A throwaway C2PA certificate authority, for tests, benchmarks and trying Content Credentials out.

``python -m eval.certificates DIR`` writes ``DIR/root.pem`` (the trust anchor: give it to
``read_credentials(..., trust_anchors=...)``), ``DIR/chain.pem`` (the signing certificate, then the
intermediate that issued it) and ``DIR/signer.key`` (the signing key, unencrypted PKCS#8): pass the
last two to ``watermark embed --c2pa-cert DIR/chain.pem --c2pa-key DIR/signer.key``. Nobody else
trusts this root: it proves nothing to anyone but you. It needs the ``cryptography`` package, which
``pip install 'filigrane[c2pa]'`` brings.

The signing certificate has what C2PA's certificate profile asks of one: not a CA, key usage
digitalSignature (critical), extended key usage emailProtection, subject and authority key
identifiers, issued by an intermediate under a self-signed root.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watermark import MissingExtraError

__all__ = ["Authority", "private_key", "certificate", "name", "make_authority", "pem"]

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Authority:
    """The files `make_authority` wrote."""

    root: Path     # the self-signed root, PEM: the trust anchor
    chain: Path    # the signing certificate then the intermediate, PEM
    key: Path      # the signing certificate's private key, PKCS#8 PEM


def private_key(algorithm: str = "es256") -> Any:
    """A new private key for ``es256`` (EC P-256), ``es384`` (P-384) or ``ed25519``."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves = {"es256": ec.SECP256R1, "es384": ec.SECP384R1}
    if algorithm not in curves:
        raise ValueError(f"algorithm must be es256, es384 or ed25519, got {algorithm!r}")
    return ec.generate_private_key(curves[algorithm]())


def name(common_name: str, organisation: str = "Filigrane test CA") -> Any:
    """An X.509 name: common name then organisation."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)])


def certificate(subject: Any, key: Any, issuer: Any, issuer_key: Any, *, ca: bool,
                email_protection: bool = True, not_before: datetime.datetime | None = None,
                days: float = 365) -> Any:
    """A certificate for ``key`` named ``subject``, signed by ``issuer_key``: a CA's, or a C2PA signer's.

    A signer's has key usage digitalSignature and, when ``email_protection``, that extended key usage.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    start = not_before or datetime.datetime.now(datetime.UTC) - _DAY
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + days * _DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=1 if ca else None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if not ca and email_protection:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                        critical=False)
    digest = None if type(issuer_key).__name__.startswith("Ed") else hashes.SHA256()
    return builder.sign(issuer_key, digest)


def pem(item: Any) -> bytes:
    """A certificate's PEM, or a private key's unencrypted PKCS#8 PEM."""
    from cryptography.hazmat.primitives import serialization

    if hasattr(item, "public_bytes") and hasattr(item, "subject"):
        return item.public_bytes(serialization.Encoding.PEM)
    return item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())


def make_authority(directory: str | Path, *, algorithm: str = "es256", signer: str = "Filigrane test signer",
                   not_before: datetime.datetime | None = None, days: float = 365) -> Authority:
    """Write a root, an intermediate and a signing certificate with its key into ``directory``.

    ``not_before`` and ``days`` set the signing certificate's validity (an expired one for tests).

    Raises
    ------
    watermark.MissingExtraError
        The ``cryptography`` package is not installed (nothing is written).
    """
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise MissingExtraError("Content Credentials need cryptography: pip install 'filigrane[c2pa]'") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root_key, intermediate_key, signer_key = private_key(), private_key(), private_key(algorithm)
    root_name, intermediate_name = name("Filigrane test root"), name("Filigrane test intermediate")
    root = certificate(root_name, root_key, root_name, root_key, ca=True, days=3650)
    intermediate = certificate(intermediate_name, intermediate_key, root_name, root_key, ca=True, days=3650)
    leaf = certificate(name(signer), signer_key, intermediate_name, intermediate_key, ca=False,
                       not_before=not_before, days=days)
    authority = Authority(root=directory / "root.pem", chain=directory / "chain.pem", key=directory / "signer.key")
    authority.root.write_bytes(pem(root))
    authority.chain.write_bytes(pem(leaf) + pem(intermediate))
    authority.key.touch(mode=0o600)
    authority.key.write_bytes(pem(signer_key))
    return authority


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.certificates", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--algorithm", default="es256", choices=("es256", "es384", "ed25519"))
    args = parser.parse_args(argv)
    try:
        authority = make_authority(args.directory, algorithm=args.algorithm)
    except MissingExtraError as exc:
        print(f"python -m eval.certificates: {exc}", file=sys.stderr)
        return 2
    print(f"trust anchor: {authority.root}\nsigning chain: {authority.chain}\nsigning key: {authority.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
