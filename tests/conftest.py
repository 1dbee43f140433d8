"""Shared fixtures: a fixed test key (photographs are in photos.py), and the perceptual metrics."""

import os
import shutil

import pytest

if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # The workers share the cores: an OpenBLAS thread waiting, spinning, for a core that the other
    # worker holds burns CPU time for nothing (an SVD took twice the CPU time with two threads). One
    # BLAS thread per process, inherited by the commands the tests start; set before NumPy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def key():
    import watermark

    return watermark.Key.from_passphrase("filigrane test suite")


@pytest.fixture(scope="session")
def perceptual():
    """``eval.metrics`` once SSIMULACRA2 and Butteraugli are both there: skipped locally without them,
    a failure under CI (``.ci/run`` installs the Debian package butteraugli, pip the ssimulacra2 package)."""
    missing = [] if shutil.which("butteraugli") else ["the butteraugli program (apt-get install butteraugli)"]
    try:
        import ssimulacra2  # noqa: F401
    except ImportError:
        missing.append("the ssimulacra2 package (pip install '.[test]')")
    if missing:
        message = f"perceptual metrics need {' and '.join(missing)}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but {message}")
        pytest.skip(message)
    from eval import metrics

    return metrics
