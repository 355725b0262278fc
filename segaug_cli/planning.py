"""Planning: IN and the books of earlier runs in, one small job per pair out, in key order.

Nothing here holds the dataset: the pairs of IN and the earlier rows (sorted by key) are walked side
by side, each job carrying its own earlier rows. A first walk of IN (the census) counts the share and
notes what a run reports besides pairs (orphan masks, ignored files...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import shards
from .jobs import PairJob
from .manifest import Row
from .naming import clashing_pair, output_key_of, output_samples, row_key_of
from .pairing import Listed, Notes, Pair, Pairing, PairScan, scan_inputs
from .recipe import Recipe, walked_folders
from .shards import Shard
from .storage import books
from .storage.rows import PathSet, Previous


def plan(recipe: Recipe, pairing: Pairing, previous: dict[str, Row]) -> list[PairJob]:
    """One job per pair, in key order, holding the rows earlier runs recorded for its outputs (a list,
    for callers with the earlier rows in memory; the engine streams them with ``planned_jobs``)."""
    row_key = row_key_of(recipe)
    ordered = sorted(previous.values(), key=lambda row: (row_key(row), row.image))
    return list(planned_jobs(recipe, pairing.pairs, iter(ordered), []))


def planned_jobs(
    recipe: Recipe,
    pairs: Iterable[Pair],
    previous_by_key: Iterator[Row],
    unclaimed: list[Row],
    shard: Shard | None = None,
) -> Iterator[PairJob]:
    """One job per pair of the share, in key order, each with the earlier rows of its output names.

    ``pairs`` (every pair of IN, in key order) and ``previous_by_key`` (sorted by key, then image) are
    walked side by side, so neither is held whole: a job carries its own rows, and no list of output
    names (``output_samples`` derives them when needed). Earlier rows that no job claims (their pair
    left IN or now fails before it runs, the recipe makes fewer copies or other names) are appended to
    ``unclaimed``: the recipe no longer produces them. Names are checked for clashes against every
    pair, of any shard.
    """
    rows = _Peekable(previous_by_key)
    ancestors = _Ancestors()
    row_key = row_key_of(recipe)
    for pair in pairs:
        ancestors.move_to(pair.key)
        clash = clashing_pair(recipe, pair, ancestors)
        if not pair.problem:
            ancestors.add(pair)
        if clash is not None:
            pair = Pair(pair.key, pair.image, pair.mask, f"its output names collide with those of {clash}")
        key = pair.key
        unclaimed.extend(rows.take_while(_keyed(row_key, key, before=True)))
        group = list(rows.take_while(_keyed(row_key, key, before=False)))
        if shard is not None and not shard.holds(pair.key):
            continue
        if recipe.tiles is not None and not pair.problem:
            # With tiles the output names depend on the image's size, known once a worker reads it: the
            # job holds every earlier row cut from its source, and the worker sorts out which still hold.
            yield PairJob(pair, tuple(group))
            continue
        names = {s.image for s in output_samples(recipe, pair)}
        unclaimed.extend(row for row in group if row.image not in names)
        yield PairJob(pair, tuple(row for row in group if row.image in names))
    unclaimed.extend(rows.take_while(lambda row: True))


def _keyed(row_key: Callable[[Row], str], key: str, before: bool) -> Callable[[Row], bool]:
    """Whether a row's pair key sorts before ``key`` (or, ``before`` False, is ``key``)."""
    if before:
        return lambda row: row_key(row) < key
    return lambda row: row_key(row) == key


class _Peekable:
    def __init__(self, rows: Iterator[Row]) -> None:
        self._rows, self._next = rows, next(rows, None)

    def take_while(self, wanted: Callable[[Row], bool]) -> Iterator[Row]:
        while self._next is not None and wanted(self._next):
            row, self._next = self._next, next(self._rows, None)
            yield row


class _Ancestors(Mapping[str, Pair]):
    """The usable pairs whose keys begin the current key, looked up by key (``clashing_pair`` asks for
    ``x`` at ``x_aug0``). In key order every key between ``x`` and ``x_aug0`` begins with ``x``, so
    a stack of such prefixes holds all there is to find: no map of every pair."""

    def __init__(self) -> None:
        self._stack: list[Pair] = []

    def move_to(self, key: str) -> None:
        while self._stack and not key.startswith(self._stack[-1].key):
            self._stack.pop()

    def add(self, pair: Pair) -> None:
        if not self._stack or self._stack[-1].key != pair.key:
            self._stack.append(pair)

    def __iter__(self) -> Iterator[str]:
        return (pair.key for pair in self._stack)

    def __len__(self) -> int:
        return len(self._stack)

    def _find(self, key: str) -> Pair | None:
        return next((pair for pair in self._stack if pair.key == key), None)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __getitem__(self, key: str) -> Pair:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        return found


@dataclass(frozen=True)
class Census:
    """One walk of IN before a run: how many pairs the share holds, a digest of all of them (a shard
    records it for ``merge``) and what the walk found besides (orphan masks, ignored files...)."""

    share: int
    inputs_sha256: str
    found: Notes


def census_of(scan: PairScan, shard: Shard | None) -> Census:
    notes = Notes()
    share = [0]

    def counted() -> Iterator[Pair]:
        for pair in scan.walk(notes):
            share[0] += shard is None or shard.holds(pair.key)
            yield pair

    digest = shards.inputs_digest(counted())
    return Census(share[0], digest, notes)


def scan_in(recipe: Recipe, in_dir: Path | Listed) -> PairScan:
    """The pairs of IN as the recipe's inputs name them, walked afresh each time they are iterated."""
    return scan_inputs(in_dir, recipe.inputs, recipe.targets)


def output_folders(recipe: Recipe) -> tuple[str, ...]:
    """The folders of OUT the recipe's outputs lie under, for listing OUT's files (each once)."""
    return walked_folders(recipe)


def known_paths(rows: Iterable[Row]) -> PathSet:
    known = PathSet()
    for row in rows:
        known.update(path for path, _ in row.outputs())
    return known


def previous_of(recipe: Recipe, out_dir: Path, shard: Shard | None, distrust_edited: bool = True) -> Previous:
    """What earlier runs recorded for this run's share, streamed: the shard's own manifest or, before
    its first run (a shard run into a merged OUT, say), the rows of manifest.csv of its share."""
    own = books.books_for(shard)
    row_key = row_key_of(recipe)
    share = None if shard is None else (lambda row: shard.holds(row_key(row)))
    fallback = shard is not None and not (out_dir / own.manifest).is_file() and (out_dir / books.MANIFEST).is_file()
    return Previous(out_dir, row_key, own, distrust_edited, share, books.WHOLE if fallback else None)


def concern_of(recipe: Recipe, shard: Shard | None) -> Callable[[str], bool]:
    """Which files under OUT's output folders a run looks after: all of them, or its shard's."""
    if shard is None:
        return lambda rel: True
    output_key = output_key_of(recipe)
    return lambda rel: shard.holds(output_key(rel))


def shard_about(recipe: Recipe, census: Census, shard: Shard | None) -> dict[str, Any] | None:
    """What a shard's sidecar records for ``merge`` to compare: which shard, of what recipe and inputs."""
    if shard is None:
        return None
    return {
        "shard": [shard.index, shard.count],
        "recipe_sha256": shards.recipe_digest(recipe),
        "inputs_sha256": census.inputs_sha256,
    }
