"""Seeding and parameter sampling: the only place segaug draws random numbers.

A sample's generator is seeded from (recipe seed, pair key, copy) and nothing else, so its
parameters do not depend on the order of files, the worker that runs it or ``PYTHONHASHSEED``.

Draws are context-free: an op draws plain numbers (a crop's position as fractions of the slack,
say), and ``augment`` turns them into pixels once it knows the image's size. Each op consumes the
same number of values whether or not its ``p`` applies it, and a group draws all its members, so
changing one op's ``p`` or a group's choice never shifts the values of the ops after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .recipe import OPS, Op

# Ops whose values are plain draws from their ranges: (value name, range name).
_RANGE_VALUES: dict[str, tuple[tuple[str, str], ...]] = {
    "rotate": (("degrees", "degrees"),),
    "scale": (("factor", "range"),),
    "shear": (("degrees", "degrees"),),
    "translate": (("x", "fraction"), ("y", "fraction")),
    "hflip": (),
    "vflip": (),
    "resize": (),
    "pad": (),
    "brightness": (("delta", "range"),),
    "contrast": (("factor", "range"),),
    "gamma": (("gamma", "range"),),
    "hsv": (("hue", "hue"), ("saturation", "saturation"), ("value", "value")),
    "blur": (("sigma", "sigma"),),
    "clahe": (("clip_limit", "clip_limit"),),
    "jpeg": (("quality", "quality"),),
    "one_of": (),  # a group's choice is drawn after its members, by _choose_members
    "some_of": (),
}
CROP_TRIES = 10  # candidate windows for random_resized_crop, and for crop with max_class_share
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
    """Sample every op of a recipe, in order (groups recursively)."""
    return tuple(_draw_op(op, rng) for op in ops)


def draw_for(ops: tuple[Op, ...], seed: int) -> tuple[Draw, ...]:
    """Sample the ops of one sample from its seed."""
    return draw(ops, np.random.default_rng(seed))


def _draw_op(op: Op, rng: np.random.Generator) -> Draw:
    applied = bool(rng.random() < op.p)
    drawer = _DRAWERS.get(op.name)
    values = drawer(op, rng) if drawer else tuple(
        (name, _uniform(op, param, rng)) for name, param in _RANGE_VALUES[op.name]
    )
    children = tuple(_draw_op(member, rng) for member in op.ops)
    if op.ops:
        values, children = _choose_members(op, rng, children)
    return Draw(op.name, op.kind, applied, values, children, op.settings)


def _uniform(op: Op, param: str, rng: np.random.Generator) -> float | int:
    r = op.range(param)
    if _is_integer(op.name, param):
        return int(rng.integers(round(r.lo), round(r.hi) + 1))
    return float(rng.uniform(r.lo, r.hi))


def _is_integer(op_name: str, param: str) -> bool:
    return OPS[op_name].params[param].integer


def _choose_members(op: Op, rng: np.random.Generator, children: tuple[Draw, ...]):
    """one_of: one member by weight; some_of: n members, kept in recipe order."""
    if op.name == "one_of":
        weights = np.asarray(op.setting("weights") or [1.0] * len(children), dtype=np.float64)
        u = rng.random()
        choice = int(np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right"))
        chosen = {min(choice, len(children) - 1)}
        values: tuple[tuple[str, Any], ...] = (("choice", min(choice, len(children) - 1)),)
    else:
        n = _uniform(op, "n", rng)
        order = rng.permutation(len(children))
        chosen = set(int(i) for i in order[:n])
        values = (("n", n), ("chosen", sorted(chosen)))
    return values, tuple(
        Draw(c.name, c.kind, c.applied and i in chosen, c.values, c.children, c.settings)
        for i, c in enumerate(children)
    )


def _draw_crop(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    values: list[tuple[str, Any]] = [("x", float(rng.random())), ("y", float(rng.random())),
                                     ("_pick", float(rng.random()))]
    if op.setting("max_class_share") < 1:
        values.append(("_tries", rng.random((CROP_TRIES - 1, 2)).tolist()))
    return tuple(values)


def _draw_resized_crop(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    """torchvision's scheme: up to CROP_TRIES (area fraction, log aspect, x, y) candidates."""
    area, aspect = op.range("area"), op.range("aspect")
    tries = np.column_stack([
        rng.uniform(area.lo, area.hi, CROP_TRIES),
        rng.uniform(np.log(aspect.lo), np.log(aspect.hi), CROP_TRIES),
        rng.random((CROP_TRIES, 2)),
    ])
    return (("_tries", tries.tolist()),)


def _draw_rot90(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    choices = op.setting("k")
    return (("k", int(choices[int(rng.integers(len(choices)))])),)


def _draw_perspective(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    scale = _uniform(op, "scale", rng)
    return (("scale", scale), ("_shifts", rng.uniform(-1, 1, (4, 2)).tolist()))


def _draw_with_seed(*params: tuple[str, str]) -> Callable:
    """Ops with a per-pixel random field: their values, plus the seed that regenerates the field."""
    def drawer(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
        values = tuple((name, _uniform(op, param, rng)) for name, param in params)
        return values + (("seed", int(rng.integers(_SEED_LIMIT))),)

    return drawer


def _draw_grid(op: Op, rng: np.random.Generator) -> tuple[tuple[str, Any], ...]:
    r, steps = op.range("distort"), op.setting("steps")
    return (("x_steps", (1 + rng.uniform(r.lo, r.hi, steps)).tolist()),
            ("y_steps", (1 + rng.uniform(r.lo, r.hi, steps)).tolist()))


_DRAWERS: dict[str, Callable[[Op, np.random.Generator], tuple[tuple[str, Any], ...]]] = {
    "crop": _draw_crop,
    "random_resized_crop": _draw_resized_crop,
    "rot90": _draw_rot90,
    "perspective": _draw_perspective,
    "elastic": _draw_with_seed(("alpha", "alpha"), ("sigma", "sigma")),
    "grid_distortion": _draw_grid,
    "noise": _draw_with_seed(("sigma", "sigma")),
}


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
    """Every applied op that is not a group, in order, with its manifest label.

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
