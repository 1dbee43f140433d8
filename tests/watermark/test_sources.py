"""Streamed batch inputs: walks, globs, stdin lists, and each bad input as one error."""

import io
import json
import os
import sys
import threading
import unicodedata

import pytest
from servers import http_server

from watermark import ImageFileError, InvalidImageError, ParameterError
from watermark.sources import Source, iter_sources, quoted, read_bytes, visible


def _tree(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/1.jpg", "a/2.PNG", "a/notes.txt", "a/.hidden.jpg", "a/deep/3.webp", "b.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_walk_is_sorted_recursive_images_only(tmp_path):
    root = _tree(tmp_path)
    names = [s.name for s in iter_sources([str(root / "a")])]
    assert names == [str(root / "a" / "1.jpg"), str(root / "a" / "2.PNG"), str(root / "a" / "deep" / "3.webp")]
    assert [s.name for s in iter_sources([str(root / "a")], recursive=False)] == names[:2]


def test_named_files_whatever_their_extension_and_globs(tmp_path):
    root = _tree(tmp_path)
    assert [s.name for s in iter_sources([str(root / "a" / "notes.txt")])] == [str(root / "a" / "notes.txt")]
    kept = [os.path.basename(s.name) for s in iter_sources([str(root)], include=["*.jpg", "*.webp"], exclude=["b*"])]
    assert kept == ["1.jpg", "3.webp"]


def test_stdin_list_is_read_lazily(tmp_path):
    lines = iter([f"{tmp_path}/{i}.jpg\n".encode() for i in range(100_000)])

    class Lazy(io.RawIOBase):
        def __iter__(self):
            return lines

    sources = iter_sources(["-"], stdin=Lazy())
    assert next(sources).name == f"{tmp_path}/0.jpg"
    assert next(lines) == f"{tmp_path}/1.jpg\n".encode()     # only what was asked for has been read


def test_a_stdin_name_that_is_not_utf8_is_one_error_and_the_list_goes_on():
    stdin = io.BytesIO(b"ok.jpg\nbad\xffname.jpg\n\ncaf\xc3\xa9.jpg\r\nlast.jpg")
    sources = list(iter_sources(["-"], stdin=stdin))
    assert [s.name for s in sources] == ["ok.jpg", "bad\\xffname.jpg", "café.jpg", "last.jpg"]
    assert sources[1].location == os.path.join(os.getcwd(), os.fsdecode(b"bad\xffname.jpg"))
    assert "not valid UTF-8" in sources[1].error
    assert [s.error for s in sources if s is not sources[1]] == [None, None, None]


def _list_unprivileged(root):
    """``iter_sources([root])`` as (name, error) pairs, listed by an unprivileged user when we are root
    (root reads any directory): a forked child drops to ``nobody`` and sends the listing back."""
    if os.geteuid() != 0:
        return [(s.name, s.error) for s in iter_sources([str(root)])]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:                           # the child: no exec, so nothing under /root is needed
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            payload = json.dumps([[s.name, s.error] for s in iter_sources([str(root)])]).encode()
            os.write(write_end, payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return [tuple(pair) for pair in json.loads(data)]


def test_unreadable_directory_is_reported_and_the_walk_goes_on(tmp_path_factory):
    root = _tree(tmp_path_factory.mktemp("walk"))
    for folder in (root, *root.parents):
        if str(folder) in ("/", "/tmp"):
            break
        folder.chmod(0o755)                  # let the unprivileged user reach the tree
    (root / "a" / "deep").chmod(0)
    try:
        sources = _list_unprivileged(root)
    finally:
        (root / "a" / "deep").chmod(0o755)
    errors = [error for _, error in sources if error]
    assert len(errors) == 1 and "cannot list directory" in errors[0] and "deep" in errors[0]
    assert {os.path.basename(name) for name, error in sources if not error} == {"1.jpg", "2.PNG", "b.jpg"}


def test_a_linked_directory_is_listed_once_and_a_link_back_is_one_error(tmp_path):
    """A folder of links to the photographs' folders gave no file at all ("0 scanned", exit 1, no word)."""
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "a.jpg").write_bytes(b"a")
    (tmp_path / "real" / "sub" / "b.jpg").write_bytes(b"b")
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "photos").symlink_to(tmp_path / "real")
    (tmp_path / "top" / "again").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "sub" / "up").symlink_to(tmp_path / "real")          # a loop
    found = [(s.name, s.error) for s in iter_sources([str(tmp_path / "top")])]
    top = tmp_path / "top"
    assert [name for name, error in found if not error] == [f"{top}/again/a.jpg", f"{top}/again/sub/b.jpg"]
    assert [name for name, error in found if error] == [f"{top}/photos", f"{top}/again/sub/up"]
    assert all("a symbolic link to a directory listed already" in error for _, error in found if error)


def test_bad_inputs_are_one_error_each(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    os.symlink(tmp_path / "loop2.jpg", tmp_path / "loop1.jpg")
    os.symlink(tmp_path / "loop1.jpg", tmp_path / "loop2.jpg")
    bad_name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jpg")
    with open(os.fsencode(bad_name), "wb") as handle:
        handle.write(b"x")
    cases = {
        "missing.jpg": (ImageFileError, "no such file"),
        "empty.jpg": (InvalidImageError, "empty file"),
        "loop1.jpg": (ImageFileError, "cannot read"),
    }
    for name, (error, text) in cases.items():
        with pytest.raises(error, match=text):
            read_bytes(Source(str(tmp_path / name), str(tmp_path / name)))
    listed = [s for s in iter_sources([str(tmp_path)]) if "caf" in s.name]
    assert len(listed) == 1 and listed[0].name.endswith("caf\\xe9.jpg") and "not valid UTF-8" in listed[0].error
    with pytest.raises(ImageFileError, match="not valid UTF-8"):
        read_bytes(listed[0])
    with pytest.raises(ImageFileError, match="is a directory"):
        read_bytes(Source(str(tmp_path), str(tmp_path)))


def test_a_file_that_grows_while_read_is_refused(tmp_path):
    path = tmp_path / "growing.jpg"
    path.write_bytes(b"\xff\xd8" + bytes(200_000_000))
    stop = threading.Event()

    def append():
        with open(path, "ab", buffering=0) as more:
            while not stop.is_set():
                more.write(b"more")

    writer = threading.Thread(target=append)
    writer.start()
    try:
        with pytest.raises(ImageFileError, match="changed while it was read"):
            read_bytes(Source(str(path), str(path)))
    finally:
        stop.set()
        writer.join()


def test_a_file_over_the_byte_limit_is_refused_unread(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:
        handle.truncate(8 * 2**30)                         # sparse: 8 GB that take no disk and are never read
    for location in (str(path), f"file://{path}"):
        with pytest.raises(ImageFileError, match=r"8,589,934,592 bytes exceeds the limit of 1,000"):
            read_bytes(Source(location, location), max_bytes=1000)
    (tmp_path / "small.png").write_bytes(b"x" * 1000)
    assert len(read_bytes(Source(str(tmp_path / "small.png"), str(tmp_path / "small.png")), max_bytes=1000)) == 1000


def test_a_url_over_the_byte_limit_is_refused():
    fsspec = pytest.importorskip("fsspec")
    with fsspec.open("memory://limit/big.png", "wb") as handle:
        handle.write(b"x" * 1001)
    with pytest.raises(ImageFileError, match="more than the limit of 1,000 bytes"):
        read_bytes(Source("memory://limit/big.png", "memory://limit/big.png"), max_bytes=1000)


def test_without_fsspec_a_url_names_the_urls_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ImageFileError, match=r"https://host/a.jpg: reading URLs needs fsspec: .*filigrane\[urls\]"):
        read_bytes(Source("https://host/a.jpg", "https://host/a.jpg"))


def test_file_urls_of_this_machine_are_read_as_local_paths(tmp_path):
    (tmp_path / "a b.png").write_bytes(b"spaced")
    for url in (f"file://{tmp_path}/a%20b.png", f"file://localhost{tmp_path}/a%20b.png"):
        assert read_bytes(Source(url, url)) == b"spaced"
    with pytest.raises(ImageFileError, match="no such file"):
        read_bytes(Source(f"file://{tmp_path}/absent.png", f"file://{tmp_path}/absent.png"))


def test_a_url_that_fails_is_an_error():
    with pytest.raises(ImageFileError, match="cannot read URL|cannot open this URL"):
        read_bytes(Source("memory://nowhere/x.jpg", "memory://nowhere/x.jpg"))


def test_an_http_url_is_read_whole():
    pytest.importorskip("aiohttp")
    with http_server(b"\x89PNG" + bytes(range(256)) * 40) as url:
        assert read_bytes(Source(url, url)) == b"\x89PNG" + bytes(range(256)) * 40


@pytest.mark.parametrize("stall", ["before-headers", "mid-body"])
def test_an_http_server_that_stalls_is_an_error_after_the_url_timeout(stall):
    # fsspec's own default held such a read for minutes, and with it a scan's worker
    pytest.importorskip("aiohttp")
    with http_server(b"\x89PNG" + bytes(10_000), stall=stall) as url:
        with pytest.raises(ImageFileError, match=rf"^{url}: no answer from the server within 0\.5 s$"):
            read_bytes(Source(url, url), url_timeout=0.5)


HANG = 30.0     # seconds: only a hang detector


def test_a_fifo_named_like_an_image_is_one_error_and_the_walk_goes_on(tmp_path):
    os.mkfifo(tmp_path / "a.jpg")                 # nothing ever writes to it: opening it to read would wait
    (tmp_path / "b.jpg").write_bytes(b"image")
    outcomes = []

    def read_all():
        for source in iter_sources([str(tmp_path)]):
            try:
                outcomes.append(read_bytes(source))
            except ImageFileError as exc:
                outcomes.append(str(exc))

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(HANG)
    if reader.is_alive():
        os.close(os.open(tmp_path / "a.jpg", os.O_WRONLY | os.O_NONBLOCK))    # let the stuck open go
        pytest.fail("reading a FIFO waited for a writer")
    assert outcomes == [f"{tmp_path / 'a.jpg'}: not a regular file", b"image"]


def test_local_locations_are_absolute_names_stay_as_typed(tmp_path, monkeypatch):
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "real" / "x.jpg").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real" / "deep")
    monkeypatch.chdir(tmp_path)
    sources = list(iter_sources(["real", "link/../x.jpg", "-", "https://host/a.jpg"],
                                stdin=io.BytesIO(b"real/x.jpg\n")))
    assert [s.name for s in sources] == ["real/x.jpg", "link/../x.jpg", "real/x.jpg", "https://host/a.jpg"]
    assert [s.location for s in sources] == [f"{tmp_path}/real/x.jpg", f"{tmp_path}/link/../x.jpg",
                                             f"{tmp_path}/real/x.jpg", "https://host/a.jpg"]
    monkeypatch.chdir(tmp_path.parent)             # a worker elsewhere reads the same files
    assert [read_bytes(s) for s in sources[:3]] == [b"x"] * 3      # link/.. as the kernel resolves it


@pytest.mark.parametrize("option", ["include", "exclude"])
def test_an_empty_pattern_is_refused_before_any_file(tmp_path, option):
    with pytest.raises(ParameterError, match=f"--{option} '': an empty pattern matches no file"):
        iter_sources([str(tmp_path)], **{option: ["*.jpg", ""]})      # at the call, not at the first file


def test_a_name_that_starts_or_ends_with_spaces_is_quoted_in_its_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"")
    listed = list(iter_sources(["-"], stdin=io.BytesIO(b" a.jpg\na.jpg \na.jpg\n")))
    assert [s.name for s in listed] == [" a.jpg", "a.jpg ", "a.jpg"]        # names kept as they are
    errors = []
    for source in listed:
        with pytest.raises((ImageFileError, InvalidImageError)) as caught:
            read_bytes(source)
        errors.append(str(caught.value))
    assert errors == ["' a.jpg': no such file (it may have been moved or deleted)",
                      "'a.jpg ': no such file (it may have been moved or deleted)", "a.jpg: empty file (0 bytes)"]


def test_every_character_that_does_not_show_is_written_out_so_that_two_names_never_look_one():
    """An attacker's probe: "Agence X" and "Agence X" with a zero-width space, and "Alice" with a no-break space,
    were shown alike in the report and on the terminal."""
    hidden = [chr(point) for point in range(0x110000) if chr(point) != " " and
              unicodedata.category(chr(point)) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")]
    assert len(hidden) > 2000 and [c for c in hidden if visible(c) == c] == []
    assert visible("Agence X\u200b, Alice\xa0, caf\u00e9, 日本, \u00c9") == "Agence X\\u200b, Alice\\xa0, café, 日本, É"
    # an audit: names need them after letters that are not ASCII (Persian, Indic, a Japanese name's ideographic
    # space, Hebrew's marks, emoji sequences and a subdivision flag's tags): kept there
    for name in ("क्\u200dष", "سلام\u200cعلیک", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "山田\u3000太郎",
                 "שלום\u200eעולם", "Studio \u2764\ufe0f",
                 "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"):
        assert visible(name) == name
    assert visible("Agence X\u200d") == "Agence X\\u200d" and visible("\u200cक") == "\\u200cक"
    assert visible("Bob\ufe0f") == "Bob\\ufe0f" and visible("a\u202eb") == "a\\u202eb"     # overrides: always


def test_a_name_that_would_end_a_message_early_or_hide_its_ends_is_quoted():
    assert quoted("a.jpg: attributed to X.jpg") == "'a.jpg: attributed to X.jpg'"
    assert quoted(" a.jpg") == "' a.jpg'" and quoted("a:b.jpg") == "a:b.jpg"
