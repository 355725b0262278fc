"""Command-line overrides of a recipe (``--seed``, ``--copies``) as part of a run.

``expand`` records the overrides it was given in OUT's ``segaug.json`` (or a shard's), so that
``check`` and ``merge`` of that OUT use the same values without being told; given again, they must
match what OUT was made with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import UsageError
from .recipe import Recipe

NAMES = ("seed", "copies")  # the recipe settings the command line can override


def given(seed: int | None = None, copies: int | None = None) -> dict[str, int]:
    """The overrides actually given on the command line (None: not given)."""
    return {name: value for name, value in (("seed", seed), ("copies", copies)) if value is not None}


def recorded(sidecar: Mapping[str, Any] | None) -> dict[str, int]:
    """The overrides a ``segaug.json`` records (none in one written without any)."""
    found = (sidecar or {}).get("overrides")
    if not isinstance(found, dict):
        return {}
    return {name: value for name, value in found.items() if name in NAMES and isinstance(value, int)}


def about(overrides: Mapping[str, int]) -> dict[str, Any]:
    """What ``segaug.json`` records of them: nothing when none were given, so its bytes stay as before."""
    return {"overrides": dict(sorted(overrides.items()))} if overrides else {}


def reconcile(recipe: Recipe, sidecar: Mapping[str, Any] | None, options: Mapping[str, int], shown: str) -> Recipe:
    """The recipe as OUT was made with it: the overrides ``sidecar`` records, applied.

    Without a sidecar (nothing made yet) the options given are applied. An option given that differs
    from what OUT was made with is refused.

    Raises:
        UsageError: ``--seed``/``--copies`` given with another value than OUT records; names both.
        RecipeError: an override out of range.
    """
    if sidecar is None:
        return recipe.with_overrides(**options)
    kept = recorded(sidecar)
    for name, value in sorted(options.items()):
        made_with = kept.get(name, getattr(recipe, name))
        if value != made_with:
            how = f"--{name} {made_with}" if name in kept else f"the recipe's {name} ({made_with})"
            raise UsageError(
                f"--{name} {value}: {shown} was made with {how}; give the same value or leave --{name} out"
            )
    return recipe.with_overrides(**kept)
