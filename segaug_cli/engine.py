"""The parallel engine: plan one job per pair, run the jobs on a process pool, commit OUT.

``expand`` and ``check`` share everything up to the workers' verdicts: ``check`` runs the same
jobs in a mode that hashes and compares but writes nothing.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import executors, store
from .errors import WorkerLost
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, Settings
from .manifest import Row, image_of, render, target_names
from .naming import clashing_pair, output_samples
from .pairing import Pair, Pairing, find_pairs
from .recipe import Recipe

Progress = Callable[[int], None]


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
    class_before: Counter = field(default_factory=Counter)  # pixels per class, with class-aware copies
    class_after: Counter = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return len(self.failures)


@dataclass
class Difference:
    path: str
    kind: str  # missing | stale | altered | extra | failed | manifest
    why: str


@dataclass
class CheckReport:
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


def plan(recipe: Recipe, pairing: Pairing, previous: dict[str, Row]) -> list[PairJob]:
    """One job per pair, in key order, holding the rows earlier runs recorded for its outputs.

    A job carries no list of output names (``output_samples`` derives them when needed), so what this
    process holds, and forks into every worker, is one small record per source pair.
    """
    jobs, planned = [], {}
    for pair in pairing.pairs:
        clash = clashing_pair(recipe, pair, planned)
        if clash is not None:
            pair = Pair(pair.key, pair.image, pair.mask, f"its output names collide with those of {clash}")
        samples = output_samples(recipe, pair)
        if samples:
            planned[pair.key] = pair
        jobs.append(PairJob(pair, tuple(previous[s.image] for s in samples if s.image in previous)))
    return jobs


# ---------------------------------------------------------------------------------------------
# expand
# ---------------------------------------------------------------------------------------------


def expand(
    recipe: Recipe, in_dir: str | Path, out_dir: str | Path, *, workers: int | None = None,
    force: bool = False, dry_run: bool = False, strict: bool = False, progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Bring OUT up to date with the recipe and the pairs in IN.

    Only samples whose fingerprint changed, or whose outputs are missing or altered, are written;
    outputs that earlier runs wrote and the recipe no longer produces are removed; files segaug did
    not write are left alone and reported. With ``dry_run`` nothing is written.

    Raises:
        UsageError: IN/OUT unusable, or OUT holds a manifest segaug cannot read.
    """
    started = time.perf_counter()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    pairing = _find(recipe, in_dir)
    previous = store.load_previous(out_dir)
    jobs = plan(recipe, pairing, previous)
    summary = Summary(pairs=len(jobs), orphan_masks=pairing.orphan_masks, ignored=pairing.ignored)
    mode = Mode.DRY_RUN if dry_run else Mode.EXPAND
    settings = Settings(recipe, str(in_dir), str(out_dir), mode=mode, force=force)
    if not dry_run:
        out_dir.mkdir(parents=True, exist_ok=True)
        store.remove_temp_files(out_dir, _target_folders(recipe))
    if on_start:
        on_start(len(jobs))
    journal = store.Journal(out_dir)
    job_of = {job.pair.key: job for job in jobs}
    done: set[str] = set()
    superseded: set[str] = set()  # earlier rows this run rewrote: the journal holds their new rows
    settled: list[Row] = []  # earlier rows that a finished pair no longer produces
    complete = False
    try:
        with executors.running(executors.choose(workers, len(jobs)), jobs, settings) as outcomes:
            if not dry_run:  # the workers are busy: read what the commit records now, not after them
                store.versions()  # (importing tifffile for its version takes ~16 ms)
            for outcome in outcomes:
                done.add(outcome.key)
                _tally(summary, outcome)
                if not dry_run:  # rows go to disk, never accumulate here: memory stays flat in dataset size
                    journal.add([s.row for s in outcome.samples if s.action is Action.WRITTEN and s.row])
                    _settle(outcome, job_of[outcome.key], superseded, settled)
                if progress:
                    progress(1)
                if outcome.fatal or (strict and outcome.failure):
                    break
            else:
                complete = True
    except KeyboardInterrupt:
        summary.interrupted = True
    except WorkerLost as exc:
        summary.fatal = str(exc)
    finally:
        journal.close(remove=False)
    known = _known(previous.values())
    if not dry_run:
        store.remove_temp_files(out_dir, _target_folders(recipe))
        try:
            known |= _commit(summary, out_dir, recipe, jobs, previous, done, superseded, settled, complete,
                             journal)
        except OSError as exc:  # disk full or unwritable: the journal keeps what was written for a rerun
            summary.fatal = summary.fatal or f"{exc.filename or out_dir}: {exc.strerror or exc}"
    else:
        _plan_removals(summary, recipe, jobs, previous)
    summary.foreign = store.foreign_files(out_dir, known, _target_folders(recipe))
    summary.seconds = time.perf_counter() - started
    return summary


def _find(recipe: Recipe, in_dir: Path) -> Pairing:
    i = recipe.inputs
    return find_pairs(in_dir, i.images, i.masks, i.mask_suffix, tuple((t.name, t.folder) for t in recipe.targets))


def _tally(summary: Summary, outcome: PairOutcome) -> None:
    if outcome.fatal:
        summary.fatal = outcome.fatal
        return
    if outcome.failure:
        summary.failures.append((outcome.source_image, outcome.failure))
        return
    if outcome.class_pixels:
        summary.class_before.update(outcome.class_pixels[0])
        summary.class_after.update(outcome.class_pixels[1])
    for s in outcome.samples:
        if s.action is Action.WRITTEN:
            summary.written += 1
        elif s.action is Action.UNCHANGED:
            summary.unchanged += 1
        elif s.action is Action.DROPPED:
            summary.dropped.add(s.image)
        else:
            summary.planned.append(("write", f"{s.image} ({s.reason})"))


def _settle(outcome: PairOutcome, job: PairJob, superseded: set[str], settled: list[Row]) -> None:
    """Sort a finished pair's earlier rows: rewritten (superseded), still valid, or no longer produced
    (a dropped copy, a pair that now fails): settled, their files removed at commit."""
    actions = {s.image: s.action for s in outcome.samples}
    for row in job.previous:
        action = actions.get(row.image)
        if action is Action.WRITTEN:
            superseded.add(row.image)
        elif action is not Action.UNCHANGED:
            settled.append(row)


def _commit(summary: Summary, out_dir: Path, recipe: Recipe, jobs: list[PairJob], previous: dict[str, Row],
            done: set[str], superseded: set[str], settled: list[Row], complete: bool,
            journal: store.Journal) -> set[str]:
    """Make manifest.csv describe exactly the outputs on disk; returns the output paths it lists.

    Earlier outputs that a finished pair no longer produces (fewer copies, a pair that now fails) are
    removed; after a complete run so are those of pairs that left IN. After a stop (Ctrl-C, --strict,
    a fatal error) pairs that did not run keep their earlier rows and files, untouched. The manifest
    merges the earlier rows kept with this run's rows, which the journal sorts on disk.
    """
    if complete:  # rows no job claimed: pairs that left IN, copies the recipe no longer makes
        claimed = {row.image for job in jobs for row in job.previous}
        settled = settled + [row for image, row in previous.items() if image not in claimed]
    store.remove_outputs(out_dir, sorted(settled, key=image_of))
    summary.removed = len(settled)
    gone = superseded | {row.image for row in settled}
    kept = sorted((row for image, row in previous.items() if image not in gone), key=image_of)
    # A stopped pool's workers may have written samples whose outcome never arrived: nothing records
    # them, so they go (the pool is already ended); the next run writes them again, recorded.
    unrecorded = [s for job in jobs if job.pair.key not in done
                  for s in output_samples(recipe, job.pair) if s.image not in previous]
    for rel in (path for s in unrecorded for path in s.outputs()):
        (out_dir / rel).unlink(missing_ok=True)
    known: set[str] = set()
    with journal.sorted_rows() as fresh:
        def rows() -> Iterator[Row]:
            for row in heapq.merge(kept, fresh(), key=image_of):  # each pass re-reads the journal's runs
                known.update(path for path, _ in row.outputs())
                yield row

        store.commit(out_dir, rows, journal.names | target_names(kept), summary.failures)
    journal.close(remove=True)
    return known


def _plan_removals(summary: Summary, recipe: Recipe, jobs: list[PairJob], previous: dict[str, Row]) -> None:
    planned = {s.image for job in jobs for s in output_samples(recipe, job.pair)} - summary.dropped
    for image, row in sorted(previous.items()):
        if image not in planned:
            summary.planned.append(("remove", f"{' and '.join(p for p, _ in row.outputs())} (no longer produced)"))
            summary.removed += 1


def _target_folders(recipe: Recipe) -> tuple[str, ...]:
    return tuple(t.name for t in recipe.targets)


def _known(*groups: Iterable[Row]) -> set[str]:
    return {path for group in groups for row in group for path, _ in row.outputs()}


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def check(
    recipe: Recipe, in_dir: str | Path, out_dir: str | Path, *, workers: int | None = None,
    deep: int | None = 0, progress: Progress | None = None,
) -> CheckReport:
    """Compare OUT with what ``expand`` would produce, writing nothing.

    Args:
        deep: recompute this many samples (chosen by a stable hash of their names) and compare their
            pixels with the stored files; None recomputes all of them.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    report = CheckReport()
    if not (out_dir / store.MANIFEST).is_file():
        report.differences.append(Difference(store.MANIFEST, "missing", "OUT has no manifest: run segaug expand"))
    elif store.manifest_edited(out_dir):
        report.differences.append(Difference(store.MANIFEST, "altered", "edited since segaug wrote it"))
    previous = store.load_previous(out_dir, distrust_edited=False)
    jobs = plan(recipe, _find(recipe, in_dir), previous)
    settings = Settings(recipe, str(in_dir), str(out_dir), mode=Mode.CHECK, deep=_deep_selection(recipe, jobs, deep))
    rows: dict[str, Row] = {}
    dropped: set[str] = set()
    with executors.running(executors.choose(workers, len(jobs)), jobs, settings) as outcomes:
        for outcome in outcomes:
            _collect_differences(report, outcome, rows)
            dropped.update(s.image for s in outcome.samples if s.action is Action.DROPPED)
            if progress:
                progress(1)
    planned = {s.image for job in jobs for s in output_samples(recipe, job.pair)} - dropped
    for image in sorted(previous):
        if image not in planned:
            report.differences.append(Difference(image, "extra", "the recipe no longer produces it"))
    for rel in store.foreign_files(out_dir, _known(previous.values()), _target_folders(recipe)):
        report.differences.append(Difference(rel, "extra", "not in the manifest"))
    _check_manifest_text(report, out_dir, rows)
    report.notes.extend(_version_notes(out_dir))
    report.differences.sort(key=lambda d: (d.path, d.kind))
    return report


def _collect_differences(report: CheckReport, outcome: PairOutcome, rows: dict[str, Row]) -> None:
    if outcome.failure or outcome.fatal:
        report.differences.append(Difference(outcome.source_image, "failed", outcome.failure or outcome.fatal))
        return
    for s in outcome.samples:
        if s.action is Action.DROPPED:
            continue
        report.checked += 1
        if s.action is Action.UNCHANGED and s.row is not None:
            rows[s.image] = s.row
        else:
            kind = Reason.MISSING if s.reason is Reason.NEW else s.reason
            report.differences.append(Difference(s.path or s.image, kind.value, _REASONS[s.reason]))


_REASONS = {
    Reason.NEW: "not in the manifest or not on disk",
    Reason.STALE: "the recipe or the source pair changed since it was written",
    Reason.MISSING: "listed in the manifest but the file is gone",
    Reason.ALTERED: "the file's bytes differ from the manifest's sha256",
    Reason.PIXELS_DIFFER: "recomputing it gives different pixels (another OpenCV or segaug version?)",
}


def _check_manifest_text(report: CheckReport, out_dir: Path, rows: dict[str, Row]) -> None:
    """When every output is right, the manifest must also be byte-identical to what expand writes."""
    path = out_dir / store.MANIFEST
    if report.differences or not path.is_file():
        return
    if store.manifest_text(out_dir) != render(list(rows.values())):
        report.differences.append(Difference(store.MANIFEST, "altered", "differs from what expand would write"))


def _version_notes(out_dir: Path) -> list[str]:
    recorded = store.read_versions(out_dir)
    if not recorded:
        return []
    running = store.versions()
    return [
        f"OUT was made with {name} {recorded[name]}, this is {name} {running[name]}: pixels may differ; "
        "`segaug check --deep all` compares them"
        for name in sorted(running) if name in recorded and recorded[name] != running[name]
    ]


def _deep_selection(recipe: Recipe, jobs: list[PairJob], deep: int | None) -> frozenset[str]:
    images = [s.image for job in jobs for s in output_samples(recipe, job.pair) if s.copy is not None]
    if deep is None:
        return frozenset(images)
    import hashlib

    ranked = sorted(images, key=lambda image: hashlib.sha256(image.encode()).hexdigest())
    return frozenset(ranked[:deep])
