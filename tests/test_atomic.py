"""atomic.atomic_write: an output appears whole or not at all, however it is written.

On Linux the file is written unnamed (O_TMPFILE) and linked under its name once whole; elsewhere, or
where the file system lacks that, through a named temporary and a rename. Both must give the same
file: same bytes, same permission bits, same behaviour over an existing file.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat

import pytest

from segaug_cli import atomic

needs_unnamed = pytest.mark.skipif(not atomic._UNNAMED_FILES["supported"], reason="no O_TMPFILE here")


@pytest.fixture(params=[True, False], ids=["unnamed", "named-temporary"])
def way(request, monkeypatch):
    if request.param and not atomic._UNNAMED_FILES["supported"]:
        pytest.skip("no O_TMPFILE here")
    monkeypatch.setitem(atomic._UNNAMED_FILES, "supported", request.param)
    return request.param


def test_a_new_file_gets_its_bytes_in_a_new_folder(tmp_path, way):
    target = tmp_path / "images" / "deep" / "a.png"

    atomic.atomic_write(target, b"pixels")

    assert target.read_bytes() == b"pixels"
    assert os.listdir(target.parent) == ["a.png"]


def test_an_existing_file_is_replaced_whole_and_nothing_else_stays(tmp_path, way):
    target = tmp_path / "a.png"
    target.write_bytes(b"old bytes, longer than the new ones")

    atomic.atomic_write(target, b"new")

    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.png"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permission_bits_are_those_of_an_ordinary_new_file(tmp_path, way, umask):
    old = os.umask(umask)
    try:
        atomic.atomic_write(tmp_path / "a.png", b"x")
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


@needs_unnamed
def test_a_new_file_is_never_named_before_it_is_whole(tmp_path, monkeypatch):
    # the unnamed way links the finished file: no temporary name, no rename
    monkeypatch.setattr(os, "replace", lambda *a, **k: pytest.fail("a new file was renamed into place"))
    seen = []
    atomic.atomic_write_lines(tmp_path / "m.csv", (seen.append(os.listdir(tmp_path)) or b"row\n" for _ in range(3)))

    assert seen == [[], [], []]
    assert (tmp_path / "m.csv").read_bytes() == b"row\n" * 3


def test_a_failed_write_leaves_no_file_and_names_the_target(tmp_path, way):
    def fail(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left") as raised:
        atomic._write_atomically(tmp_path / "a.png", fail)

    assert raised.value.filename == str(tmp_path / "a.png")
    assert os.listdir(tmp_path) == []


def test_a_file_system_without_unnamed_files_falls_back_to_a_temporary(tmp_path, monkeypatch):
    real_open = os.open

    def no_tmpfile(path, flags, *args, **kwargs):
        if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
            raise OSError(errno.EOPNOTSUPP, "Operation not supported", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_tmpfile)
    monkeypatch.setitem(atomic._UNNAMED_FILES, "supported", hasattr(os, "O_TMPFILE"))

    atomic.atomic_write(tmp_path / "a.png", b"pixels")

    assert (tmp_path / "a.png").read_bytes() == b"pixels"
    assert atomic._UNNAMED_FILES["supported"] is False  # asked once, not again for every file


def _write_in_child(path: str) -> None:
    atomic.atomic_write(path, b"from the child")


@needs_unnamed
@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_worker_links_its_own_files_not_its_parents(tmp_path):
    # the parent has opened /proc/self/fd: a child that reused that descriptor would link the parent's
    # open files by number, not its own
    atomic.atomic_write(tmp_path / "parent.png", b"from the parent")
    keep_open = open(tmp_path / "parent.png", "rb")  # noqa: SIM115 - a parent descriptor the child might hit
    try:
        child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(str(tmp_path / "c.png"),))
        child.start()
        child.join(30)
    finally:
        keep_open.close()

    assert child.exitcode == 0
    assert (tmp_path / "c.png").read_bytes() == b"from the child"
    assert (tmp_path / "parent.png").read_bytes() == b"from the parent"


@needs_unnamed
def test_a_file_system_that_cannot_name_an_unnamed_file_still_gets_it_whole(tmp_path, monkeypatch):
    # some file systems accept O_TMPFILE but refuse linkat; the bytes already written are not lost
    def refuse(*args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "link", refuse)
    monkeypatch.setitem(atomic._UNNAMED_FILES, "supported", True)
    chunks = iter([b"written ", b"once"])  # a generator cannot be replayed: the bytes must be copied

    atomic.atomic_write_lines(tmp_path / "m.csv", chunks)

    assert (tmp_path / "m.csv").read_bytes() == b"written once"
    assert os.listdir(tmp_path) == ["m.csv"]
    assert atomic._UNNAMED_FILES["supported"] is False
