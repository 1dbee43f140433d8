"""Fixtures shared by the watermark tests."""

import fcntl
import os
import shutil
from pathlib import Path

import pytest
import scan_setup


def _once(tmp_path_factory, name, make):
    """A folder that ``make(folder)`` filled, once per test run.

    Under pytest-xdist the first worker that needs it makes it while the others wait on a lock, then
    all of them read it (its users never write into it: they copy, or write under their own
    ``tmp_path``)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:                                 # no xdist: one process
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent      # this run's folder, common to its workers
    done = shared / f"{name}.done"                     # holds the path of a finished folder
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():                          # the first here, or an earlier attempt failed
            folder = shared / f"{name}-{worker}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.write_text(str(folder))
    return Path(done.read_text())


@pytest.fixture(scope="session")
def scan_world(tmp_path_factory):
    """A registry with issued copies and a crawl of suspects (see scan_setup.py)."""
    return _once(tmp_path_factory, "scan-world", scan_setup.build)


@pytest.fixture(scope="session")
def crawl_scan(tmp_path_factory, scan_world):
    """``watermark scan --json`` of the world's crawl (a real process), run once: its
    `subprocess.CompletedProcess`."""
    return scan_setup.crawl_scan(_once(tmp_path_factory, "crawl-scan",
                                       lambda folder: scan_setup.scan_crawl(scan_world, folder)))
