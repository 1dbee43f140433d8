"""Worker processes for the batch commands: results in input order, and a clean stop on Ctrl-C.

Ctrl-C sends SIGINT to the whole process group. The workers are born ignoring it, so that the parent
alone decides: it stops them with SIGTERM, which a worker turns into ``SystemExit`` so that its
``finally`` clauses run (a half-written temporary file is removed) and it exits without a traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator

__all__ = ["parallel"]

_STOP_SECONDS = 5.0     # how long stopped workers get to unwind before they are killed


def parallel(function: Callable[[Any], Any], items: list, jobs: int) -> Iterator[Any]:
    """``function`` over ``items``, results in input order, in ``jobs`` processes (0: one per core).

    ``function`` and the items must pickle. An exception other than a stop, raised by ``function`` in
    a worker, is raised here as a `RuntimeError` carrying the worker's traceback.
    """
    jobs = min(jobs or os.cpu_count() or 1, len(items))
    if jobs <= 1:
        yield from map(function, items)
        return
    workers: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    finished = False
    try:
        _start(workers, function, jobs)
        yield from _results(workers, items)
        finished = True
    finally:
        _stop(workers, finished)


def _start(workers: list, function: Callable[[Any], Any], jobs: int) -> None:
    """Start ``jobs`` workers into ``workers``, each born with SIGINT ignored (a disposition that
    survives exec); a Ctrl-C meanwhile stays pending for the parent, which sees it when done."""
    context = multiprocessing.get_context("spawn")     # fork can deadlock on OpenCV's threads
    resource_tracker.ensure_running()    # started later, it would unblock SIGINT in the middle
    with _sigint_held():
        for _ in range(jobs):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, function), daemon=True)
            process.start()
            theirs.close()
            workers.append((process, ours))


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)    # a pending Ctrl-C is raised here


def _results(workers: list, items: list) -> Iterator[Any]:
    queue = iter(enumerate(items))
    busy: dict[Connection, int] = {}
    done: dict[int, Any] = {}
    upcoming = 0

    def feed(connection: Connection) -> None:
        for index, item in queue:
            connection.send((index, item))
            busy[connection] = index
            return

    for _, connection in workers:
        feed(connection)
    while busy:
        for connection in wait(list(busy)):
            try:
                index, ok, value = connection.recv()
            except EOFError:
                raise RuntimeError(f"a worker process died on {items[busy[connection]]}") from None
            del busy[connection]
            if not ok:
                raise RuntimeError(f"a worker failed on {items[index]}:\n{value}")
            done[index] = value
            feed(connection)
        while upcoming in done:
            yield done.pop(upcoming)
            upcoming += 1


def _stop(workers: list, finished: bool) -> None:
    """Let idle workers go (``finished``), or make every worker unwind with SIGTERM; kill what stays."""
    with _sigint_ignored():   # a second Ctrl-C must not leave workers behind
        for process, connection in workers:
            if finished:
                with contextlib.suppress(OSError):
                    connection.send(None)
            elif process.is_alive():
                process.terminate()
        deadline = time.monotonic() + _STOP_SECONDS
        for process, connection in workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)


def _serve(connection: Connection, function: Callable[[Any], Any]) -> None:
    """A worker's loop: (index, item) in, (index, ok, result or traceback) out, None to finish."""
    signal.signal(signal.SIGTERM, _unwind)
    import cv2

    cv2.setNumThreads(1)   # one process per core already
    while True:
        try:
            message = connection.recv()
        except EOFError:   # the parent is gone
            return
        if message is None:
            return
        index, item = message
        try:
            result = (index, True, function(item))
        except Exception:
            result = (index, False, traceback.format_exc())
        connection.send(result)


def _unwind(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
