"""The journal of a run whose OUT is in an object store: objects written once each, never appended.

Locally the journal is one file appended line by line (``rows.Journal``). An object store has no
append, so the rows go out in batches: each batch is one object under ``OUT/.segaug-journal/``,
written whole in one PUT and never changed. A killed run loses at most the batch it had not sent
(those samples are simply checked, and written, again by the next run).

Names sort in the order the rows were written, across runs: ``<run>/<batch>.jsonl`` where ``<run>``
is the run's start time in nanoseconds (20 digits) and its pid, and ``<batch>`` counts from 0 in 8
digits. A run that takes OUT over from a killed one starts after the killed run's lease expired, so
its rows sort after the killed run's, and a row recorded twice is read back last as it was written
last. The commit removes every journal object once the manifest holds their rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from ..manifest import Row, from_json, to_json
from .base import Location

FOLDER = ".segaug-journal"
BATCH_ROWS = 256  # rows per journal object: one PUT per 256 rows, about 256 KB
BATCH_SECONDS = 5.0  # and at least every 5 s, so a slow run loses little when killed


class ObjectJournal:
    """The rows this run writes, sent as write-once batch objects. Same role as ``rows.Journal``:
    ``add`` as rows come, ``close(remove=...)`` at the end; ``rows()`` reads this run's rows back."""

    def __init__(
        self, out: Location, batch_rows: int = BATCH_ROWS, batch_seconds: float = BATCH_SECONDS, folder: str = FOLDER
    ):
        self.out, self.folder = out, folder
        self.run = f"{time.time_ns():020d}-{os.getpid()}"
        self.names: set[str] = set()  # target names seen in this run's rows
        self.batches: list[str] = []  # this run's objects, in order
        self._pending: list[str] = []
        self._batch_rows, self._batch_seconds = batch_rows, batch_seconds
        self._last_sent = time.monotonic()

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            self._pending.append(to_json(row) + "\n")
            self.names.update(name for name, _, _ in row.targets)
        if len(self._pending) >= self._batch_rows or time.monotonic() - self._last_sent >= self._batch_seconds:
            self.flush()

    def flush(self) -> None:
        """Send the rows not yet sent as one new object."""
        if not self._pending:
            return
        name = f"{self.folder}/{self.run}/{len(self.batches):08d}.jsonl"
        self.out.write(name, "".join(self._pending).encode("utf-8"))
        self.batches.append(name)
        self._pending = []
        self._last_sent = time.monotonic()

    def rows(self) -> Iterator[Row]:
        """This run's rows in the order they were added (sent or not)."""
        for name in self.batches:
            yield from _rows_of(self.out.read(name))
        yield from (from_json(line) for line in self._pending)

    def close(self, remove: bool) -> None:
        """Send what is pending; with ``remove`` (after the commit), delete every journal object of OUT."""
        if remove:
            self._pending = []
            remove_all(self.out, self.folder)
        else:
            self.flush()


def journal_objects(out: Location, folder: str = FOLDER) -> list[str]:
    """Every journal object in OUT, in the order they were written (one listing)."""
    return [entry.name for entry in out.list(folder) if entry.name.endswith(".jsonl")]


def read_previous(out: Location, folder: str = FOLDER, names: list[str] | None = None) -> Iterator[Row]:
    """The rows of every journal object left in OUT (by killed runs), oldest first; a later row
    of the same image replaces an earlier one, as the local journal's later lines do. ``names``:
    the journal objects, when a listing of OUT already gave them."""
    for name in journal_objects(out, folder) if names is None else names:
        try:
            data = out.read(name)
        except FileNotFoundError:  # removed by a commit that finished meanwhile
            continue
        yield from _rows_of(data)


def remove_all(out: Location, folder: str = FOLDER) -> None:
    for name in journal_objects(out, folder):
        out.remove(name)


def _rows_of(data: bytes) -> Iterator[Row]:
    for line in data.decode("utf-8").splitlines():
        try:
            yield from_json(line)
        except ValueError:
            continue  # cannot happen for an object written whole; kept as tolerant as the local journal
