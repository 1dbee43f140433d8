"""JSON lines as they come: complete lines only, resumable after a cut."""

import errno
import fcntl
import io
import json
import os
import stat
import subprocess
import sys

import pytest

from watermark import ImageFileError, OutputExistsError, ParameterError
from watermark.resultlog import ResultLog


def test_lines_are_written_as_they_come(tmp_path):
    path = tmp_path / "out.jsonl"
    with ResultLog(str(path)) as log:
        log.write({"path": "a.jpg", "status": "exact"})
        assert path.read_text() == '{"path": "a.jpg", "status": "exact"}\n'      # before close
        log.write({"path": "b.jpg", "status": "not-found"})
    assert [json.loads(line)["path"] for line in path.read_text().splitlines()] == ["a.jpg", "b.jpg"]


def test_an_existing_file_is_refused_unless_resumed_or_overwritten(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "a.jpg"}\n')
    with pytest.raises(OutputExistsError, match="--resume"):
        ResultLog(str(path))
    with ResultLog(str(path), overwrite=True) as log:
        log.write({"path": "z.jpg"})
    assert path.read_text() == '{"path": "z.jpg"}\n'


def test_resume_cuts_a_partial_line_and_knows_what_is_done(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "a.jpg"}\n{"path": "caf\\u00e9.jpg"}\n{"path": "c.j')
    with ResultLog(str(path), resume=True) as log:
        assert log.resumed == 2
        assert log.done("a.jpg") and log.done("café.jpg") and not log.done("c.jpg") and not log.done("d.jpg")
        log.write({"path": "c.jpg"})
    assert [json.loads(line)["path"] for line in path.read_text().splitlines()] == ["a.jpg", "café.jpg", "c.jpg"]


def test_resume_knows_a_local_file_however_its_path_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "sus/a.jpg"}\n{"path": "./b.jpg"}\n{"path": "s3://bucket/./c.jpg"}\n')
    with ResultLog(str(path), resume=True) as log:
        assert log.done("./sus/a.jpg") and log.done("sus//a.jpg") and log.done(str(tmp_path / "sus" / "a.jpg"))
        assert log.done("b.jpg") and not log.done("sus/../b.jpg")       # ".." through a link is elsewhere
        assert log.done("s3://bucket/./c.jpg") and not log.done("s3://bucket/c.jpg")    # a URL as it is


def test_resume_drops_error_rows_and_a_torn_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    rows = [{"path": "a.jpg", "status": "attributed"}, {"path": "b.jpg", "status": "error", "error": "b.jpg: gone"},
            {"path": "c.jpg", "status": "error", "error": "c.jpg: the file changed while it was read"},
            {"path": "d.jpg", "status": "exact"}, {"path": "e.jpg", "status": "not-found"}]
    lines = [json.dumps(row) + "\n" for row in rows]
    path.write_text("".join(lines) + '{"path": "f.j')
    with ResultLog(str(path), resume=True) as log:
        assert log.resumed == 3 and log.earlier == {"attributed": 1, "exact": 1, "not-found": 1}
        assert [log.done(name) for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg")] == [
            True, False, False, True, True, False]
    assert path.read_text() == "".join(lines[i] for i in (0, 3, 4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]     # no temporary file left


def test_resume_cuts_the_zeros_a_power_cut_leaves(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"path": "a.jpg"}\n' + b"\0" * 512)
    with ResultLog(str(path), resume=True) as log:
        assert log.done("a.jpg") and log.resumed == 1
    assert path.read_bytes() == b'{"path": "a.jpg"}\n'


@pytest.mark.parametrize("text", [
    "line one\nline two\nimportant data\n",                      # notes named as the output by mistake
    '{"path": "a.jpg"}\nimportant data\n{"path": "b.jpg"}\n',     # a line that is not a row, not the last
    '{"path": "a.jpg"}\n{"path": "b.jpg", "sta\n{"path": "c.jpg"}\n',   # a row cut in the middle
    '{"path": "a.jpg"}\n{"name": "b.jpg"}\n',                      # a JSON object without the key field
    '{"path": "a.jpg"}\n["a.jpg"]\n',                              # JSON, not an object: a whole last line
    "important data",                                              # one line, without its newline
])
def test_resume_refuses_a_file_that_is_not_a_batchs_output_and_leaves_it_as_it_is(tmp_path, text):
    path, link = tmp_path / "notes.jsonl", tmp_path / "link.jsonl"
    path.write_text(text)
    link.symlink_to(path.name)
    for given in (path, link):
        with pytest.raises(OutputExistsError, match=r"notes\.jsonl|link\.jsonl: line \d+ is not a row"):
            ResultLog(str(given), resume=True)
    assert path.read_text() == text and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.jsonl", "notes.jsonl"]


def test_resume_through_a_symbolic_link_rewrites_its_target(tmp_path):
    path, link = tmp_path / "out.jsonl", tmp_path / "link.jsonl"
    path.write_text('{"path": "a.jpg", "error": "a.jpg: gone"}\n{"path": "b.jpg"}\n')
    link.symlink_to(path.name)
    with ResultLog(str(link), resume=True) as log:
        assert log.done("b.jpg") and not log.done("a.jpg")
        log.write({"path": "a.jpg"})
    assert link.is_symlink() and path.read_text() == '{"path": "b.jpg"}\n{"path": "a.jpg"}\n'


def test_a_stream_without_a_file(tmp_path):
    stream = io.StringIO()
    log = ResultLog(stream=stream)
    log.write({"path": "x"})
    log.close()
    assert stream.getvalue() == '{"path": "x"}\n'
    with pytest.raises(OSError, match="output file"):
        ResultLog(resume=True)


def test_a_second_run_on_the_same_file_is_refused_and_the_first_writes_on(tmp_path):
    path = tmp_path / "out.jsonl"
    with ResultLog(str(path)) as first:
        first.write({"path": "a.jpg"})
        for options in ({"resume": True}, {"overwrite": True}, {}):  # none joins in, nor empties the file
            with pytest.raises(ImageFileError, match=rf"out\.jsonl: in use by another scan \(pid {os.getpid()}\)"):
                ResultLog(str(path), **options)
        first.write({"path": "b.jpg"})
    assert path.read_text() == '{"path": "a.jpg"}\n{"path": "b.jpg"}\n'
    with ResultLog(str(path), resume=True) as after:                  # the lock went with the first run
        assert after.resumed == 2


def test_a_run_in_another_process_is_refused_with_its_pid(tmp_path):
    path = tmp_path / "out.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from watermark.resultlog import ResultLog; "
                               "log = ResultLog(sys.argv[1]); print('open', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        with pytest.raises(ImageFileError, match=rf"in use by another scan \(pid {holder.pid}\)"):
            ResultLog(str(path), resume=True)
    finally:
        holder.communicate("")
    with ResultLog(str(path), resume=True):
        pass


def test_resume_locks_the_file_it_writes_before_it_takes_the_name_and_keeps_the_old_one_locked(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "a.jpg", "error": "a.jpg: gone"}\n{"path": "b.jpg"}\n')   # rewritten on resume
    early = os.open(path, os.O_WRONLY)               # a second run that opened the file just before the rewrite
    try:
        with ResultLog(str(path), resume=True) as log:
            assert log.done("b.jpg") and not log.done("a.jpg")
            with pytest.raises(BlockingIOError):
                fcntl.flock(early, fcntl.LOCK_EX | fcntl.LOCK_NB)      # the replaced file: still locked
            with pytest.raises(ImageFileError, match="in use by another scan"):
                ResultLog(str(path), resume=True)                      # the file that has the name
            log.write({"path": "a.jpg"})
    finally:
        os.close(early)
    assert path.read_text() == '{"path": "b.jpg"}\n{"path": "a.jpg"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def _rows_of(fields, **values):
    return json.dumps({name: values.get(name) for name in fields}) + "\n"


def test_resume_refuses_another_commands_rows(tmp_path):
    from watermark.cli.batch import DETECT_FIELDS
    from watermark.scan import ROW_FIELDS, STATUSES

    path = tmp_path / "detected.jsonl"
    text = _rows_of(DETECT_FIELDS, path="a.jpg", found=True, status="found")     # `watermark detect --json`
    path.write_text(text)
    with pytest.raises(OutputExistsError, match=r"line 1 is not a row of a scan's output \(it has no 'sha256'"):
        ResultLog(str(path), resume=True, fields=ROW_FIELDS, statuses=STATUSES)
    good = _rows_of(ROW_FIELDS, path="a.jpg", status="exact")
    path.write_text(good + _rows_of(ROW_FIELDS, path="b.jpg", status="found"))     # scan's fields, detect's status
    with pytest.raises(OutputExistsError, match=r"line 2 .*its status 'found' is none of a scan's"):
        ResultLog(str(path), resume=True, fields=ROW_FIELDS, statuses=STATUSES)
    assert path.read_text().startswith(good)
    path.write_text(good)
    with ResultLog(str(path), resume=True, fields=ROW_FIELDS, statuses=STATUSES) as log:
        assert log.done("a.jpg") and log.earlier == {"exact": 1}


def test_resume_and_overwrite_together_and_a_dash_are_refused(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "a.jpg"}\n')
    with pytest.raises(ParameterError, match="--resume .* --overwrite"):
        ResultLog(str(path), resume=True, overwrite=True)
    with pytest.raises(ParameterError, match="-o - is no file"):
        ResultLog("-")
    assert path.read_text() == '{"path": "a.jpg"}\n' and not os.path.exists("-")


class _Full(io.StringIO):
    name = "<stdout>"

    def __init__(self, error):
        super().__init__()
        self.error = error

    def flush(self):
        raise self.error


def test_a_full_stream_is_one_error_and_a_closed_pipe_stays_one():
    with pytest.raises(ImageFileError, match=r"^stdout: cannot write \(No space left on device\)$"):
        ResultLog(stream=_Full(OSError(errno.ENOSPC, "No space left on device"))).write({"path": "x"})
    with pytest.raises(BrokenPipeError):
        ResultLog(stream=_Full(BrokenPipeError(errno.EPIPE, "Broken pipe"))).write({"path": "x"})


def test_a_device_can_still_be_the_output_it_is_not_emptied():
    with ResultLog(os.devnull, overwrite=True) as log:           # locked, but a device has nothing to empty
        log.write({"path": "x"})


def test_a_run_that_stops_before_its_first_row_leaves_no_file_it_made(tmp_path):
    """A platform engineer's probe: a scan whose Dask workers could not start left an empty output, and its
    rerun was refused ('already exists; pass --resume'). A file the run made and wrote no row to goes; one
    with rows, or one resumed, stays."""
    path = tmp_path / "rows.jsonl"
    with pytest.raises(RuntimeError), ResultLog(str(path)):
        raise RuntimeError("no worker joined")
    assert not path.exists()
    with pytest.raises(KeyboardInterrupt), ResultLog(str(path)) as log:
        log.write({"path": "a.jpg"})
        raise KeyboardInterrupt
    assert path.read_text() == '{"path": "a.jpg"}\n'
    with pytest.raises(RuntimeError), ResultLog(str(path), resume=True):
        raise RuntimeError("stopped again")
    assert path.read_text() == '{"path": "a.jpg"}\n'
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(RuntimeError), ResultLog(str(empty), overwrite=True):
        raise RuntimeError("stopped")
    assert empty.exists()


def _short_writes(monkeypatch, most=3):
    """os.write as a full pipe or a signal makes it: at most ``most`` bytes a call."""
    write = os.write
    monkeypatch.setattr(os, "write", lambda descriptor, data: write(descriptor, bytes(data[:most])))


def test_a_row_cut_by_short_writes_is_written_whole(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    with ResultLog(str(path)) as log:
        _short_writes(monkeypatch)
        log.write({"path": "a.jpg", "status": "exact"})
        log.write({"path": "b.jpg", "status": "exact"})
    assert path.read_text() == '{"path": "a.jpg", "status": "exact"}\n{"path": "b.jpg", "status": "exact"}\n'


def test_a_stream_gets_what_its_text_layer_held_then_the_row_whole(tmp_path, monkeypatch):
    path = tmp_path / "stdout.txt"
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("before\n")                                    # held in the text layer's buffer
        _short_writes(monkeypatch)
        ResultLog(stream=stream).write({"path": "a.jpg"})
    assert path.read_text() == 'before\n{"path": "a.jpg"}\n'


def _syncs(monkeypatch, events):
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda descriptor: events.append(("fsync", os.fstat(descriptor).st_ino))
                        or fsync(descriptor))
    monkeypatch.setattr(os, "replace", lambda source, target: events.append(("replace", os.stat(source).st_ino))
                        or replace(source, target))


def test_closing_makes_the_rows_durable(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    events = []
    _syncs(monkeypatch, events)
    with ResultLog(str(path)) as log:
        log.write({"path": "a.jpg"})
    assert events == [("fsync", path.stat().st_ino)]


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_a_resume_that_rewrites_the_file_syncs_it_before_it_takes_the_name_and_keeps_its_mode(tmp_path, monkeypatch,
                                                                                              mode):
    path = tmp_path / "out.jsonl"
    path.write_text('{"path": "a.jpg", "error": "a.jpg: gone"}\n{"path": "b.jpg"}\n')     # a gap: rewritten
    path.chmod(mode)
    events = []
    _syncs(monkeypatch, events)
    with ResultLog(str(path), resume=True) as log:
        log.write({"path": "a.jpg"})
    new = path.stat().st_ino
    assert events[:2] == [("fsync", new), ("replace", new)]
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_text() == '{"path": "b.jpg"}\n{"path": "a.jpg"}\n'


def test_a_private_log_is_readable_by_its_owner_only(tmp_path):
    for private, mode in ((True, 0o600), (False, 0o666 & ~_umask())):
        path = tmp_path / f"{private}.jsonl"
        with ResultLog(str(path), private=private) as log:
            log.write({"path": "a.jpg"})
        assert stat.S_IMODE(path.stat().st_mode) == mode


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
def test_a_run_that_ends_without_rows_keeps_the_empty_file_it_made(tmp_path):
    path = tmp_path / "rows.jsonl"
    with ResultLog(str(path)):
        pass                                                         # a batch with nothing to do
    assert path.read_text() == ""


def test_a_file_replaced_while_it_was_being_locked_is_opened_again(tmp_path, monkeypatch):
    """Another run's --resume rewrote the file and put the new one at its name between this run's open and
    lock: the lock and the rows go to the file that has the name, not to the one it replaced."""
    from watermark import resultlog

    path, newer = tmp_path / "out.jsonl", tmp_path / "newer.jsonl"
    path.write_text('{"path": "old.jpg"}\n')
    newer.write_text('{"path": "a.jpg"}\n')
    lock, calls = resultlog._lock, []

    def lock_then_replace(descriptor, name):
        lock(descriptor, name)
        calls.append(name)
        if len(calls) == 1:
            os.replace(newer, path)

    monkeypatch.setattr(resultlog, "_lock", lock_then_replace)
    with ResultLog(str(path), resume=True) as log:
        assert log.done("a.jpg") and not log.done("old.jpg")
        log.write({"path": "b.jpg"})
    assert len(calls) == 2 and path.read_text() == '{"path": "a.jpg"}\n{"path": "b.jpg"}\n'
