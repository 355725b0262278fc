"""Running: the planned jobs through an executor, each outcome recorded as it arrives.

A ``Run`` holds what the commit needs and nothing that grows with the dataset: earlier rows are
streamed (``rows.Previous``), jobs are planned as the executor takes them, and this run's rows go to
the journal as they arrive. What is held is the jobs in flight, and the earlier rows this run removes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import executors, interrupts, testing
from .errors import WorkerLost
from .executors import Executor
from .jobs import Action, PairJob, PairOutcome, Settings
from .manifest import Row
from .planning import concern_of
from .recipe import Recipe
from .reports import Progress, Summary
from .shards import Shard
from .storage import Out, StorageError, books
from .storage.rows import Previous


@dataclass
class Run:
    """One expand: the jobs it hands out, and each pair's outcome as it arrives (``committing`` then
    commits OUT from it)."""

    recipe: Recipe
    out: Out
    previous: Previous
    dry_run: bool
    summary: Summary
    shard: Shard | None = None
    # for the sidecar: a shard's identity (its ``complete`` is added at commit), the overrides given
    about: dict[str, Any] | None = None
    unclaimed: list[Row] = field(default_factory=list, init=False)  # earlier rows no planned job produces
    settled: dict[str, Row] = field(default_factory=dict, init=False)  # earlier rows a finished pair no longer produces
    in_flight: dict[str, PairJob] = field(default_factory=dict, init=False)  # by key: taken, outcome not yet in

    def __post_init__(self) -> None:
        self.books = books.books_for(self.shard)
        self.journal = self.out.journal()
        self.concern = concern_of(self.recipe, self.shard)
        self.queued: Iterator[PairJob] = iter(())  # the jobs the executor has not taken yet

    def track(self, jobs: Iterator[PairJob]) -> Iterator[PairJob]:
        """The jobs, each noted as in flight when the executor takes it."""
        self.queued = jobs

        def taken() -> Iterator[PairJob]:
            for job in self.queued:
                self.in_flight[job.pair.key] = job
                yield job

        return taken()

    def execute(
        self, executor: Executor, jobs: Iterator[PairJob], settings: Settings, strict: bool, progress: Progress | None
    ) -> bool:
        """Run every job, recording outcomes as they finish; True when all of them ran.

        A fatal outcome, a failure with ``strict``, Ctrl-C or a lost worker stop the run early.
        """
        try:
            with executors.running(executor, jobs, settings) as outcomes:
                if not self.dry_run:  # the workers are busy: read what the commit records now, not after
                    books.versions()  # them (importing tifffile for its version takes ~13 ms)
                for outcome in outcomes:
                    self.record(outcome)
                    testing.pause("running")
                    if progress:
                        progress.update(1)
                    if outcome.fatal or (strict and outcome.failure):
                        return False
            return True
        except KeyboardInterrupt:
            self.summary.interrupted = True
        except WorkerLost as exc:
            self.summary.fatal = str(exc)
        except StorageError as exc:  # the journal's store failed: the run stops, as for a worker's fatal outcome
            self.summary.fatal = self.summary.fatal or str(exc)
        finally:
            self._close_journal()
        return False

    def _close_journal(self) -> None:
        """Send the journal's last rows. A store that fails now is the run's fatal error, reported in
        its one line like any other, not an exception that would hide the error that stopped it."""
        try:
            self.journal.close(remove=False)
        except StorageError as exc:
            self.summary.fatal = self.summary.fatal or str(exc)

    def record(self, outcome: PairOutcome) -> None:
        """Move a pair from in flight to the journal, whole: a Ctrl-C in between would leave its outputs
        in OUT with neither the journal's rows nor the removal of in-flight pairs' outputs
        (``committing``) accounting for them."""
        with interrupts.whole():
            job = self.in_flight.pop(outcome.key)
            tally(self.summary, outcome)
            testing.pause("recording")
            if not self.dry_run:
                self.journal.add([s.row for s in outcome.samples if s.action is Action.WRITTEN and s.row])
            self.out.note_receipts(outcome.receipts)
            self._settle(job, outcome)

    def _settle(self, job: PairJob, outcome: PairOutcome) -> None:
        """Note a finished pair's earlier rows that it no longer produces (a dropped copy, a pair that now
        fails): settled, their files removed at commit. Rewritten rows need nothing: the journal's
        newer row replaces them when the manifest is merged."""
        actions = {s.image: s.action for s in outcome.samples}
        for row in job.previous:
            if actions.get(row.image) not in (Action.WRITTEN, Action.UNCHANGED, Action.PENDING):
                self.settled[row.image] = row


def tally(summary: Summary, outcome: PairOutcome) -> None:
    """Count one pair's outcome into the summary."""
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
