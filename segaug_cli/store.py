"""The state of an OUT folder: what earlier runs recorded, and committing a run's result to disk.

OUT holds ``images/`` and ``masks/`` (outputs), ``manifest.csv`` (one row per output pair),
``segaug.json`` (the versions that made it), ``errors.csv`` (failed pairs, when any) and, only while a
run is in progress or after it was killed, ``.segaug-journal.jsonl`` (rows written so far, so the
next run can trust them).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import heapq
import io
import itertools
import json
import os
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from . import __version__, atomic, cpu
from .errors import UsageError
from .fingerprint import FORMAT_VERSION
from .manifest import ManifestError, Row, from_json, image_of, image_of_json, lines, read_rows, target_names, to_json
from .shards import Shard

MANIFEST = "manifest.csv"
VERSIONS = "segaug.json"
ERRORS = "errors.csv"
JOURNAL = ".segaug-journal.jsonl"
OUTPUT_FOLDERS = ("images", "masks")
SORT_CHUNK = 4096  # rows the journal sorts in memory at once (about 4 MB); more spill to sorted run files
MERGE_FAN_IN = 64  # sorted run files open at once at most


@dataclass(frozen=True)
class Books:
    """The names of OUT's bookkeeping files: an unsharded run's, or one shard's (``books_for``), named
    so that the folders of N shards copied into one never collide."""

    manifest: str = MANIFEST
    versions: str = VERSIONS
    errors: str = ERRORS
    journal: str = JOURNAL


WHOLE = Books()


def books_for(shard: Shard | None) -> Books:
    """``manifest.shard-2-of-4.csv``, ``segaug.shard-2-of-4.json``, ... for a shard; else ``WHOLE``."""
    if shard is None:
        return WHOLE
    tag = shard.tag
    return Books(f"manifest.{tag}.csv", f"segaug.{tag}.json", f"errors.{tag}.csv", f".segaug-journal.{tag}.jsonl")


def check_folders(in_dir: Path, out_dir: Path) -> None:
    """Refuse an IN that is missing, and an OUT that is IN or lies inside it (or the reverse).

    Raises:
        UsageError: with the folders named.
    """
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: " + ("is a file, not a folder" if in_dir.exists() else "no such folder"))
    real_in, real_out = in_dir.resolve(), out_dir.resolve()
    if real_in == real_out or real_in in real_out.parents or real_out in real_in.parents:
        raise UsageError(f"IN ({in_dir}) and OUT ({out_dir}) must be separate folders, neither inside the other")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")


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

    def __exit__(self, *exc) -> None:
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


def _spill_rows(stack: contextlib.ExitStack, folder: Path, rows: Iterable[Row], key: Callable) -> list[IO[str]]:
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


def _merge_rows(runs: list[IO[str]], key: Callable) -> Iterator[Row]:
    """The rows of sorted run files, merged by ``key``; stable: equal rows keep the runs' order."""
    for run in runs:
        run.seek(0)
    return heapq.merge(*((from_json(line) for line in run) for run in runs), key=key)


class PathSet:
    """OUT-relative paths held as 8-byte hashes in one sorted array (about 8 bytes a path, where a set
    of strings takes about 150): what the check for files segaug did not write compares against."""

    def __init__(self) -> None:
        self._added = array("Q")
        self._sorted = None

    def clear(self) -> None:
        self._added = array("Q")
        self._sorted = None

    def update(self, paths: Iterable[str]) -> None:
        self._added.extend(_path_hash(path) for path in paths)
        self._sorted = None

    def __contains__(self, path: str) -> bool:
        import numpy as np

        if self._sorted is None:
            self._sorted = np.sort(np.frombuffer(self._added, dtype=np.uint64))
        value = np.uint64(_path_hash(path))
        at = int(np.searchsorted(self._sorted, value))
        return at < len(self._sorted) and self._sorted[at] == value


def _path_hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


Concern = Callable[[str], bool]  # which files under OUT's output folders a run may touch or report


def _everything(rel: str) -> bool:
    return True


def remove_temp_files(out_dir: Path, extra_folders: tuple[str, ...] = (), concern: Concern = _everything) -> None:
    """Delete temporary files that a killed run left behind (never under a final name); a shard run
    only its own (``concern``), since another shard may be writing beside it."""
    for rel, name in _files_under(out_dir, OUTPUT_FOLDERS + tuple(extra_folders)):
        if name.endswith(atomic.TEMP_SUFFIX) and concern(rel):
            atomic.remove_if_present(os.path.join(out_dir, rel))


def foreign_files(
    out_dir: Path, known: set[str] | PathSet, extra_folders: tuple[str, ...] = (), concern: Concern = _everything
) -> list[str]:
    """Files under OUT/images, OUT/masks (and target folders) that segaug did not write (POSIX paths
    relative to OUT); a shard run reports only those of its own share (``concern``)."""
    return sorted(
        rel
        for rel, name in _files_under(out_dir, OUTPUT_FOLDERS + tuple(extra_folders))
        if rel not in known and not name.endswith(atomic.TEMP_SUFFIX) and concern(rel)
    )


def _files_under(out_dir: Path, folders: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(POSIX path relative to OUT, name) of every file under these folders of OUT, symlinks not followed.

    Strings, not Path objects: a run's end lists every output, and pathlib cost about 7 us a file.
    """
    base = os.fspath(out_dir)
    for folder in folders:
        for current, _dirs, names in os.walk(os.path.join(base, folder)):  # nothing for a missing folder
            prefix = os.path.relpath(current, base).replace(os.sep, "/")
            for name in names:
                yield f"{prefix}/{name}", name


class Journal:
    """Append-only record of the rows this run writes: survives SIGKILL line by line, and is where the
    run keeps its rows (the engine holds none in memory) until ``sorted_rows`` merges them into the
    manifest. A leftover journal of a killed run is appended to; its rows are already in ``previous``.
    """

    def __init__(self, out_dir: Path, books: Books = WHOLE):
        self.path = out_dir / books.journal
        self.names: set[str] = set()  # target names seen in this run's rows
        self._fh = None
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


@functools.cache  # fixed for the life of a process; the engine reads them early, while its workers run
def versions() -> dict[str, str]:
    """The library versions whose code decides output bytes; ``png`` names the PNG writer and compressor."""
    import cv2
    import numpy
    import PIL
    import tifffile

    from .codecs import png_encoder

    return {
        "segaug": __version__,
        "cpu": cpu.description(),
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "tifffile": tifffile.__version__,
        "png": png_encoder(),
    }


def read_versions(out_dir: Path, books: Books = WHOLE) -> dict[str, str] | None:
    data = read_sidecar(out_dir, books)
    return data.get("versions") if data is not None else None


def read_sidecar(out_dir: Path, books: Books = WHOLE) -> dict | None:
    """``segaug.json`` (or a shard's), or None when it is absent or not a JSON object."""
    try:
        data = json.loads((out_dir / books.versions).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    recorded = data.get("versions")
    if isinstance(recorded, dict) and "png" not in recorded:  # written before segaug had its own PNG writer
        opencv = recorded.get("opencv", "")
        recorded = {**recorded, "png": f"OpenCV {opencv}'s encoder (libpng and zlib, format {data.get('format')})"}
        data = {**data, "versions": recorded}
    return data


def commit(
    out_dir: Path,
    rows: Callable[[], Iterable[Row]],
    names: Iterable[str],
    failures: list[tuple[str, str]],
    books: Books = WHOLE,
    about: dict | None = None,
) -> None:
    """Write manifest, versions and error list atomically; each is whole or absent.

    ``rows`` gives the manifest's rows sorted by image, each time it is called (the manifest is
    hashed, then written only if it changed); ``names`` are their extra target names.

    A file that already holds exactly the new bytes is not rewritten, so a rerun with nothing to do
    writes nothing at all (mtimes unchanged). ``segaug.json`` records the manifest's sha256, so a
    hand-edited manifest is recognised (``manifest_edited``) instead of trusted. ``about`` adds
    entries to it (a shard records which it is, and what made it, for ``merge``).
    """
    names = sorted(names)
    digest = _write_if_changed(
        out_dir / books.manifest, lambda: (line.encode("utf-8") for line in lines(rows(), names))
    )
    sidecar = {"format": FORMAT_VERSION, "versions": versions(), "manifest_sha256": digest, **(about or {})}
    write_sidecar(out_dir, books, sidecar)
    write_errors(out_dir, books, failures)


def write_sidecar(out_dir: Path, books: Books, sidecar: dict) -> None:
    _write_if_changed(
        out_dir / books.versions, lambda: [(json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode()]
    )


def write_errors(out_dir: Path, books: Books, failures: list[tuple[str, str]]) -> None:
    """errors.csv (or a shard's) listing the failed pairs; none when no pair failed."""
    if failures:
        _write_if_changed(out_dir / books.errors, lambda: [_errors_csv(failures).encode("utf-8")])
    else:
        (out_dir / books.errors).unlink(missing_ok=True)


def _write_if_changed(path: Path, content: Callable[[], Iterable[bytes]]) -> str:
    """Write ``path`` atomically unless it already holds exactly this content; returns its sha256.

    When the file exists, the content is hashed before anything is written, so a rerun with nothing to
    do writes nothing at all (no temporary file, no mtime changed); ``content`` is then called again to
    write, so a large manifest is never held whole in memory. A new file is hashed as it is written.
    """
    digest = hashlib.sha256()
    existing = sha256_of(path)
    if existing is None:
        atomic.atomic_write_lines(path, _hashed(content(), digest))
        return digest.hexdigest()
    for chunk in content():
        digest.update(chunk)
    if digest.hexdigest() != existing:
        atomic.atomic_write_lines(path, content())
    return digest.hexdigest()


def _hashed(chunks: Iterable[bytes], digest) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def sha256_of(path: Path) -> str | None:
    """sha256 of a file read in blocks, None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def manifest_edited(out_dir: Path, books: Books = WHOLE) -> bool:
    """True when manifest.csv is not the file segaug last wrote (its sha256 differs from segaug.json's)."""
    try:
        recorded = json.loads((out_dir / books.versions).read_text(encoding="utf-8")).get("manifest_sha256")
        actual = sha256_of(out_dir / books.manifest)
    except (OSError, ValueError, AttributeError):
        return False  # no sidecar (or an older one): nothing to compare with
    return isinstance(recorded, str) and recorded != actual


def manifest_vouched_for(out_dir: Path, books: Books = WHOLE) -> bool:
    """True when segaug.json (or a shard's) records the sha256 of the manifest as it is now: segaug wrote it so."""
    try:
        recorded = json.loads((out_dir / books.versions).read_text(encoding="utf-8")).get("manifest_sha256")
        return recorded == sha256_of(out_dir / books.manifest)
    except (OSError, ValueError, AttributeError):
        return False


def _errors_csv(failures: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("source_image", "reason"))
    writer.writerows(sorted(failures))
    return buffer.getvalue()
