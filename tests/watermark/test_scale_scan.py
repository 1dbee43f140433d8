"""``watermark scan`` at scale, as real processes: one run per output file, a full disk on stdout, a FIFO
among the suspects, SIGTERM and SIGHUP, and options or addresses that cannot work, refused before any
file (or output) is touched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scan_setup import run as _run
from servers import http_server
from signals import interruptible

HANG = 120.0          # seconds: only a hang detector
COPIES = 8            # files of a scan that is stopped, or that another scan meets, at its first rows


def _arguments(world, *args):
    return ["scan", *args, "--registry", world / "r.db", "--key", world / "studio.key"]


def _command(world, *args):
    return [sys.executable, "-m", "watermark", *map(str, _arguments(world, *args))]


def _copies(world, folder):
    """``folder`` holding `COPIES` copies of an attacked copy (each takes a second or so to attribute)."""
    folder.mkdir()
    for index in range(COPIES):
        os.link(world / "crawl" / "coffee-rotated.png", folder / f"{index:02d}.png")
    return folder


def _started(command, out):
    """``command`` started in its own process group, once it has written its first row to ``out``."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True, preexec_fn=interruptible)
    while not out.exists() or out.read_text().count("\n") < 1:
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)                 # not a busy loop: it took a core from the scan it waits for
    return process


def _one_line(result):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_second_scan_on_the_same_output_is_refused_and_the_first_loses_nothing(scan_world, tmp_path):
    world, out = scan_world, tmp_path / "hits.jsonl"
    command = _command(world, _copies(world, tmp_path / "many"), "-o", out)
    first = _started(command, out)
    try:
        os.killpg(first.pid, signal.SIGSTOP)     # held at its first rows, however long the second takes to start
        for option in ("--resume", "--overwrite"):
            second = subprocess.run([*command, option], capture_output=True, text=True, timeout=HANG)
            assert _one_line(second) == f"watermark: {out}: in use by another scan (pid {first.pid}); " \
                                        "wait for it to end, or write to another file"
        os.killpg(first.pid, signal.SIGCONT)
        _, stderr = first.communicate(timeout=HANG)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate()              # its pipes closed here, not in a later test's garbage collection
    assert first.returncode == 0, stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(row["path"]).name for row in rows) == [f"{i:02d}.png" for i in range(COPIES)]
    assert all(row["status"] == "attributed" for row in rows)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("arguments", [("scan", "--json"), ("scan",), ("detect", "--json"), ("detect",)])
def test_a_full_disk_on_stdout_is_one_line_and_exit_2(scan_world, arguments):
    world = scan_world
    extra = ("--registry", world / "r.db") if arguments[0] == "scan" else ()
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "watermark", *arguments, str(world / "crawl" / "exact.png"),
                                 "--key", str(world / "studio.key"), *map(str, extra)],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=HANG)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Exception" not in result.stderr
    assert result.stderr.splitlines()[-1] == "watermark: stdout: cannot write (No space left on device)"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("arguments", [("registry", "list"), ("registry", "export", "--json"), ("attack", "--list")])
def test_a_full_disk_on_stdout_is_one_line_and_exit_2_in_every_command(scan_world, arguments):
    extra = ["--registry", str(scan_world / "r.db")] if arguments[0] == "registry" else []
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "watermark", *arguments, *extra], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=HANG)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "watermark: stdout: cannot write (No space left on device)"]


def test_closed_standard_streams_are_one_line_not_a_traceback_or_exit_1(scan_world):
    """`>&-` left sys.stdout None: tracebacks, and exit 1 ("not found") for a marked file."""
    marked = str(scan_world / "crawl" / "exact.png")
    detect = [sys.executable, "-m", "watermark", "detect", "--key", str(scan_world / "studio.key")]
    closed = subprocess.run(detect + [marked], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(1), timeout=HANG)
    assert closed.returncode == 2 and closed.stderr.splitlines() == [
        "watermark: standard output is closed (>&-); send it to /dev/null instead"]
    closed = subprocess.run(detect + ["-"], capture_output=True, text=True, preexec_fn=lambda: os.close(0),
                            timeout=HANG)
    assert closed.returncode == 2 and closed.stderr.splitlines() == [
        "watermark: -: standard input is closed (<&-): '-' reads the paths there, one a line"]


def test_nothing_to_scan_is_exit_2_as_for_detect_not_exit_1(scan_world, tmp_path):
    """An empty folder, or an empty list on stdin, was "0 scanned", exit 1 ("none found"): detect and embed
    say "no image files" and exit 2."""
    (tmp_path / "empty").mkdir()
    for where, stdin in ((str(tmp_path / "empty"), None), ("-", subprocess.DEVNULL)):
        result = subprocess.run(_command(scan_world, where), stdin=stdin, capture_output=True, text=True, timeout=HANG)
        assert result.returncode == 2 and result.stderr.splitlines()[-1] == f"watermark: no image files in {where}"


def test_options_that_cannot_work_are_one_line_before_any_file(scan_world, tmp_path):
    world, out = scan_world, tmp_path / "hits.jsonl"
    out.write_text('{"path": "x"}\n')
    exact = world / "crawl" / "exact.png"
    refused = _run(*_arguments(world, exact, "-o", out, "--resume", "--overwrite"), cwd=tmp_path)
    assert _one_line(refused) == ("watermark: --resume continues the output and --overwrite replaces it: "
                                  "give one of them")
    refused = _run(*_arguments(world, exact, "-o", "-"), cwd=tmp_path)
    assert _one_line(refused).startswith("watermark: -o - is no file") and not (tmp_path / "-").exists()
    for option in ("--include", "--exclude"):
        refused = _run(*_arguments(world, exact, option, ""), cwd=tmp_path)
        assert _one_line(refused) == f"watermark: {option} '': an empty pattern matches no file"
    assert out.read_text() == '{"path": "x"}\n' and sorted(os.listdir(tmp_path)) == ["hits.jsonl"]


def test_resume_refuses_a_detect_output_and_an_empty_pattern_leaves_the_output_as_it_is(scan_world, tmp_path):
    world, out = scan_world, tmp_path / "detected.jsonl"
    exact = world / "crawl" / "exact.png"
    detected = _run("detect", exact, "--key", world / "studio.key", "--json", check=0)
    out.write_text(detected.stdout)
    refused = _run(*_arguments(world, exact, "-o", out, "--resume"))
    assert _one_line(refused) == (f"watermark: {out}: line 1 is not a row of a scan's output (it has no "
                                  "'sha256': another command's output, or an older Filigrane's?); not resumed, the "
                                  "file is left as it is")
    refused = _run(*_arguments(world, exact, "-o", out, "--overwrite", "--include", ""))
    assert _one_line(refused) == "watermark: --include '': an empty pattern matches no file"
    assert out.read_text() == detected.stdout


def test_a_name_ending_in_a_space_is_quoted_once_in_its_error_row(scan_world):
    name = f"{scan_world / 'crawl' / 'exact.png'} "
    result = _run(*_arguments(scan_world, "-", "--json"), input=name + "\n")
    row = json.loads(result.stdout)
    assert row["path"] == name and row["error"].startswith(f"{name!r}: ") and row["error"].count(name) == 1, row


def test_a_fifo_among_the_suspects_is_one_error_row_and_the_scan_goes_on(scan_world, tmp_path):
    world, folder = scan_world, tmp_path / "found"
    folder.mkdir()
    os.mkfifo(folder / "a.jpg")                    # nothing ever writes to it
    (folder / "b.png").write_bytes((world / "crawl" / "exact.png").read_bytes())
    result = subprocess.run([*_command(world, folder), "--json"], capture_output=True, text=True, timeout=HANG)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert [(row["status"], row["error"]) for row in rows] == [("error", f"{folder / 'a.jpg'}: not a regular file"),
                                                              ("exact", None)]


def _group(pid):
    """Whether process group ``pid`` still has a live process, within a few seconds (a hang detector)."""
    for _ in range(50):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.xdist_group("heavy-and-signals")   # never beside the null test
@pytest.mark.parametrize(("stop", "group"), [(signal.SIGTERM, False), (signal.SIGHUP, True)])
def test_sigterm_and_sighup_stop_a_scan_as_ctrl_c_does(scan_world, tmp_path, stop, group):
    world, out, report = scan_world, tmp_path / "hits.jsonl", tmp_path / "report"
    process = _started([*_command(world, _copies(world, tmp_path / "many"), "-o", out, "--report", report),
                        "--jobs", "2"], out)
    try:
        if group:
            os.killpg(process.pid, stop)
        else:
            process.send_signal(stop)
        _, stderr = process.communicate(timeout=HANG)
        assert not _group(process.pid), "worker processes were left behind"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + stop and "Traceback" not in stderr, stderr
    assert stderr.endswith(f"watermark: report written to {report / 'report.html'}\nwatermark: interrupted\n")
    assert " scanned: " in stderr
    assert "This scan was stopped before its last file" in (report / "report.html").read_text()
    done = out.read_text()
    assert done.endswith("\n") and all(json.loads(line)["status"] == "attributed" for line in done.splitlines())


@pytest.mark.parametrize("scheme", ["ws", "wss", "inproc", "ucx"])
def test_a_dask_address_of_any_protocol_is_checked_before_the_output_is_touched(scan_world, tmp_path, scheme):
    world, out = scan_world, tmp_path / "earlier.jsonl"
    out.write_text('{"path": "x"}\n')
    with socket.socket() as probe:          # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        address = f"{scheme}://127.0.0.1:{probe.getsockname()[1]}"
    refused = _run(*_arguments(world, world / "crawl", "-o", out, "--overwrite", "--dask", address))
    expected = (f"cannot reach the Dask scheduler at {address} (Connection refused)" if scheme.startswith("ws") else
                f"--dask '{address}': a scheduler is reached over tcp://, tls://, ws:// or wss://, not {scheme}://")
    assert _one_line(refused) == f"watermark: {expected}"
    assert out.read_text() == '{"path": "x"}\n'


def test_an_address_that_answers_but_is_no_dask_scheduler_is_one_line_and_leaves_the_output(scan_world, tmp_path):
    """A probe gave --dask the port of a web server: Dask's client waited for ever, deaf to Ctrl-C and
    SIGTERM, after --overwrite had emptied the output. The scheduler is asked who it is first."""
    world, out = scan_world, tmp_path / "earlier.jsonl"
    out.write_text('{"path": "x"}\n')
    with http_server(b"not a scheduler", stall="before-headers") as served:
        address = served.replace("http://", "tcp://").rsplit("/", 1)[0]
        refused = _run(*_arguments(world, world / "crawl", "-o", out, "--overwrite", "--dask", address))
    assert _one_line(refused) == (f"watermark: {address} answers, but not as a Dask scheduler (no answer in 10 s): "
                                  "give the address `dask scheduler` prints")
    assert out.read_text() == '{"path": "x"}\n'


def test_tcp_given_for_a_tls_scheduler_suggests_tls():
    """A platform engineer's probe: tcp:// to a scheduler that asks for TLS read 'answers, but not as a Dask
    scheduler', which it is."""
    distributed = pytest.importorskip("distributed")
    from watermark import WatermarkError, batch_dask

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tls://", dashboard_address=":0",
                                  security=distributed.Security.temporary()) as cluster:
        plain = cluster.scheduler_address.replace("tls://", "tcp://")
        with pytest.raises(WatermarkError, match=r"^tcp://.* answers, but not as a Dask scheduler \(.*\(a scheduler "
                                                 r"that asks for TLS answers tcp:// so: give tls://\)\)"):
            batch_dask.check_address(plain)
