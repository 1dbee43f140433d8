"""OpenCV and BLAS held to one thread: in a batch's worker process for good (`one_core`), and around any
other caller's block (`one_thread`).

One thread is what makes results the same however many cores a machine has: OpenCV's parallel
MAGSAC++ draws its samples per thread, so a registration, and the p-values read through it, differed
with the number of cores (a probe: the same file's per-copy layer at p 1e-31 with two threads, 1e-15
with one). It is also faster where workers are one per core already: a read's matrix products are
small, and a second BLAS thread per worker made two workers on two cores fight over them (README,
"Scan throughput").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["one_core", "one_thread"]


def one_core() -> None:
    """This process computes on one core from now on: OpenCV's and every loaded BLAS library's thread
    pool hold one thread (a worker's, once unpickling its function has imported them)."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(limits=1, user_api="blas")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """OpenCV and BLAS on one thread in this process for the block, as in every worker; the caller's
    settings come back after."""
    import cv2
    from threadpoolctl import threadpool_limits

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        cv2.setNumThreads(threads)
