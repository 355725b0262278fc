"""The engine: plan one job per pair, run the jobs through an executor, commit OUT.

``expand`` and ``check`` share everything up to the workers' verdicts: ``check`` runs the same
jobs in a mode that hashes and compares but writes nothing. Which executor runs the jobs (this
process, a local pool, something else) is not the engine's concern.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import executors, lock, objectlock, shards, storage, store
from .errors import UsageError, WorkerLost
from .executors import Executor
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, Settings
from .manifest import WINDOW, Row, image_of, lines, target_names
from .naming import clashing_pair, output_key_of, output_samples, row_key_of
from .pairing import Listed, Notes, Pair, Pairing, PairScan, scan_inputs
from .recipe import Recipe
from .remote import RemoteOut
from .shards import Shard

Workers = int | Executor | None  # local worker processes (None: one per CPU), or an executor to use


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
        shard: do only this share of the pairs, with its own bookkeeping files (``store.books_for``).
        force: regenerate every output, even those up to date.
        dry_run: write nothing; list what would be written and removed.
        strict: stop at the first pair that fails.
        storage_options: for IN or OUT given as URLs, the backend's options (``endpoint_url``...);
            never written anywhere, and kept from a cluster's scheduler where they look like secrets.
    """

    workers: Workers = None
    shard: Shard | None = None
    force: bool = False
    dry_run: bool = False
    strict: bool = False
    storage_options: dict = field(default_factory=dict)


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
    """

    workers: Workers = None
    shard: Shard | None = None
    deep: int | None = 0
    storage_options: dict = field(default_factory=dict)


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


# ---------------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------------


def plan(recipe: Recipe, pairing: Pairing, previous: dict[str, Row]) -> list[PairJob]:
    """One job per pair, in key order, holding the rows earlier runs recorded for its outputs (a list,
    for callers with the earlier rows in memory; the engine streams them with ``planned_jobs``)."""
    row_key = row_key_of(recipe)
    ordered = sorted(previous.values(), key=lambda row: (row_key(row), row.image))
    return list(planned_jobs(recipe, pairing.pairs, iter(ordered), []))


def planned_jobs(
    recipe: Recipe,
    pairs: Iterable[Pair],
    previous_by_key: Iterator[Row],
    unclaimed: list[Row],
    shard: Shard | None = None,
) -> Iterator[PairJob]:
    """One job per pair of the share, in key order, each with the earlier rows of its output names.

    ``pairs`` (every pair of IN, in key order) and ``previous_by_key`` (sorted by key, then image) are
    walked side by side, so neither is held whole: a job carries its own rows, and no list of output
    names (``output_samples`` derives them when needed). Earlier rows that no job claims (their pair
    left IN or now fails before it runs, the recipe makes fewer copies or other names) are appended to
    ``unclaimed``: the recipe no longer produces them. Names are checked for clashes against every
    pair, of any shard.
    """
    rows = _Peekable(previous_by_key)
    ancestors = _Ancestors()
    row_key = row_key_of(recipe)
    for pair in pairs:
        ancestors.move_to(pair.key)
        clash = clashing_pair(recipe, pair, ancestors)
        if not pair.problem:
            ancestors.add(pair)
        if clash is not None:
            pair = Pair(pair.key, pair.image, pair.mask, f"its output names collide with those of {clash}")
        key = pair.key
        unclaimed.extend(rows.take_while(lambda row, key=key: row_key(row) < key))
        group = list(rows.take_while(lambda row, key=key: row_key(row) == key))
        if shard is not None and not shard.holds(pair.key):
            continue
        if recipe.tiles is not None and not pair.problem:
            # With tiles the output names depend on the image's size, known once a worker reads it: the
            # job holds every earlier row cut from its source, and the worker sorts out which still hold.
            yield PairJob(pair, tuple(group))
            continue
        names = {s.image for s in output_samples(recipe, pair)}
        unclaimed.extend(row for row in group if row.image not in names)
        yield PairJob(pair, tuple(row for row in group if row.image in names))
    unclaimed.extend(rows.take_while(lambda row: True))


class _Peekable:
    def __init__(self, rows: Iterator[Row]):
        self._rows, self._next = rows, next(rows, None)

    def take_while(self, wanted: Callable[[Row], bool]) -> Iterator[Row]:
        while self._next is not None and wanted(self._next):
            row, self._next = self._next, next(self._rows, None)
            yield row


class _Ancestors:
    """The usable pairs whose keys begin the current key, looked up by key (``clashing_pair`` asks for
    ``x`` at ``x_aug0``). In key order every key between ``x`` and ``x_aug0`` begins with ``x``, so
    a stack of such prefixes holds all there is to find: no map of every pair."""

    def __init__(self):
        self._stack: list[Pair] = []

    def move_to(self, key: str) -> None:
        while self._stack and not key.startswith(self._stack[-1].key):
            self._stack.pop()

    def add(self, pair: Pair) -> None:
        if not self._stack or self._stack[-1].key != pair.key:
            self._stack.append(pair)

    def _find(self, key: str) -> Pair | None:
        return next((pair for pair in self._stack if pair.key == key), None)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __getitem__(self, key: str) -> Pair:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found


@dataclass(frozen=True)
class _Census:
    """One walk of IN before a run: how many pairs the share holds, a digest of all of them (a shard
    records it for ``merge``) and what the walk found besides (orphan masks, ignored files...)."""

    share: int
    inputs_sha256: str
    found: Notes


def census_of(scan: PairScan, shard: Shard | None) -> _Census:
    notes = Notes()
    share = [0]

    def counted() -> Iterator[Pair]:
        for pair in scan.walk(notes):
            share[0] += shard is None or shard.holds(pair.key)
            yield pair

    digest = shards.inputs_digest(counted())
    return _Census(share[0], digest, notes)


def scan_in(recipe: Recipe, in_dir: Path | Listed) -> PairScan:
    """The pairs of IN as the recipe's inputs name them, walked afresh each time they are iterated."""
    return scan_inputs(in_dir, recipe.inputs, recipe.targets)


def _target_folders(recipe: Recipe) -> tuple[str, ...]:
    return tuple(t.name for t in recipe.targets)


def _known(rows: Iterable[Row]) -> store.PathSet:
    known = store.PathSet()
    for row in rows:
        known.update(path for path, _ in row.outputs())
    return known


# ---------------------------------------------------------------------------------------------
# expand
# ---------------------------------------------------------------------------------------------


def expand(
    recipe: Recipe,
    in_dir: str | Path,
    out_dir: str | Path,
    options: ExpandOptions = ExpandOptions(),
    progress: Progress | None = None,
) -> Summary:
    """Bring OUT up to date with the recipe and the pairs in IN.

    Only samples whose fingerprint changed, or whose outputs are missing or altered, are written;
    outputs that earlier runs wrote and the recipe no longer produces are removed; files segaug did
    not write are left alone and reported. With ``options.dry_run`` nothing is written.

    Raises:
        UsageError: IN/OUT unusable, OUT holds a manifest segaug cannot read, or another run writes
            OUT now (``lock.OutLocked``).
    """
    started = time.perf_counter()
    in_dir, out_dir = place(in_dir), place(out_dir)
    check_places(in_dir, out_dir)
    try:
        scan = scan_in(recipe, storage.source_of(in_dir, options.storage_options))
        census = census_of(scan, options.shard)
        _pause_for_tests("planning")
    except KeyboardInterrupt:  # nothing is written before the pairs are known
        return Summary(interrupted=True, seconds=time.perf_counter() - started)
    shard, dry_run = options.shard, options.dry_run
    mode = Mode.DRY_RUN if dry_run else Mode.EXPAND
    settings = Settings(recipe, str(in_dir), str(out_dir), mode, options.force, storage_options=options.storage_options)
    executor = executors.choose(options.workers, census.share)
    executors.preflight(executor, settings)  # before OUT is touched: an executor that cannot run the job refuses here
    with contextlib.ExitStack() as stack:
        remote = None
        if isinstance(out_dir, str):  # a URL: the books are kept in a local folder during the run
            remote = _take_remote_out(stack, out_dir, options.storage_options, shard, dry_run)
            books_dir = remote.folder
        else:
            if not dry_run:  # a dry run writes nothing, so it takes no lock (and creates no OUT)
                _take_out(stack, out_dir, shard)
            books_dir = out_dir
        previous = stack.enter_context(previous_of(recipe, books_dir, shard))
        count, found = census.share, census.found.pairing()
        summary = Summary(
            pairs=count,
            orphan_masks=found.orphan_masks,
            ignored=found.ignored,
            beside=found.beside,
            skipped=found.skipped,
            left_out=found.left_out,
        )
        about = _shard_about(recipe, census, shard)
        run = _Run(recipe, books_dir, previous, dry_run, summary, shard=shard, about=about, remote=remote)
        planned = planned_jobs(recipe, scan, previous.by_key(), run.unclaimed, shard)
        jobs = run.track(remote.with_stored(planned) if remote else planned)
        if not dry_run:
            run.prepare_out()
        if progress:
            progress.start(count)
        complete = run.execute(executor, jobs, settings, options.strict, progress)
        run.finish(complete)
    run.summary.seconds = time.perf_counter() - started
    return run.summary


def place(folder: str | Path) -> str | Path:
    """A URL stays a string (``Path`` would fold its ``//``); anything else is a local ``Path``."""
    return os.fspath(folder).rstrip("/") if storage.is_url(folder) else Path(folder)


def check_places(in_dir: str | Path, out_dir: str | Path) -> None:
    """``store.check_folders`` for folders and URLs alike: IN and OUT apart, neither inside the other.

    Raises:
        UsageError: with the folders named.
    """
    if isinstance(in_dir, Path) and isinstance(out_dir, Path):
        store.check_folders(in_dir, out_dir)
    elif isinstance(in_dir, str) and isinstance(out_dir, str) and storage.nested(in_dir, out_dir):
        raise UsageError(f"IN ({in_dir}) and OUT ({out_dir}) must be separate folders, neither inside the other")
    elif isinstance(in_dir, Path) and not in_dir.is_dir():
        raise UsageError(f"{in_dir}: " + ("is a file, not a folder" if in_dir.exists() else "no such folder"))
    elif isinstance(out_dir, Path) and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")


def _take_remote_out(
    stack: contextlib.ExitStack, url: str, storage_options: dict, shard: Shard | None, dry_run: bool
) -> RemoteOut:
    """Hold OUT's lock object (not for a dry run, which writes nothing), then list OUT and fetch its books.

    Raises:
        OutLocked: another run writes OUT (or this shard of it) now.
        StorageError: the store cannot be reached, or refuses.
    """
    location = storage.open_location(url, storage_options)
    lease = None
    if not dry_run:
        # tests shorten the lease, so that a killed run's successor need not wait a minute
        seconds = float(os.environ.get("SEGAUG_TEST_LEASE_SECONDS", objectlock.LEASE_SECONDS))
        lease = stack.enter_context(objectlock.hold(location, (shard.index, shard.count) if shard else None, seconds))
    out = stack.enter_context(RemoteOut(location, store.books_for(shard)))
    out.lease = lease
    return out


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


def previous_of(recipe: Recipe, out_dir: Path, shard: Shard | None, distrust_edited: bool = True) -> store.Previous:
    """What earlier runs recorded for this run's share, streamed: the shard's own manifest or, before
    its first run (a shard run into a merged OUT, say), the rows of manifest.csv of its share."""
    books = store.books_for(shard)
    row_key = row_key_of(recipe)
    share = None if shard is None else (lambda row: shard.holds(row_key(row)))
    fallback = shard is not None and not (out_dir / books.manifest).is_file() and (out_dir / store.MANIFEST).is_file()
    return store.Previous(out_dir, row_key, books, distrust_edited, share, store.WHOLE if fallback else None)


def _concern_of(recipe: Recipe, shard: Shard | None) -> Callable[[str], bool]:
    """Which files under OUT's output folders a run looks after: all of them, or its shard's."""
    if shard is None:
        return lambda rel: True
    output_key = output_key_of(recipe)
    return lambda rel: shard.holds(output_key(rel))


def _shard_about(recipe: Recipe, census: _Census, shard: Shard | None) -> dict | None:
    """What a shard's sidecar records for ``merge`` to compare: which shard, of what recipe and inputs."""
    if shard is None:
        return None
    return {
        "shard": [shard.index, shard.count],
        "recipe_sha256": shards.recipe_digest(recipe),
        "inputs_sha256": census.inputs_sha256,
    }


@dataclass
class _Run:
    """One expand: records each pair's outcome as it arrives, then commits OUT.

    Nothing here grows with the dataset: earlier rows are streamed (``store.Previous``), jobs are
    planned as the executor takes them, and this run's rows go to the journal on disk as they
    arrive. What is held is the jobs in flight, and the earlier rows this run removes.
    """

    recipe: Recipe
    out_dir: Path
    previous: store.Previous
    dry_run: bool
    summary: Summary
    shard: Shard | None = None
    about: dict | None = None  # a shard's identity for its sidecar (``complete`` is added at commit)
    remote: RemoteOut | None = None  # OUT in an object store (``out_dir`` is then the local folder of its books)
    unclaimed: list[Row] = field(default_factory=list, init=False)  # earlier rows no planned job produces
    settled: dict[str, Row] = field(default_factory=dict, init=False)  # earlier rows a finished pair no longer produces
    in_flight: dict[str, PairJob] = field(default_factory=dict, init=False)  # by key: taken, outcome not yet in

    def __post_init__(self) -> None:
        self.books = store.books_for(self.shard)
        self.journal = self.remote.journal() if self.remote else store.Journal(self.out_dir, self.books)
        self.concern = _concern_of(self.recipe, self.shard)
        self._queued: Iterator[PairJob] = iter(())

    def track(self, jobs: Iterator[PairJob]) -> Iterator[PairJob]:
        """The jobs, each noted as in flight when the executor takes it."""
        self._queued = jobs

        def taken() -> Iterator[PairJob]:
            for job in self._queued:
                self.in_flight[job.pair.key] = job
                yield job

        return taken()

    def prepare_out(self) -> None:
        if self.remote is None:  # an object store has no temporary files: a write is one whole PUT
            self.out_dir.mkdir(parents=True, exist_ok=True)
            store.remove_temp_files(self.out_dir, _target_folders(self.recipe), self.concern)

    def execute(
        self, executor: Executor, jobs: Iterator[PairJob], settings: Settings, strict: bool, progress: Progress | None
    ) -> bool:
        """Run every job, recording outcomes as they finish; True when all of them ran.

        A fatal outcome, a failure with ``strict``, Ctrl-C or a lost worker stop the run early.
        """
        try:
            with executors.running(executor, jobs, settings) as outcomes:
                if not self.dry_run:  # the workers are busy: read what the commit records now, not after
                    store.versions()  # them (importing tifffile for its version takes ~16 ms)
                for outcome in outcomes:
                    self.record(outcome)
                    _pause_for_tests("running")
                    if progress:
                        progress.update(1)
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
        job = self.in_flight.pop(outcome.key)
        _tally(self.summary, outcome)
        if not self.dry_run:
            self.journal.add([s.row for s in outcome.samples if s.action is Action.WRITTEN and s.row])
        if self.remote is not None:
            self.remote.note_receipts(outcome.receipts)
        self._settle(job, outcome)

    def _settle(self, job: PairJob, outcome: PairOutcome) -> None:
        """Note a finished pair's earlier rows that it no longer produces (a dropped copy, a pair that now
        fails): settled, their files removed at commit. Rewritten rows need nothing: the journal's
        newer row replaces them when the manifest is merged."""
        actions = {s.image: s.action for s in outcome.samples}
        for row in job.previous:
            if actions.get(row.image) not in (Action.WRITTEN, Action.UNCHANGED, Action.PENDING):
                self.settled[row.image] = row

    def finish(self, complete: bool) -> None:
        """Commit OUT (in a dry run: list what would be removed), then list files segaug did not write."""
        if self.dry_run:
            self._plan_removals()
            known = _known(self.previous.by_image())
        else:
            with _interrupt_deferred() as interrupted:
                known = self._commit_or_keep_journal(complete)
            self.summary.interrupted |= interrupted()
        folders = _target_folders(self.recipe)
        if self.remote is not None:
            self.summary.foreign = self.remote.foreign(known, folders, self.concern)
        else:
            self.summary.foreign = store.foreign_files(self.out_dir, known, folders, self.concern)

    def _commit_or_keep_journal(self, complete: bool) -> store.PathSet:
        if self.remote is None:
            store.remove_temp_files(self.out_dir, _target_folders(self.recipe), self.concern)
        try:
            return self._commit(complete)
        except OSError as exc:  # disk full or unwritable: the journal keeps what was written for a rerun
            self.summary.fatal = self.summary.fatal or f"{exc.filename or self.out_dir}: {exc.strerror or exc}"
            return _known(self.previous.by_image())
        except storage.StorageError as exc:  # the store failed: its journal objects keep what was written
            self.summary.fatal = self.summary.fatal or str(exc)
            return _known(self.previous.by_image())

    def _plan_removals(self) -> None:
        for row in self._removals(complete=True):
            self.summary.planned.append(("remove", f"{' and '.join(p for p, _ in row.outputs())} (no longer produced)"))
            self.summary.removed += 1

    def _commit(self, complete: bool) -> store.PathSet:
        """Make manifest.csv describe exactly the outputs on disk; returns the output paths it lists.

        After a stop (Ctrl-C, --strict, a fatal error) pairs that did not run keep their earlier rows
        and files, untouched. The manifest merges the earlier rows (streamed in image order) with this
        run's, which the journal sorts on disk; a row of this run replaces the earlier one of its image.
        """
        if self.remote is not None and self.remote.lease is not None:
            self.remote.lease.ensure_held()  # taken over while paused past the lease: commit nothing
        removals = self._removals(complete)
        self._remove_files(rel for row in removals for rel, _ in row.outputs())
        self.summary.removed = len(removals)
        self._remove_unrecorded()
        gone = {row.image for row in removals}
        known = store.PathSet()
        _pause_for_tests("commit")
        with self.journal.sorted_rows() as fresh:

            def kept() -> Iterator[Row]:  # earlier rows first, so this run's row of an image is the last
                merged = store.last_of_each(heapq.merge(self.previous.by_image(), fresh(), key=image_of))
                return (row for row in merged if row.image not in gone)

            def rows() -> Iterator[Row]:  # each pass (hash, then write if changed) notes the paths anew
                known.clear()
                for row in kept():
                    known.update(path for path, _ in row.outputs())
                    yield row

            names = self.previous.names | self.journal.names
            if names or self.recipe.tiles:  # only the names some kept row still uses make columns
                names = target_names(kept()) | ({WINDOW} if self.recipe.tiles else set())
            about = None if self.about is None else {**self.about, "complete": complete}
            store.commit(self.out_dir, rows, names, self.summary.failures, self.books, about)
            if self.remote is not None:
                self.remote.publish(known)
        self.journal.close(remove=True)
        return known

    def _remove_files(self, rels: Iterable[str]) -> None:
        if self.remote is not None:
            self.remote.remove(rels)
            return
        for rel in rels:
            (self.out_dir / rel).unlink(missing_ok=True)

    def _removals(self, complete: bool) -> list[Row]:
        """Earlier rows whose files go: those finished pairs no longer produce and, after a complete
        run only, every row the recipe no longer produces (pairs that left IN, fewer copies)."""
        removals = dict(self.settled)
        if complete:
            removals.update((row.image, row) for row in self.unclaimed)
        return sorted(removals.values(), key=image_of)

    def _remove_unrecorded(self) -> None:
        """A stopped pool's workers may have written samples whose outcome never arrived: nothing records
        them, so they go (the pool is already ended); the next run writes them again, recorded. So
        do the unrecorded outputs of the pairs the run never reached (a killed earlier run's)."""
        unfinished = itertools.chain(
            ((job, True) for job in list(self.in_flight.values())), ((job, False) for job in self._queued)
        )
        for job, ran in unfinished:
            recorded = {row.image for row in job.previous}
            for sample in output_samples(self.recipe, job.pair):
                if sample.image not in recorded:
                    self._remove_files(sample.outputs() if ran else self._listed(sample.outputs()))

    def _listed(self, rels: Iterable[str]) -> Iterable[str]:
        """On an object store, only the files OUT's listing shows: a pair no worker reached has nothing
        new there, so no DELETE is sent for each of its outputs."""
        if self.remote is None:
            return rels
        return [rel for rel in rels if rel in self.remote.listing]


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
    recipe: Recipe,
    in_dir: str | Path,
    out_dir: str | Path,
    options: CheckOptions = CheckOptions(),
    progress: Progress | None = None,
) -> CheckReport:
    """Compare OUT with what ``expand`` would produce, writing nothing."""
    in_dir, out_dir = place(in_dir), place(out_dir)
    check_places(in_dir, out_dir)
    with contextlib.ExitStack() as stack:
        remote = None
        if isinstance(out_dir, str):  # read OUT's books into a local folder, from one listing
            location = storage.open_location(out_dir, options.storage_options)
            remote = stack.enter_context(RemoteOut(location, store.books_for(options.shard)))
        return _check(recipe, _Checked(in_dir, out_dir, remote), options, progress)


@dataclass(frozen=True)
class _Checked:
    """IN and OUT of a check; ``books`` is where OUT's bookkeeping files are read (OUT, or the local
    folder of an object store's)."""

    in_dir: str | Path
    out_dir: str | Path
    remote: RemoteOut | None

    @property
    def books(self) -> Path:
        return self.remote.folder if self.remote else self.out_dir

    def holder_notes(self) -> list[str]:
        if self.remote is None:
            return _lock_notes(self.out_dir)
        holder = objectlock.holder_of(self.remote.location)
        return [] if holder is None else [_busy_note(holder)]

    def foreign(self, known: store.PathSet, folders: tuple[str, ...], concern: Callable[[str], bool]) -> list[str]:
        if self.remote is not None:
            return self.remote.foreign(known, folders, concern)
        return store.foreign_files(self.out_dir, known, folders, concern)


def _check(recipe: Recipe, where: _Checked, options: CheckOptions, progress: Progress | None) -> CheckReport:
    shard, books_dir = options.shard, where.books
    books = _check_books(books_dir, shard)
    report = CheckReport(differences=_manifest_differences(books_dir, books))
    report.notes.extend(where.holder_notes())
    scan = scan_in(recipe, storage.source_of(where.in_dir, options.storage_options))
    count = sum(1 for pair in scan if shard is None or shard.holds(pair.key))
    _pause_for_tests("checking")
    # Without segaug.json's hash of the manifest (or against it), nothing vouches for the rows: each is
    # recomputed from recipe and inputs, so a hand-edited row is a difference rather than the truth.
    untrusted = (books_dir / books.manifest).is_file() and not store.manifest_vouched_for(books_dir, books)
    if untrusted and not report.differences:
        report.notes.append(f"OUT has no {books.versions} vouching for its manifest: every row was recomputed")
    selection = _deep_selection(recipe, scan, shard, options.deep)
    settings = Settings(
        recipe,
        str(where.in_dir),
        str(where.out_dir),
        Mode.CHECK,
        deep=selection,
        deep_all=options.deep is None,
        verify_rows=untrusted,
        storage_options=options.storage_options,
    )
    executor = executors.choose(options.workers, count)
    executors.preflight(executor, settings)
    with previous_of(recipe, books_dir, shard, distrust_edited=False) as previous:
        unclaimed: list[Row] = []
        jobs = planned_jobs(recipe, scan, previous.by_key(), unclaimed, shard)
        if where.remote is not None:
            jobs = where.remote.with_stored(jobs)
        if progress:
            progress.start(count)
        dropped = _compare_outputs(report, executor, jobs, settings, progress)
        for row in sorted([*unclaimed, *dropped], key=image_of):
            report.differences.append(Difference(row.image, "extra", "the recipe no longer produces it"))
        concern = _concern_of(recipe, shard)
        for rel in where.foreign(_known(previous.by_image()), _target_folders(recipe), concern):
            report.differences.append(Difference(rel, "extra", "not in the manifest"))
        if books is store.books_for(shard):  # a share of a merged OUT: the whole file is the whole check's
            _check_manifest_text(report, books_dir, previous, books)
    report.notes.extend(_version_notes(books_dir, books))
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
    return [] if holder is None else [_busy_note(holder)]


def _busy_note(holder: lock.Holder) -> str:
    return f"a segaug run is writing OUT now ({holder.describe()}): what it has not finished shows as differences"


def _manifest_differences(out_dir: Path, books: store.Books = store.WHOLE) -> list[Difference]:
    if not (out_dir / books.manifest).is_file():
        return [Difference(books.manifest, "missing", "OUT has no manifest: run segaug expand")]
    if store.manifest_edited(out_dir, books):
        return [Difference(books.manifest, "altered", "edited since segaug wrote it")]
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
        report.differences.append(Difference(outcome.source_image, "failed", outcome.failure or outcome.fatal))
        return
    for s in outcome.samples:
        if s.action is Action.DROPPED:
            continue
        report.checked += 1
        if s.action is not Action.UNCHANGED or s.row is None:
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
    report: CheckReport, out_dir: Path, previous: store.Previous, books: store.Books = store.WHOLE
) -> None:
    """When every output is right, the manifest must also be byte-identical to what expand writes.

    With no difference found, every earlier row is valid, so expand would write exactly those rows:
    their rendering's sha256 is compared with the file's, both streamed.
    """
    path = out_dir / books.manifest
    if report.differences or not path.is_file():
        return
    names = target_names(previous.by_image()) if previous.names else set()
    expected = hashlib.sha256()
    for line in lines(previous.by_image(), names):
        expected.update(line.encode("utf-8"))
    if expected.hexdigest() != store.sha256_of(path):
        report.differences.append(Difference(books.manifest, "altered", "differs from what expand would write"))


def _version_notes(out_dir: Path, books: store.Books = store.WHOLE) -> list[str]:
    recorded = store.read_versions(out_dir, books)
    if not recorded:
        return []
    running = store.versions()
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
