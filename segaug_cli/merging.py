"""``segaug merge``: the complete set of N shards in OUT becomes ``manifest.csv``, ``segaug.json`` and
``errors.csv``, byte-identical to an unsharded run's; the shards' bookkeeping then goes.

Every shard is checked before anything is written: all N present, one N, each made by a finished
run of this recipe on these inputs with these library versions, none edited, none a copy of another.
The shard manifests are merged as streams (each is sorted by image), so memory does not grow with
the dataset.

OUT in an object store is merged the same way on a local copy of its bookkeeping: OUT is listed once
under its lock object, the shards' books are downloaded into a private temporary folder, vetted and
merged there, and the files an unsharded run keeps are uploaded (one whole PUT each) before the
shards' books are deleted; the shards' upload receipts join into the whole run's.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import overrides, shards, storage
from .errors import Refused
from .manifest import ManifestError, Row, header_target_names, image_of, read_rows
from .naming import row_key_of
from .pairing import Pair, scan_inputs
from .recipe import Recipe
from .shards import Shard
from .splitfile import split_file_of, write_split_file
from .storage import books as store
from .storage.books import journal_folder
from .storage.rows import PathSet

_SHARD_BOOK = re.compile(r"(manifest|segaug|errors)\.shard-\d+-of-\d+\.(csv|json)")


class MergeRefused(Refused):
    """The shards in OUT are not one complete, consistent set (exit 1, nothing written)."""


@dataclass(frozen=True)
class MergeSummary:
    shards: int
    rows: int
    failures: int
    # OUT was merged already, by a merge stopped while it removed the shards' files: only their
    # leftovers were removed now
    finished_earlier: bool = False


def merge(
    recipe: Recipe,
    in_dir: str | Path,
    out_dir: str | Path,
    storage_options: dict | None = None,
    given: dict[str, int] | None = None,
) -> MergeSummary:
    """Join the N shards in OUT into the files an unsharded run writes, then remove their bookkeeping.

    Args:
        recipe: the recipe every shard ran, less the ``--seed``/``--copies`` they were run with, which
            their sidecars record and the merged ``segaug.json`` keeps.
        in_dir: IN, a folder or a URL.
        out_dir: OUT, a folder or a URL (an S3 or S3-compatible prefix).
        storage_options: the backend's options for IN or OUT given as URLs; never written anywhere.
        given: ``--seed``/``--copies`` as given to ``merge``: each must match what the shards record.
    Raises:
        MergeRefused: a shard is missing, duplicated, unfinished, edited, or made with another N,
            recipe, inputs or library versions; the sentence names it.
        UsageError: IN or OUT unusable, or another run writes OUT now.
        StorageError: the store cannot be read or written; a rerun of the merge finishes it.
    """
    options = storage_options or {}
    in_place, out_place = storage.place(in_dir), storage.place(out_dir)
    storage.check_places(in_place, out_place)

    def in_pairs() -> Iterable[Pair]:
        return scan_inputs(storage.source_of(in_place, options), recipe.inputs, recipe.targets)

    with storage.hold_existing(out_place, options) as out:
        return _merge_out(recipe, in_pairs, out, str(out_place), given or {})


@dataclass(frozen=True)
class _Books:
    """The shards' bookkeeping files as merge reads them: in ``folder`` (OUT, or the local copy of an
    object store's), named in messages under ``shown`` (OUT as the user gave it); ``names`` are the
    files at OUT's top and, in a store, its journal objects."""

    folder: Path
    shown: str
    names: tuple[str, ...]

    def named(self, name: str) -> str:
        return f"{self.shown}/{name}"

    def unfinished(self, books: store.Books) -> bool:
        """A shard run stopped before its commit leaves its journal: a file, or objects in a folder."""
        folder = journal_folder(books) + "/"
        return (self.folder / books.journal).exists() or any(name.startswith(folder) for name in self.names)


def _merge_books(
    recipe: Recipe,
    in_pairs: Callable[[], Iterable[Pair]],
    books: _Books,
    known: PathSet | None = None,
    given: dict[str, int] | None = None,
) -> tuple[MergeSummary, list[Shard]]:
    """Vet the shards of ``books`` and commit their merge into ``books.folder``; ``known`` collects
    the output paths the merged manifest lists. The shards an earlier merge committed but did not
    finish removing are returned with nothing committed (``MergeSummary.finished_earlier``)."""
    present = _shards_in(books)
    # the overrides the shards were run with (each shard's recipe digest covers them: vetted below)
    sidecar = store.read_sidecar(books.folder, store.books_for(present[0])) if present else None
    recipe = overrides.reconcile(recipe, sidecar, given or {}, f"shard {present[0]}" if present else "OUT")
    leftovers = _left_by_a_merge(books, present, lambda: _expected(recipe, in_pairs))
    if leftovers:
        return MergeSummary(len(leftovers), 0, 0, finished_earlier=True), leftovers
    found = _complete_set(books, present)  # refused before IN is walked
    expected = _expected(recipe, in_pairs)
    for shard in found:
        _vet(books, shard, expected)
    counter = [0]
    names = {name for shard in found for name in _target_names(books.folder, shard)}
    failures = [failure for shard in found for failure in _failures(books.folder, shard)]
    row_key = row_key_of(recipe)

    def rows() -> Iterator[Row]:
        merged = _counted(_merged_rows(books, found, row_key), counter)
        return merged if known is None else _noted(merged, known)

    store.commit(books.folder, rows, names, failures, about=overrides.about(overrides.recorded(sidecar)))
    return MergeSummary(len(found), counter[0], len(failures)), found


def _noted(rows: Iterator[Row], known: PathSet) -> Iterator[Row]:
    known.clear()  # each pass of the commit (hash, then write if changed) notes the paths anew
    for row in rows:
        known.update(path for path, _ in row.outputs())
        yield row


def _merge_out(
    recipe: Recipe, in_pairs: Callable[[], Iterable[Pair]], out: storage.Out, shown: str, given: dict[str, int]
) -> MergeSummary:
    """``merge`` under OUT's lock, on the books in ``out.folder`` (OUT itself, or a local copy of a store's).

    The merged books are published before any shard's books are deleted, so a merge stopped by the
    store leaves every shard in place and a rerun merges them again.
    """
    names = out.names()
    books = _Books(out.folder, shown, names)
    out.fetch(name for name in names if _SHARD_BOOK.fullmatch(name))
    known = PathSet()
    summary, found = _merge_books(recipe, in_pairs, books, known, given)
    if not summary.finished_earlier:  # else the merged books are in OUT already
        for shard in found:
            out.adopt_receipts(store.books_for(shard))
        out.ensure_held()  # taken over while paused past the lease: publish nothing
        out.publish(known)
    _write_split_file(recipe, out)
    for shard in found:  # the shards are merged: their files go, so OUT is what an unsharded run leaves
        out.drop_books(shard)
    return summary


def _write_split_file(recipe: Recipe, out: storage.Out) -> None:
    """OUT's split file from the merged manifest, as an unsharded run writes it (``splitfile``). A
    merge finished earlier on a store has no local copy of the manifest: it wrote the file then."""
    manifest = out.folder / store.MANIFEST
    if split_file_of(recipe) is not None and manifest.is_file():
        with open(manifest, newline="", encoding="utf-8") as fh:
            write_split_file(recipe, out.location, read_rows(fh))


def _shards_in(books: _Books) -> list[Shard]:
    """The shards whose manifests OUT holds, sorted."""
    return shards.shards_named(books.names)


def _expected(recipe: Recipe, in_pairs: Callable[[], Iterable[Pair]]) -> dict[str, str]:
    """What every shard's sidecar must record: this recipe, and these inputs (IN is walked for them)."""
    return {"recipe_sha256": shards.recipe_digest(recipe), "inputs_sha256": shards.inputs_digest(in_pairs())}


def _left_by_a_merge(books: _Books, present: list[Shard], expected_of: Callable[[], dict[str, str]]) -> list[Shard]:
    """The shards a merge of this job committed but was stopped before removing, if that is what OUT
    holds: an incomplete set beside the merged manifest segaug wrote, each of this recipe, inputs and
    versions, whose rows the merged manifest holds unchanged. Otherwise none."""
    counts = {shard.count for shard in present}
    whole = len(counts) == 1 and len(present) == next(iter(counts))
    if not present or whole or not store.manifest_vouched_for(books.folder):
        return []
    expected = expected_of()
    try:
        for shard in present:
            _vet(books, shard, expected)
    except MergeRefused:
        return []  # not this job's leftovers: the usual refusal names what is wrong
    for shard in present:
        with contextlib.ExitStack() as files:
            merged, own = (
                read_rows(files.enter_context(open(books.folder / name, encoding="utf-8", newline="")))
                for name in (store.MANIFEST, store.books_for(shard).manifest)
            )
            try:
                if not _all_within(own, merged):
                    return []
            except ManifestError:  # the usual refusal names the file
                return []
    return present


def _all_within(rows: Iterator[Row], merged: Iterator[Row]) -> bool:
    """Every row of ``rows`` is, unchanged, in ``merged``; both in image order, walked side by side."""
    current = next(merged, None)
    for row in rows:
        while current is not None and current.image < row.image:
            current = next(merged, None)
        if current != row:
            return False
    return True


def _complete_set(books: _Books, found: list[Shard]) -> list[Shard]:
    """The shards of OUT, 1..N, one N, none missing."""
    if not found:
        raise MergeRefused(
            f"{books.shown}: holds no shards (no manifest.shard-K-of-N.csv); run "
            "`segaug expand RECIPE IN OUT --shard K/N` for each K first"
        )
    counts = sorted({shard.count for shard in found})
    if len(counts) > 1:
        raise MergeRefused(
            f"{books.shown}: holds shards made with different N ({', '.join(map(str, counts))}); "
            "keep the shards of one job only"
        )
    count = counts[0]
    missing = [str(Shard(k, count)) for k in range(1, count + 1) if Shard(k, count) not in found]
    if missing:
        raise MergeRefused(
            f"{books.shown}: shard {', '.join(missing)} is missing (no "
            f"{store.books_for(Shard(int(missing[0].split('/')[0]), count)).manifest}); run it, "
            "or copy its folder into OUT"
        )
    return found


def _vet(books: _Books, shard: Shard, expected: dict[str, str]) -> None:
    """Refuse a shard that is not this job's finished, untouched share."""
    own = store.books_for(shard)
    sidecar = store.read_sidecar(books.folder, own)
    if sidecar is None:
        raise MergeRefused(f"{books.named(own.versions)}: missing or unreadable; run shard {shard} again")
    if sidecar.get("shard") != [shard.index, shard.count]:
        raise MergeRefused(
            f"{books.named(own.manifest)}: is a duplicate of shard {_named(sidecar)}, not shard "
            f"{shard}; run shard {shard} again"
        )
    if books.unfinished(own) or sidecar.get("complete") is not True:
        raise MergeRefused(f"shard {shard} did not finish (stopped or interrupted); run it again to complete it")
    if store.manifest_edited(books.folder, own):
        raise MergeRefused(f"{books.named(own.manifest)}: edited since segaug wrote it; run shard {shard} again")
    if sidecar.get("recipe_sha256") != expected["recipe_sha256"]:
        raise MergeRefused(f"shard {shard} was made with another recipe (or --seed/--copies) than this one")
    if sidecar.get("inputs_sha256") != expected["inputs_sha256"]:
        raise MergeRefused(f"shard {shard} was made from other inputs (another set of pairs in IN)")
    _same_versions(shard, sidecar.get("versions") or {})


def _named(sidecar: dict) -> str:
    recorded = sidecar.get("shard")
    return f"{recorded[0]}/{recorded[1]}" if isinstance(recorded, list) and len(recorded) == 2 else "(unknown)"


def _same_versions(shard: Shard, recorded: dict) -> None:
    running = store.versions()
    for name in sorted(running):
        if recorded.get(name) != running[name]:
            raise MergeRefused(
                f"shard {shard} was made with {name} {recorded.get(name, '(unknown)')}, this is "
                f"{name} {running[name]}: outputs may differ; run every shard with the same versions"
            )


def _target_names(out_dir: Path, shard: Shard) -> list[str]:
    with open(out_dir / store.books_for(shard).manifest, encoding="utf-8", newline="") as fh:
        return header_target_names(fh.readline())


def _failures(out_dir: Path, shard: Shard) -> list[tuple[str, str]]:
    path = out_dir / store.books_for(shard).errors
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as fh:
        return [(row["source_image"], row["reason"]) for row in csv.DictReader(fh)]


def _merged_rows(books: _Books, found: list[Shard], row_key: Callable[[Row], str]) -> Iterator[Row]:
    """Every shard's rows in image order, each checked to belong to its shard and to no other."""
    with contextlib.ExitStack() as stack:
        streams = []
        for shard in found:
            name = store.books_for(shard).manifest
            fh = stack.enter_context(open(books.folder / name, encoding="utf-8", newline=""))
            streams.append(_of_shard(read_rows(fh), shard, books.named(name), row_key))
        previous: Row | None = None
        for row in heapq.merge(*streams, key=image_of):
            if previous is not None and previous.image == row.image:
                raise MergeRefused(
                    f"{row.image} is listed by two shards: a shard is duplicated; remove the "
                    "copy and run its shard again"
                )
            previous = row
            yield row


def _of_shard(rows: Iterator[Row], shard: Shard, path: str, row_key: Callable[[Row], str]) -> Iterator[Row]:
    try:
        for row in rows:
            owner = shards.shard_of(row_key(row), shard.count)
            if owner != shard.index:
                raise MergeRefused(
                    f"{path}: lists {row.image}, which belongs to shard {owner}/{shard.count}: "
                    f"a duplicated or foreign shard; run shard {shard} again"
                )
            yield row
    except ManifestError as exc:
        raise MergeRefused(f"{path}: not a segaug manifest ({exc})") from None


def _counted(rows: Iterator[Row], counter: list[int]) -> Iterator[Row]:
    counter[0] = 0
    for row in rows:
        counter[0] += 1
        yield row
