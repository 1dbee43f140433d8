import os
import stat
import warnings

import numpy as np
import pytest

import watermark as wm
from watermark import keys

GOLDEN_KEY = wm.Key(bytes(range(32)))
GOLDEN_WORDS = [244059679557628792, 18088916763177497807, 5071552091148220202]
GOLDEN_PERMUTATION = [0, 3, 4, 2, 5, 1]
GOLDEN_PUBLIC_ID = "6da8314738448e64a3ef580439949f2f"


def test_key_streams_never_change():
    # If this fails, every mark made so far becomes unreadable: bump the purpose's version instead.
    assert keys.words(GOLDEN_KEY, "golden/v1", 3).tolist() == GOLDEN_WORDS
    assert keys.chips(GOLDEN_KEY, "golden/v1", 4).tolist() == [-1.0, 1.0, -1.0, -1.0]
    assert keys.permutation(GOLDEN_KEY, "golden/v1", 6).tolist() == GOLDEN_PERMUTATION


def test_public_id_never_changes_and_differs_from_the_fingerprint():
    # Registries find a key's records by this id: if it changes, every registry loses its keys.
    assert GOLDEN_KEY.public_id == GOLDEN_PUBLIC_ID
    assert len(GOLDEN_KEY.public_id) == 32 and GOLDEN_KEY.fingerprint not in GOLDEN_KEY.public_id
    assert wm.Key(bytes(range(1, 33))).public_id != GOLDEN_KEY.public_id
    assert bytes(range(32)).hex() not in GOLDEN_KEY.public_id


def test_streams_depend_on_key_and_purpose():
    other = wm.Key(bytes(range(1, 33)))
    assert not np.array_equal(keys.words(GOLDEN_KEY, "a/v1", 8), keys.words(other, "a/v1", 8))
    assert not np.array_equal(keys.words(GOLDEN_KEY, "a/v1", 8), keys.words(GOLDEN_KEY, "b/v1", 8))


def test_passphrase_is_deterministic_and_distinct():
    assert wm.Key.from_passphrase("alpha") == wm.Key.from_passphrase("alpha")
    assert wm.Key.from_passphrase("alpha") != wm.Key.from_passphrase("beta")
    with pytest.raises(wm.KeyFileError):
        wm.Key.from_passphrase("")


def test_save_load_round_trip_with_owner_only_mode(tmp_path):
    key = wm.Key.generate()
    path = tmp_path / "k.key"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert wm.Key.load(path) == key


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "k.key"
    wm.Key.generate().save(path)
    with pytest.raises(wm.KeyFileError, match="refusing to overwrite"):
        wm.Key.generate().save(path)
    assert os.listdir(tmp_path) == ["k.key"]      # nothing left beside it


def test_save_leaves_no_partial_key_when_the_write_fails(tmp_path, monkeypatch):
    """A full disk (ENOSPC at the sync) leaves no empty key file that a second keygen would refuse."""
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(wm.KeyFileError, match="cannot create key file \\(No space left on device\\)"):
        wm.Key.generate().save(tmp_path / "k.key")
    assert os.listdir(tmp_path) == []
    with pytest.raises(wm.KeyFileError, match="not a file name"):
        wm.Key.generate().save("")


@pytest.mark.parametrize("content, message", [
    (b"", "not a Filigrane key file"),
    (b"hello world\n", "not a Filigrane key file"),
    (b"filigrane-key v1\nzz\n", "corrupt key file"),
    (b"filigrane-key v1\n" + b"ab" * 31 + b"\n", "corrupt key file"),
    (b"\xff\xfe binary", "not a Filigrane key file"),
    (b"\x00\x01\x02", "not a Filigrane key file"),
])
def test_bad_key_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.key"
    path.write_bytes(content)
    with pytest.raises(wm.KeyFileError, match=message) as info:
        wm.Key.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_key_file_an_editor_gave_a_byte_order_mark_still_loads(tmp_path):
    key = wm.Key.generate()
    key.save(tmp_path / "k.key")
    with_bom = tmp_path / "bom.key"
    with_bom.write_bytes(b"\xef\xbb\xbf" + (tmp_path / "k.key").read_bytes())
    os.chmod(with_bom, 0o600)
    assert wm.Key.load(with_bom) == key


def test_missing_key_file(tmp_path):
    with pytest.raises(wm.KeyFileError, match="not found"):
        wm.Key.load(tmp_path / "absent.key")


def test_secret_never_in_repr():
    key = wm.Key(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(key) + str(key)
    assert key.fingerprint in repr(key)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_can_read_warns(tmp_path, mode):
    path = tmp_path / "shared.key"
    GOLDEN_KEY.save(path)
    assert wm.Key.load(path) == GOLDEN_KEY                        # 0600: no warning (warnings are errors here)
    path.chmod(0o711)
    assert wm.Key.load(path) == GOLDEN_KEY                        # others may run it: it shows them nothing
    path.chmod(mode)
    with pytest.warns(wm.KeyFilePermissionWarning, match=f"permissions {mode:04o} let other users read this key"):
        assert wm.Key.load(path) == GOLDEN_KEY


@pytest.mark.parametrize("passphrase, message", [
    (b"alpha", "the passphrase must be a str, got bytes"),
    (123, "the passphrase must be a str, got int"),
    (None, "the passphrase must be a str, got NoneType"),
    ("caf\udce9", "the passphrase is not valid Unicode text \\(it holds a lone surrogate"),
])
def test_a_passphrase_that_is_not_text_is_a_parameter_error(passphrase, message):
    with pytest.raises(wm.ParameterError, match=message) as info:
        wm.Key.from_passphrase(passphrase)
    assert "\n" not in str(info.value) and "caf" not in str(info.value)     # never echoed


def test_a_passphrase_error_keeps_no_trace_of_it():
    """An error reporter that records an exception's context found the whole passphrase there."""
    with pytest.raises(wm.ParameterError) as info:
        wm.Key.from_passphrase("correct horse \udce9")
    assert info.value.__context__ is None


def test_a_corrupt_key_files_digits_are_in_no_frame_of_its_traceback(tmp_path):
    """Error reporters that record each frame's locals (Sentry's default) saw 63 of 64 digits of a cut key."""
    digits = bytes(range(32)).hex()
    (tmp_path / "cut.key").write_text(f"filigrane-key v1\n{digits[:-1]}\n")
    with pytest.raises(wm.KeyFileError) as info:
        wm.Key.load(tmp_path / "cut.key")
    frame = info.value.__traceback__.tb_next           # past this test's own frame, which holds the digits
    assert frame is not None
    while frame is not None:
        assert not any(digits[:32] in repr(value) for value in frame.tb_frame.f_locals.values())
        frame = frame.tb_next


def test_a_shared_key_file_s_warning_raised_holds_no_secret_in_its_frames(tmp_path):
    """A service's probe: under -W error, the warning about a key file others may read was raised while the
    key's 32 bytes were a local of the frame, which error reporters record."""
    key = wm.Key.generate()
    key.save(tmp_path / "shared.key")
    os.chmod(tmp_path / "shared.key", 0o644)
    secret = key._secret
    with warnings.catch_warnings(), pytest.raises(wm.KeyFilePermissionWarning) as info:
        warnings.simplefilter("error", wm.KeyFilePermissionWarning)
        wm.Key.load(tmp_path / "shared.key")
    frame = info.value.__traceback__.tb_next
    assert frame is not None
    while frame is not None:
        shown = [repr(value) for value in frame.tb_frame.f_locals.values()]
        assert not any(secret.hex() in text or repr(secret) in text for text in shown), shown
        frame = frame.tb_next


@pytest.mark.parametrize("passphrase, weak", [("a", True), ("tr0ub4dor&3", True), (" " * 30, True),
                                              ("correct horse battery staple", False)])
def test_a_short_passphrase_is_called_weak(passphrase, weak):
    assert (keys.passphrase_weakness(passphrase) is not None) == weak


def test_passphrase_keys_never_change():
    # Marks made with a passphrase key are read with the same passphrase years later.
    assert wm.Key.from_passphrase("correct horse battery staple").fingerprint == "9eae04af"
    assert wm.Key.from_passphrase("pässwörd").public_id == "c1151180dc2c1ccefda14e39984620b4"


def test_a_large_file_is_refused_without_being_read(tmp_path):
    with open(tmp_path / "big.key", "wb") as file:
        file.truncate(1 << 20)                         # 1 MiB, sparse
    os.chmod(tmp_path / "big.key", 0o600)
    with pytest.raises(wm.KeyFileError, match="not a Filigrane key file \\(more than 4 KiB") as info:
        wm.Key.load(tmp_path / "big.key")
    assert "\n" not in str(info.value)
    if os.path.exists("/dev/zero"):
        with pytest.raises(wm.KeyFileError, match="more than 4 KiB"):
            wm.Key.load("/dev/zero")


def test_a_secret_split_by_a_space_is_named_as_such(tmp_path):
    secret = bytes(range(32)).hex()
    path = tmp_path / "split.key"
    path.write_text(f"filigrane-key v1\n{secret[:10]} {secret[10:]}\n")
    with pytest.raises(wm.KeyFileError, match="no space or line break inside; found 2 words") as info:
        wm.Key.load(path)
    assert "expected a 'filigrane-key v1' header" not in str(info.value)
    path.write_text(f"filigrane-key v1 {secret}")                 # one line: accepted, as it always was
    path.chmod(0o600)
    assert wm.Key.load(path) == GOLDEN_KEY


def test_a_passphrase_of_twenty_characters_is_long_enough():
    assert keys.passphrase_weakness("a" * 20) is None
    assert keys.passphrase_weakness(" " + "a" * 19 + " ") is not None          # blanks at the ends do not count


def test_a_key_sent_to_a_worker_process_is_the_same_key():
    import pickle

    assert pickle.loads(pickle.dumps(GOLDEN_KEY)) == GOLDEN_KEY


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("mode, access", [(0o666, "read and change"), (0o620, "change"), (0o602, "change")])
def test_a_key_file_others_can_change_warns_what_they_can_do(tmp_path, mode, access):
    path = tmp_path / "shared.key"
    GOLDEN_KEY.save(path)
    path.chmod(mode)
    with pytest.warns(wm.KeyFilePermissionWarning, match=f"permissions {mode:04o} let other users {access} this key"):
        assert wm.Key.load(path) == GOLDEN_KEY


def test_a_key_file_of_another_version_is_refused(tmp_path):
    path = tmp_path / "future.key"
    path.write_text(f"filigrane-key v2\n{bytes(range(32)).hex()}\n")
    path.chmod(0o600)
    with pytest.raises(wm.KeyFileError, match="expected a 'filigrane-key v1' header"):
        wm.Key.load(path)
