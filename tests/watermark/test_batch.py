"""One function over a stream: every item once, failures as results, dead workers cost nothing."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from signals import interruptible

from watermark import batch


def square_or_fail(x):
    """x * x; raises for 7; kills its own worker process for 13 when asked to."""
    if x == 7:
        raise ValueError("seven")
    if x == 13 and os.environ.get("FILIGRANE_TEST_KILL_13"):
        os._exit(1)
    return x * x


def slow_square(x):
    time.sleep(0.05)
    return x * x


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_item_once_with_failures_as_results(jobs):
    results = list(batch.run(iter(range(30)), square_or_fail, jobs=jobs))
    assert sorted(item for item, _ in results) == list(range(30))
    outcome = dict(results)
    assert isinstance(outcome[7], ValueError) and outcome[29] == 841


def test_no_more_worker_processes_than_items(monkeypatch):
    started = []
    real = batch._Worker.__init__

    def counted(self, *args):
        started.append(self)
        real(self, *args)

    monkeypatch.setattr(batch._Worker, "__init__", counted)
    assert sorted(batch.run(iter(range(3)), square_or_fail, jobs=8)) == [(0, 0), (1, 1), (2, 4)]
    assert len(started) == 3


@pytest.mark.parametrize("address", ["local", "tcp://127.0.0.1:8786"])
def test_without_dask_a_dask_run_is_one_line_saying_what_to_install(monkeypatch, address):
    from watermark import WatermarkError, batch_dask

    for module in ("dask.distributed", "distributed", "distributed.comm"):
        monkeypatch.setitem(sys.modules, module, None)        # as on an install without the dask extra
    with pytest.raises(WatermarkError, match="--dask needs Dask and distributed: pip install 'filigrane\\[dask\\]'"):
        batch_dask.check_address(address)
    with pytest.raises(WatermarkError, match="--dask needs Dask and distributed"):
        list(batch.run(iter(range(3)), square_or_fail, jobs=1, dask=address))


def test_results_in_input_order_when_asked():
    assert [item for item, _ in batch.run(iter(range(25)), slow_square, jobs=2, ordered=True)] == list(range(25))


def test_a_worker_that_dies_costs_only_its_item(monkeypatch):
    monkeypatch.setenv("FILIGRANE_TEST_KILL_13", "1")      # spawned workers inherit the environment
    results = list(batch.run(iter(range(40)), square_or_fail, jobs=2))
    assert sorted(item for item, _ in results) == list(range(40))
    outcome = dict(results)
    assert isinstance(outcome[13], batch.WorkerDiedError)
    assert all(outcome[i] == i * i for i in range(40) if i not in (7, 13))


def test_items_are_pulled_as_workers_free_up():
    pulled = []

    def items():
        for i in range(1000):
            pulled.append(i)
            yield i

    stream = batch.run(items(), slow_square, jobs=2)
    next(stream)
    assert len(pulled) < 20           # a window per worker, not the whole stream
    stream.close()


_INTERRUPTED = textwrap.dedent("""
    import os, sys, time
    sys.path[:0] = [sys.argv[1], os.path.dirname(sys.argv[1])]      # test_batch, and the tests' helpers
    from watermark import batch
    from test_batch import slow_square
    try:
        for item, result in batch.run(iter(range(10_000)), slow_square, jobs=2):
            print(item, flush=True)
    except KeyboardInterrupt:
        sys.exit(130)
""")


@pytest.mark.xdist_group("heavy-and-signals")   # never beside the null test
def test_ctrl_c_stops_the_batch_and_its_workers_promptly():
    for _ in range(3):
        process = subprocess.Popen([sys.executable, "-c", _INTERRUPTED, os.path.dirname(__file__)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                   preexec_fn=interruptible)
        assert process.stdout.readline()             # running: the workers are up
        os.killpg(process.pid, signal.SIGINT)        # as a terminal's Ctrl-C: the whole group
        try:
            _, stderr = process.communicate(timeout=20)   # a hang detector, not a timing
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("the batch did not stop after Ctrl-C")
        assert process.returncode == 130
        assert "Traceback" not in stderr
        assert _group_ends(process.pid), "worker processes were left behind"


def _group_ends(group, patience=50):
    """Whether every process of ``group`` is gone within ``patience`` tenths of a second (a hang
    detector: multiprocessing's resource tracker leaves once its parent has gone)."""
    for _ in range(patience):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def thread_counts(_):
    """OpenCV's threads and the most threads a loaded BLAS library may use, in this process."""
    import cv2
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return cv2.getNumThreads(), max(blas)


def test_each_worker_process_computes_on_one_core(monkeypatch):
    import cv2
    from threadpoolctl import threadpool_limits

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")      # as a user's may say: spawned workers inherit it
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)
    try:
        with threadpool_limits(limits=4, user_api="blas"):
            assert {counts for _, counts in batch.run(iter(range(4)), thread_counts, jobs=2)} == {(1, 1)}
            assert thread_counts(None) == (4, 4)           # this process's own pools, as they were
    finally:
        cv2.setNumThreads(before)


_KILLED = textwrap.dedent("""
    import os, sys
    sys.path[:0] = [sys.argv[1], os.path.dirname(sys.argv[1])]
    from watermark import batch
    from test_batch import slow_square
    for item, result in batch.run(iter(range(10_000)), slow_square, jobs=2):
        print(item, flush=True)
""")


@pytest.mark.xdist_group("heavy-and-signals")   # never beside the null test
def test_workers_whose_parent_was_killed_end_quietly():
    process = subprocess.Popen([sys.executable, "-c", _KILLED, os.path.dirname(__file__)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline()             # the workers are at work
        process.kill()                               # SIGKILL: the parent stops no one
        _, stderr = process.communicate(timeout=60)  # ends once every worker, holding stderr, is gone
        assert _group_ends(process.pid), "worker processes were left behind"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("address", ["inproc://x", "ucx://127.0.0.1:8786", "tls://127.0.0.1:8786"])
def test_a_dask_protocol_a_client_here_cannot_use_is_one_line(address):
    from watermark import ParameterError, batch_dask

    with pytest.raises(ParameterError, match=rf"^--dask '{address}': "):
        batch_dask.check_address(address)


@pytest.mark.parametrize("scheme", ["ws", "wss", "tcp"])
def test_every_protocol_is_checked_for_a_scheduler_that_answers(scheme):
    import socket

    from watermark import WatermarkError, batch_dask

    with socket.socket() as probe:                   # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        address = f"{scheme}://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(WatermarkError, match=rf"^cannot reach the Dask scheduler at {address} \(Connection refused\)$"):
        batch_dask.check_address(address)


def test_an_unexpected_error_on_one_file_is_its_row_and_the_batch_goes_on():
    """A bug on one file (Pillow's "EXIF data is too long" once) stopped a batch with a traceback: the files
    after it were never done and the count was printed short."""
    from pathlib import Path

    from watermark.cli.batch import Job
    from watermark.cli.embed import _embed_failed

    def run(pair, **options):
        raise ValueError("EXIF data is too long")

    outcome = Job(run, _embed_failed)((Path("in/b.jpg"), Path("out/b.jpg")))
    assert outcome.status == "failed" and outcome.row["path"] == "in/b.jpg"
    assert outcome.row["error"] == ("in/b.jpg: unexpected error (ValueError: EXIF data is too long); this is a bug "
                                    "in Filigrane, please report it")


def die_once(x):
    """Kills its worker the first time it sees 13 (a marker file says it did), then succeeds."""
    marker = os.environ["FILIGRANE_TEST_MARKER"]
    if x == 13 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return x * x


def test_an_item_whose_worker_died_once_is_tried_again_and_succeeds(monkeypatch, tmp_path):
    monkeypatch.setenv("FILIGRANE_TEST_MARKER", str(tmp_path / "died"))
    outcome = dict(batch.run(iter(range(20)), die_once, jobs=2))
    assert (tmp_path / "died").exists() and outcome[13] == 169


def test_a_stream_closed_while_a_worker_has_sent_its_result_closes():
    """A clean-clone CI run: closing the stream while a result already sent was unread made the generator
    yield it from its clean-up, "generator ignored GeneratorExit"; a reader that closes wants no more."""
    stream = batch._in_processes(iter(range(6)), slow_square, 2)
    next(stream)
    workers = stream.gi_frame.f_locals["workers"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(worker.held is not None and worker.connection.poll(0)
                                                  for worker in workers):
        time.sleep(0.05)
    stream.close()
