"""The registry of issued copies: which payload went to whom, of which master, when.

One SQLite file (standard library ``sqlite3``) holds the keys' public ids (never a key), the
masters (SHA-256, size, perceptual hash, a print of at most 64 KB that finds and registers a copy
when the master file is gone, and a frame: the luminance an informed read subtracts, see
`watermark.registry.frames`), and one record per issued copy (a UUID, key, payload, master,
output path and SHA-256, recipient, metadata, times, tool version, scheme, state).

Writing: `issue_file` marks a master into an output and records it, crash-safely (see
`watermark.registry.issue`). Reading, for ``scan``:

- `Registry.find_sha256` — exact: a file's bytes are an issued output or a master;
- `Registry.find_payload` / `Registry.matches` — a payload read blind, joined to its records
  (``matches`` in the C2PA soft-binding resolution API's shape);
- `hash_index` — every master's perceptual hash in a `watermark.hashindex.HashIndex`
  (whole-image near-duplicates: ``index.query(perceptual_hash(suspect), max_distance=MAX_DISTANCE)``);
- `feature_index` — every master's keypoints in a `watermark.featureindex.FeatureIndex`
  (partial copies: ``index.candidates(Suspect(image).features())``);
- `print_of` — a master's decoded print, for `watermark.registration.register` and reports;
- `Registry.frame` — a master's frame (`frames.decode` it), read against when its file is gone;
- `Registry.copies_of` — all issued copies of a master (collusion tests need them together).

`export_json` / `import_document` (`import_file` streams one) move a registry between files exactly.
"""

from .exporting import export_document, export_json, write_export
from .importing import import_document, import_file
from .indexes import feature_index, hash_index, print_of
from .issue import Issued, file_sha256, issue_file, register_master
from .records import ISSUED, RESERVED, VOID, Master, Record
from .schema import SCHEMA_VERSION
from .store import Registry

__all__ = ["Registry", "Master", "Record", "Issued", "issue_file", "register_master", "file_sha256",
           "hash_index", "feature_index", "print_of",
           "export_document", "export_json", "write_export", "import_document", "import_file", "SCHEMA_VERSION",
           "RESERVED", "ISSUED", "VOID"]
