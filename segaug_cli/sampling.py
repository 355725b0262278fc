"""Seeding and parameter sampling: every generator segaug uses is made here, and every draw runs from here.

A sample's generator is seeded from (recipe seed, pair key, copy) and nothing else, so its
parameters do not depend on the order of files, the worker that runs it or ``PYTHONHASHSEED``.

Each op's record says what it draws (``segaug_cli.ops``): a ``uniform(...)`` of its ranges, drawn
here, or its own drawer, handed this sample's generator. This module fixes the order: an op's ``p``,
then its values, then a group's members, then the group's choice. Draws are context-free: an op
draws plain numbers (a crop's position as fractions of the slack, say), and ``augment`` turns them
into pixels once it knows the image's size. Each op consumes the same number of values whether or
not its ``p`` applies it, and a group draws all its members, so changing one op's ``p`` or a
group's choice never shifts the values of the ops after it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops.spec import OpSpec, ParamSpec, Range, Uniform
from .recipe import Op, spec_of

_SEED_LIMIT = 2**63


@dataclass(frozen=True)
class Draw:
    """The sampled values of one op in one sample; ``applied`` is False when its ``p`` skipped it.

    Values whose name starts with ``_`` are raw material (candidate windows, corner jitter) that
    ``augment`` resolves into the values the manifest records.
    """

    name: str
    kind: str
    applied: bool
    values: tuple[tuple[str, Any], ...]
    children: tuple[Draw, ...] = ()  # a group's members, each with its own applied flag
    settings: tuple[tuple[str, Any], ...] = ()  # the op's fixed settings (sizes, classes), not drawn

    def value(self, name: str) -> Any:
        return dict(self.values)[name]

    def setting(self, name: str) -> Any:
        return dict(self.settings)[name]

    def uniform_noise(self, shape: tuple[int, ...]) -> np.ndarray:
        """This op's random field in [-1, 1), regenerated from the seed it drew (elastic displacement)."""
        return uniform_field(self.value("seed"), shape)

    def normal_noise(self, shape: tuple[int, ...]) -> np.ndarray:
        """This op's standard-normal field, regenerated from the seed it drew (pixel noise)."""
        return normal_field(self.value("seed"), shape)


def sample_seed(seed: int, key: str, copy: int, epoch: int = 0) -> int:
    """The unsigned 64-bit seed of one (pair, copy): a stable hash, never Python's ``hash()``.

    Args:
        seed: the recipe seed.
        key: the pair's POSIX relative path without extension, e.g. ``city/a``.
        copy: the copy index.
        epoch: a training epoch's draws (``AugmentedPairs``); epoch 0 is the offline run, whose hashed
            text is left as it always was so that every dataset already written keeps its seeds.
    """
    text = f"{seed}\0{key}\0{copy}" if epoch == 0 else f"{seed}\0{key}\0{copy}\0epoch\0{epoch}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw(ops: tuple[Op, ...], rng: np.random.Generator) -> tuple[Draw, ...]:
    """Sample every op of a recipe, in order (groups recursively)."""
    return tuple(_draw_op(op, rng) for op in ops)


def draw_for(ops: tuple[Op, ...], seed: int) -> tuple[Draw, ...]:
    """Sample the ops of one sample from its seed."""
    return draw(ops, np.random.default_rng(seed))


def _draw_op(op: Op, rng: np.random.Generator) -> Draw:
    spec = spec_of(op.name)
    applied = bool(rng.random() < op.p)
    values = _uniform_values(spec, op, rng) if isinstance(spec.draw, Uniform) else spec.draw(op, rng)
    children = tuple(_draw_op(member, rng) for member in op.ops)
    if op.ops:  # a group: its choice is drawn after its members
        values, chosen = spec.choose(op, rng, len(children))
        children = tuple(dataclasses.replace(c, applied=c.applied and i in chosen) for i, c in enumerate(children))
    return Draw(op.name, spec.kind, applied, values, children, op.settings)


def _uniform_values(spec: OpSpec, op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    values = tuple((name, _uniform(spec.params[param], op.range(param), rng)) for name, param in spec.draw.names)
    if spec.draw.seed:  # the seed of the op's random field, which augment regenerates at the right size
        values += (("seed", int(rng.integers(_SEED_LIMIT))),)
    return values


def _uniform(param: ParamSpec, r: Range, rng: np.random.Generator) -> float | int:
    if param.integer:
        return int(rng.integers(round(r.lo), round(r.hi) + 1))
    return float(rng.uniform(r.lo, r.hi))


# ---------------------------------------------------------------------------------------------
# Random fields, regenerated from the seed a draw recorded
# ---------------------------------------------------------------------------------------------


def uniform_field(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 noise in [-1, 1) of ``shape`` (elastic displacement before smoothing)."""
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def normal_field(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard-normal noise of ``shape`` (pixel noise)."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# What the manifest records
# ---------------------------------------------------------------------------------------------


def applied_leaves(draws: tuple[Draw, ...]) -> Iterator[tuple[str, Draw]]:
    """Every applied op, in order, with its manifest label; an applied group comes before its members.

    An op used more than once gets a numbered label (``rotate``, ``rotate#2``), numbered by its
    position in the recipe whether or not earlier ones applied, so labels are stable.
    """
    seen: dict[str, int] = {}

    def walk(items: tuple[Draw, ...], live: bool) -> Iterator[tuple[str, Draw]]:
        for d in items:
            seen[d.name] = seen.get(d.name, 0) + 1
            label = d.name if seen[d.name] == 1 else f"{d.name}#{seen[d.name]}"
            if d.children:
                if live and d.applied:
                    yield label, d
                yield from walk(d.children, live and d.applied)
            elif live and d.applied:
                yield label, d

    yield from walk(draws, True)


def params_record(draws: tuple[Draw, ...], resolved: dict[str, dict[str, Any]] | None = None) -> dict:
    """The manifest's ``params``: every applied op with its values; skipped ops are absent.

    Raw values (``_``-prefixed) are left out; ``resolved`` adds what ``augment`` made of them
    (crop windows, perspective matrices), by label.
    """
    record: dict[str, dict[str, Any]] = {}
    for label, d in applied_leaves(draws):
        record[label] = {k: v for k, v in d.values if not k.startswith("_")}
        record[label].update((resolved or {}).get(label, {}))
    return record
