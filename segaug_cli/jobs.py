"""What the engine hands an executor, and what comes back: small picklable records, no arrays.

A job names one source pair (paths, never pixels) with the rows earlier runs recorded for its outputs;
its outcome says, per output pair, what the worker did. Both travel between processes (or machines),
so they hold only strings, numbers and rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .manifest import Row
from .pairing import Pair
from .recipe import Recipe


class StrEnum(str, enum.Enum):
    """``enum.StrEnum`` (Python 3.11+) for 3.10: each member is its string value, in str() and
    f-strings alike, so what reaches the user or a file is the same text as before."""

    def __str__(self) -> str:
        return str.__str__(self)


class Mode(StrEnum):
    EXPAND = "expand"  # write what is out of date
    DRY_RUN = "dry-run"  # say what would be written
    CHECK = "check"  # say what differs (and, for --deep samples, recompute pixels)


class Action(StrEnum):
    """What became of one output pair."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # OUT already holds it
    PENDING = "pending"  # dry-run and check: it would be written
    DROPPED = "dropped"  # a class-aware rule gives this pair fewer copies


class Reason(StrEnum):
    """Why an output pair is (or would be) written."""

    NEW = "new"
    STALE = "stale"
    MISSING = "missing"
    ALTERED = "altered"
    FORCED = "forced"
    PIXELS_DIFFER = "pixels differ"
    ROW_DIFFERS = "row differs"


@dataclass(frozen=True)
class Settings:
    """What every worker needs for the whole run, sent to each worker once."""

    recipe: Recipe
    in_dir: str
    out_dir: str
    mode: Mode = Mode.EXPAND
    force: bool = False
    deep: frozenset[str] = frozenset()  # check: output images whose pixels are recomputed and compared
    deep_all: bool = False  # check --deep all: every output's, without a set of every name
    verify_rows: bool = False  # check of a manifest it cannot trust: recompute every row and compare
    # IN or OUT as URLs: the backend's options (each worker opens the store itself); never secrets on a cluster
    storage_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PairJob:
    pair: Pair
    previous: tuple[Row, ...] = ()  # what an earlier run recorded for this pair's outputs
    # OUT in an object store: (output path, sha256) of the outputs the store vouches are as uploaded
    # (the listing's ETag is the one of segaug's own PUT), so the worker does not download them
    stored: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SampleOutcome:
    image: str
    mask: str
    action: Action
    reason: Reason | None = None
    row: Row | None = None
    path: str = ""  # the output file the reason is about (the mask, when only the mask is missing/altered)
    detail: str = ""  # check: what differs, where the reason alone does not say (the columns of a row)


@dataclass(frozen=True)
class PairOutcome:
    key: str
    source_image: str
    samples: tuple[SampleOutcome, ...] = ()
    failure: str | None = None  # this pair failed; the run goes on
    fatal: str | None = None  # OUT cannot be written (disk full, permissions); the run stops
    # with class-aware copies: pixels per class of the source mask, and of the output masks
    class_pixels: tuple[dict, dict] | None = None
    unlisted_pixels: int = 0  # source mask pixels whose label or colour the recipe's label map does not list
    receipts: tuple[tuple[str, str, str, int], ...] = ()  # written to an object store: (path, ETag, sha256, size)
