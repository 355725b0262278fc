"""Shards: one share of the pairs, chosen by a stable hash of the pair key, and the names of a shard's
bookkeeping files. Standard library only.

A pair's shard depends on its key and N alone (sha256, never Python's ``hash()``), so adding or
removing a pair moves no other pair to another shard, and every machine of a CI matrix agrees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import UsageError

_SPEC = re.compile(r"(\d+)/(\d+)")
_SHARD_MANIFEST = re.compile(r"manifest\.shard-(\d+)-of-(\d+)\.csv")


@dataclass(frozen=True, order=True)
class Shard:
    """Share ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def tag(self) -> str:
        """What a shard's bookkeeping names carry: ``shard-2-of-4``."""
        return f"shard-{self.index}-of-{self.count}"

    def holds(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index


def parse(text: str) -> Shard:
    """``K/N`` (1-based) as given to ``--shard``.

    Raises:
        UsageError: not of that form, or K outside 1..N.
    """
    match = _SPEC.fullmatch(text.strip())
    if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"--shard {text}: expected K/N with 1 <= K <= N, e.g. --shard 2/4")
    return Shard(int(match.group(1)), int(match.group(2)))


def shards_named(names: Iterable[str]) -> list[Shard]:
    """The shards whose manifests (``manifest.shard-K-of-N.csv``) are among these file names, sorted."""
    return sorted(Shard(int(m.group(1)), int(m.group(2))) for m in map(_SHARD_MANIFEST.fullmatch, names) if m)


def unmerged(found: list[Shard]) -> str:
    """What an OUT holding these shards and no merged manifest needs, in one sentence."""
    held = ", ".join(map(str, found))
    counts = sorted({shard.count for shard in found})
    if len(counts) > 1:
        return f"OUT holds shards of different N ({held}), not merged: keep the shards of one job only"
    missing = [str(Shard(k, counts[0])) for k in range(1, counts[0] + 1) if Shard(k, counts[0]) not in found]
    if missing:
        return (
            f"OUT holds shards {held}, not merged, and shard {', '.join(missing)} is missing: run "
            "`segaug expand RECIPE IN OUT --shard K/N` for it, then `segaug merge RECIPE IN OUT`; "
            "or check one shard with `segaug check RECIPE IN OUT --shard K/N`"
        )
    return (
        f"OUT holds shards {held}, not merged: run `segaug merge RECIPE IN OUT`, "
        "or check one shard with `segaug check RECIPE IN OUT --shard K/N`"
    )


def shard_of(key: str, count: int) -> int:
    """The shard (1..count) of a pair key: the first 8 bytes of sha256 of the key, modulo ``count``."""
    digest = hashlib.sha256(b"segaug-shard\0" + key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % count + 1


def recipe_digest(recipe) -> str:
    """sha256 of a recipe's whole content (overrides included): shards of one job share it."""
    content = json.dumps(dataclasses.asdict(recipe), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def inputs_digest(pairs: Iterable) -> str:
    """sha256 of the pairs found in IN (keys and file names, not contents, which fingerprints cover)."""
    digest = hashlib.sha256()
    for pair in pairs:
        fields = (pair.key, pair.image, pair.mask or "", pair.problem or "", *pair.targets)
        digest.update(("\0".join(fields) + "\n").encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
