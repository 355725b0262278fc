"""Errors whose str() is the whole user-facing sentence; only the command line turns them into exit codes."""

from __future__ import annotations


class SegaugError(Exception):
    """A user mistake or bad input, reported as one line without a traceback."""


class RecipeError(SegaugError):
    """The recipe cannot be parsed or is invalid (exit 2)."""

    def __init__(self, path: str, line: int | None, key: str, message: str):
        self.path, self.line, self.key, self.message = path, line, key, message
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


class SectionError(SegaugError):
    """A recipe section checked by its own module (``labels:``, ``tiles:``) that cannot be used.

    ``keys`` is the path below the section (``("map", 300)``), so the recipe parser can point at the
    line: ``recipe.yaml line 12: labels.map.300: ...``. Subclasses name the section.
    """

    section = ""

    def __init__(self, keys: tuple[str | int, ...], message: str):
        self.keys, self.message = keys, message
        where = ".".join([self.section, *(str(k) for k in keys)])
        super().__init__(f"{where}: {message}")


class LabelsError(SectionError):
    """The ``labels:`` section cannot be used."""

    section = "labels"


class TilesError(SectionError):
    """The ``tiles:`` section cannot be used."""

    section = "tiles"


class Refused(SegaugError):
    """What was asked cannot be done with OUT as it is (shards missing or not merged): exit 1, one line."""

    prefix = "error: "


class UsageError(SegaugError):
    """The command line or the folders given cannot be used (exit 2, nothing written)."""


class PipelineError(SegaugError):
    """An Albumentations pipeline that ``segaug convert`` cannot read or translate (exit 2)."""


class PairError(SegaugError):
    """One image/mask pair cannot be augmented; the run goes on without it."""


class WorkerLost(SegaugError):
    """A worker process ended abruptly (killed, out of memory): the run stops, keeping what finished."""
