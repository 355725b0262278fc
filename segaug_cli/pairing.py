"""Pair discovery: walk IN/images and IN/masks and match files by relative path without extension.

The walk is streamed in key order: each folder is listed one directory at a time, its entries sorted
so that a depth-first walk meets the keys in code-point order, and the image, mask and target walks
are merged by key. Nothing is held for the whole dataset but what a run reports (orphan masks,
ignored and skipped files) and, with ``inputs.split``, the split's keys: memory is that of the
largest directory, not of IN.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import UsageError
from .listing import Listed as Listed  # re-exported: what the storage layer hands pairing for a store
from .listing import folder_prefix, image_files, stem_of


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


@dataclass
class Notes:
    """What one walk of IN found besides its pairs, filled in as the walk goes; whole once it ends."""

    orphan_masks: list[str] = field(default_factory=list)
    ignored: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    left_out: int = 0
    beside: list[str] = field(default_factory=list)

    def pairing(self, pairs: tuple[Pair, ...] = ()) -> Pairing:
        """What was found, sorted, with ``pairs`` (none: a caller that walks the pairs again)."""
        return Pairing(
            pairs,
            tuple(sorted(self.orphan_masks)),
            tuple(sorted(self.ignored)),
            tuple(sorted(self.skipped)),
            self.left_out,
            tuple(sorted(self.beside)),
        )


NO_MASK = "no mask found for this image"
UNPAIRED = ("fail", "skip")


@dataclass(frozen=True)
class Layout:
    """Where the pairs are in IN and how their names read.

    Attributes:
        images, masks: the folders, relative to IN; they may be one folder told apart by suffixes.
        mask_suffix, image_suffix: the end of a file name, before the extension, that is not part of the
            key: ``aachen_000000_000019_leftImg8bit.png`` has key ``aachen_000000_000019`` for
            ``_leftImg8bit``. An image without its suffix has no key a mask could match.
        targets: (name, folder) of each extra target; a pair missing one of them fails.
        split: a file relative to IN with one key per line (blank lines and ``#`` comments ignored);
            only listed pairs are used, and a listed key without image or mask fails, naming the line.
            ``Pairing.left_out`` counts the images it does not list.
        unpaired: ``fail``: an image with no mask is a failed pair; ``skip``: it is left out and listed in
            ``Pairing.skipped``. Listed in a split, it fails either way: the list asked for it.
    """

    images: str = "images"
    masks: str = "masks"
    mask_suffix: str = ""
    targets: tuple[tuple[str, str], ...] = ()
    image_suffix: str = ""
    split: str | None = None
    unpaired: str = "fail"


class PairScan:
    """The pairs of one IN under one layout, walked afresh (in key order) each time they are iterated.

    The folders and the split file are checked when the scan is made, so a missing one fails before
    anything runs. ``walk(notes)`` fills ``notes`` with what the walk found besides the pairs.
    """

    def __init__(self, in_dir: str | Path | Listed, layout: Layout):
        if layout.unpaired not in UNPAIRED:
            raise ValueError(f"unpaired must be one of {UNPAIRED}, got {layout.unpaired!r}")
        self.in_dir = in_dir if isinstance(in_dir, Listed) else Path(in_dir)
        self.layout = layout
        for folder, role in _folders(layout):
            _require_folder(self.in_dir, folder, role)
        self._listed = read_split(self.in_dir, layout.split) if layout.split is not None else None

    def __iter__(self) -> Iterator[Pair]:
        return self.walk(Notes())

    def walk(self, notes: Notes) -> Iterator[Pair]:
        pairs = _pairs_by_key(self.in_dir, self.layout, notes)
        if self._listed is not None:
            pairs = _only_listed(pairs, self._listed, self.layout, notes)
        if self.layout.unpaired == "skip":
            pairs = _skip_unpaired(pairs, notes)
        return pairs


def find_pairs(in_dir: str | Path | Listed, *folders: str, **layout: Any) -> Pairing:
    """Every image/mask pair under ``in_dir``, held whole (``PairScan`` streams them instead).

    ``folders`` and ``layout`` are the fields of ``Layout``, in its order (images, masks, mask_suffix)
    or by name (``image_suffix=``, ``split=``, ``unpaired=``, ``targets=``).

    Raises:
        UsageError: the images, masks or a target folder, or the split file, does not exist.
    """
    notes = Notes()
    pairs = tuple(PairScan(in_dir, Layout(*folders, **layout)).walk(notes))
    return notes.pairing(pairs)


def layout_of(inputs, targets: tuple = ()) -> Layout:
    """The layout a recipe's ``inputs`` section and its extra ``targets`` name (duck-typed: pairing
    imports nothing of the recipe)."""
    return Layout(
        inputs.images,
        inputs.masks,
        inputs.mask_suffix,
        tuple((t.name, t.folder) for t in targets),
        inputs.image_suffix,
        inputs.split,
        inputs.unpaired,
    )


def scan_inputs(source: str | Path | Listed, inputs, targets: tuple = ()) -> PairScan:
    """The pairs of IN as a recipe names them, streamed (see ``PairScan``)."""
    return PairScan(source, layout_of(inputs, targets))


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


def pair_key(rel: str, folder: str, suffix: str) -> str | None:
    """The key of the file at ``rel`` (relative to IN) under ``folder`` with ``suffix``; None when it has
    none there (another folder, or the suffix missing). A manifest row's key is its source image's."""
    start = folder_prefix(folder)
    if not rel.startswith(start):
        return None
    return _key(stem_of(rel[len(start) :]), suffix)


# ---------------------------------------------------------------------------------------------
# one walk, in key order
# ---------------------------------------------------------------------------------------------

# What the walks of the folders yield, merged by key: (key, kind, path relative to IN, target index).
IMAGE, UNSUFFIXED, MASK, UNMATCHED, TARGET = range(5)


@dataclass
class _Group:
    """Every file of one key: what decides that key's pairs, orphans and files beside."""

    images: list[str] = field(default_factory=list)
    unsuffixed: list[str] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    targets: dict[int, list[str]] = field(default_factory=dict)

    def add(self, kind: int, rel: str, target: int) -> None:
        if kind == TARGET:
            self.targets.setdefault(target, []).append(rel)
        else:
            (self.images, self.unsuffixed, self.masks, self.unmatched)[kind].append(rel)


def _pairs_by_key(in_dir: Path | Listed, layout: Layout, notes: Notes) -> Iterator[Pair]:
    """Every pair, in (key, image) order; orphan masks, files beside and ignored files go to ``notes``."""
    streams = [_images(in_dir, layout, notes), _masks(in_dir, layout, notes)]
    streams += [_target_files(in_dir, folder, index) for index, (_, folder) in enumerate(layout.targets)]
    merged = heapq.merge(*streams, key=lambda item: item[0])
    paired: list[str] = []  # the paired keys that begin the current key, shortest first
    for key, items in itertools.groupby(merged, key=lambda item: item[0]):
        group = _Group()
        for _, kind, rel, target in items:
            group.add(kind, rel, target)
        while paired and not key.startswith(paired[-1]):
            paired.pop()
        yield from _pairs_of(key, group, layout, paired)
        for rel in sorted(group.unmatched):
            beside = any(len(p) < len(key) and key[len(p)] == "_" for p in paired if p != key)
            (notes.beside if beside else notes.orphan_masks).append(rel)
        if not group.images:
            notes.orphan_masks.extend(group.masks)


def _pairs_of(key: str, group: _Group, layout: Layout, paired: list[str]) -> Iterator[Pair]:
    """The pairs of one key, by image: the pair its images make, and one per image lacking the suffix."""
    found = []
    if group.images:
        pair = _pair(key, sorted(group.images), sorted(group.masks))
        for index, (name, folder) in enumerate(layout.targets):
            pair = _with_target(pair, name, folder, sorted(group.targets.get(index, [])))
        if not pair.problem:
            paired.append(key)
        found.append(pair)
    found += [Pair(key, rel, None, _unsuffixed(layout.image_suffix)) for rel in group.unsuffixed]
    yield from sorted(found, key=lambda p: p.image)


def _images(in_dir: Path | Listed, layout: Layout, notes: Notes) -> Iterator[tuple[str, int, str, int]]:
    """The images folder's images by key; a file that is a mask (the folders may be one, told apart by
    the suffix, or nested) is the masks' walk's, and one lacking the image suffix is keyed by its stem."""
    mask_start = folder_prefix(layout.masks)
    for rel, inner_stem in _files(in_dir, layout.images, lambda stem: _key(stem, layout.image_suffix) or stem, notes):
        if rel.startswith(mask_start) and _key(stem_of(rel[len(mask_start) :]), layout.mask_suffix) is not None:
            continue
        key = _key(inner_stem, layout.image_suffix)
        yield (inner_stem, UNSUFFIXED, rel, 0) if key is None else (key, IMAGE, rel, 0)


def _masks(in_dir: Path | Listed, layout: Layout, notes: Notes) -> Iterator[tuple[str, int, str, int]]:
    """The masks folder's masks by key; an image there with no mask key (and not in the images folder)
    is unmatched, keyed by its stem: beside a paired mask, or an orphan."""
    image_start = folder_prefix(layout.images)
    for rel, inner_stem in _files(in_dir, layout.masks, lambda stem: _key(stem, layout.mask_suffix) or stem, notes):
        key = _key(inner_stem, layout.mask_suffix)
        if key is not None:
            yield key, MASK, rel, 0
        elif not rel.startswith(image_start):
            yield inner_stem, UNMATCHED, rel, 0


def _target_files(in_dir: Path | Listed, folder: str, index: int) -> Iterator[tuple[str, int, str, int]]:
    for rel, inner_stem in _files(in_dir, folder, lambda stem: stem, Notes()):
        yield inner_stem, TARGET, rel, index


def _files(in_dir: Path | Listed, folder: str, order: Callable[[str], str], notes: Notes) -> Iterator[tuple[str, str]]:
    return image_files(in_dir, folder, order, notes.ignored)


def _folders(layout: Layout) -> Iterator[tuple[str, str]]:
    yield layout.images, "inputs.images"
    yield layout.masks, "inputs.masks"
    for name, folder in layout.targets:
        yield folder, f"targets[{name}].folder"


def _require_folder(in_dir: Path | Listed, folder: str, where: str) -> None:
    if isinstance(in_dir, Listed):
        start = folder_prefix(folder)
        if not any(rel.startswith(start) for rel in in_dir.files):  # an object store has no empty folders
            where_url = f"{in_dir.url}/{start.rstrip('/')}"
            raise UsageError(f"{where_url}: no such folder (set {where} in the recipe to rename it)")
    elif not (in_dir / folder).is_dir():
        raise UsageError(f"{in_dir / folder}: no such folder (set {where} in the recipe to rename it)")


def _key(stem: str, suffix: str) -> str | None:
    """``city/a_mask`` -> ``city/a`` for suffix ``_mask``; None when the suffix is absent."""
    if not suffix:
        return stem
    if not stem.endswith(suffix) or len(stem) == len(suffix):
        return None
    return stem[: -len(suffix)]


# ---------------------------------------------------------------------------------------------
# what a pair is, and what a split or unpaired="skip" keeps
# ---------------------------------------------------------------------------------------------


def _pair(key: str, images: list[str], masks: list[str]) -> Pair:
    if len(images) > 1:
        return Pair(key, images[0], None, f"several images share the name {key!r}: {', '.join(images)}")
    if not masks:
        return Pair(key, images[0], None, NO_MASK)
    if len(masks) > 1:
        return Pair(key, images[0], None, f"several masks match this image: {', '.join(masks)}")
    return Pair(key, images[0], masks[0])


def _with_target(pair: Pair, name: str, folder: str, found: list[str]) -> Pair:
    if pair.problem:
        return pair
    if len(found) != 1:
        why = (
            f"no {name} file found (looked for {folder}/{pair.key}.*)"
            if not found
            else f"several {name} files match: {', '.join(found)}"
        )
        return Pair(pair.key, pair.image, pair.mask, why, pair.targets)
    return Pair(pair.key, pair.image, pair.mask, None, pair.targets + (found[0],))


def _only_listed(pairs: Iterable[Pair], listed: dict[str, int], layout: Layout, notes: Notes) -> Iterator[Pair]:
    """The pairs a split lists, in key order; a listed key with no image, or no mask, fails naming the line.

    The split's keys are sorted and walked beside the pairs. Of several pairs of one key (an image
    lacking the suffix beside one that has it) the last by image stands for the key.
    """
    split = layout.split
    wanted = iter(sorted(listed))
    next_wanted = next(wanted, None)
    for key, same in itertools.groupby(pairs, key=lambda p: p.key):
        pair = list(same)[-1]
        while next_wanted is not None and next_wanted < key:
            yield _listed_missing(next_wanted, listed[next_wanted], split, layout.images)
            next_wanted = next(wanted, None)
        if next_wanted != key:
            notes.left_out += 1
            continue
        next_wanted = next(wanted, None)
        if _is_unpaired(pair):  # reworded, so that unpaired="skip" cannot skip what the list asked for
            yield replace(pair, problem=f"listed on line {listed[key]} of {split} but {NO_MASK}")
        else:
            yield pair
    while next_wanted is not None:
        yield _listed_missing(next_wanted, listed[next_wanted], split, layout.images)
        next_wanted = next(wanted, None)


def _listed_missing(key: str, line: int, split: str, images: str) -> Pair:
    # no image to name: the split file is where the key comes from
    return Pair(key, split, None, f"line {line}: {key!r} is listed but no image under {images}/ has this key")


def _skip_unpaired(pairs: Iterable[Pair], notes: Notes) -> Iterator[Pair]:
    for pair in pairs:
        if _is_unpaired(pair):
            notes.skipped.append(pair.image)
        else:
            yield pair


def _is_unpaired(pair: Pair) -> bool:
    """An image that simply has no mask (not one of several, not a split's missing entry)."""
    return pair.problem is not None and pair.problem.startswith(NO_MASK)


def _unsuffixed(suffix: str) -> str:
    return f"{NO_MASK}: its name does not end with the image suffix {suffix!r}"


def _suffix_after_key(rel: str, key: str) -> str:
    stem = stem_of(rel).rpartition("/")[2]  # not pathlib, which interns every name it parses
    base = key.rsplit("/", 1)[-1]
    return stem[len(base) :] if stem.startswith(base) else ""
