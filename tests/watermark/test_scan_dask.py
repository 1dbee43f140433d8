"""``watermark scan --dask``: the same rows as a local scan, and a worker killed mid-scan costs no file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import distributed
import pytest

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


def test_a_worker_killed_mid_scan_costs_no_file(scan_world, cluster, tmp_path):
    world = scan_world
    many = tmp_path / "many"
    many.mkdir()
    for index in range(8):
        os.link(world / "crawl" / "coffee-rotated.png", many / f"{index:02d}.png")
    out = tmp_path / "out.jsonl"
    command = _command(world, "--dask", cluster.scheduler_address, "-o", str(out))
    command[4] = str(many)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with distributed.Client(cluster.scheduler_address) as client:
        while not out.exists() or out.read_text().count("\n") < 2:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)                       # the nanny starts a new worker
        _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["path"] for row in rows) == sorted(str(many / f"{i:02d}.png") for i in range(8))
    assert all(row["status"] == "attributed" for row in rows)


def _memory_settings():
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_ARENA_MAX")


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
