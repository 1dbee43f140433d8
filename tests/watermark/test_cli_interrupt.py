"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) during embed and detect, with
and without worker processes: a prompt exit with status 130, no traceback, no partial file, no
process left behind. Each test interrupts real runs many times at different moments. SIGTERM (a
`kill`, a service stopping) and SIGHUP (a terminal closed) stop every command the same way, with
status 143 and 129."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import pytest
from photos import photo
from PIL import Image
from signals import interruptible

from watermark import Key
from watermark.registry import ISSUED, RESERVED, Registry

pytestmark = [pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc"),
              pytest.mark.xdist_group("heavy-and-signals")]   # never beside the null test (see there)

HANG = 30.0           # seconds: only a hang detector; a stopped run takes well under one
FILES = 30            # enough work that no run finishes inside the random delay on a fast machine


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt")
    key = folder / "k.key"
    Key.generate().save(key)
    big = cv2.resize(photo("astronaut"), (1200, 900), interpolation=cv2.INTER_CUBIC)
    inputs = []
    for index in range(FILES):
        path = folder / "in" / f"photo{index}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(big[:, ::-1] if index % 2 else big).save(path, compress_level=1)
        inputs.append(path)
    return key, inputs


def _group(pid: int) -> list[int]:
    """Live processes of process group ``pid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _has_children(pid: int) -> bool:
    """Whether process ``pid`` has started a child process: one small file per thread (a scan of
    every process, `_group`, where the kernel does not list children), so that waiting for the
    workers every 10 ms does not take CPU time from the command being watched."""
    try:
        return any((task / "children").read_text().split() for task in Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return len(_group(pid)) >= 2


def _interrupt(command: list[str], moment: str, rng: random.Random, stop: int = signal.SIGINT,
               group: bool = True) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group and send the group (or, not ``group``, the command alone)
    ``stop`` at ``moment``: as soon as it has child processes ("workers"), or once it printed its first
    result ("work"), plus a random delay; returns the finished process (or fails on a hang)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                               start_new_session=True, preexec_fn=interruptible)   # unbuffered: readline reads
    first = b""                                                                      # one line, not more
    try:
        if moment == "workers":
            while process.poll() is None and not _has_children(process.pid):
                time.sleep(0.01)
        else:
            first = process.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.6))
        assert process.poll() is None, "finished before the interrupt: give it more work"
        if group:
            os.killpg(process.pid, stop)
        else:
            process.send_signal(stop)
        out, err = process.communicate(timeout=HANG)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    deadline = time.monotonic() + 5.0
    while _group(process.pid) and time.monotonic() < deadline:   # the workers' exit is reaped by init
        time.sleep(0.05)
    assert not _group(process.pid), "worker processes left behind"
    return subprocess.CompletedProcess(command, process.returncode, (first + out).decode(), err.decode())


def _assert_stopped_cleanly(result: subprocess.CompletedProcess, folder: Path | None, status: int = 130) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.endswith("watermark: interrupted\n"), result.stderr
    if folder is not None:
        for path in folder.rglob("*"):
            assert not path.name.startswith("."), f"partial file left: {path}"
            with Image.open(path) as written:
                written.load()                     # every output there is whole


def _command(kind: str, key: Path, inputs: list[Path], out: Path, jobs: str) -> list[str]:
    options = ["-o", str(out), "--payload", "7"] if kind == "embed" else []
    return [sys.executable, "-m", "watermark", kind, *map(str, inputs), *options, "--key", str(key), "--jobs", jobs]


def test_ctrl_c_with_worker_processes(batch, tmp_path):
    key, inputs = batch
    rng = random.Random(2)
    for attempt in range(10):     # embed and detect, while the workers start and while they work
        kind, moment = ("embed", "detect")[attempt % 2], ("workers", "work")[attempt // 2 % 2]
        out = tmp_path / f"out{attempt}"
        _assert_stopped_cleanly(_interrupt(_command(kind, key, inputs, out, "2"), moment, rng),
                                out if kind == "embed" else None)


def test_ctrl_c_without_worker_processes(batch, tmp_path):
    key, inputs = batch
    rng = random.Random(1)
    for attempt in range(4):
        kind = ("embed", "detect")[attempt % 2]
        out = tmp_path / f"out{attempt}"
        _assert_stopped_cleanly(_interrupt(_command(kind, key, inputs, out, "1"), "work", rng),
                                out if kind == "embed" else None)


@pytest.mark.parametrize(("stop", "group"), [(signal.SIGTERM, False), (signal.SIGHUP, True), (signal.SIGTERM, True)])
def test_sigterm_and_sighup_stop_embed_and_detect_as_ctrl_c_does(batch, tmp_path, stop, group):
    key, inputs = batch
    rng = random.Random(stop)
    for attempt, (kind, jobs) in enumerate((("embed", "2"), ("detect", "2"), ("embed", "1"))):
        out = tmp_path / f"out{attempt}"
        _assert_stopped_cleanly(_interrupt(_command(kind, key, inputs, out, jobs), "work", rng, stop, group),
                                out if kind == "embed" else None, 128 + stop)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_during_embed_with_a_registry_leaves_each_copy_issued_or_waiting_for_the_rerun(batch, tmp_path, jobs):
    key, inputs = batch
    database, out = tmp_path / "r.db", tmp_path / "out"
    Registry(database, create=True).close()
    command = [sys.executable, "-m", "watermark", "embed", *map(str, inputs), "-o", str(out), "--key", str(key),
               "--registry", str(database), "--jobs", jobs]
    _assert_stopped_cleanly(_interrupt(command, "work", random.Random(3), signal.SIGTERM, group=False), out, 143)
    with Registry(database) as registry:
        counts = registry.counts()
        waiting = [record.output_path for record in registry.records(state=RESERVED)]
    written = sorted(str(path) for path in out.iterdir())
    assert counts["issued"] + counts["reserved"] == len(written) > 0, counts
    # a reservation stays only for a copy written just before the stop, which a rerun records
    assert all(path in written for path in waiting), (waiting, written)


def test_ctrl_c_during_embed_gives_the_row_of_every_copy_it_issued_and_the_count(batch, tmp_path):
    """Rows come in input order: a probe found copies issued by a worker while another still marked an
    earlier file recorded in the registry, but without their rows, which were held back and lost."""
    key, _ = batch
    database, out, folder = tmp_path / "r.db", tmp_path / "out", tmp_path / "in"
    folder.mkdir()
    big = cv2.resize(photo("coffee"), (1600, 1200), interpolation=cv2.INTER_CUBIC)
    inputs = []
    for index in range(16):                  # a large file, then small ones that finish while it is marked
        path = folder / f"{index:02d}.png"
        Image.fromarray(big if index % 4 == 0 else big[:300, :400]).save(path, compress_level=1)
        inputs.append(path)
    Registry(database, create=True).close()
    command = [sys.executable, "-m", "watermark", "embed", *map(str, inputs), "-o", str(out), "--key", str(key),
               "--registry", str(database), "--jobs", "2", "--json"]
    result = _interrupt(command, "work", random.Random(5))
    _assert_stopped_cleanly(result, out)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    with Registry(database) as registry:
        issued = {record.output_path for record in registry.records(state=ISSUED)}
    assert issued and issued <= {row["output"] for row in rows if row["status"] == "marked"}, (issued, result.stdout)
    assert f"watermark: {len(rows)} marked, 0 skipped, 0 failed\nwatermark: interrupted\n" in result.stderr


_LOADING = textwrap.dedent("""
    import sys

    class CtrlC:                     # a Ctrl-C while the scan command's modules load (most of the start-up)
        def find_spec(self, name, path=None, target=None):
            if name == "watermark.cli.scan":
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, CtrlC())
    from watermark.cli import main
    sys.exit(main(["scan", "--help"]))
""")


def test_ctrl_c_while_the_commands_load_is_interrupted_too():
    result = subprocess.run([sys.executable, "-c", _LOADING], capture_output=True, text=True, timeout=HANG)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "watermark: interrupted\n")
