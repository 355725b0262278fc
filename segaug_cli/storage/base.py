"""What every backend of the storage layer is made of: a location's vocabulary and its errors.

A :class:`Location` is a folder named by a local path or a URL: names under it are POSIX paths
relative to it (``images/a_aug0.png``). Each backend implements it once (``local``, ``fsspec_ro``,
``s3``, ``azure``); nothing outside the ``storage`` package knows which one it holds. A
:class:`ConditionalLocation` adds the conditional requests that one writer per OUT is built on.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import UsageError

# fsspec protocol -> the segaug extra that installs its backend
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class StorageError(UsageError):
    """The store refused or could not be reached; the message names the URL, never the options."""


class PreconditionFailed(StorageError):
    """A conditional write lost: the object exists (create) or changed since it was read (replace)."""


@dataclass(frozen=True)
class Entry:
    """One file of a listing: its name relative to the location, its size, and the store's tag of it.

    ``etag`` is the store's tag of the object's content (None for local files): what every object
    store's listing carries, with the size, whatever else it leaves out.
    """

    name: str
    size: int
    etag: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What the store answered to one whole write of ``size`` bytes: the object's tag, and the SHA-256
    (hex) segaug sent with the write and the store verified (None when the store verified none)."""

    etag: str
    sha256: str | None
    size: int | None = None


def is_url(path: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` other than ``file://``: what needs fsspec."""
    match = _URL.match(os.fspath(path))
    return match is not None and match.group(1).lower() != "file"


def nested(a: str, b: str) -> bool:
    """True when two URLs name the same prefix, or one lies inside the other (``s3://b/x`` and ``s3://b/x/y``)."""

    def parts(url: str) -> list[str]:
        scheme, _, rest = public(url).partition("://")
        return [scheme.lower(), *(part for part in rest.split("/") if part not in ("", "."))]

    pa, pb = parts(a), parts(b)
    shorter = min(len(pa), len(pb))
    return pa[:shorter] == pb[:shorter]


def unchanged_since_write(entry: Entry, receipt: Receipt | None) -> str | None:
    """The SHA-256 (hex) an object is vouched to hold, or None when it must be downloaded to know.

    segaug sent the object's SHA-256 with the write, the store verified it (a wrong one is refused),
    and answered with the object's tag: the receipt. A later listing that shows the same tag and the
    same size names that same object (any write since gives it a new tag), so its SHA-256 is the one
    segaug computed. Tag and size are all it needs of the listing: every store's listing has them,
    while few name a checksum (S3's names only the algorithm, some S3-compatible stores not even that).
    """
    if receipt is None or receipt.sha256 is None or receipt.size is None or entry.etag is None:
        return None
    return receipt.sha256 if (entry.etag, entry.size) == (receipt.etag, receipt.size) else None


class Location:
    """A folder: names are POSIX paths relative to it (``images/a_aug0.png``)."""

    url: str
    label: str  # how errors name the folder: as the user typed it, after its role ("OUT s3://bucket/x")

    def join(self, *names: str) -> str:
        """The full path or URL of a name under this folder."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[Entry]:
        """Every file under ``prefix`` (a folder name, or "" for all), sorted by name; nothing when absent."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def write(self, name: str, data: bytes) -> Receipt | None:
        """Write ``data`` whole under ``name``: it appears complete or not at all."""
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Delete a file; one already gone is no error."""
        raise NotImplementedError

    def write_soon(self, name: str, data: bytes) -> PendingWrite:
        """Start ``write`` and return something whose ``result()`` gives its receipt. A backend that can
        upload while the caller computes the next file does so; the others write at once."""
        return Done(self.write(name, data), name)

    def read_input(self, name: str) -> bytes:
        """The bytes of a source file; one that cannot be read is a ``PairError`` naming it (the pair
        fails, the run goes on)."""
        raise NotImplementedError


class ConditionalLocation(Location):
    """A location in a store that applies a write or a delete only if a condition on the object's ETag
    holds, atomically: what the OUT lock (``objectlock``) and receipts rest on. S3 and Azure Blob
    Storage are (``If-None-Match: *``, ``If-Match: <etag>``); ``list`` gives each entry's ETag and size.

    ETags are opaque strings compared for equality, in one form per store (a listing's and a write's
    answer agree); a backend normalises them when its store quotes one and not the other.
    """

    def create(self, name: str, data: bytes) -> Receipt:
        """Write whole, only if no object has this name (``If-None-Match: *``).

        Raises:
            PreconditionFailed: the object exists.
        """
        raise NotImplementedError

    def replace(self, name: str, data: bytes, etag: str) -> Receipt:
        """Write whole, only if the object still has this ETag (``If-Match``): nobody wrote it since.

        Raises:
            PreconditionFailed: the object changed or is gone.
        """
        raise NotImplementedError

    def read_tagged(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and the ETag they had, from one read; None when it is absent."""
        raise NotImplementedError

    def remove_if(self, name: str, etag: str) -> None:
        """Delete the object only if it still has this ETag; gone already or changed: nothing done."""
        raise NotImplementedError


class PendingWrite:
    """A whole write under way: ``name`` is what is written, ``result()`` waits for its receipt."""

    name: str

    def result(self) -> Receipt | None:
        raise NotImplementedError


class Done(PendingWrite):
    """A write that finished when it was started."""

    def __init__(self, receipt: Receipt | None, name: str):
        self.name, self._receipt = name, receipt

    def result(self) -> Receipt | None:
        return self._receipt


def public(url: str) -> str:
    """The URL without credentials written into it (``s3://key:secret@bucket``)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1", url)
