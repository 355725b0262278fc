"""Per-class pixel shares and image counts of label masks, in a local folder or at a URL."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import codecs, storage
from .errors import PairError
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
    masks = storage.files_of(folder, storage_options or {}, "masks", IMAGE_EXTENSIONS)
    stats, problems = ClassStats(), []
    for name, read in masks:
        try:
            mask = codecs.decode_mask(read(), name)
        except PairError as exc:
            problems.append(str(exc))
            continue
        stats.add(class_counts(mask.labels))
    return stats, problems


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
