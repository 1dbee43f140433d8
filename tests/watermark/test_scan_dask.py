"""``watermark scan --dask``: the same rows as a local scan, and a worker killed mid-scan costs no file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import pytest
from signals import interruptible

# One xdist worker runs the module, so that the local cluster and its processes start once.
pytestmark = pytest.mark.xdist_group("dask")


def _rows(text):
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        row.pop("ms")
    return sorted(rows, key=lambda row: row["path"])


def _command(world, *extra):
    return [sys.executable, "-m", "watermark", "scan", str(world / "crawl"), "--registry", str(world / "r.db"),
            "--key", str(world / "studio.key"), "--json", *extra]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


def test_a_local_cluster_gives_the_local_rows(scan_world, crawl_scan, cluster):
    world, local = scan_world, crawl_scan                  # the same command without --dask
    on_dask = subprocess.run(_command(world, "--dask", cluster.scheduler_address), capture_output=True, text=True)
    assert on_dask.returncode == local.returncode == 2, on_dask.stderr     # the crawl holds a broken file
    assert _rows(on_dask.stdout) == _rows(local.stdout)


def _scan_killing_a_worker(world, address, many, out):
    """The scan of ``many`` on the cluster at ``address`` into ``out``, one of its workers killed once two rows
    are written (its nanny starts a new one): the command and its finished process, stderr read."""
    command = _command(world, "--dask", address, "-o", str(out))
    command[4] = str(many)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with distributed.Client(address) as client:
        while not out.exists() or out.read_text().count("\n") < 2:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        os.kill(next(iter(client.run(os.getpid).values())), signal.SIGKILL)
        _, stderr = process.communicate(timeout=600)
    return command, process.returncode, stderr


def test_a_worker_killed_mid_scan_costs_no_file(scan_world, cluster, tmp_path):
    world = scan_world
    many = tmp_path / "many"
    many.mkdir()
    for index in range(8):
        os.link(world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    out = tmp_path / "out.jsonl"
    _, returncode, stderr = _scan_killing_a_worker(world, cluster.scheduler_address, many, out)
    assert returncode == 0, stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["path"] for row in rows) == sorted(str(many / f"{i:02d}.png") for i in range(8))
    assert all(row["status"] == "attributed" for row in rows)


def _memory_settings():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_ARENA_MAX")


def test_the_only_worker_killed_mid_scan_is_one_line_and_resume_finishes(scan_world, tmp_path):
    """A platform engineer's probe: the scanner sent to the workers went with the last worker holding it (its
    nanny started a fresh one), and every file after gave 'FutureCancelledError ... already forgotten', raised
    as a bug with its traceback. Now one line; the rows written stay and --resume finishes."""
    many, out = tmp_path / "many", tmp_path / "out.jsonl"
    many.mkdir()
    for index in range(10):
        os.link(scan_world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        command, returncode, stderr = _scan_killing_a_worker(scan_world, local.scheduler_address, many, out)
    assert returncode == 2 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == (f"watermark: lost every Dask worker that held the scan's data at "
                                       f"{local.scheduler_address}: the rows written so far stay; the same command "
                                       "with --resume continues")
    resumed = subprocess.run([*command[:-4], "--resume", "-o", str(out)], capture_output=True, text=True)   # local
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(row["path"] for row in map(json.loads, out.read_text().splitlines())) == sorted(
        str(path) for path in many.iterdir())


def test_workers_running_another_filigrane_stop_the_scan_before_any_file(scan_world, cluster, monkeypatch):
    """A platform engineer's probe: a worker on another revision was taken, and 5 of 9 rows differed from the
    local scan's without a word. Here this process's code is made to differ from the workers'."""
    from watermark import Key, WatermarkError, batch, batch_dask
    from watermark.errors import FiligraneWarning
    from watermark.scan import Scanner
    from watermark.sources import iter_sources

    monkeypatch.setattr(batch_dask, "code_digest", lambda: "0123456789ab")
    scanner = Scanner(str(scan_world / "r.db"), [Key.load(scan_world / "studio.key")])
    with pytest.raises(WatermarkError, match=r"^a worker runs another Filigrane \(its code [0-9a-f]{12}, this one's "
                                             r"0123456789ab\): install the same on every worker as on the machine "
                                             r"that scans, or its rows would differ \(2 of 2 workers, tcp://"), \
            pytest.warns(FiligraneWarning, match="unencrypted"):
        next(batch.run(iter_sources([str(scan_world / "crawl")]), scanner, dask=cluster.scheduler_address))


def test_the_local_cluster_of_dask_starts_its_workers_with_glibcs_thresholds_and_one_arena():
    """Dask's default MALLOC_TRIM_THRESHOLD_ and a worker thread's own arena doubled a scan's CPU time
    (see watermark/batch_dask.py); the cluster `--dask` starts gives its workers neither."""
    from watermark.batch_dask import _client

    client = _client("local", 1)
    try:
        assert list(client.run(_memory_settings).values()) == [(None, "1")]
    finally:
        local = client.cluster
        client.close()
        local.close()


def _spilling(dask_worker):
    return dask_worker.memory_manager.memory_target_fraction, dask_worker.memory_manager.memory_spill_fraction


def test_the_local_cluster_is_the_scanning_users_alone_and_never_spills_the_keys_to_disk():
    """A probe, as another local user, found the local cluster's scheduler on 127.0.0.1, joined it without
    credentials and read the scattered scanner's keys; its dashboard listened on every interface, and a
    worker under memory pressure wrote the keys to /tmp."""
    from watermark.batch_dask import _client

    client = _client("local", 1)
    try:
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        with pytest.raises((OSError, TimeoutError)):               # a client without the run's certificate
            distributed.Client(address.replace("tls://", "tcp://"), timeout=2)
        with pytest.raises((OSError, TimeoutError)):               # or with certificates of its own
            distributed.Client(address, security=distributed.Security.temporary(), timeout=2)
        assert list(client.run(_spilling).values()) == [(False, False)]
    finally:
        local = client.cluster
        client.close()
        local.close()


def test_a_scheduler_reached_over_plain_tcp_is_warned_of(scan_world, cluster):
    on_dask = subprocess.run(_command(scan_world, "--dask", cluster.scheduler_address), capture_output=True, text=True)
    assert (f"watermark: warning: --dask {cluster.scheduler_address}: the scan's keys go to the scheduler and its "
            "workers unencrypted") in on_dask.stderr
    assert on_dask.stderr.count("unencrypted") == 1


def test_relative_suspects_are_read_by_workers_in_another_directory(scan_world, cluster):
    world = scan_world                  # the cluster's workers work in this test's directory, the scan in the world's
    command = _command(world, "--dask", cluster.scheduler_address)
    command[4:5] = ["crawl/exact.png", "-"]
    on_dask = subprocess.run(command, input="crawl/master.png\n", cwd=world, capture_output=True, text=True)
    assert on_dask.returncode == 0, on_dask.stderr
    assert sorted((row["path"], row["status"]) for row in _rows(on_dask.stdout)) == [
        ("crawl/exact.png", "exact"), ("crawl/master.png", "exact")]


def _reached(moment, process, out):
    """Whether ``process`` started its cluster's workers (after the resource tracker: three children), or wrote
    its first row to ``out``."""
    if moment == "start":
        tasks = Path(f"/proc/{process.pid}/task").iterdir()
        return sum(len((task / "children").read_text().split()) for task in tasks) >= 3
    return out.exists() and out.read_text() != ""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("moment", ["start", "work"])
def test_ctrl_c_on_a_local_cluster_is_one_line(scan_world, tmp_path, moment):
    world, many, out = scan_world, tmp_path / "many", tmp_path / "out.jsonl"
    many.mkdir()
    for index in range(8):
        os.link(world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    command = _command(world, "--dask", "--jobs", "2", "-o", str(out))
    command[4] = str(many)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=interruptible)
    try:
        while not _reached(moment, process, out):
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)               # as a terminal's Ctrl-C: the whole group
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130 and stderr.endswith("watermark: interrupted\n"), stderr
    assert all(line.startswith("watermark: ") for line in stderr.splitlines()), stderr


def test_a_scheduler_lost_mid_scan_is_one_line_and_resume_finishes(scan_world, tmp_path):
    """A probe killed the scheduler of the README's three commands mid-scan: client tracebacks, then one
    more as if a worker had a bug. The rows written stay valid and --resume continues on a new cluster."""
    world, many, out = scan_world, tmp_path / "many", tmp_path / "out.jsonl"
    many.mkdir()
    for index in range(10):
        os.link(world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    log = tmp_path / "scheduler.log"
    with open(log, "w") as written:
        scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                      "--port", "0", "--dashboard-address", ":0"], stderr=written)
    worker = None
    try:
        while "Scheduler at:" not in log.read_text():
            assert scheduler.poll() is None, log.read_text()
            time.sleep(0.1)
        address = log.read_text().split("Scheduler at:")[1].split()[0]
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--dashboard-address", ":0"], stderr=subprocess.DEVNULL)
        command = _command(world, "--dask", address, "-o", str(out))
        command[4] = str(many)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not out.exists() or out.read_text().count("\n") < 2:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        scheduler.kill()
        _, stderr = process.communicate(timeout=300)
    finally:
        for started in (scheduler, worker):
            if started is not None and started.poll() is None:
                started.kill()
                started.wait()
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == (f"watermark: lost the Dask scheduler at {address}: the rows written so far "
                                       "stay; once it and its workers are back, the same command with --resume "
                                       "continues")
    done = [json.loads(line) for line in out.read_text().splitlines()]
    assert done and all(row["status"] == "attributed" for row in done)
    resumed = subprocess.run([*command[:-4], "--resume", "-o", str(out)], capture_output=True, text=True)   # local
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(row["path"] for row in map(json.loads, out.read_text().splitlines())) == sorted(
        str(path) for path in many.iterdir())


def test_workers_that_cannot_open_the_registry_stop_the_scan_before_any_file(scan_world, cluster, tmp_path):
    """A probe's worker without the registry at the scan's path gave one error row per file; each worker is
    now asked first (here none sees the file, removed after the scanner was made)."""
    from watermark import Key, WatermarkError, batch
    from watermark.errors import FiligraneWarning
    from watermark.scan import Scanner
    from watermark.sources import iter_sources

    copy = tmp_path / "r.db"
    copy.write_bytes((scan_world / "r.db").read_bytes())
    scanner = Scanner(str(copy), [Key.load(scan_world / "studio.key")])
    copy.unlink()
    sources = iter_sources([str(scan_world / "crawl")])
    with pytest.raises(WatermarkError, match=rf"^{copy}: no registry at this path on the worker at .*\(2 of 2 "
                                             r"workers, tcp://[0-9.:]+ the first\)$"), \
            pytest.warns(FiligraneWarning, match="unencrypted"):
        next(batch.run(sources, scanner, dask=cluster.scheduler_address))


def test_a_worker_that_joins_mid_scan_without_the_registry_stops_it_in_one_line(scan_world, tmp_path):
    """Workers are asked for the registry at the start; one that joined later, and could not open it,
    gave an error row for every file it took: it now stops the scan, the rows written stay, --resume
    continues."""
    many = tmp_path / "many"
    many.mkdir()
    for index in range(16):
        os.link(scan_world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    copy, out = tmp_path / "r.db", tmp_path / "out.jsonl"
    copy.write_bytes((scan_world / "r.db").read_bytes())
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        command = [*_command(scan_world, "--dask", local.scheduler_address, "-o", str(out))]
        command[4], command[6] = str(many), str(copy)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while not out.exists() or out.read_text().count("\n") < 1:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        copy.unlink()                          # the first worker holds it open; a new one cannot see it
        local.scale(2)
        _, stderr = process.communicate(timeout=600)
    assert process.returncode == 2 and "Traceback" not in stderr, stderr
    assert re.search(rf"^watermark: {copy}: no registry at this path on the worker at ", stderr.splitlines()[-1])
    done = [json.loads(line) for line in out.read_text().splitlines()]
    assert 1 <= len(done) < 16 and not any(row["error"] for row in done)


def test_the_code_digest_tells_apart_a_change_or_a_renamed_module_anywhere_in_the_package(tmp_path, monkeypatch):
    from watermark import batch_dask

    copy = tmp_path / "watermark"
    shutil.copytree(Path(batch_dask.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(batch_dask, "__file__", str(copy / "batch_dask.py"))     # the digest of the copy
    digest = batch_dask.code_digest.__wrapped__                                     # uncached: a process has one
    digests = [digest()]
    views = copy / "schemes" / "lattice" / "views.py"                                # in a subpackage
    views.write_text(views.read_text() + "# another revision\n")
    digests.append(digest())
    views.rename(views.with_name("views_renamed.py"))                               # same bytes, same order
    digests.append(digest())
    assert len(set(digests)) == 3
