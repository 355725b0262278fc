"""Image-only intensity ops. Every function takes an image, never a mask.

Integer images go through one lookup table: the ops of a sample are chained on the table's float
levels (clipped to the dtype's range after each op, rounded once at the end) and the table is applied
to the pixels once. That keeps uint8 and uint16 exact and free of overflow or wrap-around, and costs
one pass over the image however many ops there are. float32 images are taken to have a full scale of
1.0 and go through the same steps directly on their pixels.

This module imports nothing from segaug outside ``transforms``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from . import exact


@dataclass(frozen=True)
class Step:
    """A pointwise op on the lookup table's float levels: (levels, full_scale, mean) -> levels.

    The mean is that of the image as the previous steps left it (contrast needs it).
    """

    fn: Callable[[np.ndarray, float, float], np.ndarray]
    needs_mean: bool = False  # only then is the image's histogram computed

    def __call__(self, levels: np.ndarray, full: float, mean: float) -> np.ndarray:
        return self.fn(levels, full, mean)


def brightness(delta: float) -> Step:
    """Add ``delta`` times the dtype's full scale (0.1 on uint8 adds 25.5)."""
    return Step(lambda levels, full, mean: np.clip(levels + delta * full, 0, full))


def contrast(factor: float) -> Step:
    """Scale each value's distance from the image mean by ``factor``."""
    return Step(lambda levels, full, mean: np.clip(mean + (levels - mean) * factor, 0, full), needs_mean=True)


def gamma(g: float) -> Step:
    """``full * (value / full) ** g``: below 1 brightens shadows, above 1 darkens them."""
    return Step(lambda levels, full, mean: full * exact.power(levels / full, g))


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
        out = _lookup(colour, _chain(colour, steps, lambda: _histogram_of(image, colour)))
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


def _chain(colour: np.ndarray, steps: Sequence[Step], histogram: Callable[[], np.ndarray]) -> np.ndarray:
    full = float(np.iinfo(colour.dtype).max)
    levels = np.arange(full + 1, dtype=np.float64)
    hist = histogram() if any(step.needs_mean for step in steps) else None
    for step in steps:
        mean = _mean_level(hist, levels) if hist is not None and hist.sum() else 0.0
        levels = step(levels, full, mean)
    return np.rint(np.clip(levels, 0, full)).astype(colour.dtype)


def _mean_level(hist: np.ndarray, levels: np.ndarray) -> float:
    """The image's mean from its histogram: an exactly rounded sum (``fsum``), where a BLAS dot product
    would add in an order chosen per CPU."""
    return math.fsum((hist * levels).tolist()) / float(hist.sum())


# The last read-only image toned, and its histogram: every copy of a pair tones the same source, so
# the histogram is computed once per pair, not once per copy.
_LAST_HISTOGRAM: list = [None, None]


def _histogram_of(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The histogram of ``colour``, remembered for a read-only array that owns its pixels.

    Such an array cannot change while it is remembered (the cache holds it), so identity is a safe key.
    """
    immutable = not image.flags.writeable and image.base is None
    if immutable and _LAST_HISTOGRAM[0] is image:
        return _LAST_HISTOGRAM[1]
    hist = _histogram(colour)
    if immutable:
        _LAST_HISTOGRAM[:] = [image, hist]
    return hist


def _histogram(colour: np.ndarray) -> np.ndarray:
    if colour.dtype == np.uint8:
        return cv2.calcHist([colour.reshape(-1, 1)], [0], None, [256], [0, 256]).ravel().astype(np.float64)
    return np.bincount(colour.ravel(), minlength=65536).astype(np.float64)


def _lookup(colour: np.ndarray, lut: np.ndarray) -> np.ndarray:
    if colour.dtype == np.uint8:
        return cv2.LUT(np.ascontiguousarray(colour), lut)
    return lut[colour]


# ---------------------------------------------------------------------------------------------
# Whole-image ops: each takes and returns an image of the same shape and dtype.
# ---------------------------------------------------------------------------------------------


def full_scale(dtype: np.dtype) -> float:
    return 1.0 if dtype == np.float32 else float(np.iinfo(dtype).max)


def _colour_part(image: np.ndarray) -> np.ndarray:
    """The channels an intensity op may change: all but an alpha channel."""
    return image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image


def _with_colour(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 4:
        out = image.copy()
        out[..., :3] = colour
        return out
    return colour


def hsv(image: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Shift hue (degrees) and add ``saturation`` and ``value`` (fractions of full scale).

    One-channel images have no hue or saturation: only ``value`` applies (as a brightness shift).
    """
    colour = _colour_part(image)
    if colour.ndim == 2 or colour.shape[2] != 3:
        return _with_colour(image, apply(colour, [brightness(value)]))
    if colour.dtype == np.uint8:
        h, s, v = cv2.split(cv2.cvtColor(colour, cv2.COLOR_BGR2HSV))
        h = cv2.LUT(h, ((np.arange(256) + round(hue / 2)) % 180).astype(np.uint8))  # OpenCV hue: 0..179
        s = cv2.LUT(s, np.clip(np.rint(np.arange(256) + saturation * 255), 0, 255).astype(np.uint8))
        v = cv2.LUT(v, np.clip(np.rint(np.arange(256) + value * 255), 0, 255).astype(np.uint8))
        return _with_colour(image, cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR))
    full = full_scale(colour.dtype)
    h, s, v = cv2.split(cv2.cvtColor((colour / full).astype(np.float32), cv2.COLOR_BGR2HSV))  # hue 0..360
    h = np.mod(h + hue, 360.0).astype(np.float32)
    s = np.clip(s + saturation, 0, 1).astype(np.float32)
    v = np.clip(v + value, 0, 1).astype(np.float32)
    out = cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR)
    return _with_colour(image, _from_unit(out, colour.dtype))


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel about 6 sigma wide)."""
    if sigma <= 0:
        return image
    colour = _colour_part(image)
    return _with_colour(image, _per_4_channels(colour, lambda a: cv2.GaussianBlur(a, (0, 0), sigma)))


def add_noise(image: np.ndarray, noise: np.ndarray, sigma: float) -> np.ndarray:
    """Add ``sigma`` (fraction of full scale) times ``noise``.

    Args:
        noise: (H, W, C) float32 standard-normal values, C at least the image's colour channels.
    """
    colour = _colour_part(image)
    n = noise[..., 0] if colour.ndim == 2 else noise[..., : colour.shape[2]]
    out = colour.astype(np.float32) + n * np.float32(sigma * full_scale(colour.dtype))
    return _with_colour(image, _clip_cast(out, colour.dtype))


def clahe(image: np.ndarray, clip_limit: float, tiles: int) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation; colour images on their lightness only."""
    colour = _colour_part(image)
    equaliser = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    if colour.ndim == 2 or colour.shape[2] != 3:
        as16 = colour if colour.dtype in (np.uint8, np.uint16) else _to_uint16(colour)
        if as16.ndim == 3:
            out = np.dstack([equaliser.apply(np.ascontiguousarray(as16[..., c])) for c in range(as16.shape[2])])
        else:
            out = equaliser.apply(as16)
        return _with_colour(image, out if out.dtype == colour.dtype else _from_unit(out / 65535.0, colour.dtype))
    if colour.dtype == np.uint8:
        lab = cv2.cvtColor(colour, cv2.COLOR_BGR2LAB)
        lab[..., 0] = equaliser.apply(np.ascontiguousarray(lab[..., 0]))
        return _with_colour(image, cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))
    lab = cv2.cvtColor((colour / full_scale(colour.dtype)).astype(np.float32), cv2.COLOR_BGR2LAB)  # L: 0..100
    lightness = np.clip(np.rint(lab[..., 0] / 100.0 * 65535), 0, 65535).astype(np.uint16)
    lab[..., 0] = equaliser.apply(lightness).astype(np.float32) / 65535.0 * 100.0
    return _with_colour(image, _from_unit(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), colour.dtype))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG compression artefacts at ``quality``, in memory.

    Deeper images get the artefacts of their 8-bit version added back, so they keep their dtype and
    precision away from the artefacts.
    """
    colour = _colour_part(image)
    if colour.ndim == 3 and colour.shape[2] not in (1, 3):
        return image  # JPEG holds 1 or 3 channels; multispectral images are left as they are
    full = full_scale(colour.dtype)
    as8 = colour if colour.dtype == np.uint8 else np.clip(np.rint(colour / full * 255), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", as8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED).reshape(as8.shape)
    if colour.dtype == np.uint8:
        return _with_colour(image, decoded)
    error = (decoded.astype(np.float32) - as8.astype(np.float32)) * np.float32(full / 255)
    return _with_colour(image, _clip_cast(colour.astype(np.float32) + error, colour.dtype))


def _per_4_channels(array: np.ndarray, op) -> np.ndarray:
    if array.ndim == 2 or array.shape[2] <= 4:
        return op(array)
    return np.dstack([op(np.ascontiguousarray(array[..., i : i + 4])) for i in range(0, array.shape[2], 4)])


def _clip_cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    full = full_scale(dtype)
    if dtype == np.float32:
        return np.clip(values, 0.0, 1.0).astype(np.float32)
    return np.clip(np.rint(values), 0, full).astype(dtype)


def _from_unit(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values on a 0..1 scale back to ``dtype``'s scale."""
    return _clip_cast(values * full_scale(dtype), dtype)


def _to_uint16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 65535.0), 0, 65535).astype(np.uint16)
