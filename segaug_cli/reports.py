"""What the engine is told and what it tells back: the options of ``expand`` and ``check``, their
summaries, and the progress callback. Records only; every phase reads them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from .shards import Shard

if TYPE_CHECKING:  # the executors bring NumPy and OpenCV, which `segaug --help` need not load
    from .executors import Executor

Workers: TypeAlias = "int | Executor | None"  # local worker processes (None: one per CPU), or an executor to use


class Progress(Protocol):
    """Where a run reports how far it is (the command line's progress bar)."""

    def start(self, total: int) -> None:
        """The run is about to process ``total`` pairs."""

    def update(self, done: int) -> None:
        """``done`` more pairs finished."""


@dataclass(frozen=True)
class ExpandOptions:
    """How ``expand`` runs.

    Attributes:
        workers: local worker processes (None: one per CPU), or an ``executors.Executor`` to run on.
        shard: do only this share of the pairs, with its own bookkeeping files (``storage.books.books_for``).
        force: regenerate every output, even those up to date.
        dry_run: write nothing; list what would be written and removed.
        strict: stop at the first pair that fails.
        storage_options: for IN or OUT given as URLs, the backend's options (``endpoint_url``...);
            never written anywhere, and kept from a cluster's scheduler where they look like secrets.
        overrides: the command line's ``--seed``/``--copies`` (applied to the recipe already), recorded
            in ``segaug.json`` so that ``check`` and ``merge`` use them too.
    """

    workers: Workers = None
    shard: Shard | None = None
    force: bool = False
    dry_run: bool = False
    strict: bool = False
    storage_options: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckOptions:
    """How ``check`` runs.

    Attributes:
        workers: as for ``ExpandOptions``.
        shard: check only this share: against the shard's own manifest or, once shards are merged, the
            rows of manifest.csv that belong to it.
        deep: recompute this many samples (chosen by a stable hash of their names) and compare their
            pixels with the stored files; None recomputes all of them.
        storage_options: as for ``ExpandOptions``.
        overrides: ``--seed``/``--copies`` as given (not yet applied): OUT's ``segaug.json`` records
            those it was made with, which are used; one given with another value is refused.
    """

    workers: Workers = None
    shard: Shard | None = None
    deep: int | None = 0
    storage_options: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, int] = field(default_factory=dict)


@dataclass
class Summary:
    """What an expand run did, for the CLI to report."""

    pairs: int = 0
    written: int = 0  # output pairs (image + mask) written
    unchanged: int = 0
    removed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source image, one-line reason)
    fatal: str | None = None
    interrupted: bool = False
    seconds: float = 0.0
    planned: list[tuple[str, str]] = field(default_factory=list)  # dry-run: (action, path and reason)
    orphan_masks: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    foreign: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # copies a class-aware rule does not give this pair
    class_before: Counter[int | str] = field(default_factory=Counter)  # pixels per class, with class-aware copies
    class_after: Counter[int | str] = field(default_factory=Counter)
    beside: tuple[str, ...] = ()  # files beside a paired mask, with its key and another suffix: not read
    skipped: tuple[str, ...] = ()  # images without a mask, skipped (inputs.unpaired: skip)
    left_out: int = 0  # images the split file does not list
    unlisted_pixels: int = 0  # mask pixels whose label or colour the label map does not list

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def would_write(self) -> int:
        """Dry run: how many output pairs would be written."""
        return sum(1 for action, _ in self.planned if action == "write")


@dataclass
class Difference:
    path: str
    kind: str  # missing | stale | altered | extra | failed | pixels differ
    why: str


@dataclass
class CheckReport:
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0
