"""Checking: compare OUT with what ``expand`` would produce, writing nothing.

The same jobs as ``expand`` run in a mode that hashes and compares; ``--deep`` recomputes a stable
sample of the outputs and compares their pixels; without ``segaug.json``'s hash of the manifest,
every row is recomputed, so a hand-edited row is a difference rather than the truth.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator
from pathlib import Path

from . import executors, overrides, shards, storage, testing
from .errors import Refused
from .executors import Executor
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, Settings
from .manifest import Row, image_of, lines, target_names
from .naming import output_samples
from .pairing import PairScan
from .planning import concern_of, known_paths, output_folders, planned_jobs, previous_of, scan_in
from .recipe import Recipe
from .reports import CheckOptions, CheckReport, Difference, Progress
from .shards import Shard
from .splitfile import split_file_difference
from .storage import Out, Place, books
from .storage.rows import Previous


def check(
    recipe: Recipe,
    in_dir: str | Path,
    out_dir: str | Path,
    options: CheckOptions = CheckOptions(),
    progress: Progress | None = None,
) -> CheckReport:
    """Compare OUT with what ``expand`` would produce, writing nothing."""
    in_place, out_place = storage.place(in_dir), storage.place(out_dir)
    storage.check_places(in_place, out_place)
    with storage.open_out(out_place, options.storage_options, options.shard) as out:  # read only
        return _check(recipe, (in_place, out_place), out, options, progress)


def _check(
    recipe: Recipe, places: tuple[Place, Place], out: Out, options: CheckOptions, progress: Progress | None
) -> CheckReport:
    shard, books_dir = options.shard, out.folder
    own = _check_books(books_dir, shard)
    _refuse_unmerged(out, own)
    recipe = overrides.reconcile(recipe, books.read_sidecar(books_dir, own), options.overrides, "OUT")
    report = CheckReport(differences=_manifest_differences(books_dir, own))
    holder = out.holder()
    report.notes.extend([] if holder is None else [_busy_note(holder)])
    scan = scan_in(recipe, storage.source_of(places[0], options.storage_options))
    count = sum(1 for pair in scan if shard is None or shard.holds(pair.key))
    testing.pause("checking")
    # Without segaug.json's hash of the manifest (or against it), nothing vouches for the rows: each is
    # recomputed from recipe and inputs, so a hand-edited row is a difference rather than the truth.
    untrusted = (books_dir / own.manifest).is_file() and not books.manifest_vouched_for(books_dir, own)
    if untrusted and not report.differences:
        report.notes.append(f"OUT has no {own.versions} vouching for its manifest: every row was recomputed")
    settings = Settings(
        recipe,
        str(places[0]),
        str(places[1]),
        Mode.CHECK,
        deep=_deep_selection(recipe, scan, shard, options.deep),
        deep_all=options.deep is None,
        verify_rows=untrusted,
        storage_options=options.storage_options,
    )
    executor = executors.choose(options.workers, count)
    executors.preflight(executor, settings)
    with previous_of(recipe, books_dir, shard, distrust_edited=False) as previous:
        unclaimed: list[Row] = []
        jobs = out.with_stored(planned_jobs(recipe, scan, previous.by_key(), unclaimed, shard))
        if progress:
            progress.start(count)
        dropped = _compare_outputs(report, executor, jobs, settings, progress)
        for row in sorted([*unclaimed, *dropped], key=image_of):
            report.differences.append(Difference(row.image, "extra", "the recipe no longer produces it"))
        concern = concern_of(recipe, shard)
        for rel in out.foreign(known_paths(previous.by_image()), output_folders(recipe), concern):
            report.differences.append(Difference(rel, "extra", "not in the manifest"))
        if own is books.books_for(shard):  # a share of a merged OUT: the whole file is the whole check's
            _check_manifest_text(report, books_dir, previous, own)
        if shard is None:  # a shard's run writes no split file: merge writes the whole list
            _check_split_file(report, recipe, out, previous)
    report.notes.extend(_version_notes(books_dir, own))
    report.differences.sort(key=lambda d: (d.path, d.kind))
    return report


class ShardsUnmerged(Refused):
    """OUT holds shards that were not merged, and the check is of the whole (exit 1, one line)."""

    prefix = "segaug check: "


def _refuse_unmerged(out: Out, own: books.Books) -> None:
    """A check of the whole OUT where only shards' books are: one line saying which, and what to run."""
    if own is not books.WHOLE or (out.folder / own.manifest).is_file() or not out.folder.is_dir():
        return
    found = shards.shards_named(out.names())
    if found:
        raise ShardsUnmerged(shards.unmerged(found))


def _check_books(out_dir: Path, shard: Shard | None) -> books.Books:
    """The bookkeeping a check reads: a shard's own, else (a merged OUT) the whole run's."""
    own = books.books_for(shard)
    if shard is not None and not (out_dir / own.manifest).is_file() and (out_dir / books.MANIFEST).is_file():
        return books.WHOLE
    return own


def _busy_note(holder: storage.Holder) -> str:
    return f"a segaug run is writing OUT now ({holder.describe()}): what it has not finished shows as differences"


def _manifest_differences(out_dir: Path, own: books.Books = books.WHOLE) -> list[Difference]:
    if not (out_dir / own.manifest).is_file():
        return [Difference(own.manifest, "missing", "OUT has no manifest: run segaug expand")]
    if books.manifest_edited(out_dir, own):
        return [Difference(own.manifest, "altered", "edited since segaug wrote it")]
    return []


def _compare_outputs(
    report: CheckReport, executor: Executor, jobs: Iterator[PairJob], settings: Settings, progress: Progress | None
) -> list[Row]:
    """Run the check jobs, noting each difference; returns the earlier rows of copies now dropped."""
    in_flight: dict[str, PairJob] = {}
    dropped: list[Row] = []

    def taken() -> Iterator[PairJob]:
        for job in jobs:
            in_flight[job.pair.key] = job
            yield job

    with executors.running(executor, taken(), settings) as outcomes:
        for outcome in outcomes:
            _collect_differences(report, outcome)
            gone = {s.image for s in outcome.samples if s.action is Action.DROPPED}
            dropped.extend(row for row in in_flight.pop(outcome.key).previous if row.image in gone)
            if progress:
                progress.update(1)
    return dropped


def _collect_differences(report: CheckReport, outcome: PairOutcome) -> None:
    if outcome.failure or outcome.fatal:
        report.differences.append(Difference(outcome.source_image, "failed", outcome.failure or outcome.fatal or ""))
        return
    for s in outcome.samples:
        if s.action is Action.DROPPED:
            continue
        report.checked += 1
        if s.action is not Action.UNCHANGED or s.row is None:
            assert s.reason is not None, "a sample to rewrite has a reason"
            kind = Reason.MISSING if s.reason is Reason.NEW else s.reason
            why = f"{_REASONS[s.reason]}: {s.detail}" if s.detail else _REASONS[s.reason]
            report.differences.append(Difference(s.path or s.image, kind.value, why))


_REASONS = {
    Reason.NEW: "not in the manifest or not on disk",
    Reason.STALE: "the recipe or the source pair changed since it was written",
    Reason.MISSING: "listed in the manifest but the file is gone",
    Reason.ALTERED: "the file's bytes differ from the manifest's sha256",
    Reason.PIXELS_DIFFER: "recomputing it gives different pixels (another OpenCV or segaug version?)",
    Reason.ROW_DIFFERS: "its manifest row differs from a recomputation in",
}


def _check_manifest_text(
    report: CheckReport, out_dir: Path, previous: Previous, own: books.Books = books.WHOLE
) -> None:
    """When every output is right, the manifest must also be byte-identical to what expand writes.

    With no difference found, every earlier row is valid, so expand would write exactly those rows:
    their rendering's sha256 is compared with the file's, both streamed.
    """
    path = out_dir / own.manifest
    if report.differences or not path.is_file():
        return
    names = target_names(previous.by_image()) if previous.names else set()
    expected = hashlib.sha256()
    for line in lines(previous.by_image(), names):
        expected.update(line.encode("utf-8"))
    if expected.hexdigest() != books.sha256_of(path):
        report.differences.append(Difference(own.manifest, "altered", "differs from what expand would write"))


def _check_split_file(report: CheckReport, recipe: Recipe, out: Out, previous: Previous) -> None:
    """OUT's split file (``output.layout: mirror`` with ``inputs.split``) lists exactly the manifest's keys."""
    found = split_file_difference(recipe, out.location, previous.by_image())
    if found is not None:
        report.differences.append(Difference(found[0], found[1], "does not list exactly OUT's keys: run segaug expand"))


def _version_notes(out_dir: Path, own: books.Books = books.WHOLE) -> list[str]:
    recorded = books.read_versions(out_dir, own)
    if not recorded:
        return []
    running = books.versions()
    changed = [name for name in sorted(running) if name in recorded and recorded[name] != running[name]]
    return [_version_note(name, recorded[name], running[name]) for name in changed]


def _version_note(name: str, recorded: str, running: str) -> str:
    if name == "png":  # a lossless writer changes bytes, never pixels
        return (
            f"OUT's PNG files were written with {recorded}; this segaug writes them with {running}: "
            "`segaug expand` rewrites them, to the same pixels"
        )
    return (
        f"OUT was made with {name} {recorded}, this is {name} {running}: pixels may differ; "
        "`segaug check --deep all` compares them"
    )


def _deep_selection(recipe: Recipe, scan: PairScan, shard: Shard | None, deep: int | None) -> frozenset[str]:
    """The ``deep`` output images to recompute, chosen by a stable hash of their names (for ``--deep all``
    none are listed: ``Settings.deep_all`` says so without a set of every output)."""
    if deep == 0 or deep is None:
        return frozenset()
    pairs = (pair for pair in scan if shard is None or shard.holds(pair.key))
    images = (s.image for pair in pairs for s in output_samples(recipe, pair) if s.copy is not None)
    return frozenset(heapq.nsmallest(deep, images, key=lambda image: hashlib.sha256(image.encode()).hexdigest()))
