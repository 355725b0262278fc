"""The local backend (``storage/local.py``): a path or a file:// URL is a local folder, its writes
are atomic, and a local OUT is held by the ``fcntl`` lock, not a lease."""

from __future__ import annotations

from segaug_cli import storage
from segaug_cli.storage import lock


def test_a_local_path_and_a_file_url_are_local_folders(tmp_path):
    assert isinstance(storage.open_location(tmp_path), storage.LocalLocation)
    assert storage.open_location(f"file://{tmp_path}").url == str(tmp_path)
    assert not storage.is_url(tmp_path) and storage.is_url("s3://b/p") and not storage.is_url("file:///x")


def test_a_local_write_is_todays_atomic_write(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(storage.atomic, "atomic_write", lambda path, data: calls.append((path, data)))
    storage.open_location(tmp_path).write("images/a.png", b"x")
    assert calls == [(str(tmp_path / "images" / "a.png"), b"x")]


def test_a_local_out_keeps_the_fcntl_lock(tmp_path):
    with storage.open_out(tmp_path, {}, hold=True) as out:  # a local OUT holds no lease: its lock is fcntl's
        assert not hasattr(out, "lease") and lock.holder_of(tmp_path) is not None
        assert out.holder().pid == _who_pid()


def _who_pid() -> int:
    import os

    return os.getpid()
