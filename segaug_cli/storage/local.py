"""The local backend: a folder as a ``Location`` (each method the call segaug made before there were
URLs: ``atomic``, ``os``), and OUT in a folder (``LocalOut``)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path

from .. import atomic
from ..errors import UsageError
from ..shards import Shard
from . import lock
from .base import Entry, Location
from .books import books_for
from .lock import Holder
from .out import Concern, Out


class LocalLocation(Location):
    """A local folder: each method is the call segaug made before there were URLs."""

    def __init__(self, root: str):
        self.url = self.label = root

    def join(self, *names: str) -> str:
        return os.path.join(self.url, *names)

    def list(self, prefix: str = "") -> list[Entry]:
        top = os.path.join(self.url, prefix) if prefix else self.url
        found = []
        for current, _dirs, names in os.walk(top):  # nothing for a missing folder
            rel = os.path.relpath(current, self.url).replace(os.sep, "/")
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # removed while listed
                    size = os.stat(os.path.join(current, name), follow_symlinks=False).st_size
                    found.append(Entry(name if rel == "." else f"{rel}/{name}", size))
        return sorted(found, key=lambda e: e.name)

    def read(self, name: str) -> bytes:
        return Path(self.url, name).read_bytes()

    def read_input(self, name: str) -> bytes:
        from ..codecs import read_bytes  # OpenCV loads with the first pair read, not with the command

        return read_bytes(Path(self.url) / name)

    def write(self, name: str, data: bytes) -> None:
        path = os.path.join(self.url, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)  # a key has no folder to make in a store
        atomic.atomic_write(path, data)

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.url, name))

    def remove(self, name: str) -> None:
        atomic.remove_if_present(os.path.join(self.url, name))

    def files(self, prefer: str, suffixes: frozenset[str]) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """The visible files with these suffixes under ``prefer/`` (or the whole folder when it has no
        such sub-folder), named relative to the folder, in path order, each with its reader.

        Raises:
            UsageError: the folder does not exist.
        """
        root = Path(self.url)
        if not root.is_dir():
            raise UsageError(f"{root}: no such folder")
        if (root / prefer).is_dir():
            root = root / prefer
        from ..codecs import read_bytes

        # named relative to the folder given (masks/city/a.png), so a warning says where the file is
        for path in _visible_files(root, suffixes):
            yield path.relative_to(self.url).as_posix(), functools.partial(read_bytes, path)


def _visible_files(root: Path, suffixes: frozenset[str]) -> list[Path]:
    found = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(current, n) for n in names if not n.startswith(".") and Path(n).suffix.lower() in suffixes]
    return sorted(found)


class LocalOut(Out):
    """OUT in a local folder: its books live in it, an ``fcntl`` lock holds it (``lock``), and the journal
    is one file appended line by line.

    Held (``hold``), it is created if needed (``create``) and locked until the context ends; a usage
    error raised inside the context (an unreadable manifest, say) then leaves no OUT, and no lock file,
    that this command created. Not held (a dry run, ``check``), it is only read.
    """

    def __init__(self, folder: Path, shard: Shard | None = None, hold: bool = False, create: bool = False):
        self.folder = folder
        self.location = LocalLocation(str(folder))
        self.books = books_for(shard)
        self._shard = (shard.index, shard.count) if shard else None
        self._hold, self._create = hold, create
        self._stack = contextlib.ExitStack()
        self._created = False
        self._locks_before: set[Path] = set()

    def __enter__(self) -> LocalOut:
        if not self._hold:
            return self
        if not self._create and not self.folder.is_dir():
            raise UsageError(f"{self.folder}: no such folder")
        self._created = not self.folder.exists()
        self._locks_before = set() if self._created else set(self.folder.glob(".segaug*.lock"))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._stack.enter_context(lock.hold(self.folder, self._shard))
        except lock.OutLocked:
            raise
        except OSError as exc:
            self._remove_if_created()
            raise UsageError(f"{self.folder}: cannot write in this folder ({exc.strerror or exc})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        kind = exc[0] if exc else None
        try:  # while the lock is still held, so no other run sees what is undone
            if self._create and isinstance(kind, type) and issubclass(kind, UsageError):
                for path in set(self.folder.glob(".segaug*.lock")) - self._locks_before:
                    path.unlink(missing_ok=True)
                self._remove_if_created()
        finally:
            self._stack.close()

    def _remove_if_created(self) -> None:
        if self._created:
            with contextlib.suppress(OSError):
                self.folder.rmdir()

    def holder(self) -> Holder | None:
        return lock.holder_of(self.folder)

    def prepare(self, folders: tuple[str, ...], concern: Concern) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.clean_up(folders, concern)

    def clean_up(self, folders: tuple[str, ...], concern: Concern) -> None:
        """Delete temporary files that a killed run left behind (never under a final name); a shard run
        only its own (``concern``), since another shard may be writing beside it."""
        for rel, name in _files_under(self.folder, folders):
            if name.endswith(atomic.TEMP_SUFFIX) and concern(rel):
                atomic.remove_if_present(os.path.join(self.folder, rel))

    def remove(self, rels: Iterable[str]) -> None:
        for rel in rels:
            (self.folder / rel).unlink(missing_ok=True)

    def foreign(self, known: Container[str], folders: tuple[str, ...], concern: Concern) -> list[str]:
        return sorted(
            rel
            for rel, name in _files_under(self.folder, folders)
            if rel not in known and not name.endswith(atomic.TEMP_SUFFIX) and concern(rel)
        )

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.folder.iterdir())

    def drop_books(self, shard: Shard) -> None:
        own = books_for(shard)
        for name in (own.manifest, own.versions, own.errors, lock.shard_lock_file((shard.index, shard.count))):
            (self.folder / name).unlink(missing_ok=True)


def _files_under(out_dir: Path, folders: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(POSIX path relative to OUT, name) of every file under these folders of OUT, symlinks not followed.

    Strings, not Path objects: a run's end lists every output, and pathlib cost about 7 us a file. Each
    directory is streamed as it is read, in no order, so a flat OUT of a million outputs is never held
    as a list of names (``os.walk`` holds each directory's).
    """
    base = os.fspath(out_dir)
    for folder in folders:
        yield from _streamed(base, os.path.join(base, folder))


def _streamed(base: str, top: str) -> Iterator[tuple[str, str]]:
    """As ``os.walk(top)`` finds files (a link to a folder is not entered, nor listed as a file), unsorted."""
    pending = [top]
    while pending:
        current = pending.pop()
        prefix = os.path.relpath(current, base).replace(os.sep, "/")
        try:
            with os.scandir(current) as listing:  # nothing for a missing or unreadable folder
                for entry in listing:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if not is_dir:
                        yield f"{prefix}/{entry.name}", entry.name
                    elif not entry.is_symlink():
                        pending.append(entry.path)
        except OSError:
            continue
