"""``python -m eval.certificates``: a throwaway C2PA certificate authority."""

from __future__ import annotations

import sys

from eval import certificates


def test_without_cryptography_it_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)     # as on an install without the c2pa extra
    assert certificates.main([str(tmp_path / "ca")]) == 2
    assert capsys.readouterr().err == ("python -m eval.certificates: Content Credentials need cryptography: "
                                       "pip install 'filigrane[c2pa]'\n")
    assert not (tmp_path / "ca").exists()
