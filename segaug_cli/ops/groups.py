"""Groups of ops: one_of applies one member, some_of applies n of them.

A group draws all its members first and then its choice, so changing the choice never shifts the
values of the ops after it.
"""

from __future__ import annotations

from .spec import Configured, GroupOp, Members, ParamSpec, Range, Values, Weights, uniform

ORDER = 60  # last: groups are made of the ops above


def _choose_one(op: Configured, rng, count: int) -> tuple[Values, frozenset[int]]:
    """One member, by weight (equal when the recipe gives none)."""
    import numpy as np

    weights = np.asarray(op.setting("weights") or [1.0] * count, dtype=np.float64)
    u = rng.random()
    choice = min(int(np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right")), count - 1)
    return (("choice", choice),), frozenset({choice})


def _choose_some(op: Configured, rng, count: int) -> tuple[Values, frozenset[int]]:
    """n members, n drawn from its range; they apply in recipe order."""
    r = op.range("n")
    n = int(rng.integers(round(r.lo), round(r.hi) + 1))
    order = rng.permutation(count)
    chosen = {int(i) for i in order[:n]}
    return (("n", n), ("chosen", sorted(chosen))), frozenset(chosen)


OPS = (
    GroupOp(
        name="one_of",
        doc="apply one of ops, chosen with the given weights (default: equal)",
        settings={"ops": Members(), "weights": Weights()},
        draw=uniform(),
        choose=_choose_one,
    ),
    GroupOp(
        name="some_of",
        doc="apply n of ops (n drawn from the range), in recipe order",
        params={"n": ParamSpec(Range(1, 2), 0, 1000, integer=True)},
        settings={"ops": Members()},
        draw=uniform(),
        choose=_choose_some,
        count_param="n",
    ),
)
