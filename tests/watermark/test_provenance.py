"""Content Credentials: signed manifests with a soft binding to the mark, read back, tampered, refused.

Signing and reading need the ``c2pa`` extra (``pip install '.[c2pa]'``); CI installs it and sets
FILIGRANE_REQUIRE_C2PA=1, so that these tests fail there rather than skip. The certificate authority
is generated for each run (eval.certificates); nothing here goes online.
"""

import base64
import datetime
import json
import os
import pickle
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from photos import photo
from PIL import Image

import watermark as wm
from watermark import api_files, provenance
from watermark.errors import CredentialsError, InvalidImageError, MissingExtraError, ParameterError

PAYLOAD = 0x5EED_CAFE_F00D_D00D
needs_c2pa = pytest.mark.skipif(not provenance.available() and not os.environ.get("FILIGRANE_REQUIRE_C2PA"),
                                reason="needs the c2pa extra: pip install '.[c2pa]'")


@settings(max_examples=50, deadline=None)
@given(payload=st.integers(0, 2**64 - 1), key_id=st.binary(min_size=16, max_size=16))
def test_binding_value_round_trips(payload, key_id):
    value = provenance.binding_value(payload, key_id.hex())
    assert len(value) == 32 and base64.b64decode(value) == key_id + payload.to_bytes(8, "big")
    assert provenance.parse_binding_value(value) == (payload, key_id.hex())


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"12345678").decode(), ""])
def test_parse_binding_value_refuses_other_values(value):
    with pytest.raises(ValueError):
        provenance.parse_binding_value(value)


def test_missing_extra_is_one_error_naming_it(monkeypatch, tmp_path):
    from watermark.signer import ManifestSigner

    monkeypatch.setitem(sys.modules, "c2pa", None)     # import c2pa -> ImportError
    assert not provenance.available()
    for call in (lambda: ManifestSigner.load(tmp_path / "c.pem", tmp_path / "k.pem"),
                 lambda: provenance.read_credentials(__file__)):
        with pytest.raises(MissingExtraError, match=r"pip install 'filigrane\[c2pa\]'"):
            call()


# --- signing and reading (the c2pa extra) --------------------------------------------------------------

@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    from eval.certificates import make_authority

    return make_authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def signer(authority):
    from watermark.signer import ManifestSigner

    return ManifestSigner.load(authority.chain, authority.key)


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    path = tmp_path_factory.mktemp("masters") / "coffee.jpg"
    Image.fromarray(photo("coffee")).save(path, quality=95)
    return path


def _store(path):
    """The manifest store's JSON, as c2pa-python reads it."""
    import c2pa

    with c2pa.Reader(str(path)) as reader:
        return json.loads(reader.json())


@needs_c2pa
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_signed_output_reads_back_valid_with_the_marks_payload(tmp_path, key, signer, authority, master, suffix):
    out = tmp_path / f"marked{suffix}"
    manifest_id = api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    credentials = provenance.read_credentials(out, trust_anchors=authority.root)
    detection = wm.detect_file(out, key)
    assert credentials.present and credentials.valid and credentials.trusted and credentials.errors == ()
    assert credentials.manifest_id == manifest_id and manifest_id.startswith("urn:c2pa:")
    assert credentials.signer == signer.subject == "CN=Filigrane test signer, O=Filigrane test CA"
    assert credentials.issuer == signer.issuer == "CN=Filigrane test intermediate, O=Filigrane test CA"
    assert credentials.alg == "org.filigrane.lattice.v1" and credentials.key_id == key.public_id
    assert credentials.payload == detection.payload == PAYLOAD
    assert credentials.agrees_with(detection.payload, key.public_id) is True
    assert credentials.agrees_with(PAYLOAD ^ 1) is False and credentials.agrees_with(None) is None
    untrusted = provenance.read_credentials(out)               # no trust anchors: intact, signer unknown
    assert untrusted.valid and not untrusted.trusted and untrusted.errors == ()


@needs_c2pa
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_colour_outputs_are_signed_too(tmp_path, key, signer, suffix):
    import cv2

    master = tmp_path / f"deep{suffix}"
    cv2.imwrite(str(master), (photo("coffee").astype(np.uint16) * 257)[:, :, ::-1])    # OpenCV writes BGR
    out = tmp_path / f"marked{suffix}"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    credentials = provenance.read_credentials(out)
    assert credentials.valid and credentials.payload == wm.detect_file(out, key).payload == PAYLOAD


@needs_c2pa
def test_manifest_says_what_was_done_and_nothing_secret(tmp_path, key, signer, master):
    out = tmp_path / "marked.jpg"
    manifest_id = api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    manifest = _store(out)["manifests"][manifest_id]
    actions = [a["action"] for assertion in manifest["assertions"] if assertion["label"].startswith("c2pa.actions")
               for a in assertion["data"]["actions"]]
    assert actions == ["c2pa.opened", provenance.WATERMARK_ACTION]
    [binding] = [a["data"] for a in manifest["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert binding["blocks"] == [{"scope": {}, "value": provenance.binding_value(PAYLOAD, key.public_id)}]
    assert [i["title"] for i in manifest["ingredients"]] == ["coffee.jpg"]
    assert manifest["ingredients"][0]["relationship"] == "parentOf"
    assert "thumbnail" not in manifest
    data = out.read_bytes()
    secret = key._secret   # the test peeks at the secret only to prove it is not in the file
    assert secret not in data and secret.hex().encode() not in data


@needs_c2pa
def test_a_masters_own_manifest_is_kept_as_the_parent_ingredients(tmp_path, key, signer, master):
    first = tmp_path / "first.jpg"
    first_id = api_files.embed_file(master, first, 1, key, c2pa_signer=signer)
    second = tmp_path / "second.png"                    # a licensee marks the copy again, with its own key
    second_id = api_files.embed_file(first, second, 2, wm.Key.from_passphrase("licensee"), c2pa_signer=signer)
    store = _store(second)
    assert store["active_manifest"] == second_id and first_id in store["manifests"]
    assert store["manifests"][second_id]["ingredients"][0]["active_manifest"] == first_id
    assert provenance.read_credentials(second).payload == 2


def _png_with_pixels_changed(data):
    """The same PNG chunks (the manifest's too) with one byte of image data changed."""
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
    raw = bytearray(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")))
    raw[1] ^= 0x10                                 # a pixel byte of the first row (raw[0] is its filter)
    out, written = [data[:8]], False
    for kind, body in chunks:
        if kind == b"IDAT":
            if written:
                continue
            kind, body, written = b"IDAT", zlib.compress(bytes(raw)), True
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(out)


@needs_c2pa
def test_pixels_changed_after_signing_read_invalid_with_the_reason(tmp_path, key, signer, master):
    out = tmp_path / "marked.png"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(_png_with_pixels_changed(out.read_bytes()))
    assert np.any(np.asarray(Image.open(tampered)) != np.asarray(Image.open(out)))
    credentials = provenance.read_credentials(tampered)
    assert credentials.present and not credentials.valid
    assert any(error.startswith("assertion.dataHash.mismatch") for error in credentials.errors)
    assert "INVALID: assertion.dataHash.mismatch" in str(credentials)


@needs_c2pa
def test_an_edited_soft_binding_reads_invalid(tmp_path, key, signer, master):
    out = tmp_path / "marked.jpg"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    forged = provenance.binding_value(PAYLOAD ^ 0xFF, key.public_id).encode()
    data = out.read_bytes()
    edited = tmp_path / "edited.jpg"
    edited.write_bytes(data.replace(provenance.binding_value(PAYLOAD, key.public_id).encode(), forged))
    credentials = provenance.read_credentials(edited)
    assert credentials.payload == PAYLOAD ^ 0xFF and not credentials.valid
    assert any(error.startswith("assertion.hashedURI.mismatch") for error in credentials.errors)


@needs_c2pa
def test_files_without_a_manifest(tmp_path, key, signer, master):
    out = tmp_path / "marked.jpg"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    reencoded = tmp_path / "reencoded.jpg"       # a platform that strips metadata: the mark stays
    Image.open(out).save(reencoded, quality=90)
    bmp = tmp_path / "plain.bmp"
    Image.open(master).save(bmp)
    for path in (master, reencoded, bmp):
        credentials = provenance.read_credentials(path)
        assert not credentials.present and not credentials.valid and credentials.payload is None
        assert str(credentials) == "no C2PA manifest"
        assert json.loads(json.dumps(credentials.to_dict()))["present"] is False
    assert wm.detect_file(reencoded, key).payload == PAYLOAD


@needs_c2pa
def test_another_vendors_soft_binding_is_named_not_decoded(tmp_path, authority):
    import io

    import c2pa

    out = tmp_path / "other.png"
    source = io.BytesIO()
    Image.fromarray(photo("coffee")).save(source, format="PNG")
    definition = {"claim_generator_info": [{"name": "other"}], "assertions": [{"label": "c2pa.soft-binding", "data": {
        "alg": "com.example.mark.1", "blocks": [{"scope": {}, "value": "AAAAAAAAAAE="}], "pad": []}}]}
    info = c2pa.C2paSignerInfo("es256", authority.chain.read_bytes(), authority.key.read_bytes(), None)
    with c2pa.Builder(definition) as builder, c2pa.Signer.from_info(info) as native, open(out, "w+b") as dest:
        builder.set_intent(c2pa.C2paBuilderIntent.CREATE, c2pa.C2paDigitalSourceType.DIGITAL_CAPTURE)
        builder.sign(native, "image/png", io.BytesIO(source.getvalue()), dest)
    credentials = provenance.read_credentials(out)
    assert credentials.valid and credentials.alg == "com.example.mark.1"
    assert credentials.payload is None and credentials.key_id is None and credentials.agrees_with(1) is None


@needs_c2pa
def test_credentials_print_and_serialise(tmp_path, key, signer, master):
    out = tmp_path / "marked.jpg"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    credentials = provenance.read_credentials(out)
    assert f"payload {PAYLOAD:#018x}" in str(credentials) and "valid, untrusted signer" in str(credentials)
    row = json.loads(json.dumps(credentials.to_dict()))
    assert row["payload"] == "0x5eedcafef00dd00d" and row["valid"] is True and row["errors"] == []
    assert set(row) == {"present", "valid", "trusted", "manifest_id", "signer", "issuer", "errors", "alg",
                        "payload", "key_id"}


@needs_c2pa
def test_signer_pickles_for_worker_processes_and_hides_its_key(tmp_path, key, signer, master, authority):
    copy = pickle.loads(pickle.dumps(signer))
    out = tmp_path / "marked.png"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=copy)
    assert provenance.read_credentials(out).valid
    key_text = authority.key.read_text()
    assert key_text.split("-----")[2].strip()[:40] not in repr(signer) + str(signer)


@needs_c2pa
def test_an_output_format_without_manifests_is_refused_before_any_work(tmp_path, key, signer, master):
    with pytest.raises(ParameterError, match=r"marked\.bmp: a C2PA manifest cannot be embedded"):
        api_files.embed_file(master, tmp_path / "marked.bmp", PAYLOAD, key, c2pa_signer=signer)
    assert list(tmp_path.iterdir()) == []


@needs_c2pa
def test_a_failed_signature_leaves_no_output(tmp_path, key, signer, master, monkeypatch):
    import c2pa

    def refuse(*args, **kwargs):
        raise c2pa.C2paError("simulated refusal")
    monkeypatch.setattr(type(signer), "_sign", refuse)
    with pytest.raises(InvalidImageError, match=r"marked\.jpg: C2PA signing failed \(simulated refusal\)"):
        api_files.embed_file(master, tmp_path / "marked.jpg", PAYLOAD, key, c2pa_signer=signer)
    assert list(tmp_path.iterdir()) == []                 # neither the output nor a temporary file


@needs_c2pa
def test_the_alg_names_the_scheme(tmp_path, key, signer, master):
    out = tmp_path / "marked.png"
    api_files.embed_file(master, out, PAYLOAD, key, scheme="spread", c2pa_signer=signer)
    credentials = provenance.read_credentials(out)
    assert credentials.alg == provenance.soft_binding_alg("spread") == "org.filigrane.spread.v1"
    assert credentials.payload == wm.detect_file(out, key, scheme="spread").payload == PAYLOAD


# --- bad signing credentials: one line naming the file ------------------------------------------------

def _write(path, data):
    path.touch(mode=0o600)          # a private key's file: others may not read it (else a warning)
    path.write_bytes(data)
    return path


def test_a_signing_key_others_can_read_is_used_with_a_warning(authority, tmp_path):
    from watermark.signer import ManifestSigner

    shared = _write(tmp_path / "shared.key", authority.key.read_bytes())
    shared.chmod(0o644)
    with pytest.warns(wm.KeyFilePermissionWarning, match=r"shared.key: permissions 0644 let other users read this key"):
        ManifestSigner.load(authority.chain, shared)


@pytest.fixture(scope="module")
def bad_credentials(tmp_path_factory, authority):
    """Named (cert, key) pairs that must be refused, and the file each message must name."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from eval import certificates as ca

    folder = tmp_path_factory.mktemp("bad")
    other = ca.make_authority(folder / "other")
    expired = ca.make_authority(folder / "expired", days=30,
                                not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400))
    root_key = ca.private_key()
    root = ca.certificate(ca.name("Root"), root_key, ca.name("Root"), root_key, ca=True)
    no_eku_key = ca.private_key()
    no_eku = ca.certificate(ca.name("No EKU"), no_eku_key, ca.name("Root"), root_key, ca=False, email_protection=False)
    k1_key = ec.generate_private_key(ec.SECP256K1())
    k1 = ca.certificate(ca.name("secp256k1"), k1_key, ca.name("Root"), root_key, ca=False)
    encrypted = authority.key.parent / "encrypted.key"
    encrypted.write_bytes(serialization.load_pem_private_key(authority.key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    missing = folder / "missing.pem"
    return {
        "missing certificate": (missing, authority.key, missing, "no such certificate file"),
        "missing key": (authority.chain, missing, missing, "no such private key file"),
        "certificate is not PEM": (_write(folder / "junk.pem", b"junk\n"), authority.key, folder / "junk.pem",
                                   "not a PEM certificate"),
        "key is a certificate": (authority.chain, authority.root, authority.root, "not a PEM private key"),
        "encrypted key": (authority.chain, encrypted, encrypted, "encrypted"),
        "key of another certificate": (authority.chain, other.key, other.key, "does not match the certificate"),
        "expired": (expired.chain, expired.key, expired.chain, "expired on"),
        "CA certificate": (_write(folder / "root.pem", ca.pem(root)), _write(folder / "root.key", ca.pem(root_key)),
                           folder / "root.pem", "is a CA certificate"),
        "no extended key usage": (_write(folder / "no-eku.pem", ca.pem(no_eku)),
                                  _write(folder / "no-eku.key", ca.pem(no_eku_key)), folder / "no-eku.pem",
                                  "has no extended key usage"),
        "unsupported curve": (_write(folder / "k1.pem", ca.pem(k1)), _write(folder / "k1.key", ca.pem(k1_key)),
                              folder / "k1.key", "C2PA signs with EC P-256"),
    }


@needs_c2pa
@pytest.mark.parametrize("case", ["missing certificate", "missing key", "certificate is not PEM",
                                  "key is a certificate", "encrypted key", "key of another certificate", "expired",
                                  "CA certificate", "no extended key usage", "unsupported curve"])
def test_bad_signing_credentials_are_one_line_naming_the_file(bad_credentials, case):
    from watermark.signer import ManifestSigner

    cert, key_file, named, words = bad_credentials[case]
    with pytest.raises(CredentialsError) as caught:
        ManifestSigner.load(cert, key_file)
    message = str(caught.value)
    assert message.startswith(f"{named}: ") and words in message and "\n" not in message


@needs_c2pa
def test_sec1_keys_and_ed25519_sign_too(tmp_path, key, master):
    from cryptography.hazmat.primitives import serialization

    from eval.certificates import make_authority
    from watermark.signer import ManifestSigner

    ed = make_authority(tmp_path / "ed", algorithm="ed25519")
    assert ManifestSigner.load(ed.chain, ed.key).alg == "ed25519"
    ec = make_authority(tmp_path / "ec", algorithm="es384")
    private = serialization.load_pem_private_key(ec.key.read_bytes(), None)
    sec1 = _write(tmp_path / "sec1.key", private.private_bytes(      # what `openssl ecparam -genkey` writes
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    signer = ManifestSigner.load(ec.chain, sec1)
    out = tmp_path / "marked.webp"
    api_files.embed_file(master, out, PAYLOAD, key, c2pa_signer=signer)
    assert signer.alg == "es384" and provenance.read_credentials(out, trust_anchors=ec.root).trusted


@needs_c2pa
def test_reading_refuses_a_bad_trust_anchor_file_and_missing_files(tmp_path, master):
    with pytest.raises(CredentialsError, match=r"anchors\.pem: no PEM certificate"):
        provenance.read_credentials(master, trust_anchors=_write(tmp_path / "anchors.pem", b"nothing\n"))
    with pytest.raises(wm.ImageFileError, match=r"gone\.jpg: no such file"):
        provenance.read_credentials(tmp_path / "gone.jpg")


# --- the command line ---------------------------------------------------------------------------------

@pytest.fixture()
def keyfile(tmp_path):
    from watermark.cli import FOUND, main

    path = tmp_path / "k.key"
    assert main(["keygen", str(path)]) == FOUND
    return path


def _embed(*arguments):
    from watermark.cli import main

    return main(["embed", *map(str, arguments), "--payload", hex(PAYLOAD)])


@needs_c2pa
def test_an_encrypted_signing_key_is_read_with_its_password_from_the_environment(tmp_path, keyfile, authority,
                                                                                 master, monkeypatch, capsys):
    """A probe: an encrypted signing key was refused, so its certificate's private key had to lie on disk in
    clear; the password now comes from a named environment variable, never the command line."""
    from cryptography.hazmat.primitives import serialization

    from watermark.signer import ManifestSigner

    private = serialization.load_pem_private_key(authority.key.read_bytes(), None)
    encrypted = _write(tmp_path / "encrypted.key", private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse battery staple")))
    assert ManifestSigner.load(authority.chain, encrypted, password=b"correct horse battery staple").alg
    with pytest.raises(wm.CredentialsError, match="encrypted.key: cannot decrypt the private key with the password"):
        ManifestSigner.load(authority.chain, encrypted, password=b"wrong")
    with pytest.raises(wm.CredentialsError, match=r"encrypted; give its password \(embed --c2pa-key-password-env"):
        ManifestSigner.load(authority.chain, encrypted)
    signing = ["--c2pa-cert", authority.chain, "--c2pa-key", encrypted, "--c2pa-key-password-env", "SIGNING_PASSWORD"]
    assert _embed(master, "-o", tmp_path / "out.jpg", "--key", keyfile, *signing) == 2
    assert "SIGNING_PASSWORD" not in capsys.readouterr().err                  # unset: the name is not shown
    monkeypatch.setenv("SIGNING_PASSWORD", "correct horse battery staple")
    assert _embed(master, "-o", tmp_path / "out.jpg", "--key", keyfile, *signing) == 0
    assert provenance.read_credentials(tmp_path / "out.jpg", trust_anchors=authority.root).trusted


@needs_c2pa
def test_cli_signs_and_reports_the_manifest_in_the_json_row(tmp_path, keyfile, authority, master, capsys):
    out = tmp_path / "out.jpg"
    assert _embed(master, "-o", out, "--key", keyfile, "--c2pa-cert", authority.chain,
                  "--c2pa-key", authority.key, "--json") == 0
    row = json.loads(capsys.readouterr().out)
    credentials = provenance.read_credentials(out, trust_anchors=authority.root)
    assert row["c2pa"] == {"signed": True, "manifest": credentials.manifest_id} and credentials.trusted
    assert credentials.payload == wm.detect_file(out, wm.Key.load(keyfile)).payload == PAYLOAD
    assert _embed(master, "-o", tmp_path / "plain.jpg", "--key", keyfile) == 0
    assert "signed" not in capsys.readouterr().out
    assert _embed(master, "-o", tmp_path / "plain2.jpg", "--key", keyfile, "--json") == 0
    assert json.loads(capsys.readouterr().out)["c2pa"] == {"signed": False, "manifest": None}
    assert not provenance.read_credentials(tmp_path / "plain.jpg").present


@needs_c2pa
def test_cli_signs_in_worker_processes_and_in_place(tmp_path, keyfile, authority, master, capsys):
    inputs = [tmp_path / "a.png", tmp_path / "b.jpg"]
    Image.open(master).save(inputs[0])
    Image.open(master).save(inputs[1], quality=90)
    signing = ["--c2pa-cert", authority.chain, "--c2pa-key", authority.key]
    assert _embed(*inputs, "-o", tmp_path / "out", "--key", keyfile, *signing, "--jobs", "2") == 0
    assert "signed (C2PA manifest urn:c2pa:" in capsys.readouterr().out
    for name in ("a.png", "b.jpg"):
        credentials = provenance.read_credentials(tmp_path / "out" / name)
        assert credentials.valid and credentials.payload == PAYLOAD
    assert _embed(inputs[1], "--in-place", "--key", keyfile, *signing) == 0
    manifest = _store(inputs[1])
    assert manifest["manifests"][manifest["active_manifest"]]["ingredients"][0]["title"] == "b.jpg"
    assert provenance.read_credentials(inputs[1]).valid
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg", "k.key", "out"]   # no temp files


@needs_c2pa
@pytest.mark.parametrize("case", ["one flag", "bad certificate", "output without manifests"])
def test_cli_refuses_before_any_work(tmp_path, keyfile, authority, master, capsys, case):
    out = tmp_path / "out" / ("marked.bmp" if case == "output without manifests" else "marked.png")
    both = ["--c2pa-cert", authority.chain, "--c2pa-key", authority.key]
    signing = {"one flag": ["--c2pa-cert", authority.chain],
               "bad certificate": ["--c2pa-cert", authority.key, "--c2pa-key", authority.key],
               "output without manifests": both}[case]
    assert _embed(master, "-o", out, "--key", keyfile, *signing) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert {"one flag": "both --c2pa-cert and --c2pa-key", "bad certificate": f"{authority.key}: not a PEM certificate",
            "output without manifests": "marked.bmp: a C2PA manifest cannot be embedded"}[case] in err
    assert not out.exists()


def test_cli_without_the_extra_says_which_to_install(tmp_path, keyfile, master, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "c2pa", None)
    out = tmp_path / "marked.png"
    assert _embed(master, "-o", out, "--key", keyfile, "--c2pa-cert", tmp_path / "c.pem", "--c2pa-key",
                  tmp_path / "k.pem") == 2
    assert "pip install 'filigrane[c2pa]'" in capsys.readouterr().err and not out.exists()


@needs_c2pa
def test_registry_copies_are_signed_and_the_scan_reads_their_credentials(tmp_path, keyfile, authority, master,
                                                                        capsys):
    from watermark.cli import main

    registry = tmp_path / "r.db"
    assert main(["registry", "init", str(registry)]) == 0
    capsys.readouterr()
    issue = ["embed", str(master), "-o", str(tmp_path / "out"), "--key", str(keyfile), "--registry", str(registry),
             "--recipient", "Agence X", "--c2pa-cert", str(authority.chain), "--c2pa-key", str(authority.key), "--json"]
    assert main(issue) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(issue) == 0                                     # the same command again: done, not re-issued
    again = json.loads(capsys.readouterr().out)
    assert first["status"] == "marked" and again["status"] == "skipped" and again["record"] == first["record"]
    output = tmp_path / "out" / master.name
    shutil.copy(output, tmp_path / "copy.jpg")
    Image.open(output).save(tmp_path / "reencoded.jpg", quality=90)  # a re-encoded copy loses its manifest
    assert main(["scan", str(tmp_path / "copy.jpg"), str(tmp_path / "reencoded.jpg"), "--key", str(keyfile),
                 "--registry", str(registry), "--c2pa", "--c2pa-trust", str(authority.root), "--json"]) == 0
    rows = {Path(row["path"]).name: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    signed, plain = rows["copy.jpg"]["credentials"], rows["reencoded.jpg"]["credentials"]
    assert signed["valid"] and signed["trusted"] and signed["agrees"] is True
    assert signed["manifest_id"] == first["c2pa"]["manifest"] == rows["copy.jpg"]["record"]["metadata"]["c2pa_manifest"]
    assert signed["payload"] == first["payload"] and rows["reencoded.jpg"]["status"] == "attributed"
    assert not plain["present"] and plain["agrees"] is None


def test_a_scan_s_binding_agrees_only_with_the_payload_under_the_key_it_was_read_with(monkeypatch):
    """An audit: the scan compared the soft binding's payload only, so a manifest binding the same payload under
    another key "agreed" with the mark."""
    from watermark import scan

    def read(key_id):
        credentials = provenance.ContentCredentials(present=True, valid=True, payload=PAYLOAD, key_id=key_id)
        monkeypatch.setattr(provenance, "read_credentials_bytes", lambda *args, **kwargs: credentials)

    row = {"payload": f"{PAYLOAD:#018x}", "marks": [{"key": "ours", "payload": f"{PAYLOAD:#018x}"},
                                                     {"key": "second", "payload": f"{PAYLOAD ^ 1:#018x}"}]}
    read("ours")
    assert scan._credentials(b"", "a.jpg", row, None)["agrees"] is True
    read("second")                          # a key the file holds a mark of, but with another payload
    assert scan._credentials(b"", "a.jpg", row, None)["agrees"] is False
    read("theirs")
    assert scan._credentials(b"", "a.jpg", row, None)["agrees"] is False
    assert scan._credentials(b"", "a.jpg", {"payload": None, "marks": []}, None)["agrees"] is None
