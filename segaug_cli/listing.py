"""IN's files in key order: a folder walked one directory at a time, or an object store's listing.

Each directory's entries are sorted so that a depth-first walk meets the keys in code-point order, so
the pairing (``pairing``) can merge the images, masks and targets walks by key while holding only the
largest directory. Like ``pairing``, this loads neither NumPy nor OpenCV.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import PairError
from .extensions import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Listed:
    """An IN known by one listing (an object store's): its URL, its files as POSIX paths relative to it
    (sorted), and how to read one of them. ``find_pairs`` takes it where it takes a folder."""

    url: str
    files: tuple[str, ...]
    read: Callable[[str], bytes]

    def fetch(self, rel: str) -> bytes:
        """The bytes of one listed file; one removed since the listing fails its pair, not the run."""
        try:
            return self.read(rel)
        except FileNotFoundError:
            raise PairError(f"{self.url}/{rel}: cannot be read (no such object)") from None


def image_files(
    in_dir: Path | Listed, folder: str, order: Callable[[str], str], ignored: set[str]
) -> Iterator[tuple[str, str]]:
    """(path relative to IN, stem relative to ``folder``) of each image under ``folder``, in the order
    of ``order(stem)``: the key the stem gives. Files that are not images go to ``ignored``;
    hidden files and folders are skipped silently."""
    start = folder_prefix(folder)
    if isinstance(in_dir, Listed):
        yield from _listed_files(in_dir, start, order, ignored)
        return
    root = in_dir / folder
    yield from _walk_sorted(str(root), start, "", order, ignored, {os.path.realpath(root)})


def _walk_sorted(
    path: str, start: str, inner: str, order: Callable[[str], str], ignored: set[str], seen: set[str]
) -> Iterator[tuple[str, str]]:
    """One directory's images and sub-folders, depth first, sorted so that keys come in code-point order.

    A sub-folder sorts as its name plus ``/`` among its siblings' keys: every key under it begins so,
    and no key of a file (which holds no ``/``) can sit between them. Symlinked folders are followed
    once; a link back to a folder already seen is skipped, so a link loop cannot hang the walk.
    """
    for name, is_dir in _sorted_entries(path, start, inner, order, ignored):
        if is_dir:
            sub = os.path.join(path, name)
            real = os.path.realpath(sub)
            if real in seen:
                continue
            seen.add(real)
            yield from _walk_sorted(sub, start, f"{inner}{name}/", order, ignored, seen)
        else:
            yield start + inner + name, inner + stem_of(name)


# Entries sorted at a time. A larger directory (ADE20K and VOC ship every image in one) is held as
# sorted runs of this many entries, each packed into one bytes object, and merged: about the length of
# a name and its key per entry, where a tuple of two str objects costs some 200 bytes more.
_RUN = 4096
# Code-point order of str is the byte order of its UTF-8 encoding; surrogatepass keeps that true for the
# undecodable bytes of a name (``os.scandir`` gives them as lone surrogates), and no name holds a NUL.
_CODEC = ("utf-8", "surrogatepass")


def _sorted_entries(
    path: str, start: str, inner: str, order: Callable[[str], str], ignored: set[str]
) -> Iterator[tuple[str, bool]]:
    """(name, is a folder) of the images and sub-folders in one directory, in the order of their keys:
    a record ``key NUL name NUL flag`` sorts as the tuple (key, name, is a folder) would."""
    runs: list[bytes] = []
    batch: list[bytes] = []
    try:
        with os.scandir(path) as listing:
            for entry in listing:
                record = _record(entry, start, inner, order, ignored)
                if record is not None:
                    batch.append(record)
                    if len(batch) == _RUN:
                        runs.append(_packed(batch))
                        batch = []
    except OSError:  # unreadable, or gone since it was listed: as os.walk, nothing under it is found
        return
    batch.sort()
    records = heapq.merge(*map(_unpacked, runs), batch) if runs else batch
    for record in records:
        _, name, flag = record.split(b"\0")
        yield name.decode(*_CODEC), flag == b"1"


def _record(
    entry: os.DirEntry[str], start: str, inner: str, order: Callable[[str], str], ignored: set[str]
) -> bytes | None:
    """One entry's sort record; None for a hidden one, or a file that is no image (noted in ``ignored``)."""
    name = entry.name
    if name.startswith("."):
        return None
    try:
        is_dir = entry.is_dir()
    except OSError:
        is_dir = False
    if is_dir:
        key, flag = f"{inner}{name}/", "1"
    elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
        key, flag = order(inner + stem_of(name)), "0"
    else:
        ignored.add(start + inner + name)
        return None
    return f"{key}\0{name}\0{flag}".encode(*_CODEC)


def _packed(batch: list[bytes]) -> bytes:
    """One sorted run of records in one bytes object, NUL between them."""
    batch.sort()
    return b"\0".join(batch)


def _unpacked(run: bytes) -> Iterator[bytes]:
    """The records of a packed run, in order, one at a time: a record is key, name and a one-byte flag."""
    at = 0
    while at < len(run):
        end = run.index(b"\0", run.index(b"\0", at) + 1) + 2
        yield run[at:end]
        at = end + 1


def _listed_files(
    in_dir: Listed, start: str, order: Callable[[str], str], ignored: set[str]
) -> Iterator[tuple[str, str]]:
    found = []
    for rel in in_dir.files:
        if not rel.startswith(start) or any(part.startswith(".") for part in rel[len(start) :].split("/")):
            continue
        if os.path.splitext(rel)[1].lower() in IMAGE_EXTENSIONS:
            stem = stem_of(rel[len(start) :])
            found.append((order(stem), rel, stem))
        else:
            ignored.add(rel)
    found.sort()
    for _, rel, stem in found:
        yield rel, stem


def folder_prefix(folder: str) -> str:
    """What every path under ``folder`` begins with, relative to IN: ``images/``, or nothing for IN itself."""
    top = PurePosixPath(folder).as_posix().strip("/")
    return "" if top in ("", ".") else f"{top}/"


def stem_of(rel: str) -> str:
    """The path without its last extension, as ``PurePosixPath.with_suffix('')`` gives it."""
    head, _, name = rel.rpartition("/")
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        name = name[:dot]
    return f"{head}/{name}" if head else name
