"""The arguments and options several commands share, and the parsing of their values."""

from __future__ import annotations

import click

recipe_arg = click.argument("recipe", type=click.Path(dir_okay=False))
in_arg = click.argument("in_dir", metavar="IN", type=click.Path())  # a file as IN: a one-line UsageError
out_arg = click.argument("out_dir", metavar="OUT", type=click.Path())  # a file as OUT: a one-line UsageError
workers_opt = click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: all CPUs). 1 runs in this process.",
)
quiet_opt = click.option(
    "--quiet", "-q", is_flag=True, help="Only errors: no progress bar, notes, warnings or summary on success."
)
shard_opt = click.option(
    "--shard",
    metavar="K/N",
    default=None,
    help="Only share K of N (1-based) of the pairs, by a stable hash of each pair's key.",
)


def recorded_opts(command):
    """``--seed`` and ``--copies`` for the commands that read an OUT: OUT records those it was made with."""
    for name in ("copies", "seed"):
        text = f"The --{name} OUT was made with (default: what its segaug.json records); another is refused."
        command = click.option(f"--{name}", type=int, default=None, help=text)(command)
    return command


def storage_opts(command):
    """``--storage-option KEY=VALUE`` (repeatable) and ``--storage-options FILE``, for IN and OUT as URLs."""
    command = click.option(
        "--storage-options",
        "storage_file",
        metavar="FILE.yaml",
        default=None,
        type=click.Path(dir_okay=False),
        help="A YAML file with a storage_options: mapping (kept out of the recipe; --storage-option wins).",
    )(command)
    return click.option(
        "--storage-option",
        "storage_pairs",
        metavar="KEY=VALUE",
        multiple=True,
        help="An option for the backend of s3:// (gs://, az://) URLs, e.g. endpoint_url=http://host:9000. "
        "Repeatable; never printed nor written to OUT.",
    )(command)


def storage_options_of(pairs: tuple[str, ...], file: str | None) -> dict:
    """The options file's mapping, then the command line's pairs over it."""
    from .. import storage

    options = storage.load_storage_options(file) if file else {}
    return {**options, **storage.parse_storage_options(pairs)}


def shard_of(value: str | None):
    from .. import shards

    return None if value is None else shards.parse(value)
