"""Committing: a run's outcomes become OUT's books (manifest, ``segaug.json``, ``errors.csv``), and the
outputs the recipe no longer produces go.

The commit is short and held against Ctrl-C: it merges the earlier rows (streamed in image order)
with this run's, which the journal sorts on disk; a row of this run replaces the earlier one of its
image. After a stop (Ctrl-C, --strict, a fatal error) pairs that did not run keep their earlier
rows and files, untouched.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator

from . import interrupts, testing
from .manifest import WINDOW, Row, image_of, target_names
from .naming import output_samples
from .planning import known_paths, output_folders
from .running import Run
from .splitfile import write_split_file
from .storage import StorageError, books
from .storage.rows import PathSet, last_of_each


def finish(run: Run, complete: bool) -> None:
    """Commit OUT (in a dry run: list what would be removed), then list files segaug did not write."""
    if run.dry_run:
        _plan_removals(run)
        known = known_paths(run.previous.by_image())
    else:
        with interrupts.held() as interrupted:  # stopping halfway would leave a manifest that disagrees with OUT
            known = _commit_or_keep_journal(run, complete)
        run.summary.interrupted |= interrupted()
    run.summary.foreign = run.out.foreign(known, output_folders(run.recipe), run.concern)


def _commit_or_keep_journal(run: Run, complete: bool) -> PathSet:
    run.out.clean_up(output_folders(run.recipe), run.concern)
    try:
        return _commit(run, complete)
    except OSError as exc:  # disk full or unwritable: the journal keeps what was written for a rerun
        run.summary.fatal = run.summary.fatal or f"{exc.filename or run.out.folder}: {exc.strerror or exc}"
        return known_paths(run.previous.by_image())
    except StorageError as exc:  # the store failed: its journal objects keep what was written
        run.summary.fatal = run.summary.fatal or str(exc)
        return known_paths(run.previous.by_image())


def _plan_removals(run: Run) -> None:
    for row in _removals(run, complete=True):
        run.summary.planned.append(("remove", f"{' and '.join(p for p, _ in row.outputs())} (no longer produced)"))
        run.summary.removed += 1


def _commit(run: Run, complete: bool) -> PathSet:
    """Make manifest.csv describe exactly the outputs in OUT; returns the output paths it lists."""
    run.out.ensure_held()  # taken over while paused past the lease: commit nothing
    removals = _removals(run, complete)
    run.out.remove(rel for row in removals for rel, _ in row.outputs())
    run.summary.removed = len(removals)
    _remove_unrecorded(run)
    gone = {row.image for row in removals}
    known = PathSet()
    testing.pause("commit")
    with run.journal.sorted_rows() as fresh:

        def kept() -> Iterator[Row]:  # earlier rows first, so this run's row of an image is the last
            merged = last_of_each(heapq.merge(run.previous.by_image(), fresh(), key=image_of))
            return (row for row in merged if row.image not in gone)

        def rows() -> Iterator[Row]:  # each pass (hash, then write if changed) notes the paths anew
            known.clear()
            for row in kept():
                known.update(path for path, _ in row.outputs())
                yield row

        names = run.previous.names | run.journal.names
        if names or run.recipe.tiles:  # only the names some kept row still uses make columns
            names = target_names(kept()) | ({WINDOW} if run.recipe.tiles else set())
        about = run.about if run.about is None or run.shard is None else {**run.about, "complete": complete}
        books.commit(run.out.folder, rows, names, run.summary.failures, run.books, about)
        if run.shard is None:  # a shard's keys are a share: merge writes the whole list
            write_split_file(run.recipe, run.out.location, kept())
        run.out.publish(known)
    run.journal.close(remove=True)
    return known


def _removals(run: Run, complete: bool) -> list[Row]:
    """Earlier rows whose files go: those finished pairs no longer produce and, after a complete
    run only, every row the recipe no longer produces (pairs that left IN, fewer copies)."""
    removals = dict(run.settled)
    if complete:
        removals.update((row.image, row) for row in run.unclaimed)
    return sorted(removals.values(), key=image_of)


def _remove_unrecorded(run: Run) -> None:
    """A stopped pool's workers may have written samples whose outcome never arrived: nothing records
    them, so they go (the pool is already ended); the next run writes them again, recorded. So
    do the unrecorded outputs of the pairs the run never reached (a killed earlier run's): of those,
    only the files OUT may hold (``Out.present``), so a store gets no DELETE for each of them."""
    unfinished = itertools.chain(
        ((job, True) for job in list(run.in_flight.values())), ((job, False) for job in run.queued)
    )
    for job, ran in unfinished:
        recorded = {row.image for row in job.previous}
        for sample in output_samples(run.recipe, job.pair):
            if sample.image not in recorded:
                rels: Iterable[str] = sample.outputs()
                run.out.remove(rels if ran else run.out.present(rels))
