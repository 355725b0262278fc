"""Pair discovery: walk IN/images and IN/masks and match files by relative path without extension."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from .errors import UsageError
from .extensions import IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Listed:
    """An IN known by one listing (an object store's): its URL, its files as POSIX paths relative to it
    (sorted), and how to read one of them. ``find_pairs`` takes it where it takes a folder."""

    url: str
    files: tuple[str, ...]
    read: Callable[[str], bytes]


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

    @property
    def image_suffix(self) -> str:
        """What the image's name holds between the key and the extension (``_leftImg8bit``), for output names."""
        return _suffix_after_key(self.image, self.key)

    @property
    def mask_suffix(self) -> str:
        """What the mask's name holds between the key and the extension (``_gtFine_labelIds``)."""
        return _suffix_after_key(self.mask, self.key) if self.mask else ""


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[Pair, ...]  # sorted by key, in code-point order
    orphan_masks: tuple[str, ...]  # masks with no image: a warning, not a failure
    ignored: tuple[str, ...]  # files that are not images (.DS_Store, notes.txt)
    skipped: tuple[str, ...] = ()  # images with no mask, left out under unpaired="skip" (sorted)
    left_out: int = 0  # images (keys) found that the split file does not list
    # images in the masks folder named by a paired mask's key plus another suffix, beside it (Cityscapes'
    # _gtFine_color.png and _gtFine_instanceIds.png beside _gtFine_labelIds.png): not read, not orphans
    beside: tuple[str, ...] = ()


NO_MASK = "no mask found for this image"
UNPAIRED = ("fail", "skip")


def find_pairs(
    in_dir: str | Path | Listed,
    images: str = "images",
    masks: str = "masks",
    mask_suffix: str = "",
    targets: tuple[tuple[str, str], ...] = (),
    *,
    image_suffix: str = "",
    split: str | None = None,
    unpaired: str = "fail",
) -> Pairing:
    """Find every image/mask pair under ``in_dir``, with its extra target files if any.

    Args:
        images, masks: the folders, relative to ``in_dir``; they may be one folder told apart by suffixes.
        mask_suffix, image_suffix: the end of a file name, before the extension, that is not part of the
            key: ``aachen_000000_000019_leftImg8bit.png`` has key ``aachen_000000_000019`` for
            ``_leftImg8bit``. An image without its suffix has no key a mask could match.
        targets: (name, folder) of each extra target; a pair missing one of them fails.
        split: a file relative to ``in_dir`` with one key per line (blank lines and ``#`` comments
            ignored); only listed pairs are used, and a listed key without image or mask fails, naming
            the line. ``Pairing.left_out`` counts the images it does not list.
        unpaired: ``fail``: an image with no mask is a failed pair; ``skip``: it is left out and listed in
            ``Pairing.skipped``. Listed in a split, it fails either way: the list asked for it.
    Raises:
        UsageError: the images, masks or a target folder, or the split file, does not exist.
    """
    if unpaired not in UNPAIRED:
        raise ValueError(f"unpaired must be one of {UNPAIRED}, got {unpaired!r}")
    in_dir = in_dir if isinstance(in_dir, Listed) else Path(in_dir)
    image_files, ignored_images = _walk(in_dir, images, "images")
    mask_files, ignored_masks = _walk(in_dir, masks, "masks")
    # Images and masks may share a folder (told apart by the suffix), or the masks folder may lie
    # inside the images folder: a file that is a mask is never also an image.
    masks_found = {m for m in mask_files if _mask_key(m, masks, mask_suffix) is not None}
    image_files = [f for f in image_files if f not in masks_found]
    ignored_images = [f for f in ignored_images if f not in set(ignored_masks)]
    images_by_key = _group(image_files, images, image_suffix)
    masks_by_key = _group(sorted(masks_found), masks, mask_suffix)
    pairs = tuple(_pair(key, found, masks_by_key.get(key, [])) for key, found in sorted(images_by_key.items()))
    if image_suffix:
        pairs = _with_unsuffixed(pairs, image_files, images, image_suffix)
    for name, folder in targets:
        found_targets, _ = _walk(in_dir, folder, f"targets[{name}].folder")
        pairs = tuple(_with_target(p, name, folder, _group(found_targets, folder, "")) for p in pairs)
    orphans = tuple(m for key, ms in masks_by_key.items() if key not in images_by_key for m in ms)
    unmatched = [m for m in mask_files if m not in masks_found and m not in set(image_files)]
    paired_keys = {p.key for p in pairs if not p.problem}
    beside = tuple(m for m in unmatched if _is_beside(m, masks, paired_keys))
    orphans += tuple(m for m in unmatched if m not in set(beside))
    pairing = Pairing(
        pairs, tuple(sorted(orphans)), tuple(sorted(ignored_images + ignored_masks)), beside=tuple(sorted(beside))
    )
    if split is not None:
        pairing = _only_listed(pairing, read_split(in_dir, split), split, images)
    if unpaired == "skip":
        pairing = _skip_unpaired(pairing)
    return pairing


def _is_beside(rel: str, folder: str, paired_keys: set[str]) -> bool:
    """``gtFine/train/a/a_1_gtFine_color.png`` lies beside the mask of the paired key ``a/a_1``: its
    name, without extension, is that key, an underscore, and more."""
    stem = _mask_key(rel, folder, "") or ""
    return any(stem[:cut] in paired_keys for cut in range(len(stem)) if stem[cut] == "_")


def find_inputs(source: str | Path | Listed, inputs, targets: tuple = ()) -> Pairing:
    """The pairs of IN as a recipe's ``inputs`` section and its extra ``targets`` name them (duck-typed:
    pairing imports nothing of the recipe)."""
    return find_pairs(
        source,
        inputs.images,
        inputs.masks,
        inputs.mask_suffix,
        tuple((t.name, t.folder) for t in targets),
        image_suffix=inputs.image_suffix,
        split=inputs.split,
        unpaired=inputs.unpaired,
    )


def read_split(in_dir: str | Path | Listed, split: str) -> dict[str, int]:
    """The keys a split file lists, each with its line number, in the file's order.

    VOC's ``ImageSets/Segmentation/train.txt`` and mmsegmentation's split files hold one key per line
    (the file name without extension, with sub-folders for nested layouts); blank lines and lines
    starting with ``#`` are skipped.

    Raises:
        UsageError: the file does not exist, is not UTF-8 text, or lists a key twice.
    """
    path = f"{in_dir.url}/{split}" if isinstance(in_dir, Listed) else Path(in_dir) / split
    try:
        # a byte-order mark from a Windows editor is not a key
        raw = in_dir.read(split) if isinstance(in_dir, Listed) else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise UsageError(f"{path}: no such split file (inputs.split is a file of keys, relative to IN)") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file of keys (inputs.split)") from None
    listed: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if key in listed:
            raise UsageError(f"{path} line {number}: {key!r} is listed twice (first on line {listed[key]})")
        listed[key] = number
    return listed


def _only_listed(pairing: Pairing, listed: dict[str, int], split: str, images: str) -> Pairing:
    """The pairs a split lists; a listed key with no image, or no mask, fails naming the line."""
    by_key = {p.key: p for p in pairing.pairs}
    kept = []
    for key, line in listed.items():
        pair = by_key.get(key)
        if pair is None:  # no image to name: the split file is where the key comes from
            kept.append(
                Pair(key, split, None, f"line {line}: {key!r} is listed but no image under {images}/ has this key")
            )
        elif _is_unpaired(pair):  # reworded, so that unpaired="skip" cannot skip what the list asked for
            kept.append(replace(pair, problem=f"listed on line {line} of {split} but {NO_MASK}"))
        else:
            kept.append(pair)
    left_out = len(by_key.keys() - listed.keys())
    return replace(pairing, pairs=tuple(sorted(kept, key=lambda p: (p.key, p.image))), left_out=left_out)


def _skip_unpaired(pairing: Pairing) -> Pairing:
    skipped = tuple(sorted(p.image for p in pairing.pairs if _is_unpaired(p)))
    kept = tuple(p for p in pairing.pairs if not _is_unpaired(p))
    return replace(pairing, pairs=kept, skipped=skipped)


def _is_unpaired(pair: Pair) -> bool:
    """An image that simply has no mask (not one of several, not a split's missing entry)."""
    return pair.problem is not None and pair.problem.startswith(NO_MASK)


def _with_unsuffixed(pairs: tuple[Pair, ...], image_files: list[str], images: str, suffix: str) -> tuple[Pair, ...]:
    """Images whose name lacks the suffix have no key a mask could match: an unpaired image each."""
    lacking = [f for f in image_files if _mask_key(f, images, suffix) is None]
    extra = tuple(Pair(_mask_key(f, images, "") or "", f, None, _unsuffixed(suffix)) for f in lacking)
    return tuple(sorted(pairs + extra, key=lambda p: (p.key, p.image))) if extra else pairs


def _unsuffixed(suffix: str) -> str:
    return f"{NO_MASK}: its name does not end with the image suffix {suffix!r}"


def _suffix_after_key(rel: str, key: str) -> str:
    stem = PurePosixPath(rel).with_suffix("").name
    base = key.rsplit("/", 1)[-1]
    return stem[len(base) :] if stem.startswith(base) else ""


def _with_target(pair: Pair, name: str, folder: str, by_key: dict[str, list[str]]) -> Pair:
    if pair.problem:
        return pair
    found = by_key.get(pair.key, [])
    if len(found) != 1:
        why = (
            f"no {name} file found (looked for {folder}/{pair.key}.*)"
            if not found
            else f"several {name} files match: {', '.join(found)}"
        )
        return Pair(pair.key, pair.image, pair.mask, why, pair.targets)
    return Pair(pair.key, pair.image, pair.mask, None, pair.targets + (found[0],))


def _pair(key: str, images: list[str], masks: list[str]) -> Pair:
    if len(images) > 1:
        return Pair(key, images[0], None, f"several images share the name {key!r}: {', '.join(images)}")
    if not masks:
        return Pair(key, images[0], None, NO_MASK)
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


def pair_key(rel: str, folder: str, suffix: str) -> str | None:
    """The key of the file at ``rel`` (relative to IN) under ``folder`` with ``suffix``; None when it has
    none there (another folder, or the suffix missing). A manifest row's key is its source image's."""
    try:
        return _mask_key(rel, folder, suffix)
    except ValueError:
        return None


def _mask_key(rel: str, folder: str, suffix: str) -> str | None:
    """``folder/city/a_mask.png`` -> ``city/a`` for suffix ``_mask``; None when the suffix is absent."""
    inner = PurePosixPath(rel).relative_to(PurePosixPath(folder).as_posix())
    stem = inner.with_suffix("").as_posix()
    if suffix:
        if not stem.endswith(suffix) or len(stem) == len(suffix):
            return None
        stem = stem[: -len(suffix)]
    return stem


def _walk(in_dir: Path | Listed, folder: str, role: str) -> tuple[list[str], list[str]]:
    """Image files and ignored files under ``in_dir/folder``, as POSIX paths relative to ``in_dir``.

    Symlinked folders are followed once; a link back to a folder already seen is skipped, so a link
    loop cannot hang the walk. Hidden files and folders are skipped silently.
    """
    if isinstance(in_dir, Listed):
        return _walk_listed(in_dir, folder, role)
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


def _walk_listed(in_dir: Listed, folder: str, role: str) -> tuple[list[str], list[str]]:
    """``_walk`` over a listing: the files under ``folder``, hidden files and folders left out."""
    top = PurePosixPath(folder).as_posix().strip("/")
    start = "" if top in ("", ".") else f"{top}/"
    under = [name for name in in_dir.files if name.startswith(start)]
    if not under:  # an object store has no empty folders: no file under it is no folder
        where = role if role.startswith("targets") else f"inputs.{role}"
        raise UsageError(f"{in_dir.url}/{top}: no such folder (set {where} in the recipe to rename it)")
    found, ignored = [], []
    for rel in under:
        if any(part.startswith(".") for part in rel[len(start) :].split("/")):
            continue
        (found if PurePosixPath(rel).suffix.lower() in IMAGE_EXTENSIONS else ignored).append(rel)
    return sorted(found), sorted(ignored)
