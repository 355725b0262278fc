"""Seeding and parameter sampling: the only place segaug draws random numbers.

A sample's generator is seeded from (recipe seed, pair key, copy) and nothing else, so its
parameters do not depend on the order of files, the worker that runs it or ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .recipe import Op

# Which values each op draws, and from which of its ranges. translate draws two values from one range.
_DRAWN_VALUES: dict[str, tuple[tuple[str, str], ...]] = {
    "rotate": (("degrees", "degrees"),),
    "scale": (("factor", "range"),),
    "shear": (("degrees", "degrees"),),
    "translate": (("x", "fraction"), ("y", "fraction")),
    "hflip": (),
    "vflip": (),
    "brightness": (("delta", "range"),),
    "contrast": (("factor", "range"),),
    "gamma": (("gamma", "range"),),
}


@dataclass(frozen=True)
class Draw:
    """The sampled values of one op in one sample; ``applied`` is False when its ``p`` skipped it."""

    name: str
    kind: str
    applied: bool
    values: tuple[tuple[str, float], ...]

    def value(self, name: str) -> float:
        return dict(self.values)[name]


def sample_seed(seed: int, key: str, copy: int) -> int:
    """The unsigned 64-bit seed of one (pair, copy): a stable hash, never Python's ``hash()``.

    Args:
        seed: the recipe seed.
        key: the pair's POSIX relative path without extension, e.g. ``city/a``.
        copy: the copy index.
    """
    digest = hashlib.sha256(f"{seed}\0{key}\0{copy}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw(ops: tuple[Op, ...], rng: np.random.Generator) -> tuple[Draw, ...]:
    """Sample every op of a recipe, in order.

    Each op consumes the same number of draws whether or not its ``p`` applies it, so changing one
    op's ``p`` does not shift the values of the ops after it.
    """
    draws = []
    for op in ops:
        applied = bool(rng.random() < op.p)
        values = tuple(
            (value_name, float(rng.uniform(op.range(param).lo, op.range(param).hi)))
            for value_name, param in _DRAWN_VALUES[op.name]
        )
        draws.append(Draw(op.name, op.kind, applied, values))
    return tuple(draws)


def draw_for(ops: tuple[Op, ...], seed: int) -> tuple[Draw, ...]:
    """Sample the ops of one sample from its seed."""
    return draw(ops, np.random.default_rng(seed))


def params_record(draws: tuple[Draw, ...]) -> dict[str, dict[str, float]]:
    """The manifest's ``params``: every applied op with its values; skipped ops are absent.

    An op used twice gets a numbered name (``rotate``, ``rotate#2``) so no value is lost.
    """
    record: dict[str, dict[str, float]] = {}
    seen: dict[str, int] = {}
    for d in draws:
        seen[d.name] = seen.get(d.name, 0) + 1
        if d.applied:
            label = d.name if seen[d.name] == 1 else f"{d.name}#{seen[d.name]}"
            record[label] = dict(d.values)
    return record
