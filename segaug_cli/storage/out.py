"""OUT as a command holds it: the one interface the engine and ``merge`` write OUT through.

Each backend implements it once: ``local.LocalOut`` (a folder: ``fcntl`` lock, an appended journal
file, books in OUT itself) and ``remote.StoreOut`` (an object store: a lease object, write-once
journal objects, books kept in a local folder during the run and uploaded when changed, receipts).
Either way the books (manifest, ``segaug.json``, ``errors.csv``, the journal) are files in
``folder`` while the command runs, so ``books`` and ``rows`` read and write them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .books import WHOLE, Books
from .lock import Holder
from .rows import Journal

if TYPE_CHECKING:
    from ..jobs import PairJob
    from ..shards import Shard
    from .base import Location

Concern = Callable[[str], bool]  # which files under OUT's output folders a run looks after


class Out:
    """OUT for one command, entered as a context manager: held (locked) when the command writes it.

    Attributes:
        location: where OUT's files are read and written.
        folder: the local folder that holds OUT's books while the command runs.
        books: the names of those books (a shard's, or the whole run's).
    """

    location: Location
    folder: Path
    books: Books = WHOLE

    def __enter__(self) -> Out:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # -- who writes OUT ------------------------------------------------------------------------

    def holder(self) -> Holder | None:
        """Who writes OUT now (for shards, one of them), or None; takes no lock and writes nothing."""
        raise NotImplementedError

    def ensure_held(self) -> None:
        """Raise ``OutLocked`` if this command lost its hold on OUT (nothing more may be written)."""

    # -- the outputs ---------------------------------------------------------------------------

    def prepare(self, folders: tuple[str, ...], concern: Concern) -> None:
        """Before the workers write: OUT exists, and no temporary file of a killed run is left."""

    def clean_up(self, folders: tuple[str, ...], concern: Concern) -> None:
        """Before the commit: the temporary files of workers stopped mid-write go."""

    def with_stored(self, jobs: Iterator[PairJob]) -> Iterator[PairJob]:
        """Each job with the sha256 OUT vouches for of its earlier outputs, where it can (receipts)."""
        return jobs

    def note_receipts(self, receipts: Iterable[tuple[str, str, str, int]]) -> None:
        """Keep what the store answered to the workers' writes (path, ETag, sha256, size)."""

    def remove(self, rels: Iterable[str]) -> None:
        """Delete these outputs; one already gone is no error."""
        raise NotImplementedError

    def present(self, rels: Iterable[str]) -> Iterable[str]:
        """Those of ``rels`` that OUT may hold: all of them, unless a listing says which."""
        return rels

    def foreign(self, known: Container[str], folders: tuple[str, ...], concern: Concern) -> list[str]:
        """Files under ``folders`` of OUT (the recipe's output folders) that segaug did not write (not in
        ``known``), sorted."""
        raise NotImplementedError

    # -- the books -----------------------------------------------------------------------------

    def journal(self) -> Journal:
        """Where this run records each row as it is written, to survive a kill."""
        return Journal(self.folder, self.books)

    def publish(self, known: Container[str]) -> None:
        """After a commit in ``folder``: make OUT hold the committed books (and receipts)."""

    def names(self) -> tuple[str, ...]:
        """The names of the files at OUT's top (and, in a store, of its journal objects)."""
        raise NotImplementedError

    def fetch(self, names: Iterable[str]) -> None:
        """Bring these books of OUT into ``folder`` (where they are not already)."""

    def adopt_receipts(self, books: Books) -> None:
        """Take the receipts a shard kept beside its books into this command's."""

    def drop_books(self, shard: Shard) -> None:
        """A merged shard's own books go, so OUT is what an unsharded run leaves."""
        raise NotImplementedError
