"""Pair discovery: walk IN/images and IN/masks and match files by relative path without extension."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UsageError
from .extensions import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Pair:
    """One image and its mask, as POSIX paths relative to IN.

    ``key`` is the image's path relative to the images folder without extension (``city/a``); it
    names the outputs and seeds the samples. ``problem`` says why the pair cannot be used, if so.
    """

    key: str
    image: str
    mask: str | None
    problem: str | None = None
    targets: tuple[str, ...] = ()  # extra target files, in the recipe's order of targets


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[Pair, ...]  # sorted by key, in code-point order
    orphan_masks: tuple[str, ...]  # masks with no image: a warning, not a failure
    ignored: tuple[str, ...]  # files that are not images (.DS_Store, notes.txt)


def find_pairs(in_dir: str | Path, images: str = "images", masks: str = "masks", mask_suffix: str = "",
               targets: tuple[tuple[str, str], ...] = ()) -> Pairing:
    """Find every image/mask pair under ``in_dir``, with its extra target files if any.

    Args:
        targets: (name, folder) of each extra target; a pair missing one of them fails.
    Raises:
        UsageError: the images, masks or a target folder does not exist.
    """
    in_dir = Path(in_dir)
    image_files, ignored_images = _walk(in_dir, images, "images")
    mask_files, ignored_masks = _walk(in_dir, masks, "masks")
    # Images and masks may share a folder (told apart by the suffix), or the masks folder may lie
    # inside the images folder: a file that is a mask is never also an image.
    masks_found = {m for m in mask_files if _mask_key(m, masks, mask_suffix) is not None}
    image_files = [f for f in image_files if f not in masks_found]
    ignored_images = [f for f in ignored_images if f not in set(ignored_masks)]
    images_by_key = _group(image_files, images, "")
    masks_by_key = _group(sorted(masks_found), masks, mask_suffix)
    pairs = tuple(_pair(key, found, masks_by_key.get(key, [])) for key, found in sorted(images_by_key.items()))
    for name, folder in targets:
        found_targets, _ = _walk(in_dir, folder, f"targets[{name}].folder")
        pairs = tuple(_with_target(p, name, folder, _group(found_targets, folder, "")) for p in pairs)
    orphans = tuple(m for key, ms in masks_by_key.items() if key not in images_by_key for m in ms)
    orphans += tuple(m for m in mask_files if m not in masks_found and m not in set(image_files))
    return Pairing(pairs, tuple(sorted(orphans)), tuple(sorted(ignored_images + ignored_masks)))


def _with_target(pair: Pair, name: str, folder: str, by_key: dict[str, list[str]]) -> Pair:
    if pair.problem:
        return pair
    found = by_key.get(pair.key, [])
    if len(found) != 1:
        why = f"no {name} file found (looked for {folder}/{pair.key}.*)" if not found else \
            f"several {name} files match: {', '.join(found)}"
        return Pair(pair.key, pair.image, pair.mask, why, pair.targets)
    return Pair(pair.key, pair.image, pair.mask, None, pair.targets + (found[0],))


def _pair(key: str, images: list[str], masks: list[str]) -> Pair:
    if len(images) > 1:
        return Pair(key, images[0], None, f"several images share the name {key!r}: {', '.join(images)}")
    if not masks:
        return Pair(key, images[0], None, "no mask found for this image")
    if len(masks) > 1:
        return Pair(key, images[0], None, f"several masks match this image: {', '.join(masks)}")
    return Pair(key, images[0], masks[0])


def _group(files: list[str], folder: str, suffix: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for rel in files:
        key = _mask_key(rel, folder, suffix)
        if key is not None:
            groups[key].append(rel)
    return {key: sorted(found) for key, found in groups.items()}


def _mask_key(rel: str, folder: str, suffix: str) -> str | None:
    """``folder/city/a_mask.png`` -> ``city/a`` for suffix ``_mask``; None when the suffix is absent."""
    inner = PurePosixPath(rel).relative_to(PurePosixPath(folder).as_posix())
    stem = inner.with_suffix("").as_posix()
    if suffix:
        if not stem.endswith(suffix) or len(stem) == len(suffix):
            return None
        stem = stem[: -len(suffix)]
    return stem


def _walk(in_dir: Path, folder: str, role: str) -> tuple[list[str], list[str]]:
    """Image files and ignored files under ``in_dir/folder``, as POSIX paths relative to ``in_dir``.

    Symlinked folders are followed once; a link back to a folder already seen is skipped, so a link
    loop cannot hang the walk. Hidden files and folders are skipped silently.
    """
    root = in_dir / folder
    if not root.is_dir():
        where = role if role.startswith("targets") else f"inputs.{role}"
        raise UsageError(f"{root}: no such folder (set {where} in the recipe to rename it)")
    found, ignored, seen = [], [], set()
    for current, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            rel = Path(current, name).relative_to(in_dir).as_posix()
            (found if Path(name).suffix.lower() in IMAGE_EXTENSIONS else ignored).append(rel)
    return sorted(found), sorted(ignored)

