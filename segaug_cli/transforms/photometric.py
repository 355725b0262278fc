"""Image-only intensity ops. Every function takes an image, never a mask.

Integer images go through one lookup table: the ops of a sample are chained on the table's float
levels (clipped to the dtype's range after each op, rounded once at the end) and the table is applied
to the pixels once. That keeps uint8 and uint16 exact and free of overflow or wrap-around, and costs
one pass over the image however many ops there are. float32 images are taken to have a full scale of
1.0 and go through the same steps directly on their pixels.

This module imports nothing from segaug.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

# A step maps the table's float levels to new float levels. The mean is that of the image as the
# previous steps left it, needed by contrast.
Step = Callable[[np.ndarray, float, float], np.ndarray]  # (levels, full_scale, mean) -> levels


def brightness(delta: float) -> Step:
    """Add ``delta`` times the dtype's full scale (0.1 on uint8 adds 25.5)."""
    return lambda levels, full, mean: np.clip(levels + delta * full, 0, full)


def contrast(factor: float) -> Step:
    """Scale each value's distance from the image mean by ``factor``."""
    return lambda levels, full, mean: np.clip(mean + (levels - mean) * factor, 0, full)


def gamma(g: float) -> Step:
    """``full * (value / full) ** g``: below 1 brightens shadows, above 1 darkens them."""
    return lambda levels, full, mean: full * np.power(levels / full, g)


def apply(image: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
    """Apply intensity steps to the colour channels of an image (alpha is left alone).

    Args:
        image: (H, W) or (H, W, C) uint8, uint16 or float32 array; with C == 4 the last channel is alpha.
    Returns:
        A new array of the same shape and dtype (the input itself when ``steps`` is empty).
    """
    if not steps:
        return image
    colour = image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image
    if colour.dtype == np.float32:
        out = _apply_float(colour, steps)
    elif colour.dtype in (np.uint8, np.uint16):
        out = _lookup(colour, _chain(colour, steps))
    else:
        raise TypeError(f"photometric ops support uint8, uint16 and float32 images, not {image.dtype}")
    if colour is image:
        return out
    result = image.copy()
    result[..., :3] = out
    return result


def _apply_float(colour: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
    values = np.clip(colour.astype(np.float64), 0.0, 1.0)
    for step in steps:
        values = step(values, 1.0, float(values.mean()))
    return np.clip(values, 0.0, 1.0).astype(np.float32)


def _chain(colour: np.ndarray, steps: Sequence[Step]) -> np.ndarray:
    full = float(np.iinfo(colour.dtype).max)
    levels = np.arange(full + 1, dtype=np.float64)
    hist = _histogram(colour)
    total = hist.sum()
    for step in steps:
        mean = float(hist @ levels) / total if total else 0.0
        levels = step(levels, full, mean)
    return np.rint(np.clip(levels, 0, full)).astype(colour.dtype)


def _histogram(colour: np.ndarray) -> np.ndarray:
    if colour.dtype == np.uint8:
        return cv2.calcHist([colour.reshape(-1, 1)], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    return np.bincount(colour.ravel(), minlength=65536).astype(np.float64)


def _lookup(colour: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if colour.dtype == np.uint8:
        return cv2.LUT(np.ascontiguousarray(colour), lut)
    return lut[colour]
