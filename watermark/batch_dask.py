"""`watermark.batch.run` on a Dask cluster (``pip install 'filigrane[dask]'``).

The function is sent to the workers once (scattered), the items as they are pulled, a window of a
few per worker thread; results come back as they finish. A scan's function holds its keys: a local
cluster is the scanning user's alone (mutual TLS with certificates made for it, workers that never spill
data to disk; its dashboard's status pages on the loopback), and a scheduler reached over plain tcp:// or ws://
is warned of (the keys cross the network unencrypted, and any client that reaches it can read them).
A worker that dies loses nothing: the scheduler runs its tasks again elsewhere (up to
``distributed.scheduler.allowed-failures`` times), and each item's result is yielded once. A local
cluster's workers never see Ctrl-C (see `run_on_dask`): the client answers it, closing the cluster,
whose workers log only what is critical: a close cancels tasks (warnings) and can cut a worker's
heartbeat to the scheduler (an error with its traceback), neither of which is the scan's; a file's
own failure comes back as its row.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import logging
import os
import socket
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from .errors import FiligraneWarning, ParameterError, WatermarkError
from .threads import one_thread

__all__ = ["run_on_dask", "check_address", "code_digest", "DASK_EXTRA"]

T = TypeVar("T")
DASK_EXTRA = "pip install 'filigrane[dask]'"
_WINDOW = 8          # tasks in flight per worker thread
_CONNECT_SECONDS = 10.0
# The protocols of a scheduler on another machine (ws, wss: through a proxy; tls, wss: with Dask's own TLS
# settings). Dask's inproc:// is its own process's, and ucx:// is gone from distributed.
_SCHEMES = ("tcp", "tls", "ws", "wss")
_PLAIN = ("tcp", "ws")
# a local cluster's workers keep what they hold in memory: the scattered scan holds the keys, and Dask's
# spill directory is under /tmp, readable by all
_NO_SPILLING = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False}
# How the local cluster's nannies start workers. Dask's default MALLOC_TRIM_THRESHOLD_=65536 also fixes
# glibc's mmap threshold: every array over 128 KiB is then mapped afresh and faulted in, which doubles a
# scan's CPU time (one-off, 12 1080p JPEGs in one process: 3.8 -> 7.5 s); and a task runs in a worker
# thread, whose own malloc arena gives its large arrays back to the system as eagerly (2.9 -> 4.2 s;
# one arena: 3.0 s). README "On a cluster" says how to start remote workers the same way.
_TRIM = "MALLOC_TRIM_THRESHOLD_"
_WORKER_ENVIRON = {f"distributed.nanny.pre-spawn-environ.{_TRIM}": None,
                   "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": 1}


@contextlib.contextmanager
def _worker_environ() -> Iterator[None]:
    """Nannies started here spawn workers with `_WORKER_ENVIRON`. A nanny also copies its settings into
    this process's environment, which its children inherit: an earlier cluster's trim threshold is
    held back meanwhile."""
    import dask

    held = os.environ.pop(_TRIM, None)
    try:
        with dask.config.set(_WORKER_ENVIRON):
            yield
    finally:
        if held is not None:
            os.environ[_TRIM] = held


def _client(address: str, workers: int) -> Any:
    """A client of the scheduler at ``address``, or of a new local cluster of ``workers`` processes."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise WatermarkError(f"--dask needs Dask and distributed: {DASK_EXTRA}") from None
    if address == "local":
        import dask
        from distributed import Security

        # any free port for the dashboard, on the loopback: None still asks for 8787, taken by any other
        # cluster on the machine, and ":0" listens on every interface
        with _worker_environ(), dask.config.set(_NO_SPILLING):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address="127.0.0.1:0", security=Security.temporary(),
                                   silence_logs=logging.CRITICAL)
        return Client(cluster)
    check_address(address)
    if _scheme(address) in _PLAIN:
        warnings.warn(f"--dask {address}: the scan's keys go to the scheduler and its workers unencrypted, and "
                      "any client that reaches the scheduler can read them; use tls:// with client certificates "
                      "(README, On a cluster)", FiligraneWarning, stacklevel=3)
    # a lost scheduler is said in one line (`run_on_dask`), not in the client's tracebacks as it reconnects
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=f"{_CONNECT_SECONDS:g}s")
    except (OSError, TimeoutError) as exc:
        raise WatermarkError(f"cannot reach the Dask scheduler at {address} ({exc})") from None


def check_address(address: str) -> None:
    """A `ParameterError` unless ``address`` is ``local`` or a scheduler's address over a protocol a client
    elsewhere can use (`_SCHEMES`), a `WatermarkError` when Dask is not installed or nothing answers there:
    said before a scan opens its outputs (what ``--dask`` took may be the first file's name; a scheduler
    that is down refuses at once, where Dask's client would wait 10 s)."""
    try:
        from distributed import Security
        from distributed.comm import parse_address, parse_host_port
    except ImportError:
        raise WatermarkError(f"--dask needs Dask and distributed: {DASK_EXTRA}") from None
    if address == "local":
        try:
            import cryptography  # noqa: F401  (the local cluster's certificates)
        except ImportError:
            raise WatermarkError(f"--dask needs cryptography for the local cluster's certificates: {DASK_EXTRA}") \
                from None
        return
    scheme = _scheme(address)
    if scheme not in _SCHEMES:
        raise ParameterError(f"--dask {address!r}: a scheduler is reached over tcp://, tls://, ws:// or wss://, "
                             f"not {scheme}://")
    if scheme == "tls" and Security().get_connection_args("client")["ssl_context"] is None:
        raise ParameterError(f"--dask {address!r}: tls:// needs Dask's TLS settings (distributed.comm.tls.ca-file, "
                             ".client.cert and .client.key in Dask's configuration)")
    try:
        host_port = parse_host_port(parse_address(address)[1])
    except ValueError as exc:          # no port
        raise ParameterError(f"--dask {address!r} is not a scheduler's address ({exc}); give tcp://HOST:PORT, "
                             "or --dask alone for a local cluster") from None
    try:
        socket.create_connection(host_port, timeout=_CONNECT_SECONDS).close()
    except OSError as exc:             # a host name that does not resolve, nothing listening
        raise WatermarkError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc})") from None
    try:                               # something answers: a scheduler? (Dask's own client waits for ever if not)
        kind = asyncio.run(asyncio.wait_for(_identity(address, Security()), _CONNECT_SECONDS)).get("type")
    except TimeoutError:
        kind = f"no answer in {_CONNECT_SECONDS:g} s"
    except (OSError, ValueError) as exc:       # a connection closed at once: a TLS scheduler answers tcp:// so
        tls = " (a scheduler that asks for TLS answers tcp:// so: give tls://)" if scheme == "tcp" else ""
        kind = f"{str(exc) or type(exc).__name__}{tls}"
    if kind != "Scheduler":
        raise WatermarkError(f"{address} answers, but not as a Dask scheduler ({kind}): give the address "
                             "`dask scheduler` prints")


def _scheme(address: str) -> str:
    """The protocol of a scheduler's ``address``: tcp, Dask's default, when it names none."""
    return address.partition("://")[0] if "://" in address else "tcp"


async def _identity(address: str, security: Any) -> dict:
    """What the server at ``address`` says it is, asked as Dask's client asks (its ``identity``)."""
    from distributed.core import rpc

    server = rpc(address, connection_args=security.get_connection_args("client"))
    try:
        return dict(await server.identity())
    finally:
        await server.close_rpc()


def _call(function: Callable[[T], Any], item: T) -> Any:
    """``function(item)`` on a Dask worker, on one thread as every worker of `watermark.batch`'s: the same
    results as a local run's, whatever the worker's machine."""
    with one_thread():
        return function(item)


def run_on_dask(items: Iterable[T], function: Callable[[T], Any], *, workers: int, address: str,
                hold: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
                ) -> Iterator[tuple[int, T, Any]]:
    """``(index, item, function(item))`` as each finishes on the cluster; an item's exception is its result.
    A local cluster starts, and every client closes, in a ``hold()`` block: `watermark.batch`'s, which keeps
    Ctrl-C from its workers and from cutting the start or the close half-way; a client of a remote scheduler
    connects outside it, so that Ctrl-C ends a connection that does not come. A scheduler lost mid-scan ends
    it with one `WatermarkError`."""
    client: Any = None
    try:
        # first: without Dask, the one line that says what to install; a local cluster's start held whole
        with hold() if address == "local" else contextlib.nullcontext():
            client = _client(address, workers)
        from dask.distributed import as_completed

        _check_workers(client, function)
        threads = max(1, sum(client.nthreads().values()))
        shared = client.scatter(function, broadcast=True, hash=False)
        source = enumerate(items)
        held: dict[str, tuple[int, T]] = {}

        def submit(entry: tuple[int, T]) -> Any:
            future = client.submit(_call, shared, entry[1], pure=False)
            held[future.key] = entry
            return future

        running = as_completed([submit(entry) for entry in itertools.islice(source, threads * _WINDOW)])
        for future in running:
            index, item = held.pop(future.key)
            try:
                result = future.result()
            except Exception as exc:        # the item's own failure, or a worker that kept dying on it
                if client.status != "running" or "scheduler-connection-lost" in str(exc):
                    raise WatermarkError(f"lost the Dask scheduler at {client.scheduler.address}: the rows written "
                                         "so far stay; once it and its workers are back, the same command with "
                                         "--resume continues") from None
                if isinstance(exc, CancelledError):     # the function's data went with the last worker holding it
                    raise WatermarkError(f"lost every Dask worker that held the scan's data at "
                                         f"{client.scheduler.address}: the rows written so far stay; the same "
                                         "command with --resume continues") from None
                result = exc
            yield index, item, result
            future.release()
            for entry in itertools.islice(source, 1):
                running.add(submit(entry))
    finally:
        if client is not None:
            with hold():
                _close(client)


def _check_workers(client: Any, function: Callable[[T], Any]) -> None:
    """Every worker runs this Filigrane (its code, `code_digest`: another revision's rows would differ without
    a word) and passes ``function.check()``, when it has one (a scanner's registry that a machine does not see
    at the scan's path): what one of them cannot do stops the batch with one line before any item, rather than
    in every item's result. At least one worker must have joined within ``_CONNECT_SECONDS``."""
    try:
        client.wait_for_workers(1, timeout=_CONNECT_SECONDS)
    except TimeoutError:
        raise WatermarkError(f"no Dask worker joined the scheduler at {client.scheduler.address} in "
                             f"{_CONNECT_SECONDS:g} s: start workers (dask worker ADDRESS) and run again") from None
    answers = client.run(_check, function, on_error="return")
    ours = code_digest()
    failed = sorted(((worker, answer if isinstance(answer, BaseException) else _another_revision(answer, ours))
                     for worker, answer in answers.items() if answer != ours), key=lambda pair: pair[0])
    if failed:
        worker, error = failed[0]
        if isinstance(error, ModuleNotFoundError) and error.name == "watermark":
            error = WatermarkError("Filigrane is not installed on the workers: install it there as here")
        raise WatermarkError(f"{error} ({len(failed)} of {len(answers)} workers, {worker} the first)")


def _another_revision(theirs: str, ours: str) -> WatermarkError:
    return WatermarkError(f"a worker runs another Filigrane (its code {theirs}, this one's {ours}): install the "
                          "same on every worker as on the machine that scans, or its rows would differ")


def _check(function: Any) -> str:
    """What a worker answers `_check_workers`: its code, once ``function`` passed its check."""
    if callable(getattr(function, "check", None)):
        function.check()
    return code_digest()


@functools.cache
def code_digest() -> str:
    """A digest of this process's Filigrane: its package's modules, names and contents (12 hex digits)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _close(client: Any) -> None:
    """Close ``client``, and the local cluster it started, if any."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
