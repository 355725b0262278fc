"""The command line: options in, one library call, a report and an exit code out.

Only this package imports click and tqdm (the shared options in ``options``, the bar in ``progress``).
Exit codes (contract): 0 success; 1 some pairs failed or ``check`` found a difference; 2 usage or
recipe error, nothing written; 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import click

from .. import __version__, messages
from ..errors import Refused, SegaugError
from .options import (
    in_arg,
    out_arg,
    quiet_opt,
    recipe_arg,
    recorded_opts,
    shard_of,
    shard_opt,
    storage_options_of,
    storage_opts,
    workers_opt,
)
from .progress import ProgressBar


class UserError(click.ClickException):
    """A user mistake: one line on stderr, exit 2, no traceback."""

    exit_code = 2


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except Refused as exc:  # not a usage error: OUT is not what was asked of it (exit 1)
        click.echo(f"{exc.prefix}{exc}", err=True)
        sys.exit(1)
    except SegaugError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # unreadable IN, unwritable OUT: still one sentence
        raise UserError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
    except KeyboardInterrupt:  # Ctrl-C where a command has nothing to keep (expand handles its own)
        click.echo("segaug: interrupted", err=True)
        sys.exit(130)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="segaug", message="%(prog)s %(version)s")
def main() -> None:
    """Augment image/mask pairs for semantic segmentation, keeping them aligned.

    One recipe (YAML) describes the augmentation; every geometric op of a sample is composed into one
    affine matrix shared by image and mask; masks are resampled nearest-neighbour, so labels are
    never blended; runs are reproducible to the byte.
    """
    # Before numpy and OpenCV load: each bundles OpenBLAS, whose threads spin for about 0.1 s of CPU
    # apiece at import (measured), time taken from the workers. segaug does no large BLAS work.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@main.command()
@recipe_arg
@in_arg
@out_arg
@workers_opt
@click.option("--seed", type=int, default=None, help="Override the recipe's seed (recorded in OUT's segaug.json).")
@click.option("--copies", type=int, default=None, help="Override the recipe's copies per pair (recorded likewise).")
@click.option("--force", is_flag=True, help="Regenerate every output, even those already up to date.")
@click.option("--dry-run", is_flag=True, help="Print what would be written and removed; write nothing.")
@quiet_opt
@click.option("--strict", is_flag=True, help="Stop at the first pair that fails.")
@shard_opt
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    default=None,
    help="Run the pairs on this Dask scheduler's workers (needs segaug[dask]; IN and OUT shared).",
)
@click.option(
    "--scheduler-file",
    metavar="FILE.json",
    default=None,
    type=click.Path(dir_okay=False),
    help="The same, with the scheduler named by the file `dask scheduler --scheduler-file` writes.",
)
@storage_opts
def expand(
    recipe,
    in_dir,
    out_dir,
    workers,
    seed,
    copies,
    force,
    dry_run,
    quiet,
    strict,
    shard,
    scheduler,
    scheduler_file,
    storage_pairs,
    storage_file,
):
    """Write augmented copies of every image/mask pair in IN to OUT.

    Pairs are IN/images/** and IN/masks/**, matched by relative path without extension. OUT gets
    images/, masks/ (or, with output.layout: mirror, IN's own folders) and manifest.csv. A rerun
    only rewrites what changed.

    \b
    Example:
        segaug expand recipes/default.yaml sample_data out/
    """
    from .. import engine, overrides
    from .. import recipe as recipes

    _own_process()
    bar = ProgressBar(quiet)
    with _boundary():
        share = shard_of(shard)
        rcp = recipes.load(recipe).with_overrides(seed=seed, copies=copies)
        workers = _cluster(scheduler, scheduler_file, workers) or workers
        options = engine.ExpandOptions(
            workers=workers,
            shard=share,
            force=force,
            dry_run=dry_run,
            strict=strict,
            storage_options=storage_options_of(storage_pairs, storage_file),
            overrides=overrides.given(seed, copies),
        )
        summary = engine.expand(rcp, in_dir, out_dir, options, progress=bar)
    bar.close()
    for to_stdout, line in messages.expand_report(summary, out_dir, quiet, dry_run, share):
        click.echo(line, err=not to_stdout)
    sys.exit(_expand_exit_code(summary))


@main.command()
@recipe_arg
@in_arg
@out_arg
@workers_opt
@click.option(
    "--deep",
    metavar="N|all",
    default="0",
    help="Also recompute N outputs (or all) and compare pixels, to catch a changed OpenCV.",
)
@quiet_opt
@shard_opt
@recorded_opts
@storage_opts
def check(recipe, in_dir, out_dir, workers, deep, quiet, shard, seed, copies, storage_pairs, storage_file):
    """Exit 0 when OUT is exactly what `expand` would produce; else list the differences, exit 1.

    Hashes only (no augmentation) unless --deep is given. Writes nothing. The --seed/--copies that
    made OUT (recorded in its segaug.json) are used.

    \b
    Example:
        segaug check recipes/default.yaml sample_data out/
    """
    from .. import engine, overrides
    from .. import recipe as recipes

    _own_process()
    deep_count = _parse_deep(deep)
    bar = ProgressBar(quiet)
    with _boundary():
        share = shard_of(shard)
        rcp = recipes.load(recipe)
        storage_options = storage_options_of(storage_pairs, storage_file)
        options = engine.CheckOptions(workers, share, deep_count, storage_options, overrides.given(seed, copies))
        report = engine.check(rcp, in_dir, out_dir, options, progress=bar)
    bar.close()
    for note in [] if quiet else report.notes:
        click.echo(f"note: {note}", err=True)
    for d in report.differences:
        click.echo(f"{d.kind}: {d.path}: {d.why}")
    if report.differences:
        click.echo(
            f"segaug check: {len(report.differences)} difference(s); run `segaug expand` to update OUT", err=True
        )
        sys.exit(1)
    if not quiet:
        click.echo(f"segaug check: OUT is up to date ({report.checked} output pairs)", err=True)


@main.command()
@recipe_arg
@in_arg
@out_arg
@quiet_opt
@recorded_opts
@storage_opts
def merge(recipe, in_dir, out_dir, quiet, seed, copies, storage_pairs, storage_file):
    """Join the complete set of shards in OUT into manifest.csv and segaug.json, as one run writes them.

    OUT holds the outputs and bookkeeping of `expand --shard K/N` for every K of one N (run into one
    OUT, or their folders copied into one). Refuses, with exit 1, a missing, duplicated or foreign shard.
    The --seed/--copies the shards were run with (recorded in their segaug.*.json) are used.

    \b
    Example:
        segaug merge recipes/default.yaml sample_data out/
    """
    from .. import merging, overrides
    from .. import recipe as recipes

    with _boundary():
        rcp = recipes.load(recipe)
        storage_options = storage_options_of(storage_pairs, storage_file)
        summary = merging.merge(rcp, in_dir, out_dir, storage_options, overrides.given(seed, copies))
    if not quiet:
        click.echo(messages.merge_report(summary, out_dir), err=True)


@main.command()
@recipe_arg
@click.argument("in_dir", metavar="[IN]", required=False, type=click.Path())
@click.option("--deep", is_flag=True, help="Decode every pair fully instead of reading its headers.")
@storage_opts
def validate(recipe, in_dir, deep, storage_pairs, storage_file):
    """Parse and validate RECIPE; print what it does. Exit 2 on the first error.

    With IN, also report how IN pairs up under the recipe (pairs, images without masks, masks without
    images, split entries missing), the pairs a run would fail by their files' headers (sizes that
    differ, unreadable or truncated files, images over the pixel limit; --deep decodes them instead),
    and which labels a sample of the masks holds that the recipe's label map does not list. Writes
    nothing. Exit 1 when a run would fail some pairs.

    \b
    Example:
        segaug validate recipes/default.yaml sample_data
    """
    from .. import recipe as recipes

    with _boundary():
        rcp = recipes.load(recipe)
    ops = ", ".join(op.name if op.p == 1 else f"{op.name} (p={op.p:g})" for op in rcp.transforms) or "no ops"
    rules = ", ".join(f"{n} with class {label}" for label, n in rcp.class_copies)
    copies = f"{rcp.copies} copies per pair" + (f" ({rules})" if rules else "")
    click.echo(f"{recipe}: valid; {copies}, seed {rcp.seed}; {ops}")
    if in_dir is None:
        return
    from .. import survey as surveys

    with _boundary():
        found = surveys.survey(rcp, in_dir, storage_options=storage_options_of(storage_pairs, storage_file), deep=deep)
    for line in messages.survey_lines(found, in_dir, rcp.labels):
        click.echo(line)
    sys.exit(1 if found.failing else 0)


@main.command()
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@storage_opts
def stats(folder, storage_pairs, storage_file):
    """Print the pixel share and mask count of every class of the masks in DIR.

    DIR is a dataset folder (its masks/ subfolder is read) or a folder of masks, local or a URL
    (s3://bucket/raw). Palette masks count their indices; colour masks count their colours (#rrggbb).

    \b
    Example:
        segaug stats sample_data
    """
    from .. import stats as class_stats

    with _boundary():
        counts, problems = class_stats.folder_stats(folder, storage_options_of(storage_pairs, storage_file))
    for line in problems:
        click.echo(f"warning: {line}", err=True)
    for line in class_stats.table(counts):
        click.echo(line)


@main.command()
@recipe_arg
@in_arg
@click.option(
    "--output",
    "-o",
    metavar="FILE.png",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the contact sheet (PNG).",
)
@click.option(
    "--pairs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Pairs (rows), spread evenly over IN in name order.",
)
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Copies per pair (columns after the source): copies 0..N-1, as expand writes them.",
)
@click.option(
    "--tile", type=click.IntRange(min=32), default=256, show_default=True, help="Side of each square tile, in pixels."
)
@click.option("--seed", type=int, default=None, help="Override the recipe's seed.")
@storage_opts
def preview(recipe, in_dir, output, pairs, samples, tile, seed, storage_pairs, storage_file):
    """Write a contact sheet of sampled pairs, each mask overlaid on its image, to FILE.png.

    Each row is one pair of IN: the source first, then the copies `expand` would write for it,
    rendered from the same seeds. Each class has one colour in every tile; label 255 is hatched.
    IN and FILE.png may be URLs (s3://bucket/raw, s3://bucket/preview.png).

    \b
    Example:
        segaug preview recipes/default.yaml sample_data -o preview.png
    """
    from .. import preview as sheets
    from .. import recipe as recipes

    with _boundary():
        rcp = recipes.load(recipe)
        path = sheets.output_path(in_dir, output)
        storage_options = storage_options_of(storage_pairs, storage_file)
        sheet = sheets.contact_sheet(
            rcp.with_overrides(seed=seed),
            in_dir,
            pairs=pairs,
            samples=samples,
            tile=tile,
            storage_options=storage_options,
        )
        sheets.write_sheet(path, sheets.png_bytes(sheet), storage_options)
    click.echo(f"segaug preview: wrote {output} ({sheet.shape[1]}x{sheet.shape[0]} pixels)")


@main.command()
@click.argument("pipeline", metavar="PIPELINE.json|yaml", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    metavar="RECIPE.yaml",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the recipe (refused if it exists, unless --force).",
)
@click.option(
    "--skip-unknown",
    is_flag=True,
    help="Leave out transforms without an exact segaug equivalent (each listed on stderr) instead of refusing.",
)
@click.option("--force", is_flag=True, help="Overwrite RECIPE.yaml if it exists.")
def convert(pipeline, output, skip_unknown, force):
    """Write the segaug recipe equivalent to an Albumentations pipeline saved with A.save.

    PIPELINE is the JSON or YAML file of `A.save(transform, path)` (Albumentations 2.x). A transform or
    argument without an exact equivalent is refused (exit 2) naming it, or left out with --skip-unknown.
    docs/convert.md has the mapping.

    \b
    Example:
        segaug convert recipes/from_albumentations.json -o converted.yaml
    """
    from .. import convert as conversion

    with _boundary():
        result = conversion.convert_file(pipeline, skip_unknown=skip_unknown)
        conversion.write_recipe(output, result.text, force=force)
    for line in result.skipped:
        click.echo(f"skipped: {line}", err=True)
    click.echo(f"segaug convert: wrote {output} ({result.ops} ops, {len(result.skipped)} transforms left out)")


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------


def _own_process() -> None:
    """This process is segaug's own, as a pool worker is, and with ``--workers 1`` it renders every
    pair itself: it too keeps freed image buffers for the next sample (about 10% of a 1-worker run's
    time, measured), where the library leaves a caller's process as it is."""
    from .. import executors

    executors.keep_freed_memory_for_reuse()


def _cluster(scheduler: str | None, scheduler_file: str | None, workers: int | None):
    """The Dask executor that --scheduler or --scheduler-file asks for; None for a local run."""
    if scheduler is None and scheduler_file is None:
        return None
    if scheduler is not None and scheduler_file is not None:
        raise UserError("--scheduler and --scheduler-file name the same thing: give one of them")
    if workers is not None:
        raise UserError("--workers is for a local run: on a Dask cluster, the cluster's workers run the pairs")
    from ..executors_dask import DaskExecutor

    return DaskExecutor(scheduler, scheduler_file)


def _parse_deep(value: str) -> int | None:
    if value == "all":
        return None
    if value.isdigit():
        return int(value)
    raise UserError(f"--deep: expected a number or 'all', got {value!r}")


def _expand_exit_code(summary) -> int:
    if summary.interrupted:
        return 130
    return 1 if summary.failed or summary.fatal else 0
