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
