"""The engine: plan one job per pair, run the jobs through an executor, commit OUT.

``expand`` and ``check`` share everything up to the workers' verdicts: ``check`` runs the same
jobs in a mode that hashes and compares but writes nothing. Which executor runs the jobs (this
process, a local pool, something else) is not the engine's concern.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import executors, store
from .errors import WorkerLost
from .executors import Executor
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, Settings
from .manifest import WINDOW, Row, image_of, render, target_names
from .naming import clashing_pair, output_samples
from .pairing import Pair, Pairing, find_pairs
from .recipe import Recipe

Progress = Callable[[int], None]
Workers = int | Executor | None  # local worker processes (None: one per CPU), or an executor to use


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
    beside: tuple[str, ...] = ()  # files beside a paired mask, with its key and another suffix: not read
    skipped: tuple[str, ...] = ()  # images without a mask, skipped (inputs.unpaired: skip)
    left_out: int = 0  # images the split file does not list
    unlisted_pixels: int = 0  # mask pixels whose label or colour the label map does not list
    foreign: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # copies a class-aware rule does not give this pair
    class_before: Counter = field(default_factory=Counter)  # pixels per class, with class-aware copies
    class_after: Counter = field(default_factory=Counter)

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


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


def plan(recipe: Recipe, pairing: Pairing, previous: dict[str, Row]) -> list[PairJob]:
    """One job per pair, in key order, holding the rows earlier runs recorded for its outputs.

    A job carries no list of output names (``output_samples`` derives them when needed), so what this
    process holds, and forks into every worker, is one small record per source pair.
    """
    if recipe.tiles is not None:
        return _plan_tiled(pairing, previous)
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


def _plan_tiled(pairing: Pairing, previous: dict[str, Row]) -> list[PairJob]:
    """With tiles the output names depend on each image's size, known only once a worker reads it: a
    job holds the earlier rows cut from its source image, and the worker sorts out which still hold."""
    by_source: dict[str, list[Row]] = {}
    for row in previous.values():
        by_source.setdefault(row.source_image, []).append(row)
    return [PairJob(pair, () if pair.problem else tuple(by_source.get(pair.image, ()))) for pair in pairing.pairs]


def no_longer_produced(jobs: Sequence[PairJob], previous: dict[str, Row], dropped: set[str]) -> list[Row]:
    """Earlier rows, sorted by image, whose outputs the recipe no longer makes.

    Their pair left IN (or now fails before it runs), the recipe makes fewer copies, or a class-aware
    rule drops the copy (``dropped``, known once the pair ran). A job holds the earlier rows of the
    names it produces, so every other row is one of these.
    """
    claimed = {row.image for job in jobs for row in job.previous}
    return [row for image, row in sorted(previous.items()) if image not in claimed or image in dropped]


def _find(recipe: Recipe, in_dir: Path) -> Pairing:
    i = recipe.inputs
    return find_pairs(in_dir, i.images, i.masks, i.mask_suffix, tuple((t.name, t.folder) for t in recipe.targets),
                      image_suffix=i.image_suffix, split=i.split, unpaired=i.unpaired)


def _target_folders(recipe: Recipe) -> tuple[str, ...]:
    return tuple(t.name for t in recipe.targets)


def _known(rows: Iterable[Row]) -> set[str]:
    return {path for row in rows for path, _ in row.outputs()}


# ---------------------------------------------------------------------------------------------
# expand
# ---------------------------------------------------------------------------------------------


def expand(
    recipe: Recipe, in_dir: str | Path, out_dir: str | Path, *, workers: Workers = None,
    force: bool = False, dry_run: bool = False, strict: bool = False, progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Bring OUT up to date with the recipe and the pairs in IN.

    Only samples whose fingerprint changed, or whose outputs are missing or altered, are written;
    outputs that earlier runs wrote and the recipe no longer produces are removed; files segaug did
    not write are left alone and reported. With ``dry_run`` nothing is written.

    Args:
        workers: local worker processes (None: one per CPU), or an ``executors.Executor`` to run on.
        strict: stop at the first pair that fails.
        progress: called with 1 as each pair finishes; ``on_start`` first, with the number of pairs.
    Raises:
        UsageError: IN/OUT unusable, or OUT holds a manifest segaug cannot read.
    """
    started = time.perf_counter()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    try:
        pairing = _find(recipe, in_dir)
        _pause_for_tests("planning")
        previous = store.load_previous(out_dir)
        jobs = plan(recipe, pairing, previous)
    except KeyboardInterrupt:  # nothing is written before the plan is whole
        return Summary(interrupted=True, seconds=time.perf_counter() - started)
    run = _Run(recipe, out_dir, jobs, previous, dry_run, Summary(
        pairs=len(jobs), orphan_masks=pairing.orphan_masks, ignored=pairing.ignored, beside=pairing.beside,
        skipped=pairing.skipped, left_out=pairing.left_out))
    settings = Settings(recipe, str(in_dir), str(out_dir), Mode.DRY_RUN if dry_run else Mode.EXPAND, force)
    executor = executors.choose(workers, len(jobs))
    executors.preflight(executor, settings)  # before OUT is touched: an executor that cannot run the job refuses here
    if not dry_run:
        run.prepare_out()
    if on_start:
        on_start(len(jobs))
    complete = run.execute(executor, settings, strict, progress)
    run.finish(complete)
    run.summary.seconds = time.perf_counter() - started
    return run.summary


@dataclass
class _Run:
    """One expand: records each pair's outcome as it arrives, then commits OUT.

    This run's rows go to the journal on disk as they arrive and never accumulate here, so memory
    stays flat in the dataset's size; what is kept is one key or row name per finished sample.
    """

    recipe: Recipe
    out_dir: Path
    jobs: list[PairJob]
    previous: dict[str, Row]  # what earlier runs recorded, by output image
    dry_run: bool
    summary: Summary
    done: set[str] = field(default_factory=set, init=False)  # keys of the pairs whose outcome arrived
    superseded: set[str] = field(default_factory=set, init=False)  # earlier rows rewritten: the journal holds the new
    settled: dict[str, Row] = field(default_factory=dict, init=False)  # earlier rows a finished pair no longer produces

    def __post_init__(self) -> None:
        self.journal = store.Journal(self.out_dir)
        self._job_of = {job.pair.key: job for job in self.jobs}

    def prepare_out(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        store.remove_temp_files(self.out_dir, _target_folders(self.recipe))

    def execute(self, executor: Executor, settings: Settings, strict: bool, progress: Progress | None) -> bool:
        """Run every job, recording outcomes as they finish; True when all of them ran.

        A fatal outcome, a failure with ``strict``, Ctrl-C or a lost worker stop the run early.
        """
        try:
            with executors.running(executor, self.jobs, settings) as outcomes:
                if not self.dry_run:  # the workers are busy: read what the commit records now, not after
                    store.versions()  # them (importing tifffile for its version takes ~16 ms)
                for outcome in outcomes:
                    self.record(outcome)
                    _pause_for_tests("running")
                    if progress:
                        progress(1)
                    if outcome.fatal or (strict and outcome.failure):
                        return False
            return True
        except KeyboardInterrupt:
            self.summary.interrupted = True
        except WorkerLost as exc:
            self.summary.fatal = str(exc)
        finally:
            self.journal.close(remove=False)
        return False

    def record(self, outcome: PairOutcome) -> None:
        self.done.add(outcome.key)
        _tally(self.summary, outcome)
        if not self.dry_run:
            self.journal.add([s.row for s in outcome.samples if s.action is Action.WRITTEN and s.row])
            self._settle(outcome)

    def _settle(self, outcome: PairOutcome) -> None:
        """Sort a finished pair's earlier rows: rewritten (superseded), still valid, or no longer produced
        (a dropped copy, a pair that now fails): settled, their files removed at commit."""
        actions = {s.image: s.action for s in outcome.samples}
        for row in self._job_of[outcome.key].previous:
            action = actions.get(row.image)
            if action is Action.WRITTEN:
                self.superseded.add(row.image)
            elif action is not Action.UNCHANGED:
                self.settled[row.image] = row

    def finish(self, complete: bool) -> None:
        """Commit OUT (in a dry run: list what would be removed), then list files segaug did not write."""
        known = _known(self.previous.values())
        if self.dry_run:
            self._plan_removals()
        else:
            with _interrupt_deferred() as interrupted:
                store.remove_temp_files(self.out_dir, _target_folders(self.recipe))
                try:
                    known |= self._commit(complete)
                except OSError as exc:  # disk full or unwritable: the journal keeps what was written for a rerun
                    self.summary.fatal = self.summary.fatal or f"{exc.filename or self.out_dir}: {exc.strerror or exc}"
            self.summary.interrupted |= interrupted()
        self.summary.foreign = store.foreign_files(self.out_dir, known, _target_folders(self.recipe))

    def _plan_removals(self) -> None:
        for row in no_longer_produced(self.jobs, self.previous, self.summary.dropped):
            self.summary.planned.append(("remove", f"{' and '.join(p for p, _ in row.outputs())} (no longer produced)"))
            self.summary.removed += 1

    def _commit(self, complete: bool) -> set[str]:
        """Make manifest.csv describe exactly the outputs on disk; returns the output paths it lists.

        After a stop (Ctrl-C, --strict, a fatal error) pairs that did not run keep their earlier rows
        and files, untouched. The manifest merges the earlier rows kept with this run's rows, which the
        journal sorts on disk.
        """
        removals = self._removals(complete)
        store.remove_outputs(self.out_dir, removals)
        self.summary.removed = len(removals)
        self._remove_unrecorded()
        gone = self.superseded | {row.image for row in removals}
        kept = sorted((row for image, row in self.previous.items() if image not in gone), key=image_of)
        known: set[str] = set()
        _pause_for_tests("commit")
        with self.journal.sorted_rows() as fresh:
            def rows() -> Iterator[Row]:
                for row in heapq.merge(kept, fresh(), key=image_of):  # each pass re-reads the journal's runs
                    known.update(path for path, _ in row.outputs())
                    yield row

            names = self.journal.names | target_names(kept) | ({WINDOW} if self.recipe.tiles else set())
            store.commit(self.out_dir, rows, names, self.summary.failures)
        self.journal.close(remove=True)
        return known

    def _removals(self, complete: bool) -> list[Row]:
        """Earlier rows whose files go: those finished pairs no longer produce and, after a complete
        run only, every row the recipe no longer produces (pairs that left IN, fewer copies)."""
        removals = dict(self.settled)
        if complete:
            gone = no_longer_produced(self.jobs, self.previous, self.summary.dropped)
            removals.update((row.image, row) for row in gone)
        return sorted(removals.values(), key=image_of)

    def _remove_unrecorded(self) -> None:
        """A stopped pool's workers may have written samples whose outcome never arrived: nothing records
        them, so they go (the pool is already ended); the next run writes them again, recorded."""
        unfinished = (job.pair for job in self.jobs if job.pair.key not in self.done)
        samples = (s for pair in unfinished for s in output_samples(self.recipe, pair))
        unrecorded = (s for s in samples if s.image not in self.previous)
        for rel in (path for s in unrecorded for path in s.outputs()):
            (self.out_dir / rel).unlink(missing_ok=True)


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C until the block ends; yields whether one came.

    The commit is short and turns the journal into the manifest: stopping it halfway would leave a
    manifest that disagrees with OUT. Finished, it leaves OUT whole, and the run then reports the
    interruption (exit 130). Only the main thread can own a signal handler; elsewhere nothing is held.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def _pause_for_tests(point: str) -> None:
    """A test stops a run at a named point to send it a signal there: SEGAUG_TEST_PAUSE_AT=point makes
    the run create the file SEGAUG_TEST_PAUSE_FILE and wait up to two seconds. Unset, it costs a lookup."""
    if os.environ.get("SEGAUG_TEST_PAUSE_AT") != point:
        return
    Path(os.environ["SEGAUG_TEST_PAUSE_FILE"]).touch()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        time.sleep(0.01)


def _tally(summary: Summary, outcome: PairOutcome) -> None:
    if outcome.fatal:
        summary.fatal = outcome.fatal
        return
    if outcome.failure:
        summary.failures.append((outcome.source_image, outcome.failure))
        return
    summary.unlisted_pixels += outcome.unlisted_pixels
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


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def check(
    recipe: Recipe, in_dir: str | Path, out_dir: str | Path, *, workers: Workers = None,
    deep: int | None = 0, progress: Progress | None = None,
) -> CheckReport:
    """Compare OUT with what ``expand`` would produce, writing nothing.

    Args:
        workers: local worker processes (None: one per CPU), or an ``executors.Executor`` to run on.
        deep: recompute this many samples (chosen by a stable hash of their names) and compare their
            pixels with the stored files; None recomputes all of them.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    report = CheckReport(differences=_manifest_differences(out_dir))
    previous = store.load_previous(out_dir, distrust_edited=False)
    jobs = plan(recipe, _find(recipe, in_dir), previous)
    _pause_for_tests("checking")
    # Without segaug.json's hash of the manifest (or against it), nothing vouches for the rows: each is
    # recomputed from recipe and inputs, so a hand-edited row is a difference rather than the truth.
    untrusted = bool(previous) and not store.manifest_vouched_for(out_dir)
    if untrusted and not report.differences:
        report.notes.append(f"OUT has no {store.VERSIONS} vouching for its manifest: every row was recomputed")
    settings = Settings(recipe, str(in_dir), str(out_dir), Mode.CHECK, deep=_deep_selection(recipe, jobs, deep),
                        verify_rows=untrusted)
    executor = executors.choose(workers, len(jobs))
    executors.preflight(executor, settings)
    rows, dropped = _compare_outputs(report, executor, jobs, settings, progress)
    for row in no_longer_produced(jobs, previous, dropped):
        report.differences.append(Difference(row.image, "extra", "the recipe no longer produces it"))
    for rel in store.foreign_files(out_dir, _known(previous.values()), _target_folders(recipe)):
        report.differences.append(Difference(rel, "extra", "not in the manifest"))
    _check_manifest_text(report, out_dir, rows)
    report.notes.extend(_version_notes(out_dir))
    report.differences.sort(key=lambda d: (d.path, d.kind))
    return report


def _manifest_differences(out_dir: Path) -> list[Difference]:
    if not (out_dir / store.MANIFEST).is_file():
        return [Difference(store.MANIFEST, "missing", "OUT has no manifest: run segaug expand")]
    if store.manifest_edited(out_dir):
        return [Difference(store.MANIFEST, "altered", "edited since segaug wrote it")]
    return []


def _compare_outputs(report: CheckReport, executor: Executor, jobs: list[PairJob], settings: Settings,
                     progress: Progress | None) -> tuple[dict[str, Row], set[str]]:
    """Run the check jobs, noting each difference; returns the valid rows by image, and dropped copies."""
    rows: dict[str, Row] = {}
    dropped: set[str] = set()
    with executors.running(executor, jobs, settings) as outcomes:
        for outcome in outcomes:
            _collect_differences(report, outcome, rows)
            dropped.update(s.image for s in outcome.samples if s.action is Action.DROPPED)
            if progress:
                progress(1)
    return rows, dropped


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
    changed = [name for name in sorted(running) if name in recorded and recorded[name] != running[name]]
    return [_version_note(name, recorded[name], running[name]) for name in changed]


def _version_note(name: str, recorded: str, running: str) -> str:
    if name == "png":  # a lossless writer changes bytes, never pixels
        return (f"OUT's PNG files were written with {recorded}; this segaug writes them with {running}: "
                "`segaug expand` rewrites them, to the same pixels")
    return (f"OUT was made with {name} {recorded}, this is {name} {running}: pixels may differ; "
            "`segaug check --deep all` compares them")


def _deep_selection(recipe: Recipe, jobs: list[PairJob], deep: int | None) -> frozenset[str]:
    images = [s.image for job in jobs for s in output_samples(recipe, job.pair) if s.copy is not None]
    if deep is None:
        return frozenset(images)
    ranked = sorted(images, key=lambda image: hashlib.sha256(image.encode()).hexdigest())
    return frozenset(ranked[:deep])
