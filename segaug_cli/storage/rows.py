"""The rows of OUT's books, streamed in bounded memory: what earlier runs recorded (``Previous``), the
journal a run appends its rows to (``Journal``), and the set of paths they list (``PathSet``).

Both sort on disk: rows are sorted ``SORT_CHUNK`` at a time, spilled to anonymous temporary files in
the books' folder, and merged, so memory does not grow with the dataset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from ..manifest import ManifestError, Row, from_json, image_of, image_of_json, read_rows, target_names, to_json
from .books import WHOLE, Books, manifest_edited

SORT_CHUNK = 4096  # rows the journal sorts in memory at once (about 4 MB); more spill to sorted run files
MERGE_FAN_IN = 64  # sorted run files open at once at most


class Previous:
    """What earlier runs recorded (the manifest, updated by a leftover journal), streamed in bounded
    memory: ``by_key`` in the pairs' order for planning, ``by_image`` in the manifest's for the commit.

    Opening reads the manifest once, checking that segaug wrote it, and spills it sorted by key into
    anonymous temporary files in OUT (``SORT_CHUNK`` rows in memory at a time); a manifest already in
    image order (every one segaug wrote) is then read again as it is. ``share`` keeps only some rows
    (a shard's); with ``distrust_edited``, the rows of a hand-edited manifest lose their fingerprints,
    so every one of them is regenerated with a true row.
    """

    def __init__(
        self,
        out_dir: Path,
        row_key: Callable[[Row], str],
        books: Books = WHOLE,
        distrust_edited: bool = True,
        share: Callable[[Row], bool] | None = None,
        manifest_books: Books | None = None,
    ):
        self.out_dir, self.books, self.share = out_dir, books, share
        self._key_then_image = lambda row: (row_key(row), row.image)  # the order the pairs meet their rows
        manifest_books = manifest_books or books  # a shard's first run into a merged OUT reads manifest.csv
        self.manifest = out_dir / manifest_books.manifest
        self.blank = distrust_edited and self.manifest.is_file() and manifest_edited(out_dir, manifest_books)
        self._stack = contextlib.ExitStack()
        self._runs: dict[str, list[IO[str]]] = {}
        self.names: set[str] = set()  # extra column names of the rows read (targets, the window)

    def __enter__(self) -> Previous:
        with self._stack.pop_all() as stack:
            in_order = self._spill_manifest(stack)
            if not in_order:  # hand-edited out of order: sort it by image too
                self._runs["manifest_by_image"] = _spill_rows(stack, self.out_dir, self._manifest_rows(), image_of)
            self._runs["journal_by_key"] = _spill_rows(stack, self.out_dir, self._journal_rows(), self._key_then_image)
            self._runs["journal_by_image"] = _spill_rows(stack, self.out_dir, self._journal_rows(), image_of)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _spill_manifest(self, stack: contextlib.ExitStack) -> bool:
        """Spill the manifest sorted by key; True when it is in image order already."""
        in_order, last = True, ""

        def checked(rows: Iterable[Row]) -> Iterator[Row]:
            nonlocal in_order, last
            for row in rows:
                in_order = in_order and row.image > last
                last = row.image
                yield row

        self._runs["manifest_by_key"] = _spill_rows(
            stack, self.out_dir, checked(self._manifest_rows()), self._key_then_image
        )
        return in_order

    def _manifest_rows(self) -> Iterator[Row]:
        if not self.manifest.is_file():
            return
        try:
            with open(self.manifest, encoding="utf-8", newline="") as fh:
                for row in read_rows(fh):
                    if self.share is None or self.share(row):
                        self.names.update(target_names([row]))
                        yield dataclasses.replace(row, fingerprint="") if self.blank else row
        except (ManifestError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"{self.manifest}: not a segaug manifest ({exc}); move it away or choose another OUT"
            ) from None

    def _journal_rows(self) -> Iterator[Row]:
        journal = self.out_dir / self.books.journal
        if not journal.is_file():
            return
        with open(journal, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = from_json(line)
                except ValueError:
                    continue  # a line cut short by a kill: that row's files are simply checked again
                if self.share is None or self.share(row):
                    self.names.update(target_names([row]))
                    yield row

    def by_key(self) -> Iterator[Row]:
        """Every earlier row, sorted by (pair key, image); a journal row replaces the manifest's."""
        manifest = _merge_rows(self._runs["manifest_by_key"], self._key_then_image)
        journal = _merge_rows(self._runs["journal_by_key"], self._key_then_image)
        return last_of_each(heapq.merge(manifest, journal, key=self._key_then_image))

    def by_image(self) -> Iterator[Row]:
        """Every earlier row, sorted by image (the manifest's order); a journal row replaces the manifest's."""
        if "manifest_by_image" in self._runs:
            manifest = _merge_rows(self._runs["manifest_by_image"], image_of)
        else:
            manifest = self._manifest_rows()
        journal = _merge_rows(self._runs["journal_by_image"], image_of)
        return last_of_each(heapq.merge(manifest, journal, key=image_of))


def last_of_each(rows: Iterable[Row]) -> Iterator[Row]:
    """Of rows with one image, next to each other in a stable merge, the last (the newest)."""
    held: Row | None = None
    for row in rows:
        if held is not None and row.image != held.image:
            yield held
        held = row
    if held is not None:
        yield held


def _spill_rows(
    stack: contextlib.ExitStack, folder: Path, rows: Iterable[Row], key: Callable[[Row], Any]
) -> list[IO[str]]:
    """Rows sorted by ``key`` into anonymous temporary files, ``SORT_CHUNK`` in memory at a time (stable)."""
    runs: list[IO[str]] = []
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, SORT_CHUNK)):
        chunk.sort(key=key)
        runs.append(_spill(stack, folder, (to_json(row) + "\n" for row in chunk)))
        del chunk
        if len(runs) == MERGE_FAN_IN:  # a bounded number of open files: fold the runs so far into one
            folded = _spill(stack, folder, (to_json(row) + "\n" for row in _merge_rows(runs, key)))
            for run in runs:
                run.close()
            runs = [folded]
    return runs


def _merge_rows(runs: list[IO[str]], key: Callable[[Row], Any]) -> Iterator[Row]:
    """The rows of sorted run files, merged by ``key``; stable: equal rows keep the runs' order."""
    for run in runs:
        run.seek(0)
    return heapq.merge(*((from_json(line) for line in run) for run in runs), key=key)


class PathSet:
    """OUT-relative paths held as 8-byte hashes in one sorted array (about 8 bytes a path, where a set
    of strings takes about 150): what the check for files segaug did not write compares against."""

    def __init__(self) -> None:
        self._added = array("Q")
        self._sorted: Any = None  # the hashes as a sorted NumPy array, made on the first lookup

    def clear(self) -> None:
        self._added = array("Q")
        self._sorted = None

    def update(self, paths: Iterable[str]) -> None:
        self._added.extend(_path_hash(path) for path in paths)
        self._sorted = None

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        import numpy as np

        if self._sorted is None:
            self._sorted = np.sort(np.frombuffer(self._added, dtype=np.uint64))
        value = np.uint64(_path_hash(path))
        at = int(np.searchsorted(self._sorted, value))
        return at < len(self._sorted) and self._sorted[at] == value


def _path_hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


class Journal:
    """Append-only record of the rows this run writes: survives SIGKILL line by line, and is where the
    run keeps its rows (the engine holds none in memory) until ``sorted_rows`` merges them into the
    manifest. A leftover journal of a killed run is appended to; its rows are already in ``previous``.
    """

    def __init__(self, out_dir: Path, books: Books = WHOLE):
        self.path = out_dir / books.journal
        self.names: set[str] = set()  # target names seen in this run's rows
        self._fh: IO[str] | None = None
        self._start: int | None = None  # where this run's lines begin; None: it wrote none

    def add(self, rows: list[Row]) -> None:
        if not rows:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open across the run
            self._start = self._fh.tell()
        for row in rows:
            self._fh.write(to_json(row) + "\n")
            self.names.update(target_names([row]))
        self._fh.flush()

    def close(self, remove: bool) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if remove:
            self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def sorted_rows(self) -> Iterator[Callable[[], Iterator[Row]]]:
        """A way to iterate this run's rows sorted by image, as often as needed, in bounded memory.

        An external merge sort: the journal is read ``SORT_CHUNK`` rows at a time, each chunk sorted
        and spilled to an anonymous temporary file in OUT (gone when closed, or when a kill ends the
        process), and every pass merges those runs. The journal must be closed first.
        """
        with contextlib.ExitStack() as stack:
            runs = self._spill_sorted_runs(stack)

            def merged() -> Iterator[Row]:
                return _merge(runs)

            yield merged

    def _spill_sorted_runs(self, stack: contextlib.ExitStack) -> list[IO[str]]:
        runs: list[IO[str]] = []
        if self._start is None or not self.path.is_file():
            return runs
        with open(self.path, encoding="utf-8") as fh:
            fh.seek(self._start)
            while chunk := list(itertools.islice(fh, SORT_CHUNK)):
                runs.append(_spill(stack, self.path.parent, sorted(chunk, key=image_of_json)))
                if len(runs) == MERGE_FAN_IN:  # a bounded number of open files: fold the runs so far into one
                    folded = _spill(stack, self.path.parent, (to_json(row) + "\n" for row in _merge(runs)))
                    for run in runs:
                        run.close()
                    runs = [folded]
        return runs


def _spill(stack: contextlib.ExitStack, folder: Path, sorted_lines: Iterable[str]) -> IO[str]:
    run = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder))  # noqa: SIM115
    run.writelines(sorted_lines)
    return run


def _merge(runs: list[IO[str]]) -> Iterator[Row]:
    """The rows of sorted run files, merged in image order; each line is parsed once."""
    for run in runs:
        run.seek(0)
    return heapq.merge(*((from_json(line) for line in run) for run in runs), key=image_of)
