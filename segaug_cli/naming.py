"""Output names: which files a recipe makes of one input pair, and where they go under OUT.

The engine (planning, removals, clean-up) and the worker (writing) both read names from here, so a
pair's outputs are named in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .extensions import LOSSLESS_EXTENSIONS, suffix
from .manifest import Row
from .pairing import Pair, pair_key
from .recipe import Recipe, Target, output_folders, output_mask_suffix


@dataclass(frozen=True)
class Sample:
    """One output pair to produce: copy k of a pair, or (copy None) the kept original."""

    copy: int | None
    image: str  # output paths, POSIX, relative to OUT
    mask: str
    targets: tuple[str, ...] = ()  # one per recipe target

    def outputs(self) -> tuple[str, ...]:
        return (self.image, self.mask, *self.targets)


def row_key_of(recipe: Recipe) -> Callable[[Row], str]:
    """How to tell the pair an earlier manifest row belongs to: its source image's key as the recipe's
    inputs name it (output names alone cannot say, with suffixes or tiles). A row whose source the
    recipe no longer names has key "" and sorts first: no pair claims it."""
    images, suffix = recipe.inputs.images, recipe.inputs.image_suffix

    def key(row: Row) -> str:
        return pair_key(row.source_image, images, suffix) or ""

    return key


_AUG_TAIL = re.compile(r"_aug\d+$")
_WINDOW_TAIL = re.compile(r"_y\d+_x\d+$")


def output_key_of(recipe: Recipe) -> Callable[[str], str]:
    """How to tell the pair an output file under OUT (or its temporary) was made from, by its name:
    ``<folder>/<key>[_y<top>_x<left>][_aug<k>]<suffix>.<ext>`` read back. Used to tell a shard's own
    files from another shard's; an odd name at worst leaves a stray file to another shard's run."""
    images, masks, targets = output_folders(recipe)
    suffixes: dict[str, tuple[str, ...]] = dict.fromkeys(targets, ())
    for name, end in ((images, recipe.inputs.image_suffix), (masks, output_mask_suffix(recipe))):
        suffixes[name] = tuple(sorted({*suffixes.get(name, ()), end} - {""}, key=len, reverse=True))
    folders = sorted(suffixes, key=len, reverse=True)  # the deepest first: a folder may lie in another
    tiled = recipe.tiles is not None

    def key(rel: str) -> str:
        folder = next((f for f in folders if rel.startswith(f + "/")), rel.partition("/")[0])
        head, _, base = rel[len(folder) + 1 :].rpartition("/")
        if base.startswith(".") and base.count(".") >= 3:  # a temporary: .<name>.<pid>.segaug-tmp
            base = base[1:].rsplit(".", 2)[0]
        stem = base.rsplit(".", 1)[0] if "." in base[1:] else base
        end = next((end for end in suffixes.get(folder, ()) if stem.endswith(end)), "")
        stem = stem[: len(stem) - len(end)]
        stem = _AUG_TAIL.sub("", stem)
        if tiled:
            stem = _WINDOW_TAIL.sub("", stem)
        return f"{head}/{stem}" if head else stem

    return key


def output_samples(recipe: Recipe, pair: Pair, key: str | None = None) -> tuple[Sample, ...]:
    """The output pairs a recipe makes of one input pair (names per the contract); none for a pair
    with a problem.

    Paths mirror the key under the output folders (``naming.output_folders``: OUT/images, OUT/masks
    and OUT/<target>, or with ``output.layout: mirror`` IN's own folders): copy k is
    ``<key>_aug<k><suffix>``, a kept original ``<key><suffix>``, where the suffix is the one the
    source's name carries (``_leftImg8bit``; for masks ``output.mask_suffix`` when given), so OUT
    pairs up again with the same suffixes.

    Args:
        key: the key of one window of the pair (``<key>_y<top>_x<left>``) for a recipe with tiles. Its
            windows depend on the image's size, so without ``key`` a tiled recipe's names are unknown
            here and none are returned.
    """
    if pair.problem or (key is None and recipe.tiles is not None):
        return ()
    key = pair.key if key is None else key
    original = (_kept_original(recipe, pair, key),) if recipe.keep_original else ()
    return original + tuple(_copy(recipe, pair, key, k) for k in range(recipe.max_copies()))


def reencodes_originals(recipe: Recipe) -> bool:
    """A kept original is written from its pixels, not copied, once labels or tiles change them."""
    return recipe.labels is not None or recipe.tiles is not None


def _kept_original(recipe: Recipe, pair: Pair, key: str) -> Sample:
    images, masks, targets = output_folders(recipe)
    sources = zip(targets, recipe.targets, pair.targets, strict=True)
    mask_extension = f".{recipe.output.mask_format}" if reencodes_originals(recipe) else suffix(pair.mask)
    return Sample(
        None,
        f"{images}/{key}{pair.image_suffix}{suffix(pair.image)}",
        f"{masks}/{key}{output_mask_suffix(recipe)}{mask_extension}",
        tuple(f"{f}/{key}{_original_target_extension(t, source, recipe)}" for f, t, source in sources),
    )


def _copy(recipe: Recipe, pair: Pair, key: str, k: int) -> Sample:
    images, masks, targets = output_folders(recipe)
    stem, sources = f"{key}_aug{k}", zip(targets, recipe.targets, pair.targets, strict=True)
    return Sample(
        k,
        f"{images}/{stem}{pair.image_suffix}{image_extension(pair.image, recipe.output.image_format)}",
        f"{masks}/{stem}{output_mask_suffix(recipe)}.{recipe.output.mask_format}",
        tuple(f"{f}/{stem}{_target_extension(t, source, recipe)}" for f, t, source in sources),
    )


def _original_target_extension(target: Target, source: str, recipe: Recipe) -> str:
    """Targets are cut (so encoded) with tiles only; labels convert the mask alone."""
    return _target_extension(target, source, recipe) if recipe.tiles is not None else suffix(source)


def image_extension(source_name: str, image_format: str) -> str:
    """The output image's extension: the source's own for ``same``, else the format's."""
    return suffix(source_name) if image_format == "same" else f".{image_format}"


def _target_extension(target: Target, source: str, recipe: Recipe) -> str:
    """Label targets take the mask format; continuous ones keep a lossless source format, else TIFF."""
    if target.kind == "label":
        return f".{recipe.output.mask_format}"
    return suffix(source) if suffix(source).lower() in LOSSLESS_EXTENSIONS else ".tif"


def clashing_pair(recipe: Recipe, pair: Pair, planned: Mapping[str, Pair]) -> str | None:
    """The earlier pair (its image) one of whose outputs has the name of one of this pair's, if any.

    Copy k of key K is named ``K_aug<k>`` and a kept original ``K``, in every output folder, so two
    pairs' names can only meet when this pair's key is an earlier one's plus ``_aug<k>`` and originals
    are kept: pair ``x_aug0`` against copy 0 of pair ``x`` (which sorts first, and keeps its names).
    """
    base, sep, k = pair.key.rpartition("_aug")
    if not (recipe.keep_original and sep and k.isdigit() and base in planned) or pair.problem:
        return None
    own = {path for s in output_samples(recipe, pair) for path in s.outputs()}
    theirs = (path for s in output_samples(recipe, planned[base]) for path in s.outputs())
    return planned[base].image if any(path in own for path in theirs) else None
