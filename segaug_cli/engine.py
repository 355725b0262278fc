"""The engine: plan one job per pair, run the jobs through an executor, commit OUT.

``expand`` and ``check`` share everything up to the workers' verdicts: ``check`` runs the same
jobs in a mode that hashes and compares but writes nothing. Which executor runs the jobs (this
process, a local pool, something else) is not the engine's concern.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import executors, lock, shards, store
from .errors import UsageError, WorkerLost
from .executors import Executor
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, Settings
from .manifest import Row, image_of, render, target_names
from .naming import clashing_pair, output_samples
from .pairing import Pair, Pairing, find_pairs
from .recipe import Recipe
from .shards import Shard

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


def no_longer_produced(jobs: Sequence[PairJob], previous: dict[str, Row], dropped: set[str]) -> list[Row]:
    """Earlier rows, sorted by image, whose outputs the recipe no longer makes.

    Their pair left IN (or now fails before it runs), the recipe makes fewer copies, or a class-aware
    rule drops the copy (``dropped``, known once the pair ran). A job holds the earlier rows of the
    names it produces, so every other row is one of these.
    """
    claimed = {row.image for job in jobs for row in job.previous}
    return [row for image, row in sorted(previous.items()) if image not in claimed or image in dropped]


def find_in(recipe: Recipe, in_dir: Path) -> Pairing:
    """The pairs of IN as the recipe's inputs name them."""
    i = recipe.inputs
    return find_pairs(in_dir, i.images, i.masks, i.mask_suffix, tuple((t.name, t.folder) for t in recipe.targets))


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
    on_start: Callable[[int], None] | None = None, shard: Shard | None = None,
) -> Summary:
    """Bring OUT up to date with the recipe and the pairs in IN.

    Only samples whose fingerprint changed, or whose outputs are missing or altered, are written;
    outputs that earlier runs wrote and the recipe no longer produces are removed; files segaug did
    not write are left alone and reported. With ``dry_run`` nothing is written.

    Args:
        workers: local worker processes (None: one per CPU), or an ``executors.Executor`` to run on.
        strict: stop at the first pair that fails.
        progress: called with 1 as each pair finishes; ``on_start`` first, with the number of pairs.
        shard: do only this share of the pairs, with its own bookkeeping files (``store.books_for``).
    Raises:
        UsageError: IN/OUT unusable, OUT holds a manifest segaug cannot read, or another run writes
            OUT now (``lock.OutLocked``).
    """
    started = time.perf_counter()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    pairing = find_in(recipe, in_dir)
    with contextlib.ExitStack() as stack:
        if not dry_run:  # a dry run writes nothing, so it takes no lock (and creates no OUT)
            _take_out(stack, out_dir, shard)
        previous = _load_previous(out_dir, shard)
        jobs = own_share(plan(recipe, pairing, previous), shard)
        about = _shard_about(recipe, pairing, shard)
        run = _Run(recipe, out_dir, jobs, previous, dry_run,
                   Summary(pairs=len(jobs), orphan_masks=pairing.orphan_masks, ignored=pairing.ignored),
                   shard=shard, about=about)
        if not dry_run:
            run.prepare_out()
        if on_start:
            on_start(len(jobs))
        settings = Settings(recipe, str(in_dir), str(out_dir), Mode.DRY_RUN if dry_run else Mode.EXPAND, force)
        complete = run.execute(executors.choose(workers, len(jobs)), settings, strict, progress)
        run.finish(complete)
    run.summary.seconds = time.perf_counter() - started
    return run.summary


def _take_out(stack: contextlib.ExitStack, out_dir: Path, shard: Shard | None) -> None:
    """Create OUT if needed and hold its lock until ``stack`` closes; a usage error before the run
    starts (an unreadable manifest, say) then leaves no OUT that this run created.

    Raises:
        OutLocked: another run writes OUT (or this shard of it) now.
        UsageError: OUT cannot be created, or its lock file cannot be (a read-only OUT).
    """
    created = not out_dir.exists()
    locks_before = set() if created else set(out_dir.glob(".segaug*.lock"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(lock.hold(out_dir, (shard.index, shard.count) if shard else None))
    except lock.OutLocked:
        raise
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise UsageError(f"{out_dir}: cannot write in this folder ({exc.strerror or exc})") from None

    def undo(kind, exc, tb) -> None:  # runs while the lock is still held, so no other run sees this
        if kind is not None and issubclass(kind, UsageError):
            for path in set(out_dir.glob(".segaug*.lock")) - locks_before:
                path.unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    out_dir.rmdir()

    stack.push(undo)


def _load_previous(out_dir: Path, shard: Shard | None, distrust_edited: bool = True) -> dict[str, Row]:
    """What earlier runs recorded for this run's share: the shard's own manifest or, before its first
    run (a shard run into a merged OUT, say), the rows of manifest.csv that belong to the shard."""
    books = store.books_for(shard)
    if shard is None or (out_dir / books.manifest).is_file() or not (out_dir / store.MANIFEST).is_file():
        return _of_share(store.load_previous(out_dir, distrust_edited, books), shard)
    return _of_share(store.load_previous(out_dir, distrust_edited), shard)


def _of_share(rows: dict[str, Row], shard: Shard | None) -> dict[str, Row]:
    if shard is None:
        return rows
    return {image: row for image, row in rows.items() if shard.holds(shards.key_of_row(row.image, row.copy))}


def own_share(jobs: list[PairJob], shard: Shard | None) -> list[PairJob]:
    """The jobs of this shard's pairs. Planned over every pair first, so that a name clash between
    two pairs of different shards is found as in an unsharded run."""
    return jobs if shard is None else [job for job in jobs if shard.holds(job.pair.key)]


def _shard_about(recipe: Recipe, pairing: Pairing, shard: Shard | None) -> dict | None:
    """What a shard's sidecar records for ``merge`` to compare: which shard, of what recipe and inputs."""
    if shard is None:
        return None
    return {"shard": [shard.index, shard.count], "recipe_sha256": shards.recipe_digest(recipe),
            "inputs_sha256": shards.inputs_digest(pairing.pairs)}


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
    shard: Shard | None = None
    about: dict | None = None  # a shard's identity for its sidecar (``complete`` is added at commit)
    done: set[str] = field(default_factory=set, init=False)  # keys of the pairs whose outcome arrived
    superseded: set[str] = field(default_factory=set, init=False)  # earlier rows rewritten: the journal holds the new
    settled: dict[str, Row] = field(default_factory=dict, init=False)  # earlier rows a finished pair no longer produces

    def __post_init__(self) -> None:
        self.books = store.books_for(self.shard)
        self.journal = store.Journal(self.out_dir, self.books)
        self._job_of = {job.pair.key: job for job in self.jobs}
        self.concern = self.shard.holds_output if self.shard else (lambda rel: True)

    def prepare_out(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        store.remove_temp_files(self.out_dir, _target_folders(self.recipe), self.concern)

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
            store.remove_temp_files(self.out_dir, _target_folders(self.recipe), self.concern)
            try:
                known |= self._commit(complete)
            except OSError as exc:  # disk full or unwritable: the journal keeps what was written for a rerun
                self.summary.fatal = self.summary.fatal or f"{exc.filename or self.out_dir}: {exc.strerror or exc}"
        self.summary.foreign = store.foreign_files(self.out_dir, known, _target_folders(self.recipe), self.concern)

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
        with self.journal.sorted_rows() as fresh:
            def rows() -> Iterator[Row]:
                for row in heapq.merge(kept, fresh(), key=image_of):  # each pass re-reads the journal's runs
                    known.update(path for path, _ in row.outputs())
                    yield row

            about = None if self.about is None else {**self.about, "complete": complete}
            store.commit(self.out_dir, rows, self.journal.names | target_names(kept), self.summary.failures,
                         self.books, about)
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


# ---------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------


def check(
    recipe: Recipe, in_dir: str | Path, out_dir: str | Path, *, workers: Workers = None,
    deep: int | None = 0, progress: Progress | None = None, shard: Shard | None = None,
) -> CheckReport:
    """Compare OUT with what ``expand`` would produce, writing nothing.

    Args:
        workers: local worker processes (None: one per CPU), or an ``executors.Executor`` to run on.
        deep: recompute this many samples (chosen by a stable hash of their names) and compare their
            pixels with the stored files; None recomputes all of them.
        shard: check only this share: against the shard's own manifest or, once shards are merged, the
            rows of manifest.csv that belong to it.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    books = _check_books(out_dir, shard)
    report = CheckReport(differences=_manifest_differences(out_dir, books))
    report.notes.extend(_lock_notes(out_dir))
    previous = _load_previous(out_dir, shard, distrust_edited=False)
    jobs = own_share(plan(recipe, find_in(recipe, in_dir), previous), shard)
    settings = Settings(recipe, str(in_dir), str(out_dir), Mode.CHECK, deep=_deep_selection(recipe, jobs, deep))
    rows, dropped = _compare_outputs(report, executors.choose(workers, len(jobs)), jobs, settings, progress)
    for row in no_longer_produced(jobs, previous, dropped):
        report.differences.append(Difference(row.image, "extra", "the recipe no longer produces it"))
    concern = shard.holds_output if shard else (lambda rel: True)
    for rel in store.foreign_files(out_dir, _known(previous.values()), _target_folders(recipe), concern):
        report.differences.append(Difference(rel, "extra", "not in the manifest"))
    _check_manifest_text(report, out_dir, rows, books, previous if books is not store.books_for(shard) else None)
    report.notes.extend(_version_notes(out_dir, books))
    report.differences.sort(key=lambda d: (d.path, d.kind))
    return report


def _check_books(out_dir: Path, shard: Shard | None) -> store.Books:
    """The bookkeeping a check reads: a shard's own, else (a merged OUT) the whole run's."""
    books = store.books_for(shard)
    if shard is not None and not (out_dir / books.manifest).is_file() and (out_dir / store.MANIFEST).is_file():
        return store.WHOLE
    return books


def _lock_notes(out_dir: Path) -> list[str]:
    holder = lock.holder_of(out_dir)
    if holder is None:
        return []
    return [f"a segaug run is writing OUT now ({holder.describe()}): what it has not finished shows as differences"]


def _manifest_differences(out_dir: Path, books: store.Books = store.WHOLE) -> list[Difference]:
    if not (out_dir / books.manifest).is_file():
        return [Difference(books.manifest, "missing", "OUT has no manifest: run segaug expand")]
    if store.manifest_edited(out_dir, books):
        return [Difference(books.manifest, "altered", "edited since segaug wrote it")]
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
            report.differences.append(Difference(s.path or s.image, kind.value, _REASONS[s.reason]))


_REASONS = {
    Reason.NEW: "not in the manifest or not on disk",
    Reason.STALE: "the recipe or the source pair changed since it was written",
    Reason.MISSING: "listed in the manifest but the file is gone",
    Reason.ALTERED: "the file's bytes differ from the manifest's sha256",
    Reason.PIXELS_DIFFER: "recomputing it gives different pixels (another OpenCV or segaug version?)",
}


def _check_manifest_text(report: CheckReport, out_dir: Path, rows: dict[str, Row],
                         books: store.Books = store.WHOLE, share: dict[str, Row] | None = None) -> None:
    """When every output is right, the manifest must also be byte-identical to what expand writes.

    ``share``: checking one shard of a merged OUT, whose manifest.csv rows of that share are compared
    instead (the whole file's bytes are the unsharded check's concern).
    """
    path = out_dir / books.manifest
    if report.differences or not path.is_file():
        return
    written = render(list(share.values())) if share is not None else store.manifest_text(out_dir, books)
    if written != render(list(rows.values())):
        report.differences.append(Difference(books.manifest, "altered", "differs from what expand would write"))


def _version_notes(out_dir: Path, books: store.Books = store.WHOLE) -> list[str]:
    recorded = store.read_versions(out_dir, books)
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
    ranked = sorted(images, key=lambda image: hashlib.sha256(image.encode()).hexdigest())
    return frozenset(ranked[:deep])
