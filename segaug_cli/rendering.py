"""One augmented copy of one unit (a pair, or a window of one), before encoding: its seed, its draws and
the arrays ``augment`` makes of them; and the recipe's ``labels`` applied to a source mask.

The worker renders what ``expand`` writes through these, and the public interface (``api``,
``dataset``) what it hands to Python, so an in-memory sample and a written file cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import codecs
from .augment import Rendered, render
from .recipe import Recipe
from .sampling import Draw, draw_for, params_record, sample_seed


@dataclass(frozen=True)
class Unit:
    """What copies are rendered from: the key that seeds them, and the decoded, relabelled arrays."""

    key: str  # the pair's key, or its window's (<key>_y<top>_x<left>)
    image: np.ndarray
    labels: np.ndarray
    targets: tuple[np.ndarray, ...] = ()  # in the recipe's order of targets


@dataclass(frozen=True)
class RenderedCopy:
    seed: int
    draws: tuple[Draw, ...]
    rendered: Rendered

    @property
    def params(self) -> dict[str, dict[str, Any]]:
        """The manifest's ``params`` of this copy, as a mapping."""
        return params_record(self.draws, self.rendered.resolved)


def render_copy(recipe: Recipe, unit: Unit, copy: int, epoch: int = 0) -> RenderedCopy:
    """Copy ``copy`` of ``unit``: what expand renders (and encodes) for it at epoch 0, and a training
    epoch's own draws otherwise."""
    seed = sample_seed(recipe.seed, unit.key, copy, epoch)
    draws = draw_for(recipe.transforms, seed)
    targets = tuple(zip(unit.targets, recipe.targets, strict=True))
    return RenderedCopy(seed, draws, render(unit.image, unit.labels, draws, recipe, targets))


def relabelled(mask: codecs.Mask, recipe: Recipe) -> tuple[codecs.Mask, int]:
    """A source mask as the recipe's ``labels`` make it, and how many of its pixels the colour table
    does not list (0 without one); the mask as it is without ``labels``."""
    if recipe.labels is None:
        return mask, 0
    from .labels import relabel

    converted = relabel(mask.labels, recipe.labels)
    # colours only: a colour table lists every class, so an unlisted colour means a wrong table; a
    # label map's default (Cityscapes' 255 for the ids it does not train on) is meant for the rest
    unlisted = converted.unlisted if recipe.labels.colors else 0
    palette = mask.palette if recipe.labels.colors == () else None  # indices keep their colours
    return codecs.Mask(converted.labels, palette, mask.transparency if palette else None), unlisted
