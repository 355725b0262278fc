"""Label conversions applied to a source mask once, before augmentation: arrays in, arrays out, no I/O.

A recipe's ``labels:`` section holds exactly one of four conversions:

- ``map: {7: 0, 8: 1}`` with ``default`` (a label, or ``keep``): listed labels map, every other label
  becomes ``default`` (255, the usual ignore index, when ``default`` is absent);
- ``reduce_zero_label: true``: 0 -> 255, every other label minus one, exactly as mmsegmentation does
  (so 255 stays 255: its "254 -> 255" step);
- ``colors: {"#ffffff": 0}`` (or ``[R, G, B]`` keys): a colour-coded mask becomes an index mask; the table
  is written in RGB as people read colours, the mask arrives in BGR as OpenCV decodes it;
- ``threshold: 128``: lossy (JPEG) binary masks, ``>= threshold`` -> 1 else 0 (colour converts to grey).

``parse_labels`` (in ``recipe.labelspec``, re-exported here) turns the recipe's mapping into a frozen
``LabelSpec``; ``relabel`` applies a spec to one mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .errors import LabelsError, PairError
from .recipe.labelspec import (
    CONVERSIONS,
    IGNORE,
    KEEP,
    KEYS,
    MAX_LABEL,
    LabelSpec,
    is_label,
    parse_color,
    parse_colors,
    parse_default,
    parse_labels,
    parse_map,
    parse_threshold,
)

__all__ = [
    "CONVERSIONS",
    "IGNORE",
    "KEEP",
    "KEYS",
    "MAX_LABEL",
    "LabelSpec",
    "LabelsError",
    "Relabelled",
    "colors_to_labels",
    "is_label",
    "map_labels",
    "parse_color",
    "parse_colors",
    "parse_default",
    "parse_labels",
    "parse_map",
    "parse_threshold",
    "reduce_zero_label",
    "relabel",
    "threshold_mask",
]

_ROWS_PER_CHUNK = 256  # colour packing works on row bands so its uint32 temporaries stay a few MB

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class Relabelled:
    """A converted mask and how many of its pixels the spec did not list (they took ``default``)."""

    labels: np.ndarray  # (H, W) uint8, or uint16 when a label above 255 can come out
    unlisted: int = 0


# --- applying ----------------------------------------------------------------------------------------


def relabel(mask: np.ndarray, spec: LabelSpec) -> Relabelled:
    """Apply a spec to one source mask.

    Args:
        mask: (H, W) uint8/uint16 labels; for ``colors`` an (H, W, 3) uint8 colour mask in BGR order as
            OpenCV decodes it; for ``threshold`` either kind (colour converts to grey first).
        spec: the parsed ``labels:`` section.
    Returns:
        The (H, W) label mask and, for map and colors, how many pixels were not listed.
    Raises:
        PairError: the mask is not the kind the spec converts (colours given to a map, labels to colors).
    """
    if spec.table:
        return map_labels(mask, dict(spec.table), spec.default)
    if spec.colors:
        return colors_to_labels(mask, dict(spec.colors), spec.default)
    if spec.reduce_zero_label:
        return Relabelled(reduce_zero_label(mask))
    return Relabelled(threshold_mask(mask, spec.threshold))


def map_labels(mask: np.ndarray, table: dict[int, int], default: int | None = IGNORE) -> Relabelled:
    """Listed labels take their new value, every other label ``default`` (None: stays as it is).

    One lookup table per (table, default, dtype), so a 6000x6000 mask takes tens of milliseconds.
    Labels above what the mask's dtype holds are simply never met.
    """
    _need_labels(mask, "map")
    size = _lut_size(mask)
    items = tuple(sorted(table.items()))
    labels = _lookup(mask, _map_lut(items, default, size))
    listed = _listed_lut(tuple(k for k, _ in items), size)
    return Relabelled(labels, int(mask.size - np.count_nonzero(_lookup(mask, listed))))


def reduce_zero_label(mask: np.ndarray) -> np.ndarray:
    """mmsegmentation's ``reduce_zero_label``: 0 -> 255, 255 stays 255, every other label minus one."""
    _need_labels(mask, "reduce_zero_label")
    return _lookup(mask, _reduce_zero_lut(_lut_size(mask)))


def colors_to_labels(image: np.ndarray, colors: dict[Rgb, int], default: int = IGNORE) -> Relabelled:
    """An (H, W, 3) uint8 colour mask in BGR order (as OpenCV decodes) -> (H, W) labels.

    Args:
        image: the colour-coded mask, BGR.
        colors: RGB colour (as the recipe writes it) -> label.
        default: the label of every colour not listed.
    Returns:
        The labels, and how many pixels had a colour not listed.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PairError(
            f"labels.colors needs an 8-bit colour mask (3 channels), got {_describe(image)}; "
            "a label mask takes labels.map"
        )
    items = tuple(sorted(colors.items()))
    index = _colour_index(image, _colour_lut(tuple(rgb for rgb, _ in items)))
    values = np.array([default] + [label for _, label in items])
    labels = _lookup(index, values.astype(_smallest_dtype(values)))
    return Relabelled(labels, int(index.size - np.count_nonzero(index)))


def threshold_mask(mask: np.ndarray, threshold: int) -> np.ndarray:
    """Lossy binary masks (JPEG): ``>= threshold`` -> 1, else 0; a colour mask converts to grey first."""
    if mask.ndim == 3:
        mask = cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY)
    return np.greater_equal(mask, threshold).view(np.uint8)  # bool and uint8 share a layout: no copy


def _colour_index(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per pixel, 1 + the listed colour's position, or 0 for a colour not listed.

    Pixels pack to 0xRRGGBB in row bands, so the uint32 temporaries stay small on 6000x6000 masks.
    """
    index = np.empty(image.shape[:2], lut.dtype)
    for top in range(0, image.shape[0], _ROWS_PER_CHUNK):
        band = image[top : top + _ROWS_PER_CHUNK]
        code = band[..., 2].astype(np.uint32)  # BGR in memory: channel 2 is red
        code <<= 8
        code |= band[..., 1]
        code <<= 8
        code |= band[..., 0]
        np.take(lut, code, out=index[top : top + _ROWS_PER_CHUNK])
    return index


def _lookup(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut[mask]``; OpenCV's LUT is about four times faster for 8-bit masks and 256-entry tables."""
    if mask.dtype == np.uint8 and lut.shape == (256,):
        return cv2.LUT(mask, lut).reshape(mask.shape)
    if mask.dtype == np.uint8 and len(lut) < 256:
        lut = np.concatenate([lut, np.zeros(256 - len(lut), lut.dtype)])  # indices past the end never occur
        return cv2.LUT(mask, lut).reshape(mask.shape)
    return np.take(lut, mask)


@lru_cache(maxsize=8)
def _map_lut(items: tuple[tuple[int, int], ...], default: int | None, size: int) -> np.ndarray:
    lut = np.arange(size) if default is None else np.full(size, default)
    for source, target in items:
        if source < size:
            lut[source] = target
    return _frozen(lut.astype(_smallest_dtype(lut)))


@lru_cache(maxsize=8)
def _listed_lut(sources: tuple[int, ...], size: int) -> np.ndarray:
    lut = np.zeros(size, np.uint8)
    lut[[s for s in sources if s < size]] = 1
    return _frozen(lut)


@lru_cache(maxsize=2)
def _reduce_zero_lut(size: int) -> np.ndarray:
    lut = np.arange(size) - 1
    lut[0] = lut[255] = IGNORE
    return _frozen(lut.astype(np.uint8 if size == 256 else np.uint16))


@lru_cache(maxsize=4)
def _colour_lut(colours: tuple[Rgb, ...]) -> np.ndarray:
    """0xRRGGBB -> 1 + the colour's position in ``colours``; 0 for the other 16.7 million colours."""
    lut = np.zeros(1 << 24, np.uint8 if len(colours) < 256 else np.uint16)
    for position, (r, g, b) in enumerate(colours, start=1):
        lut[(r << 16) | (g << 8) | b] = position
    return _frozen(lut)


def _frozen(lut: np.ndarray) -> np.ndarray:
    lut.flags.writeable = False  # cached and shared by every call
    return lut


def _smallest_dtype(values: np.ndarray) -> type:
    return np.uint8 if int(values.max()) <= 255 else np.uint16


def _lut_size(mask: np.ndarray) -> int:
    return 256 if mask.dtype == np.uint8 else 65536


def _need_labels(mask: np.ndarray, option: str) -> None:
    if mask.ndim != 2 or mask.dtype not in (np.uint8, np.uint16):
        raise PairError(
            f"labels.{option} needs a label mask (one channel, uint8 or uint16), got "
            f"{_describe(mask)}; a colour-coded mask takes labels.colors"
        )


def _describe(array: np.ndarray) -> str:
    channels = "one channel" if array.ndim == 2 else f"{array.shape[2]} channels"
    return f"{channels}, {array.dtype}"
