"""Shared fixtures: a fixed test key (photographs are in photos.py)."""

import pytest


@pytest.fixture(scope="session")
def key():
    import watermark

    return watermark.Key.from_passphrase("filigrane test suite")
