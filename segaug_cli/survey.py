"""What a run would find in IN, without writing anything: the pairing report of ``segaug validate RECIPE IN``.

Pairing reads names; then every pair's header is read (``headers``: size, channels, depth, whether the
file ends where its format says; no decoding), so a size mismatch, an unreadable or truncated file or an
image over the pixel limit is reported as a pair that would fail; ``deep`` decodes every pair instead.
At most ``SAMPLE`` masks, spread evenly over the pairs in key order, are decoded to list the labels (or
colours) the recipe's label map does not list. 10,000 local pairs take a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import headers
from .errors import PairError
from .pairing import Listed, Notes, Pair, scan_inputs
from .recipe import Recipe
from .storage import source_of

SAMPLE = 16  # masks decoded to look for unlisted labels: enough to catch a wrong table, fast on any IN


@dataclass(frozen=True)
class Survey:
    """The pairing of IN under a recipe, and what a sample of its masks holds that the labels do not list."""

    pairs: int  # pairs a run would augment
    without_mask: tuple[str, ...]  # images with no mask: failed pairs, or skipped with inputs.unpaired: skip
    skipped: bool  # the images without a mask are skipped (inputs.unpaired: skip), not failed
    orphan_masks: tuple[str, ...]  # masks with no image
    beside: tuple[str, ...]  # other annotation files beside a paired mask, not read
    ignored: tuple[str, ...]  # files that are not images
    split_missing: tuple[str, ...]  # split entries with no image or no mask: "<file> line N: why"
    left_out: int  # images the split file does not list
    other_problems: tuple[str, ...]  # any other pair that would fail: "<image>: why"
    sampled: int  # masks decoded (none without a label map or colour table)
    unlisted: tuple[int | str, ...]  # labels (or "#rrggbb" colours) seen in the sample, not in labels
    unreadable: tuple[str, ...]  # sampled masks that could not be decoded or converted: "<mask>: why"
    bad_files: tuple[str, ...] = ()  # pairs whose headers (or, deep, pixels) would fail them: "<image>: why"

    @property
    def failing(self) -> int:
        """Pairs a run would fail (exit 1 at its end)."""
        unpaired = 0 if self.skipped else len(self.without_mask)
        return len(self.split_missing) + len(self.other_problems) + unpaired + len(self.bad_files)


def survey(
    recipe: Recipe,
    in_dir: str | Path,
    sample: int = SAMPLE,
    storage_options: dict | None = None,
    deep: bool = False,
) -> Survey:
    """Pair IN (a folder, or a URL read with ``storage_options``) as ``expand`` would, read every pair's
    headers (``deep``: decode every pair) and decode a sample of the masks; writes nothing.

    Raises:
        UsageError: the images or masks folder, or the split file, does not exist.
        StorageError: a URL whose store cannot be read.
    """
    i = recipe.inputs
    source = source_of(in_dir, storage_options)  # a URL's backend is imported only then
    scan = scan_inputs(source, i, recipe.targets)
    notes, found = Notes(), _Found()
    for pair in scan.walk(notes):  # IN streamed: only what the report lists is kept
        found.add(pair, i.split)
        if not pair.problem:
            found.bad_files.extend(_file_problems(recipe, source, pair, deep))
    spec = recipe.labels
    tabled = spec is not None and bool(spec.table or spec.colors)  # rules (reduce, threshold) take any value
    chosen = _spread_sample(scan, found.usable, sample) if sample and tabled else []
    unlisted, unreadable = _unlisted_labels(recipe, source, chosen)
    listed = notes.pairing()
    return Survey(
        pairs=found.usable,
        without_mask=listed.skipped + tuple(found.without_mask),
        skipped=i.unpaired == "skip",
        orphan_masks=listed.orphan_masks,
        beside=listed.beside,
        ignored=listed.ignored,
        split_missing=tuple(found.split_missing),
        left_out=listed.left_out,
        other_problems=tuple(found.other_problems),
        sampled=len(chosen),
        unlisted=unlisted,
        unreadable=unreadable,
        bad_files=tuple(found.bad_files),
    )


@dataclass
class _Found:
    """What the report says of the pairs, gathered as they are walked."""

    usable: int = 0
    without_mask: list[str] = field(default_factory=list)
    split_missing: list[str] = field(default_factory=list)
    other_problems: list[str] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)

    def add(self, pair: Pair, split: str | None) -> None:
        if not pair.problem:
            self.usable += 1
            return
        if _unpaired(pair):
            self.without_mask.append(pair.image)
        if _from_split(pair, split):
            self.split_missing.append(_split_problem(pair, split))
        elif not _unpaired(pair):
            self.other_problems.append(f"{pair.image}: {pair.problem}")


def _file_problems(recipe: Recipe, source: Path | Listed, pair: Pair, deep: bool) -> list[str]:
    """Why the pair would fail, read from its files' headers (``deep``: from their pixels); none if it would not."""
    try:
        if deep:
            _decode_pair(recipe, source, pair)
            return []
        files = [pair.image, pair.mask or "", *pair.targets]
        found = [(rel, _header(source, rel)) for rel in files]
        for rel, header in found:
            headers.check_pixels(header, recipe.inputs.max_pixels, rel)
        mask = found[1][1]
        for rel, header in [found[0], *found[2:]]:
            if header is not None and mask is not None and not _fits(header, mask, rel == pair.image):
                raise PairError(f"{pair.mask} is {mask.size} but {rel} is {header.size}")
    except PairError as exc:
        return [f"{pair.image}: {exc}"]
    return []


def _fits(header: headers.Header, mask: headers.Header, image: bool) -> bool:
    """The same size, or (a JPEG image, whose EXIF orientation may turn it) the same size turned."""
    turned = image and header.kind == "jpeg" and (header.height, header.width) == (mask.width, mask.height)
    return (header.width, header.height) == (mask.width, mask.height) or turned


def _header(source: Path | Listed, rel: str) -> headers.Header | None:
    if isinstance(source, Listed):
        return headers.header_of_bytes(_read_listed(source, rel), rel)
    return headers.header_of_file(source / rel, rel)


def _decode_pair(recipe: Recipe, source: Path | Listed, pair: Pair) -> None:
    """Decode the pair as a run does (``--deep``)."""
    from . import codecs

    def whole(rel: str) -> bytes:
        return _read_listed(source, rel) if isinstance(source, Listed) else codecs.read_bytes(source / rel)

    read = headers.limited(whole, recipe.inputs.max_pixels)
    image, mask = codecs.decode_pair(read(pair.image), read(pair.mask or ""), pair.image, pair.mask or "")
    for rel in pair.targets:
        target = codecs.decode_pixels(read(rel), rel)
        if target.shape[:2] != mask.labels.shape[:2]:
            h, w = mask.labels.shape[:2]
            raise PairError(f"{rel} is {target.shape[1]}x{target.shape[0]} but {pair.mask} is {w}x{h}")


def _spread_sample(pairs: Iterable[Pair], usable: int, sample: int) -> list[Pair]:
    """At most ``sample`` of the ``usable`` pairs, spread evenly over them in key order."""
    step = max(1, -(-usable // sample))
    kept = (pair for pair in pairs if not pair.problem)
    return [pair for index, pair in enumerate(kept) if index % step == 0][:sample]


def _unpaired(pair: Pair) -> bool:
    from .pairing import NO_MASK

    return pair.problem is not None and pair.problem.startswith(NO_MASK)


def _from_split(pair: Pair, split: str | None) -> bool:
    """A split entry with no image (the pair names the split file) or no mask (the problem names the line)."""
    return split is not None and pair.problem is not None and (pair.image == split or f" of {split} " in pair.problem)


def _split_problem(pair: Pair, split: str) -> str:
    return f"{split} {pair.problem}" if pair.image == split else f"{pair.image}: {pair.problem}"


def _unlisted_labels(
    recipe: Recipe, in_dir: Path | Listed, pairs: list[Pair]
) -> tuple[tuple[int | str, ...], tuple[str, ...]]:
    """Labels (or colours) of the sampled masks that the recipe's map or colour table does not list."""
    spec = recipe.labels
    if not pairs or spec is None:
        return (), ()
    from . import codecs
    from .labels import relabel
    from .stats import class_counts

    listed = {k for k, _ in spec.table} | {f"#{r:02x}{g:02x}{b:02x}" for (r, g, b), _ in spec.colors}
    seen: set[int | str] = set()
    unreadable = []
    for pair in pairs:
        try:
            data = (
                _read_listed(in_dir, pair.mask) if isinstance(in_dir, Listed) else codecs.read_bytes(in_dir / pair.mask)
            )
            mask = codecs.decode_mask(data, pair.mask).labels
            relabel(mask, spec)  # the kind of mask the table converts (labels for map, colours for colors)
        except PairError as exc:
            unreadable.append(str(exc) if str(exc).startswith(pair.mask) else f"{pair.mask}: {exc}")
            continue
        seen.update(class_counts(mask))
    return tuple(sorted(seen - listed)), tuple(unreadable)  # all labels, or all colours


def _read_listed(in_dir: Listed, rel: str) -> bytes:
    try:
        return in_dir.read(rel)
    except FileNotFoundError:
        raise PairError(f"{rel}: cannot be read (no such object)") from None
