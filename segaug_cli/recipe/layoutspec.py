"""Where a recipe's outputs go in OUT: ``output.layout`` and ``output.mask_suffix``, standard library only.

``split`` (the default, the contract's layout) puts images under ``OUT/images``, masks under
``OUT/masks`` and each target under ``OUT/<name>``; ``mirror`` keeps IN's own folders
(``inputs.images``, ``inputs.masks``, each target's ``folder``), so a dataset's usual loader reads OUT
as it reads IN. Either way the relative folders below them are IN's. ``output.mask_suffix`` replaces
``inputs.mask_suffix`` in the masks' names (labelIds mapped to trainIds are ``_gtFine_labelTrainIds``).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from .model import Recipe

# OUT's own files at its top (and a shard's: manifest.shard-1-of-4.csv, ...); a mirrored folder may not be one
_BOOKS = ("manifest.", "segaug.", "errors.", ".segaug")

Problem = tuple[tuple[str | int, ...], str]  # the key path in the recipe, and what is wrong


def folder(name: str) -> str:
    """A folder as OUT's paths spell it: POSIX, no ``./`` nor trailing slash; ``.`` for IN itself."""
    return PurePosixPath(name.replace("\\", "/")).as_posix()


def output_folders(recipe: Recipe) -> tuple[str, str, tuple[str, ...]]:
    """The folders of OUT that hold the images, the masks and each target's maps."""
    if recipe.output.layout == "mirror":
        inputs = recipe.inputs
        return folder(inputs.images), folder(inputs.masks), tuple(folder(t.folder) for t in recipe.targets)
    return "images", "masks", tuple(t.name for t in recipe.targets)


def walked_folders(recipe: Recipe) -> tuple[str, ...]:
    """The output folders to list OUT's files under, each once: none inside another (``a`` covers ``a/b``)."""
    images, masks, targets = output_folders(recipe)
    found = sorted(set((images, masks, *targets)))
    return tuple(f for f in found if not any(f.startswith(other + "/") for other in found if other != f))


def output_mask_suffix(recipe: Recipe) -> str:
    """The suffix the output masks' names carry: ``output.mask_suffix``, else the input masks' own."""
    given = recipe.output.mask_suffix
    return recipe.inputs.mask_suffix if given is None else given


def layout_problem(recipe: Recipe) -> Problem | None:
    """Why these output folders and names cannot work in OUT, if they cannot (the first reason)."""
    if recipe.output.layout != "mirror":
        return None
    return _inside_out(recipe) or _masks_apart(recipe) or _targets_apart(recipe) or _split_apart(recipe)


def _inside_out(recipe: Recipe) -> Problem | None:
    """Mirrored folders lie below OUT's top, which holds the manifest and the other books."""
    named = [("inputs", "images"), ("inputs", "masks")] + [("targets", i, "folder") for i in range(len(recipe.targets))]
    images, masks, targets = output_folders(recipe)
    for keys, name in zip(named, (images, masks, *targets), strict=True):
        if name == ".":
            return keys, "is IN itself, and output.layout: mirror would write into OUT's top, beside manifest.csv"
        if name.split("/")[0].startswith(_BOOKS):
            return keys, f"{name!r} would lie beside the files segaug writes in OUT (output.layout: mirror)"
    return None


def _masks_apart(recipe: Recipe) -> Problem | None:
    """One folder for images and masks needs masks named apart from images."""
    images, masks, _ = output_folders(recipe)
    if images != masks or output_mask_suffix(recipe) != recipe.inputs.image_suffix:
        return None
    key = "mask_suffix" if recipe.output.mask_suffix is not None else "layout"
    message = f"gives masks the images' names in {images!r}; choose a mask_suffix apart from the image_suffix"
    return ("output", key), message


def _targets_apart(recipe: Recipe) -> Problem | None:
    images, masks, targets = output_folders(recipe)
    for i, name in enumerate(targets):
        if name in (images, masks, *targets[:i]):
            message = f"{name!r} holds other outputs too; output.layout: mirror needs a folder apart"
            return ("targets", i, "folder"), message
    return None


def _split_apart(recipe: Recipe) -> Problem | None:
    """OUT lists its own keys at the split file's path (``splitfile``): not among the outputs or the books."""
    split = recipe.inputs.split
    if split is None:
        return None
    name = folder(split)
    if name.startswith(_BOOKS) or any(name.startswith(f + "/") for f in walked_folders(recipe)):
        return ("inputs", "split"), (
            f"{split!r} would lie among OUT's outputs or books, where output.layout: mirror writes OUT's own "
            "split file; keep it outside the images and masks folders"
        )
    return None
