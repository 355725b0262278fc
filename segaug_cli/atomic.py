"""Atomic writes: a file under its final name is whole, never a part, whatever stops the run.

Standard library only. On Linux a file is written unnamed (O_TMPFILE) and linked to its name once
whole; elsewhere through a hidden temporary file renamed over the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterable
from typing import BinaryIO, TypeVar

TEMP_SUFFIX = ".segaug-tmp"


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file appears whole or not at all.

    A crash or kill leaves either the old file or the new one under the final name, never a part.
    Leftover temporary files end in TEMP_SUFFIX and are cleaned up by the next run.
    """
    _write_atomically(path, lambda fh: fh.write(data))


def atomic_write_lines(path: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """``atomic_write`` for content produced piece by piece, never held whole in memory."""

    def write(fh) -> None:
        for chunk in chunks:
            fh.write(chunk)

    _write_atomically(path, write)


def remove_if_present(path: str | os.PathLike) -> None:
    """Delete a file; one already gone is no error."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_atomically(path: str | os.PathLike, write: Callable) -> None:
    # plain strings, not pathlib: this runs for every output file, and Path objects cost as much as the rename
    path = os.fspath(path)
    try:
        if _write_unnamed_then_link(path, write):
            return
        _write_temporary_then_rename(path, write)
    except OSError as exc:  # write(2) names no file (ENOSPC) and open names the temporary: name ``path``
        raise OSError(exc.errno, exc.strerror or str(exc), path) from exc


def _temporary_name(path: str) -> str:
    """``.<name>.<pid><TEMP_SUFFIX>`` beside ``path``: hidden, this process's own, and swept by the next run."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}{TEMP_SUFFIX}")


def _write_temporary_then_rename(path: str, write: Callable) -> None:
    tmp = _temporary_name(path)
    try:
        with _create(tmp) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        remove_if_present(tmp)
        raise


# Linux can create a file with no name (O_TMPFILE) and give it one once it is whole (linkat). The
# inode is then allocated outside the folder's lock, and the folder is locked once per file instead of
# twice (create, rename). Measured with 2 processes writing 2,000 files into one ext4 folder right
# after 2,000 deletions: 0.58 instead of 1.05 ms of CPU per file. Elsewhere, or on a file system
# without it, a named temporary and a rename.
_UNNAMED_FILES = {"supported": hasattr(os, "O_TMPFILE"), "pid": None, "proc_fd": None}
_CANNOT_LINK = (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS, errno.ENOENT)  # linkat refused


def _write_unnamed_then_link(path: str, write: Callable) -> bool:
    """Write through an unnamed file linked to ``path`` once whole; False where that is unsupported."""
    if not _UNNAMED_FILES["supported"]:
        return False
    folder = os.path.dirname(path) or "."
    try:
        fd = _open_unnamed(folder)
        proc_fd = _proc_fd_folder()
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):  # no O_TMPFILE, no /proc
            _UNNAMED_FILES["supported"] = False
            return False
        raise
    try:  # a failed write leaves nothing: the unnamed file goes with its descriptor
        with open(fd, "wb", closefd=False) as fh:
            write(fh)
        try:
            os.link(str(fd), path, src_dir_fd=proc_fd, follow_symlinks=True)
        except FileExistsError:  # replacing a file: name the new one, then rename it over the old
            _link_then_rename(fd, proc_fd, path)
        except OSError as exc:
            if exc.errno not in _CANNOT_LINK:
                raise
            _UNNAMED_FILES["supported"] = False  # a file system that makes unnamed files but cannot name them
            os.lseek(fd, 0, os.SEEK_SET)
            with open(fd, "rb", closefd=False) as written:
                _write_temporary_then_rename(path, lambda fh: shutil.copyfileobj(written, fh))
    finally:
        os.close(fd)
    return True


def _open_unnamed(folder: str) -> int:
    return _making_folder(folder, lambda: os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666))


def _proc_fd_folder() -> int:
    """This process's /proc/self/fd, opened once per process (a forked worker opens its own)."""
    if _UNNAMED_FILES["pid"] != os.getpid():
        _UNNAMED_FILES["proc_fd"] = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        _UNNAMED_FILES["pid"] = os.getpid()
    return _UNNAMED_FILES["proc_fd"]


def _link_then_rename(fd: int, proc_fd: int, path: str) -> None:
    tmp = _temporary_name(path)
    remove_if_present(tmp)
    try:
        os.link(str(fd), tmp, src_dir_fd=proc_fd, follow_symlinks=True)
        os.replace(tmp, path)
    except BaseException:
        remove_if_present(tmp)
        raise


def _create(path: str) -> BinaryIO:
    """Open a new file for writing, making its folder if missing."""
    return _making_folder(os.path.dirname(path), lambda: open(path, "wb"))  # noqa: SIM115 - the caller closes it


_T = TypeVar("_T")


def _making_folder(folder: str, create: Callable[[], _T]) -> _T:
    """``create()``, making ``folder`` first only when it is missing: a mkdir per file locks the parent
    folder, which workers writing side by side would queue on."""
    try:
        return create()
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        return create()
