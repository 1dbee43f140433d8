"""Run one function over a stream of items: in this process, in worker processes, or on a Dask cluster.

Items are pulled from their iterator only as workers free up (one in flight per worker), so memory
stays flat over a million items; results come back as they finish, or in input order when asked.
A function that raises for an item gives that item's exception as its result; the batch goes on.

Ctrl-C sends SIGINT to the whole process group, a terminal's hang-up SIGHUP. Workers are born with
both blocked, so that the parent alone decides: it stops them with SIGTERM, which a worker turns into
``SystemExit`` so that its ``finally`` clauses run (a half-written temporary file is removed), and
raises `KeyboardInterrupt` (the command turns its own SIGTERM and SIGHUP into one), after giving the
results that workers had sent (and, in input order, those waiting for an earlier one): their work is
done. An item whose work is done for good (`work_done`: a copy issued) sends its result before its
worker stops. A worker whose parent went away (killed) ends quietly.
A worker that dies (killed, out of memory, a crashing decoder) is replaced and the one item it held
is tried once more in a fresh worker; an item that kills its worker twice gets a `WorkerDiedError`.
On Dask (`watermark.batch_dask`), the scheduler retries a lost worker's tasks itself.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, cast

from .errors import WatermarkError
from .threads import one_core, one_thread

__all__ = ["run", "work_done", "WorkerDiedError"]

T = TypeVar("T")
_STOP_SECONDS = 5.0     # how long stopped workers get to unwind before they are killed
_TRIES = 2              # workers an item may run in before it counts as the one that kills them


class WorkerDiedError(WatermarkError, RuntimeError):
    """A worker process died while it held this item, twice."""


def run(items: Iterable[T], function: Callable[[T], Any], *, jobs: int = 1, dask: str | None = None,
        ordered: bool = False) -> Iterator[tuple[T, Any]]:
    """``(item, function(item))`` for every item; an exception ``function`` raises is the result.

    Parameters
    ----------
    jobs : int
        Worker processes; 1 runs in this process; 0 means one per core. With ``dask="local"``,
        the local cluster's workers.
    dask : str, optional
        ``"local"`` starts a Dask ``LocalCluster``; an address (``tcp://host:8786``) uses that
        scheduler. ``function`` and the items must pickle.
    ordered : bool
        Yield in input order (holds at most one result per worker waiting for its turn).
    """
    jobs = jobs or os.cpu_count() or 1
    if dask is not None:
        from .batch_dask import run_on_dask

        results = run_on_dask(items, function, workers=jobs, address=dask, hold=_signals_held)
        yield from _in_order(results) if ordered else ((item, result) for _, item, result in results)
    elif jobs == 1:
        with one_thread():
            for item in items:
                yield item, call(function, item)
    else:
        results = _in_processes(iter(items), function, jobs)
        yield from _in_order(results) if ordered else ((item, result) for _, item, result in results)


def call(function: Callable[[T], Any], item: T) -> Any:
    """``function(item)``, or the exception it raised (a stop and Ctrl-C still propagate)."""
    try:
        return function(item)
    except Exception as exc:      # the item's own failure: the caller records it and goes on
        if not isinstance(exc, WatermarkError):    # a bug: keep where it happened, across processes too
            exc.add_note(traceback.format_exc().rstrip())
        return exc


def _in_order(results: Iterable[tuple[int, T, Any]]) -> Iterator[tuple[T, Any]]:
    """``results`` in input order; when the batch is stopped (Ctrl-C), the results that finished but were
    waiting for an earlier one are given too, before the stop goes on (their work is done: a copy issued)."""
    waiting: dict[int, tuple[T, Any]] = {}
    upcoming = 0
    source = iter(results)
    while True:
        try:
            index, item, result = next(source)
        except StopIteration:
            return
        except BaseException:
            for index in sorted(waiting):
                yield waiting[index]
            raise
        waiting[index] = (item, result)
        while upcoming in waiting:
            yield waiting.pop(upcoming)
            upcoming += 1


class _Worker:
    """One worker process, its pipe, and the item it holds."""

    def __init__(self, context: Any, function: Callable[[Any], Any]) -> None:
        ours, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, function), daemon=True)
        self.process.start()
        theirs.close()
        self.connection: Connection = ours
        self.held: tuple[int, Any, int] | None = None     # (index, item, tries so far)

    def give(self, entry: tuple[int, Any, int]) -> None:
        self.connection.send((entry[0], entry[1]))
        self.held = entry


def _in_processes(items: Iterator[T], function: Callable[[T], Any], jobs: int) -> Iterator[tuple[int, T, Any]]:
    context = multiprocessing.get_context("spawn")      # fork can deadlock on OpenCV's threads
    numbered = ((index, item, 0) for index, item in enumerate(items))
    retry: list[tuple[int, Any, int]] = []
    workers: list[_Worker] = []
    finished = False

    def feed(worker: _Worker) -> None:
        entry = retry.pop() if retry else next(numbered, None)
        if entry is not None:
            worker.give(entry)

    try:
        first = list(itertools.islice(numbered, jobs))      # no more workers than items
        with _signals_held():
            workers += [_Worker(context, function) for _ in first]
        for worker, entry in zip(workers, first):
            worker.give(entry)
        while any(worker.held for worker in workers):
            busy = {worker.connection: worker for worker in workers if worker.held}
            for connection in cast(list[Connection], wait(list(busy))):   # wait() gives back what it was given
                worker = busy[connection]
                assert worker.held is not None     # busy holds only the workers that hold an item
                index, item, tries = worker.held
                try:
                    result = connection.recv()
                except (EOFError, OSError):        # the worker died holding this item
                    worker.held = None
                    _stop([worker], finished=False)
                    with _signals_held():
                        replacement = workers[workers.index(worker)] = _Worker(context, function)
                    if tries + 1 < _TRIES:
                        retry.append((index, item, tries + 1))
                    else:
                        yield index, item, WorkerDiedError(
                            f"{getattr(item, 'name', item)}: a worker process died while working on it, twice")
                    feed(replacement)
                    continue
                worker.held = None
                yield index, item, result
                feed(worker)
        finished = True
    except GeneratorExit:            # the reader closed the stream: it wants no more results
        raise
    except BaseException:            # stopped (Ctrl-C): results already sent are given, their work is done
        yield from _sent(workers)
        raise
    finally:
        _stop(workers, finished)


def _sent(workers: list[_Worker]) -> Iterator[tuple[int, Any, Any]]:
    """The results that workers sent and the parent has not read yet (taken without waiting)."""
    for worker in workers:
        if worker.held is None:
            continue
        index, item, _ = worker.held
        try:
            if not worker.connection.poll(0):
                continue
            result = worker.connection.recv()
        except (EOFError, OSError):
            continue
        worker.held = None
        yield index, item, result


_STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)    # what stops a batch: the parent answers them
_DEAF = (signal.SIGINT, signal.SIGHUP)                     # what the processes it starts never see


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold `_STOPS` until the block ends, then deliver the first that came, so that the block is never cut
    half-way (a worker started but not yet in the list, a cluster half up). The processes and threads started
    meanwhile are born with `_DEAF` blocked (worker processes, Dask's threads and the workers they start later):
    Ctrl-C and hang-ups reach the parent alone, which stops them with SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    resource_tracker.ensure_running()             # started inside, it would unblock SIGINT for all that follows
    came: list[int] = []
    handlers = {number: signal.getsignal(number) for number in _STOPS}
    for number, handler in handlers.items():
        if handler not in (signal.SIG_IGN, None):          # nohup's SIG_IGN stays
            signal.signal(number, lambda signum, frame: came.append(signum))
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _DEAF)
    try:
        yield
    finally:
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if came:
            signal.raise_signal(came[0])


def _stop(workers: list[_Worker], finished: bool) -> None:
    """Let idle workers go (``finished``), or make every worker unwind with SIGTERM; kill what stays."""
    with _signals_held():   # a second Ctrl-C must not leave workers behind
        for worker in workers:
            if finished:
                with contextlib.suppress(OSError):
                    worker.connection.send(None)
            elif worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + _STOP_SECONDS
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()


def _serve(connection: Connection, function: Callable[[Any], Any]) -> None:
    """A worker's loop: (index, item) in, the result (or the exception it raised) out, None to finish; it ends
    quietly when the parent is gone."""
    signal.signal(signal.SIGTERM, _unwind)
    one_core()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):     # the parent is gone
            return
        if message is None:
            return
        _, item = message
        _item["done"] = False
        try:
            _reply(connection, call(function, item))
        except OSError:                 # the parent is gone (BrokenPipeError): no one to tell
            return
        _item["done"] = False
        if _item["stopped"]:
            return


def _reply(connection: Connection, result: Any) -> None:
    try:
        connection.send(result)
    except (pickle.PicklingError, TypeError, AttributeError):    # an exception that does not pickle
        connection.send(RuntimeError(f"{type(result).__name__}: {result}\n{traceback.format_exc()}"))


def _unwind(signum: int, frame: Any) -> None:
    if _item["done"]:
        _item["stopped"] = True       # the result is sent first, then the worker ends
        return
    raise SystemExit(128 + signum)


_item = {"done": False, "stopped": False}     # this worker's item: its work done for good, a stop waiting


def work_done() -> None:
    """Called in a worker by the item's function once its work is done for good (a copy issued and
    recorded): a stop that comes from now on waits until the result is sent, so that the row is not lost."""
    _item["done"] = True
