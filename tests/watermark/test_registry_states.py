"""A copy's state only moves forward, in the registry and through an import; the digest sees every state."""

import json
import sqlite3

import pytest

import watermark as wm
from tests.watermark.test_registry import _master
from watermark.registry import Registry, export_json, import_document


@pytest.fixture
def registry(tmp_path):
    with Registry(tmp_path / "filigrane.db", create=True) as opened:
        yield opened


def _issued(registry, key):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", recipient="Bob", scheme="lattice")
    registry.mark_issued(record.id, "0" * 64)
    return record


def test_the_digest_changes_with_a_copy_s_state_payload_and_output(registry, key):
    _issued(registry, key)
    registry.reserve(key, _master(registry), output_path="/out/r.png", recipient="Eve", scheme="lattice")
    first = registry.digest()
    for change in ("UPDATE copies SET state = 'void' WHERE state = 'reserved'",   # only the state column moves
                   "UPDATE copies SET payload = payload + 1 WHERE state = 'issued'",
                   "UPDATE copies SET output_sha256 = '" + "1" * 64 + "' WHERE state = 'issued'",
                   "UPDATE copies SET output_path = '/out/b.png' WHERE state = 'issued'"):
        with sqlite3.connect(registry.path) as connection:
            connection.execute(change)
        assert registry.digest() != first, change
        first = registry.digest()


def test_void_never_touches_an_issued_copy(registry, key):
    record = _issued(registry, key)
    registry.void(record.id, "interrupted: output not written")
    after = registry.record(record.id)
    assert after.state == "issued" and after.note is None


def test_import_refuses_a_copy_void_in_the_export_and_issued_here(registry, key):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", payload=42, scheme="lattice")
    document = json.loads(export_json(registry))          # the copy as reserved
    registry.mark_issued(record.id, "0" * 64)
    document["copies"][0].update(state="void", note="interrupted")
    with pytest.raises(wm.RegistryError, match="is void in the export and issued in the registry; nothing imported"):
        import_document(registry, document)
    assert registry.record(record.id).state == "issued"


def test_import_refuses_a_copy_issued_in_the_export_and_void_here(registry, key, tmp_path):
    record = registry.reserve(key, _master(registry), output_path="/out/a.png", payload=42, scheme="lattice")
    registry.mark_issued(record.id, "0" * 64)
    document = json.loads(export_json(registry))          # the copy as issued
    with Registry(tmp_path / "other.db", create=True) as other:
        registry_void = json.loads(export_json(registry))
        registry_void["copies"][0].update(state="void", output_sha256=None, issued_at=None, note="interrupted")
        import_document(other, registry_void)
        with pytest.raises(wm.RegistryError, match="is issued in the export and void in the registry; nothing"):
            import_document(other, document)
        assert other.record(record.id).state == "void"
