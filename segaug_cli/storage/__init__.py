"""The storage layer: everything segaug does to IN and OUT, whatever holds them.

One interface, one implementation per backend:

- ``base``: ``Location`` (list in key order, read, write whole, remove) and the store's errors;
- ``local``: a local folder (``LocalLocation``) and OUT in one (``LocalOut``: ``fcntl`` lock,
  atomic writes, an appended journal file);
- ``s3``: S3 and S3-compatible buckets (``S3Location``: checked PUTs, conditional writes), and
  ``remote.StoreOut`` for OUT in one (lease object, write-once journal objects, receipts);
- ``azure``: Azure Blob Storage containers (``AzureLocation``: MD5-checked uploads, conditional
  writes), OUT in one through ``remote.StoreOut`` as on S3;
- ``fsspec_ro``: any other fsspec URL (``gs://``...): read, list; OUT refused in one line;
- ``out``: the ``Out`` interface the engine and ``merge`` write OUT through;
- ``books`` and ``rows``: OUT's bookkeeping files, read and written in a local folder.

This package is the only one that knows a URL from a path, or imports fsspec: the functions below
take either, as the user gave it, and answer in the same terms for both.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from .. import atomic
from ..errors import UsageError
from ..pairing import Listed
from ..shards import Shard
from .base import EXTRAS, Entry, Location, PreconditionFailed, Receipt, StorageError, is_url, nested, public
from .base import unchanged_since_write as unchanged_since_write
from .local import LocalLocation, LocalOut
from .lock import Holder, OutLocked
from .options import load_storage_options, parse_storage_options, without_secrets
from .out import Out
from .s3 import S3Location, bounded

__all__ = [
    "EXTRAS",
    "Entry",
    "Holder",
    "LocalLocation",
    "Location",
    "Out",
    "OutLocked",
    "Place",
    "PreconditionFailed",
    "Receipt",
    "S3Location",
    "StorageError",
    "absolute",
    "atomic",
    "check_output_file",
    "check_places",
    "check_writable",
    "files_of",
    "hold_existing",
    "is_url",
    "load_storage_options",
    "nested",
    "network_places",
    "open_location",
    "open_out",
    "opened",
    "parse_storage_options",
    "place",
    "source_of",
    "unchanged_since_write",
    "without_secrets",
    "write_file",
]

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
AZURE = ("az", "abfs", "abfss")
# Why OUT cannot be written in a store that has no conditional writes segaug can use, by scheme.
_NO_OUT = {
    scheme: (
        "segaug cannot write OUT to Google Cloud Storage: gcsfs has no generation-matched replace or delete, and "
        "its emulators do not enforce generation-matched writes, so one writer per OUT cannot be held there; "
        "write OUT to a local folder, s3:// or az:// and copy it"
    )
    for scheme in ("gs", "gcs")
}
Place = str | Path  # IN or OUT as a command holds it: a URL stays a string, a local folder is a Path


def open_location(
    url_or_path: str | os.PathLike[str], storage_options: dict[str, Any] | None = None, role: str | None = None
) -> Location:
    """The folder at a local path or an fsspec URL; ``role`` ("IN", "OUT") is how errors about a URL's
    bucket, store or options name it, before the URL as typed (``OUT s3://bucket/prefix: ...``).

    Raises:
        StorageError: a URL whose backend is not installed ("install segaug[s3] to read s3:// URLs"), or
            does not start with these options.
    """
    text = os.fspath(url_or_path)
    match = _URL.match(text)
    if match is None or match.group(1).lower() == "file":
        return LocalLocation(text.removeprefix("file://"))
    from .fsspec_ro import ObjectLocation, filesystem

    protocol = match.group(1).lower()
    root = text.rstrip("/")
    label = named(root, role)
    if protocol in ("s3", "s3a"):
        return S3Location(filesystem(protocol, bounded(dict(storage_options or {})), root, label), root, label)
    if protocol in AZURE:
        from .azure import AzureLocation, bounded_filesystem

        return AzureLocation(bounded_filesystem(protocol, dict(storage_options or {}), root, label), root, label)
    return ObjectLocation(filesystem(protocol, dict(storage_options or {}), root, label), root, label)


def named(url: str, role: str | None = None) -> str:
    """A URL as errors name it: without credentials, after its role (``OUT s3://bucket/prefix``)."""
    return f"{role} {public(url)}" if role else public(url)


_OPENED: dict[tuple[int, str, str], Location] = {}


def opened(url: str, storage_options: dict[str, Any] | None = None, role: str | None = None) -> Location:
    """``open_location``, once per process for each URL and options: what a worker process calls per pair."""
    # by pid too: a forked worker must not use its parent's client, whose event loop did not fork with it
    key = (os.getpid(), url, json.dumps(storage_options or {}, sort_keys=True, default=str))
    if key not in _OPENED:
        _OPENED[key] = open_location(url, storage_options, role)
    return _OPENED[key]


def place(folder: str | os.PathLike[str]) -> Place:
    """A URL stays a string (``Path`` would fold its ``//``); anything else is a local ``Path``."""
    return os.fspath(folder).rstrip("/") if is_url(folder) else Path(folder)


def check_places(in_dir: Place, out_dir: Place) -> None:
    """IN and OUT apart, neither inside the other; a local IN a folder, a local OUT not a file.

    Raises:
        UsageError: with the folders named.
    """
    if isinstance(in_dir, Path) and isinstance(out_dir, Path):
        _check_folders(in_dir, out_dir)
    elif isinstance(in_dir, str) and isinstance(out_dir, str) and nested(in_dir, out_dir):
        raise UsageError(f"IN ({in_dir}) and OUT ({out_dir}) must be separate folders, neither inside the other")
    elif isinstance(in_dir, Path) and not in_dir.is_dir():
        raise UsageError(f"{in_dir}: " + ("is a file, not a folder" if in_dir.exists() else "no such folder"))
    elif isinstance(out_dir, Path) and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")


def _check_folders(in_dir: Path, out_dir: Path) -> None:
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: " + ("is a file, not a folder" if in_dir.exists() else "no such folder"))
    real_in, real_out = in_dir.resolve(), out_dir.resolve()
    if real_in == real_out or real_in in real_out.parents or real_out in real_in.parents:
        raise UsageError(f"IN ({in_dir}) and OUT ({out_dir}) must be separate folders, neither inside the other")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")


def source_of(
    in_dir: str | os.PathLike[str],
    storage_options: dict[str, Any] | None = None,
    must_exist: bool = False,
    role: str | None = "IN",
) -> Path | Listed:
    """IN as pairing reads it: a local folder, or a URL's one listing and its reader; a URL's errors
    name it after ``role``.

    Raises:
        UsageError: nothing is stored under the URL (an object store has no empty folders); with
            ``must_exist``, a local IN that is no folder.
        StorageError: the store cannot be read (no bucket, access denied, unreachable).
    """
    if not is_url(in_dir):
        if must_exist and not Path(in_dir).is_dir():
            raise UsageError(f"{in_dir}: no such folder")
        return Path(in_dir)
    url = os.fspath(in_dir).rstrip("/")
    location = open_location(url, storage_options, role)
    files = tuple(entry.name for entry in location.list())
    if not files:
        raise UsageError(f"{named(url, role)}: no such folder (nothing is stored under this prefix)")
    return Listed(url, files, location.read)


def open_out(out_dir: Place, storage_options: dict[str, Any], shard: Shard | None = None, hold: bool = False) -> Out:
    """OUT for one command, to enter as a context manager: held (locked, and a local folder created) when
    the command writes it; else only read. A merge holds an OUT that must exist already: ``hold_existing``.

    Raises:
        OutLocked: (on entering) another run writes OUT (or this shard of it) now.
        StorageError: (on entering) the store cannot be reached, refuses, or cannot hold a lock.
    """
    if isinstance(out_dir, Path):
        return LocalOut(out_dir, shard, hold=hold, create=hold)
    if hold:
        check_writable(out_dir)
    from .remote import StoreOut

    return StoreOut(open_location(out_dir, storage_options, "OUT"), shard, hold=hold)


def check_writable(out_dir: str) -> None:
    """Refuse, before the store is asked anything, an OUT URL in a store where segaug cannot hold one
    writer per OUT.

    Raises:
        StorageError: naming the URL and why.
    """
    match = _URL.match(out_dir)
    why = _NO_OUT.get(match.group(1).lower()) if match else None
    if why is not None:
        raise StorageError(f"{named(out_dir, 'OUT')}: {why}")


def hold_existing(out_dir: Place, storage_options: dict[str, Any]) -> Out:
    """OUT held wholly, for ``merge``: a local OUT must exist already (it is not created).

    Raises:
        UsageError: (on entering) OUT is no folder (a prefix holding nothing), or cannot be written.
    """
    if isinstance(out_dir, Path):
        return LocalOut(out_dir, hold=True)
    check_writable(out_dir)
    from .remote import StoreOut

    return StoreOut(open_location(out_dir, storage_options, "OUT"), hold=True, must_exist=True)


def absolute(folder: str) -> str:
    """A folder as another machine names it: a local path made absolute, a URL as it is."""
    return folder if is_url(folder) else os.path.abspath(folder)


def backend_modules(*places: str) -> tuple[str, ...]:
    """The modules that reading or writing these places imports (the backend and segaug's class for it):
    a pool's forkserver imports them once, so each worker started from it does not import them again."""
    found = []
    for place in network_places(places):
        match = _URL.match(place)
        protocol = match.group(1).lower() if match else ""
        try:
            import fsspec

            found.append(fsspec.get_filesystem_class(protocol).__module__)
        except (ImportError, ValueError):
            continue  # the run will say so, in one line, when it opens the place
        own = "s3" if protocol in ("s3", "s3a") else "azure" if protocol in AZURE else "fsspec_ro"
        found.append(f"{__name__}.{own}")
    return tuple(dict.fromkeys(found))


def network_places(folders: tuple[str, ...]) -> list[str]:
    """Those of the folders that are reached through a store's network API, not a shared filesystem."""
    return [folder for folder in folders if is_url(folder)]


def files_of(
    folder: str | os.PathLike[str], storage_options: dict[str, Any], prefer: str, suffixes: frozenset[str]
) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """The visible files with these suffixes under ``folder/prefer`` (or all of ``folder`` when that holds
    none), named relative to ``folder`` in path order, each with its reader; a URL from one listing.

    Raises:
        UsageError: the folder does not exist (nothing is stored under the URL).
        StorageError: the store cannot be read.
    """
    if not is_url(folder):
        return LocalLocation(os.fspath(folder)).files(prefer, suffixes)
    listed = source_of(folder, storage_options, role=None)  # stats' DIR: named as typed
    assert isinstance(listed, Listed), "a URL is read from its listing"
    start = f"{prefer}/" if any(name.startswith(f"{prefer}/") for name in listed.files) else ""
    names = [
        name
        for name in listed.files
        if name.startswith(start)
        and not any(part.startswith(".") for part in name[len(start) :].split("/"))
        and PurePosixPath(name).suffix.lower() in suffixes
    ]
    return ((name, functools.partial(listed.fetch, name)) for name in sorted(names, key=lambda name: name.split("/")))


def check_output_file(in_dir: str | os.PathLike[str], output: str | os.PathLike[str], suffix: str, what: str) -> Place:
    """Where a file (``what``, named with ``suffix``) may be written: outside IN, which is never written
    to; at a URL, an object in a bucket.

    Raises:
        UsageError: another suffix, a path inside IN, or a URL that names no object in a bucket.
    """
    if is_url(output):
        return _output_url(os.fspath(in_dir), os.fspath(output), suffix, what)
    path = Path(output)
    if path.suffix.lower() != suffix:
        raise UsageError(f"{output}: {what}; name it with {suffix}")
    if not is_url(in_dir) and path.resolve().is_relative_to(Path(in_dir).resolve()):
        raise UsageError(f"{output}: inside IN ({in_dir}), which segaug never writes to")
    return path


def _output_url(in_dir: str, output: str, suffix: str, what: str) -> str:
    if PurePosixPath(output).suffix.lower() != suffix:
        raise UsageError(f"{output}: {what}; name it with {suffix}")
    if not is_url(output.rpartition("/")[0]):
        raise UsageError(f"{output}: name an object in a bucket, e.g. s3://bucket/preview{suffix}")
    if is_url(in_dir) and nested(in_dir, output):
        raise UsageError(f"{output}: inside IN ({in_dir}), which segaug never writes to")
    return output


def write_file(path: Place, data: bytes, storage_options: dict[str, Any] | None = None) -> None:
    """Write one file whole: a local file atomically, or at a URL one object in one PUT."""
    if not is_url(path):
        atomic.atomic_write(path, data)
        return
    folder, _, name = os.fspath(path).rpartition("/")
    location = open_location(folder, storage_options)
    location.label = public(os.fspath(path))  # the file the user named: its bucket's errors name it
    location.write(name, data)
