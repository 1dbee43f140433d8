"""Fixtures shared by the watermark tests."""

import pytest
import scan_setup


@pytest.fixture(scope="session")
def scan_world(tmp_path_factory):
    """A registry with issued copies and a crawl of suspects (see scan_setup.py)."""
    return scan_setup.build(tmp_path_factory.mktemp("scan"))
