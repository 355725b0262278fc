"""OUT's own split file: with ``output.layout: mirror`` and ``inputs.split``, OUT lists its keys at the
split file's path, so OUT is an IN for the same recipe and a loader that reads a split file
(mmsegmentation's ``PascalVOCDataset``: ``ImageSets/Segmentation/train.txt``) finds every output pair.

The file follows the manifest: the commit writes it from the rows it commits (an unsharded run's, or
``merge``'s), ``check`` compares it with the rows it checks.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from .manifest import Row
from .recipe import Recipe, output_folders
from .storage import Location


def split_file_of(recipe: Recipe) -> str | None:
    """Where OUT lists its keys, relative to OUT, or None when it does not."""
    split = recipe.inputs.split
    return posixpath.normpath(split) if split and recipe.output.layout == "mirror" else None


def split_text(recipe: Recipe, rows: Iterable[Row]) -> bytes:
    """One key a line, in the rows' (image) order: each output image's path under the images folder,
    extension and image suffix cut, as ``inputs.split`` reads keys."""
    images, suffix = output_folders(recipe)[0] + "/", recipe.inputs.image_suffix
    keys = (posixpath.splitext(row.image.removeprefix(images))[0] for row in rows)
    return "".join(f"{key.removesuffix(suffix) if suffix else key}\n" for key in keys).encode("utf-8")


def write_split_file(recipe: Recipe, location: Location, rows: Iterable[Row]) -> None:
    """Write OUT's split file unless it already holds exactly these keys (a rerun writes nothing)."""
    name = split_file_of(recipe)
    if name is None:
        return
    data = split_text(recipe, rows)
    if not (location.exists(name) and location.read(name) == data):
        location.write(name, data)


def split_file_difference(recipe: Recipe, location: Location, rows: Iterable[Row]) -> tuple[str, str] | None:
    """(path, kind) when OUT's split file is missing or does not list exactly the manifest's keys."""
    name = split_file_of(recipe)
    if name is None:
        return None
    if not location.exists(name):
        return name, "missing"
    return None if location.read(name) == split_text(recipe, rows) else (name, "altered")
