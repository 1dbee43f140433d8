"""Run one function over a stream of items: in this process, in worker processes, or on a Dask cluster.

Items are pulled from their iterator only as workers free up (a window of a few per worker), so
memory stays flat over a million items, and results come back as they finish, in any order.
A function that raises for an item gives that item's exception as its result; the batch goes on.

Ctrl-C (SIGINT to the process group): worker processes ignore it; the parent stops pulling items,
terminates its workers and raises `KeyboardInterrupt`, within a second or two, with every result
already yielded in the caller's hands. A worker that dies (killed, out of memory, a crashing
decoder) costs no item: the ones it held are tried again in fresh workers, once; an item that kills
its worker twice gets a `WorkerDiedError`. On Dask, the scheduler retries the tasks of a lost
worker itself.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from .errors import WatermarkError

__all__ = ["run", "WorkerDiedError", "worker_init"]

T = TypeVar("T")
_WINDOW = 4          # items in flight per worker
_RETRIES = 1         # fresh tries for the items a dead worker held


class WorkerDiedError(WatermarkError, RuntimeError):
    """A worker process died while it held this item, twice."""


def worker_init() -> None:
    """Set up a worker process: Ctrl-C is the parent's to handle; one OpenCV thread per process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import cv2

    cv2.setNumThreads(1)


def run(items: Iterable[T], function: Callable[[T], Any], *, jobs: int = 1,
        dask: str | None = None) -> Iterator[tuple[T, Any]]:
    """``(item, function(item))`` for every item, as each finishes; an exception is returned, not raised.

    Parameters
    ----------
    jobs : int
        Worker processes; 1 runs in this process; 0 means one per core. With ``dask``, the number of
        local workers to start when ``dask`` is ``"local"``.
    dask : str, optional
        ``"local"`` starts a Dask ``LocalCluster``; an address (``tcp://host:8786``) uses that
        scheduler. ``function`` and the items must pickle.
    """
    jobs = jobs or os.cpu_count() or 1
    if dask is not None:
        from .batch_dask import run_on_dask

        yield from run_on_dask(items, function, workers=jobs, address=dask)
    elif jobs == 1:
        for item in items:
            yield item, _call(function, item)
    else:
        yield from _run_in_processes(iter(items), function, jobs)


def _call(function: Callable[[T], Any], item: T) -> Any:
    try:
        return function(item)
    except KeyboardInterrupt:
        raise
    except Exception as exc:      # the item's own failure: the caller records it and goes on
        return exc


def _run_in_processes(items: Iterator[T], function: Callable[[T], Any], jobs: int) -> Iterator[tuple[T, Any]]:
    """The process-pool loop: a window of futures, refilled as they finish. When a worker dies, the
    items in flight are tried again one at a time in a fresh pool, which finds the one that kills it."""
    context = multiprocessing.get_context("spawn")      # fork can deadlock on OpenCV's threads
    solo: collections.deque[tuple[T, int]] = collections.deque()   # (item, fresh tries left), run alone
    while True:
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=worker_init)
        pending: dict[concurrent.futures.Future, tuple[T, int]] = {}
        broken = False
        try:
            while solo and not broken:
                item, tries = solo.popleft()
                outcome = _outcome(pool.submit(_call, function, item))
                if outcome is _BROKEN:
                    broken = True
                    if tries > 0:
                        solo.appendleft((item, tries - 1))
                    else:
                        yield item, WorkerDiedError(f"{getattr(item, 'name', item)}: a worker process died "
                                                    "while reading it, twice")
                else:
                    yield item, outcome
            if not broken:
                for item in itertools.islice(items, jobs * _WINDOW):
                    broken = not _submit(pool, pending, function, (item, _RETRIES), solo)
            while pending and not broken:
                finished, _ = concurrent.futures.wait(pending, timeout=0.2,
                                                      return_when=concurrent.futures.FIRST_COMPLETED)
                for future in finished:
                    outcome = _outcome(future)
                    if outcome is _BROKEN:
                        broken = True
                        continue
                    item, _ = pending.pop(future)
                    yield item, outcome
                    if not broken:
                        for item in itertools.islice(items, 1):
                            broken = not _submit(pool, pending, function, (item, _RETRIES), solo)
            solo.extend(pending.values())       # a dead worker's pool: every unfinished item, none lost
        except BaseException:
            _terminate(pool)
            raise
        if broken:
            _terminate(pool)
        else:
            pool.shutdown(wait=True)
            return


_BROKEN = object()


def _submit(pool: concurrent.futures.ProcessPoolExecutor, pending: dict, function: Callable[[T], Any],
            entry: tuple[T, int], solo: collections.deque) -> bool:
    """Submit ``entry``'s item to ``pool``; False (and the entry queued to run alone) when the pool broke."""
    try:
        pending[pool.submit(_call, function, entry[0])] = entry
        return True
    except BrokenProcessPool:
        solo.append(entry)
        return False


def _outcome(future: concurrent.futures.Future) -> Any:
    """``future``'s result once done (waiting in short steps, so that Ctrl-C is seen), or ``_BROKEN``."""
    while not future.done():
        concurrent.futures.wait([future], timeout=0.2)
    try:
        return future.result()
    except BrokenProcessPool:
        return _BROKEN


def _terminate(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: cancel what has not started and kill the workers (Python 3.11 has no public
    way to kill an executor's processes; ``_processes`` is stable from 3.8 to 3.13)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=2.0)
