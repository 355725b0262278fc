"""Cutting large sources (aerial orthophotos, whole-slide scans) into windows: arrays in, windows out.

``tiles: {size: [h, w], stride: [h, w]}`` lays a grid over an (H, W) source in reading order. By default
(``partial: shift``) the last row and column are shifted back to end at the border, so every window
lies inside the source, none is partial and none is padded (they overlap their neighbour instead).
With ``partial: pad`` the last row and column start on the grid and run past the border; the part
outside is filled with the fills the caller passes (the recipe's ``border.image_fill`` and
``border.mask_fill``, whatever the border mode: padding is not content to mirror).

``min_labelled: 0.05`` skips windows where fewer than 5% of the pixels carry a label other than
``ignore`` (255 unless told) and other than ``background`` (when given); padding never counts.

Each window is named ``<key>_y<top>_x<left>``, the numbers zero-padded to the width of the largest
one so that names sort in reading order, and carries (top, left, height, width) for the manifest's
``source_window`` column. Windows inside the source are views: cutting copies nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .errors import PairError, TilesError
from .recipe.tilespec import KEYS, PARTIAL, TileSpec, Window, parse_tiles

__all__ = [
    "KEYS",
    "PARTIAL",
    "Tile",
    "TileSpec",
    "TilesError",
    "Window",
    "cut",
    "grid",
    "labelled_share",
    "parse_tiles",
    "tiles",
    "window_keys",
]


@dataclass(frozen=True)
class Tile:
    """One window cut from a pair: its key names the outputs and seeds its samples."""

    key: str
    window: Window
    image: np.ndarray  # a view of the source when the window lies inside it, else a padded copy
    mask: np.ndarray


# --- the grid ----------------------------------------------------------------------------------------


def grid(shape: tuple[int, ...], spec: TileSpec) -> tuple[Window, ...]:
    """The windows of an (H, W[, C]) source, in reading order (top to bottom, then left to right).

    Raises:
        PairError: with ``partial: shift``, a tile larger than the source.
    """
    height, width = shape[:2]
    if spec.partial == "shift" and (spec.size[0] > height or spec.size[1] > width):
        raise PairError(
            f"tiles.size is {spec.size[0]}x{spec.size[1]} (height x width) but the image is "
            f"{height}x{width}; cut smaller tiles or set tiles.partial: pad"
        )
    tops = _starts(height, spec.size[0], spec.stride[0], spec.partial)
    lefts = _starts(width, spec.size[1], spec.stride[1], spec.partial)
    return tuple(Window(top, left, spec.size[0], spec.size[1]) for top in tops for left in lefts)


def _starts(length: int, tile: int, stride: int, partial: str) -> list[int]:
    """Where windows start along one axis: on the stride, then one ending at the border (shift) or
    running past it (pad)."""
    if partial == "shift":
        starts = list(range(0, length - tile + 1, stride))
        return starts if starts[-1] == length - tile else starts + [length - tile]
    count = 1 if length <= tile else math.ceil((length - tile) / stride) + 1
    return [i * stride for i in range(count) if i * stride < length]  # a stride past the tile leaves gaps


def window_keys(key: str, windows: tuple[Window, ...]) -> tuple[str, ...]:
    """``<key>_y<top>_x<left>`` per window, zero-padded alike so that the names sort in reading order."""
    digits = len(str(max((max(w.top, w.left) for w in windows), default=0)))
    return tuple(f"{key}_y{w.top:0{digits}d}_x{w.left:0{digits}d}" for w in windows)


# --- cutting -----------------------------------------------------------------------------------------


def cut(array: np.ndarray, window: Window, fill: float | tuple[float, ...]) -> np.ndarray:
    """The window of an (H, W[, C]) array: a view when it lies inside, else a copy padded with ``fill``.

    Args:
        fill: one value, or one per channel in the array's own channel order (BGR for OpenCV images).
    """
    inside = array[window.top : window.top + window.height, window.left : window.left + window.width]
    if inside.shape[:2] == (window.height, window.width):
        return inside
    padded = np.empty((window.height, window.width) + array.shape[2:], array.dtype)
    padded[...] = fill
    padded[: inside.shape[0], : inside.shape[1]] = inside
    return padded


def labelled_share(mask: np.ndarray, window: Window, spec: TileSpec) -> float:
    """The share of the window's pixels that carry a label other than ignore and background.

    Padding past the border counts as unlabelled: the share is over the whole window.
    """
    if mask.ndim != 2:
        raise PairError(
            "tiles.min_labelled needs a label mask (one channel); convert colour masks with labels.colors first"
        )
    inside = mask[window.top : window.top + window.height, window.left : window.left + window.width]
    unlabelled = sum(int(np.count_nonzero(inside == label)) for label in {spec.ignore, spec.background} - {None})
    return (inside.size - unlabelled) / (window.height * window.width)


def tiles(
    image: np.ndarray,
    mask: np.ndarray,
    key: str,
    spec: TileSpec,
    image_fill: float | tuple[float, ...] = 0,
    mask_fill: int | tuple[int, ...] = 0,
) -> Iterator[Tile]:
    """The windows of one pair worth augmenting, one at a time (so a worker holds one padded copy at most).

    Args:
        image: (H, W[, C]) source image.
        mask: (H, W) labels (or (H, W, 3) colours when min_labelled is 0), the image's height and width.
        key: the pair's key; each tile's key is ``<key>_y<top>_x<left>``.
        spec: the parsed ``tiles:`` section.
        image_fill, mask_fill: what ``partial: pad`` fills with (image fill in the image's channel order).
    Raises:
        PairError: a tile larger than the source with ``partial: shift``.
    """
    windows = grid(image.shape, spec)
    for tile_key, window in zip(window_keys(key, windows), windows, strict=True):
        if spec.min_labelled and labelled_share(mask, window, spec) < spec.min_labelled:
            continue
        yield Tile(tile_key, window, cut(image, window, image_fill), cut(mask, window, mask_fill))
