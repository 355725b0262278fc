"""The books of OUT (its bookkeeping files), and committing a run's result to them.

OUT holds the output folders (``images/`` and ``masks/``, or IN's own with ``output.layout: mirror``),
``manifest.csv`` (one row per output pair), ``segaug.json`` (the versions that made it),
``errors.csv`` (failed pairs, when any) and, only while a run is in progress or after it was killed,
``.segaug-journal.jsonl`` (rows written so far, so the next run can trust them).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, atomic, cpu
from ..fingerprint import FORMAT_VERSION
from ..manifest import Row, lines
from ..shards import Shard

MANIFEST = "manifest.csv"
VERSIONS = "segaug.json"
ERRORS = "errors.csv"
JOURNAL = ".segaug-journal.jsonl"


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


def journal_folder(books: Books) -> str:
    """``.segaug-journal`` (or a shard's): where the run's journal objects go."""
    return books.journal.removesuffix(".jsonl")


@functools.cache  # fixed for the life of a process; the engine reads them early, while its workers run
def versions() -> dict[str, str]:
    """The library versions whose code decides output bytes; ``png`` names the PNG writer and compressor."""
    import cv2
    import numpy
    import PIL
    import tifffile

    from ..codecs import png_encoder

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


def read_sidecar(out_dir: Path, books: Books = WHOLE) -> dict[str, Any] | None:
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
    about: dict[str, Any] | None = None,
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


def write_sidecar(out_dir: Path, books: Books, sidecar: dict[str, Any]) -> None:
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


def _hashed(chunks: Iterable[bytes], digest: Any) -> Iterator[bytes]:
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
        return bool(recorded == sha256_of(out_dir / books.manifest))
    except (OSError, ValueError, AttributeError):
        return False


def _errors_csv(failures: list[tuple[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("source_image", "reason"))
    writer.writerows(sorted(failures))
    return buffer.getvalue()
