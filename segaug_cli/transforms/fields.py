"""Non-affine geometry as backward maps: for every output pixel, where in the source to read.

A sample's geometry is a chain of stages, each a homography (3x3, source -> output) or a
displacement field (output pixel p reads its input at p + d(p)). ``compose_maps`` walks the chain
backwards from the final output grid, so any mix of stages still costs ONE ``cv2.remap`` per target.

This module imports nothing from segaug outside ``transforms``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import exact

Shape = tuple[int, int]


@dataclass(frozen=True)
class Field:
    """A displacement field on an (H, W) grid: output pixel (x, y) reads input (x + dx, y + dy)."""

    dx: np.ndarray  # (H, W) float32
    dy: np.ndarray


def elastic(noise_x: np.ndarray, noise_y: np.ndarray, alpha: float, sigma: float) -> Field:
    """Smooth random displacement (Simard et al. 2003): Gaussian-smoothed uniform noise, scaled to RMS alpha.

    Args:
        noise_x, noise_y: (H, W) float32 noise in [-1, 1].
        alpha: RMS displacement in pixels; sigma: smoothing in pixels.
    """

    def smooth(noise: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101).astype(np.float64)

    # Smoothing shrinks the noise by a factor that grows with sigma (to ~1/(3.5 sigma)), so the field is
    # rescaled to make alpha what the recipe says it is: the RMS displacement, in pixels.
    sx, sy = smooth(noise_x), smooth(noise_y)
    rms = float(np.sqrt(np.mean(sx * sx + sy * sy)))
    gain = alpha / rms if rms > 0 else 0.0
    return Field((sx * gain).astype(np.float32), (sy * gain).astype(np.float32))


def grid_distortion(x_steps: np.ndarray, y_steps: np.ndarray, shape: Shape) -> Field:
    """Stretch or squeeze each of n grid cells along x and y by the given factors (1 = unchanged).

    The cells' new widths are renormalised to the image width, so the edges stay in place.
    """
    h, w = shape
    xs = _piecewise(x_steps, w)
    ys = _piecewise(y_steps, h)
    grid_x = np.broadcast_to(xs[None, :], (h, w))
    grid_y = np.broadcast_to(ys[:, None], (h, w))
    return Field(
        (grid_x - np.arange(w, dtype=np.float32)[None, :]).astype(np.float32),
        (grid_y - np.arange(h, dtype=np.float32)[:, None]).astype(np.float32),
    )


def _piecewise(steps: np.ndarray, size: int) -> np.ndarray:
    """Output coordinate -> source coordinate, with source cells of relative size ``steps``."""
    n = len(steps)
    knots_out = np.linspace(0, size - 1, n + 1)
    widths = np.asarray(steps, dtype=np.float64)
    knots_in = np.concatenate([[0.0], np.cumsum(widths)]) / widths.sum() * (size - 1)
    return np.interp(np.arange(size), knots_out, knots_in).astype(np.float32)


def compose_maps(stages: list[np.ndarray | Field], out_shape: Shape) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (map_x, map_y) for ``cv2.remap`` of the whole chain of stages."""
    h, w = out_shape
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    for stage in reversed(stages):
        if isinstance(stage, Field):
            sx, sy = x.astype(np.float32), y.astype(np.float32)
            x = x + cv2.remap(stage.dx, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            y = y + cv2.remap(stage.dy, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            inv = exact.inverse(stage)
            with np.errstate(all="ignore"):
                xs = inv[0, 0] * x + inv[0, 1] * y + inv[0, 2]
                ys = inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]
                ws = inv[2, 0] * x + inv[2, 1] * y + inv[2, 2]
                x, y = xs / ws, ys / ws
    # Degenerate stages can send points to infinity (or 0/0); cv2.remap turns a non-finite coordinate into
    # a value that is neither a source pixel nor the border's, so such points go far outside instead.
    far = 1e6
    x = np.nan_to_num(np.clip(x, -far, far), nan=-far)
    y = np.nan_to_num(np.clip(y, -far, far), nan=-far)
    return x.astype(np.float32), y.astype(np.float32)
