"""The engine: ``expand`` and ``check``, each phase in a module of its own.

``planning`` turns IN and OUT's books into one job per pair; ``running`` hands the jobs to an
executor and records each outcome; ``committing`` makes OUT's books describe what it holds;
``checking`` runs the same jobs in a mode that hashes and compares but writes nothing. Which
executor runs the jobs (this process, a local pool, a cluster) and where OUT is (a folder, a bucket:
``storage.Out``) are not the engine's concern.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from . import committing, executors, overrides, storage, testing
from .checking import check
from .jobs import Mode, Settings
from .planning import Census, census_of, output_folders, plan, planned_jobs, previous_of, scan_in, shard_about
from .recipe import Recipe
from .reports import CheckOptions, CheckReport, Difference, ExpandOptions, Progress, Summary, Workers
from .running import Run

__all__ = [
    "CheckOptions",
    "CheckReport",
    "Difference",
    "ExpandOptions",
    "Progress",
    "Summary",
    "Workers",
    "census_of",
    "check",
    "expand",
    "plan",
    "planned_jobs",
    "previous_of",
    "scan_in",
]


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
            OUT now (``storage.OutLocked``).
    """
    started = time.perf_counter()
    in_place, out_place = storage.place(in_dir), storage.place(out_dir)
    storage.check_places(in_place, out_place)
    try:
        scan = scan_in(recipe, storage.source_of(in_place, options.storage_options))
        census = census_of(scan, options.shard)
        testing.pause("planning")
    except KeyboardInterrupt:  # nothing is written before the pairs are known
        return Summary(interrupted=True, seconds=time.perf_counter() - started)
    mode = Mode.DRY_RUN if options.dry_run else Mode.EXPAND
    settings = Settings(
        recipe, str(in_place), str(out_place), mode, options.force, storage_options=options.storage_options
    )
    uploads_wait = bool(storage.network_places((str(out_place),))) and not options.dry_run
    executor = executors.choose(options.workers, census.share, uploads_wait)
    executors.preflight(executor, settings)  # before OUT is touched: an executor that cannot run the job refuses here
    with contextlib.ExitStack() as stack:
        # a dry run writes nothing, so it takes no lock (and creates no OUT)
        out = stack.enter_context(
            storage.open_out(out_place, options.storage_options, options.shard, hold=not options.dry_run)
        )
        run = _new_run(recipe, stack, out, census, options)
        planned = planned_jobs(recipe, scan, run.previous.by_key(), run.unclaimed, options.shard)
        jobs = run.track(out.with_stored(planned))
        if not options.dry_run:
            out.prepare(output_folders(recipe), run.concern)
        if progress:
            progress.start(census.share)
        complete = run.execute(executor, jobs, settings, options.strict, progress)
        committing.finish(run, complete)
    run.summary.seconds = time.perf_counter() - started
    return run.summary


def _new_run(
    recipe: Recipe, stack: contextlib.ExitStack, out: storage.Out, census: Census, options: ExpandOptions
) -> Run:
    """The run's record, with OUT's earlier rows opened (until ``stack`` closes) and the census's notes."""
    previous = stack.enter_context(previous_of(recipe, out.folder, options.shard))
    found = census.found.pairing()
    summary = Summary(
        pairs=census.share,
        orphan_masks=found.orphan_masks,
        ignored=found.ignored,
        beside=found.beside,
        skipped=found.skipped,
        left_out=found.left_out,
    )
    about = {**(shard_about(recipe, census, options.shard) or {}), **overrides.about(options.overrides)}
    return Run(recipe, out, previous, options.dry_run, summary, shard=options.shard, about=about or None)
