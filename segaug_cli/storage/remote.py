"""The object-store backend of OUT (``StoreOut``): one listing, bookkeeping kept locally.

The books (``rows.Previous``, ``rows.Journal``, ``books.commit``) are files in a folder. For an OUT
in an object store that folder is a private local temporary one: opening lists OUT once (one
paginated listing), downloads ``manifest.csv``, ``segaug.json`` and ``errors.csv`` into it, with the
rows of any journal objects a killed run left; ``publish`` uploads, after the commit, each of those
files that changed (one whole PUT each) and the receipts of the outputs.

Receipts (``.segaug-objects.csv``: path, ETag, sha256, size) are what the store answered to segaug's
own writes of the outputs, each sent with its SHA-256 for the store to verify. A later listing
showing the same ETag and size names the object segaug wrote (``base.unchanged_since_write``), so a
rerun or ``check`` compares its SHA-256 without downloading it (``PairJob.stored``). The file is
written for object stores only, so ``manifest.csv`` and its bytes are those of a local run.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import shutil
import tempfile
from collections.abc import Container, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .. import testing
from ..errors import UsageError
from ..manifest import Row, to_json
from ..shards import Shard
from . import books as store
from . import objectjournal, objectlock
from .base import Entry, Location, Receipt, unchanged_since_write
from .books import journal_folder
from .lock import Holder
from .out import Concern, Out
from .rows import Journal

if TYPE_CHECKING:
    from ..jobs import PairJob


def receipts_name(books: store.Books) -> str:
    """``.segaug-objects.csv``, or a shard's ``.segaug-objects.shard-K-of-N.csv``, beside its manifest."""
    return ".segaug-objects" + books.manifest.removeprefix("manifest")


class StoreOut(Out):
    """OUT in an object store for one command: its listing, its receipts, and a local folder of its books.

    A context manager: held (``hold``), it first takes OUT's lock object (``objectlock``), renewed
    until the context ends; the local folder is removed on exit, whatever happened.
    """

    def __init__(self, location: Location, shard: Shard | None = None, hold: bool = False, must_exist: bool = False):
        self.location, self.books = location, store.books_for(shard)
        self.listing: dict[str, Entry] = {}
        self.receipts: dict[str, Receipt] = {}
        self.folder = Path()
        self._digests: dict[str, str] = {}  # sha256 of each book as downloaded
        self._receipts_bytes = b""
        self._shard = (shard.index, shard.count) if shard else None
        self._hold, self._must_exist = hold, must_exist
        self._stack = contextlib.ExitStack()
        self.lease: objectlock.Lease | None = None  # the lock's lease while a command writes OUT
        self._leftover_journal = False

    def __enter__(self) -> StoreOut:
        with self._stack as stack:
            if self._hold:
                seconds = testing.lease_seconds(objectlock.LEASE_SECONDS)
                self.lease = stack.enter_context(objectlock.hold(self.location, self._shard, seconds))
            self._open()
            self._stack = stack.pop_all()
        return self

    def _open(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="segaug-out-"))
        try:
            self.listing = {entry.name: entry for entry in self.location.list()}
            if self._must_exist and not self.exists():
                raise UsageError(f"{self.location.label}: no such folder (nothing is stored under this prefix)")
            # a shard's books, and the whole run's: a shard's first run into a merged OUT reads manifest.csv
            books = {self.books.manifest, self.books.versions, self.books.errors, *book_names(store.WHOLE)}
            for name in sorted(books):
                if name in self.listing:
                    data = self.location.read(name)
                    (self.folder / name).write_bytes(data)
                    self._digests[name] = hashlib.sha256(data).hexdigest()
            self._restore_journal()
            self.receipts = self._read_receipts()
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            self._stack.close()

    def holder(self) -> Holder | None:
        return objectlock.holder_of(self.location)

    def ensure_held(self) -> None:
        if self.lease is not None:
            self.lease.ensure_held()  # taken over while paused past the lease: commit nothing

    def _restore_journal(self) -> None:
        """The rows of journal objects a killed run left, as the local journal file they stand for."""
        prefix = journal_folder(self.books) + "/"
        names = sorted(name for name in self.listing if name.startswith(prefix) and name.endswith(".jsonl"))
        if not names:
            return
        self._leftover_journal = True
        rows = objectjournal.read_previous(self.location, names=names)
        with open(self.folder / self.books.journal, "w", encoding="utf-8") as fh:
            fh.writelines(to_json(row) + "\n" for row in rows)

    def _read_receipts(self) -> dict[str, Receipt]:
        name = receipts_name(self.books)
        if name not in self.listing:
            return {}
        self._receipts_bytes = self.location.read(name)
        return parse_receipts(self._receipts_bytes)

    def exists(self) -> bool:
        """Whether OUT holds anything besides this run's own lock (an object store has no empty folders)."""
        return any(not name.startswith(f"{objectlock.FOLDER}/") for name in self.listing)

    def with_stored(self, jobs: Iterator[PairJob]) -> Iterator[PairJob]:
        """Each job with the sha256 the store vouches for of its earlier outputs (``PairJob.stored``)."""
        for job in jobs:
            stored = tuple(
                (rel, sha)
                for row in job.previous
                for rel, _ in row.outputs()
                if (sha := self._vouched(rel)) is not None
            )
            yield replace(job, stored=stored) if stored else job

    def _vouched(self, rel: str) -> str | None:
        entry = self.listing.get(rel)
        return None if entry is None else unchanged_since_write(entry, self.receipts.get(rel))

    def note_receipts(self, receipts: Iterable[tuple[str, str, str, int]]) -> None:
        for path, etag, sha, size in receipts:
            self.receipts[path] = Receipt(etag, sha, size)

    def foreign(self, known: Container[str], folders: tuple[str, ...], concern: Concern) -> list[str]:
        """Files under OUT's output folders that segaug did not write, from the one listing."""
        prefixes = tuple(f"{folder}/" for folder in folders)
        return sorted(
            name for name in self.listing if name.startswith(prefixes) and name not in known and concern(name)
        )

    def remove(self, rels: Iterable[str]) -> None:
        for rel in rels:
            self.location.remove(rel)
            self.receipts.pop(rel, None)

    def present(self, rels: Iterable[str]) -> Iterable[str]:
        """Only the files OUT's listing shows: a pair no worker reached has nothing new there, so no
        DELETE is sent for each of its outputs."""
        return [rel for rel in rels if rel in self.listing]

    def journal(self) -> MirroredJournal:
        return MirroredJournal(self.folder, self.books, self.location, self._leftover_journal)

    def names(self) -> tuple[str, ...]:
        return tuple(self.listing)

    def fetch(self, names: Iterable[str]) -> None:
        for name in names:
            (self.folder / name).write_bytes(self.location.read(name))

    def adopt_receipts(self, books: store.Books) -> None:
        name = receipts_name(books)
        if name in self.listing:
            self.receipts.update(parse_receipts(self.location.read(name)))

    def drop_books(self, shard: Shard) -> None:
        own = store.books_for(shard)
        for name in (receipts_name(own), *book_names(own)):
            if name in self.listing:
                self.location.remove(name)

    def publish(self, known: Container[str]) -> None:
        """Upload the books the commit changed (manifest first, as locally), remove those it removed,
        then the receipts of the outputs the manifest lists."""
        for name in book_names(self.books):
            path = self.folder / name
            if path.is_file():
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() != self._digests.get(name):
                    self.location.write(name, data)
                    self._digests[name] = hashlib.sha256(data).hexdigest()
            elif name in self._digests:
                self.location.remove(name)
                del self._digests[name]
        self._publish_receipts(known)

    def _publish_receipts(self, known: Container[str]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(
            (path, r.etag, r.sha256 or "", "" if r.size is None else r.size)
            for path, r in sorted(self.receipts.items())
            if path in known
        )
        data = buffer.getvalue().encode("utf-8")
        name = receipts_name(self.books)
        if data and data != self._receipts_bytes:
            self.location.write(name, data)
        elif not data and self._receipts_bytes:
            self.location.remove(name)
        self._receipts_bytes = data


def book_names(books: store.Books) -> tuple[str, str, str]:
    """The books a run keeps in OUT: manifest, versions, errors (a shard's, or the whole run's)."""
    return (books.manifest, books.versions, books.errors)


def parse_receipts(data: bytes) -> dict[str, Receipt]:
    """The receipts of a ``.segaug-objects.csv`` (path, ETag, sha256, size per line), by path. A line of
    an older segaug has no size: its object is read back once, and the rerun's receipt has one."""
    text = data.decode("utf-8")
    return {
        path: Receipt(etag, sha or None, int(size[0]) if size and size[0] else None)
        for path, etag, sha, *size in csv.reader(io.StringIO(text))
        if path
    }


class MirroredJournal(Journal):
    """The local journal of the books folder, each batch of rows also sent as a write-once journal
    object (``objectjournal``): a killed run's successor reads them back; the commit removes them."""

    def __init__(self, folder: Path, books: store.Books, location: Location, leftover: bool = False):
        super().__init__(folder, books)
        self.objects = objectjournal.ObjectJournal(location, folder=journal_folder(books))
        self._leftover = leftover  # a killed run's journal objects are there to remove at commit

    def add(self, rows: list[Row]) -> None:
        super().add(rows)
        if rows:
            self.objects.add(rows)

    def close(self, remove: bool) -> None:
        super().close(remove)
        if remove and not (self.objects.batches or self._leftover):
            return  # nothing was sent: no listing of the journal folder to find nothing in it
        self.objects.close(remove)
