"""Per-class pixel shares and image counts of label masks, in a local folder or at a URL."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from . import codecs, storage
from .errors import PairError, UsageError
from .extensions import IMAGE_EXTENSIONS

Label = int | str  # an index, or "#rrggbb" for colour masks


@dataclass
class ClassStats:
    """Pixel counts per class, and in how many masks each class occurs."""

    pixels: Counter = field(default_factory=Counter)
    images: Counter = field(default_factory=Counter)
    masks: int = 0

    def add(self, counts: dict[Label, int]) -> None:
        self.pixels.update(counts)
        self.images.update(counts.keys())
        self.masks += 1

    def merge(self, other: ClassStats) -> None:
        self.pixels.update(other.pixels)
        self.images.update(other.images)
        self.masks += other.masks

    def shares(self) -> dict[Label, float]:
        total = sum(self.pixels.values())
        return {label: count / total for label, count in self.pixels.items()} if total else {}


def class_counts(labels: np.ndarray) -> dict[Label, int]:
    """Pixels per label of an (H, W) label mask, or per colour of an (H, W, 3) BGR colour mask."""
    if labels.ndim == 2:
        counts = np.bincount(labels.ravel(), minlength=1)
        return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    packed = (labels[..., 2].astype(np.uint32) << 16) | (labels[..., 1].astype(np.uint32) << 8) | labels[..., 0]
    values, counts = np.unique(packed, return_counts=True)
    return {f"#{int(v):06x}": int(c) for v, c in zip(values, counts, strict=True)}


def folder_stats(folder: str | Path, storage_options: dict | None = None) -> tuple[ClassStats, list[str]]:
    """Class statistics of every mask under ``folder`` (its ``masks/`` subfolder when it has one).

    Args:
        folder: a local folder, or a URL (``s3://bucket/raw``) read from one listing.
        storage_options: the backend's options when ``folder`` is a URL.
    Returns:
        The statistics, and one line per file that could not be read.
    Raises:
        UsageError: the folder does not exist (nothing is stored under the URL).
        StorageError: the store cannot be read.
    """
    masks = _stored_masks(os.fspath(folder), storage_options or {}) if storage.is_url(folder) else _local_masks(folder)
    stats, problems = ClassStats(), []
    for name, read in masks:
        try:
            mask = codecs.decode_mask(read(), name)
        except PairError as exc:
            problems.append(str(exc))
            continue
        stats.add(class_counts(mask.labels))
    return stats, problems


Masks = Iterator[tuple[str, Callable[[], bytes]]]  # each mask's name relative to DIR, and how to read it


def _local_masks(folder: str | Path) -> Masks:
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder")
    if (root / "masks").is_dir():
        root = root / "masks"
    # named relative to the DIR given (masks/city/a.png), so the warning says where the file is
    for path in _mask_files(root):
        yield path.relative_to(folder).as_posix(), lambda path=path: codecs.read_bytes(path)


def _stored_masks(url: str, storage_options: dict) -> Masks:
    """The masks under a URL (under its ``masks/`` when that holds any), from one listing, in the local
    walk's order."""
    listed = storage.source_of(url, storage_options)
    start = "masks/" if any(name.startswith("masks/") for name in listed.files) else ""
    names = [
        name
        for name in listed.files
        if name.startswith(start)
        and not any(part.startswith(".") for part in name[len(start) :].split("/"))
        and PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS
    ]
    return ((name, lambda name=name: listed.fetch(name)) for name in sorted(names, key=lambda name: name.split("/")))


def _mask_files(root: Path) -> list[Path]:
    found = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(current, n) for n in names if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_EXTENSIONS
        ]
    return sorted(found)


def table(stats: ClassStats) -> list[str]:
    """A plain-text table: class, pixels, share of all pixels, masks containing the class."""
    shares = stats.shares()
    rows = [f"{'class':>9}  {'pixels':>12}  {'share':>7}  {'masks':>6}"]
    for label in sorted(stats.pixels, key=lambda v: (isinstance(v, str), v)):
        rows.append(f"{label!s:>9}  {stats.pixels[label]:>12}  {shares[label]:>7.2%}  {stats.images[label]:>6}")
    rows.append(f"{'total':>9}  {sum(stats.pixels.values()):>12}  {1:>7.2%}  {stats.masks:>6}")
    return rows


def share_table(before: dict[Label, int], after: dict[Label, int]) -> list[str]:
    """Per-class pixel share in the source masks and in the written dataset, side by side."""
    total_before, total_after = sum(before.values()) or 1, sum(after.values()) or 1
    rows = [f"{'class':>9}  {'before':>7}  {'after':>7}"]
    for label in sorted(set(before) | set(after), key=lambda v: (isinstance(v, str), v)):
        share_before, share_after = before.get(label, 0) / total_before, after.get(label, 0) / total_after
        rows.append(f"{label!s:>9}  {share_before:>7.2%}  {share_after:>7.2%}")
    return rows
