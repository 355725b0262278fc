"""``segaug merge``: the complete set of N shards in OUT becomes ``manifest.csv``, ``segaug.json`` and
``errors.csv``, byte-identical to an unsharded run's; the shards' bookkeeping then goes.

Every shard is checked before anything is written: all N present, one N, each made by a finished
run of this recipe on these inputs with these library versions, none edited, none a copy of another.
The shard manifests are merged as streams (each is sorted by image), so memory does not grow with
the dataset.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import lock, shards, store
from .engine import scan_in
from .errors import SegaugError, UsageError
from .manifest import ManifestError, Row, header_target_names, image_of, read_rows
from .naming import row_key_of
from .recipe import Recipe
from .shards import Shard

_SHARD_MANIFEST = re.compile(r"manifest\.shard-(\d+)-of-(\d+)\.csv")


class MergeRefused(SegaugError):
    """The shards in OUT are not one complete, consistent set (exit 1, nothing written)."""


@dataclass(frozen=True)
class MergeSummary:
    shards: int
    rows: int
    failures: int


def merge(recipe: Recipe, in_dir: str | Path, out_dir: str | Path) -> MergeSummary:
    """Join the N shards in OUT into the files an unsharded run writes, then remove their bookkeeping.

    Raises:
        MergeRefused: a shard is missing, duplicated, unfinished, edited, or made with another N,
            recipe, inputs or library versions; the sentence names it.
        UsageError: IN or OUT unusable, or another run writes OUT now.
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    store.check_folders(in_dir, out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: no such folder")
    with _holding(out_dir):
        found = _complete_set(out_dir)
        expected = {
            "recipe_sha256": shards.recipe_digest(recipe),
            "inputs_sha256": shards.inputs_digest(scan_in(recipe, in_dir)),
        }
        for shard in found:
            _vet(out_dir, shard, expected)
        counter = [0]
        names = {name for shard in found for name in _target_names(out_dir, shard)}
        failures = [failure for shard in found for failure in _failures(out_dir, shard)]
        row_key = row_key_of(recipe)

        def rows() -> Iterator[Row]:
            return _counted(_merged_rows(out_dir, found, row_key), counter)

        store.commit(out_dir, rows, names, failures)
        _remove_bookkeeping(out_dir, found)
    return MergeSummary(len(found), counter[0], len(failures))


@contextlib.contextmanager
def _holding(out_dir: Path) -> Iterator[None]:
    """OUT exclusively: no shard run may write while its shards are merged."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock.hold(out_dir))
        except lock.OutLocked:
            raise
        except OSError as exc:
            raise UsageError(f"{out_dir}: cannot write in this folder ({exc.strerror or exc})") from None
        yield


def _complete_set(out_dir: Path) -> list[Shard]:
    """The shards of OUT, 1..N, one N, none missing."""
    found = sorted(
        Shard(int(m.group(1)), int(m.group(2)))
        for m in (_SHARD_MANIFEST.fullmatch(p.name) for p in out_dir.iterdir())
        if m
    )
    if not found:
        raise MergeRefused(
            f"{out_dir}: holds no shards (no manifest.shard-K-of-N.csv); run "
            "`segaug expand RECIPE IN OUT --shard K/N` for each K first"
        )
    counts = sorted({shard.count for shard in found})
    if len(counts) > 1:
        raise MergeRefused(
            f"{out_dir}: holds shards made with different N ({', '.join(map(str, counts))}); "
            "keep the shards of one job only"
        )
    count = counts[0]
    missing = [str(Shard(k, count)) for k in range(1, count + 1) if Shard(k, count) not in found]
    if missing:
        raise MergeRefused(
            f"{out_dir}: shard {', '.join(missing)} is missing (no "
            f"{store.books_for(Shard(int(missing[0].split('/')[0]), count)).manifest}); run it, "
            "or copy its folder into OUT"
        )
    return found


def _vet(out_dir: Path, shard: Shard, expected: dict[str, str]) -> None:
    """Refuse a shard that is not this job's finished, untouched share."""
    books = store.books_for(shard)
    sidecar = store.read_sidecar(out_dir, books)
    if sidecar is None:
        raise MergeRefused(f"{out_dir / books.versions}: missing or unreadable; run shard {shard} again")
    if sidecar.get("shard") != [shard.index, shard.count]:
        raise MergeRefused(
            f"{out_dir / books.manifest}: is a duplicate of shard {_named(sidecar)}, not shard "
            f"{shard}; run shard {shard} again"
        )
    if (out_dir / books.journal).exists() or sidecar.get("complete") is not True:
        raise MergeRefused(f"shard {shard} did not finish (stopped or interrupted); run it again to complete it")
    if store.manifest_edited(out_dir, books):
        raise MergeRefused(f"{out_dir / books.manifest}: edited since segaug wrote it; run shard {shard} again")
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


def _merged_rows(out_dir: Path, found: list[Shard], row_key: Callable[[Row], str]) -> Iterator[Row]:
    """Every shard's rows in image order, each checked to belong to its shard and to no other."""
    with contextlib.ExitStack() as stack:
        streams = []
        for shard in found:
            path = out_dir / store.books_for(shard).manifest
            fh = stack.enter_context(open(path, encoding="utf-8", newline=""))
            streams.append(_of_shard(read_rows(fh), shard, path, row_key))
        previous: Row | None = None
        for row in heapq.merge(*streams, key=image_of):
            if previous is not None and previous.image == row.image:
                raise MergeRefused(
                    f"{row.image} is listed by two shards: a shard is duplicated; remove the "
                    "copy and run its shard again"
                )
            previous = row
            yield row


def _of_shard(rows: Iterator[Row], shard: Shard, path: Path, row_key: Callable[[Row], str]) -> Iterator[Row]:
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


def _remove_bookkeeping(out_dir: Path, found: list[Shard]) -> None:
    """The shards are merged: their files go, so OUT is exactly what an unsharded run leaves."""
    for shard in found:
        books = store.books_for(shard)
        for name in (books.manifest, books.versions, books.errors, lock.shard_lock_file((shard.index, shard.count))):
            (out_dir / name).unlink(missing_ok=True)
