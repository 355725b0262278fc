"""Affine matrices about pixel centres, and the single warp of each target.

Convention, stated once: matrices are 3x3 float64 in homogeneous (x, y, 1) pixel coordinates, x to the
right and y down, mapping SOURCE pixels to OUTPUT pixels (what ``cv2.warpAffine`` takes without
``WARP_INVERSE_MAP``). Pixel centres are the reference, so the centre of an (H, W) image is
((W - 1) / 2, (H - 1) / 2) and a horizontal flip maps column x to W - 1 - x exactly.

This module imports nothing from segaug: it never sees paths, YAML or recipes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Shape = tuple[int, int]  # (height, width)

INTERPOLATION_FLAGS = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
# reflect mirrors about the edge pixel without repeating it (dcb|abcd|cba), as Albumentations does.
BORDER_FLAGS = {
    "constant": cv2.BORDER_CONSTANT,
    "reflect": cv2.BORDER_REFLECT_101,
    "replicate": cv2.BORDER_REPLICATE,
}


def _centre(shape: Shape) -> tuple[float, float]:
    return (shape[1] - 1) / 2, (shape[0] - 1) / 2


def _about_centre(linear: np.ndarray, shape: Shape) -> np.ndarray:
    """Apply a 2x2 linear map about the image centre: shift centre to origin, map, shift back."""
    cx, cy = _centre(shape)
    to_origin = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float64)
    m = np.eye(3)
    m[:2, :2] = linear
    return back @ m @ to_origin


def identity() -> np.ndarray:
    return np.eye(3)


def rotate(degrees: float, shape: Shape) -> np.ndarray:
    """Counter-clockwise rotation as seen on screen (y down), like ``cv2.getRotationMatrix2D``."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return _about_centre(np.array([[c, s], [-s, c]]), shape)


def scale(factor: float, shape: Shape) -> np.ndarray:
    return _about_centre(np.array([[factor, 0.0], [0.0, factor]]), shape)


def shear(degrees: float, shape: Shape) -> np.ndarray:
    """x-shear: each row moves sideways by tan(angle) times its distance from the centre row."""
    return _about_centre(np.array([[1.0, math.tan(math.radians(degrees))], [0.0, 1.0]]), shape)


def translate(x_fraction: float, y_fraction: float, shape: Shape) -> np.ndarray:
    m = np.eye(3)
    m[0, 2], m[1, 2] = x_fraction * shape[1], y_fraction * shape[0]
    return m


def hflip(shape: Shape) -> np.ndarray:
    return np.array([[-1.0, 0, shape[1] - 1], [0, 1, 0], [0, 0, 1]])


def vflip(shape: Shape) -> np.ndarray:
    return np.array([[1.0, 0, 0], [0, -1, shape[0] - 1], [0, 0, 1]])


def compose(matrices: list[np.ndarray]) -> np.ndarray:
    """One matrix doing ``matrices[0]`` first, then ``matrices[1]``, and so on."""
    out = np.eye(3)
    for m in matrices:
        out = m @ out
    return out


def warp_image(
    image: np.ndarray, m: np.ndarray, interpolation: str, border: str, fill: tuple[float, ...]
) -> np.ndarray:
    """Resample an image once with the recipe's interpolation.

    OpenCV warps at most 4 channels at a time (and a border value has 4 entries), so wider images
    are warped in groups of 4 channels with the same matrix.

    Args:
        image: (H, W) or (H, W, C) array.
        m: 3x3 source-to-output matrix.
        fill: border value per channel in the array's own channel order (one value: all channels).
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    fill = fill * channels if len(fill) == 1 else fill
    if channels <= 4:
        return _warp(image, m, INTERPOLATION_FLAGS[interpolation], border, fill)
    groups = [
        _warp(np.ascontiguousarray(image[:, :, i : i + 4]), m, INTERPOLATION_FLAGS[interpolation], border,
              fill[i : i + 4])
        for i in range(0, channels, 4)
    ]
    return np.dstack([g if g.ndim == 3 else g[:, :, None] for g in groups])


def warp_mask(mask: np.ndarray, m: np.ndarray, border: str, fill: int | tuple[int, ...]) -> np.ndarray:
    """Resample a label mask once, always nearest-neighbour: a label is copied, never blended.

    There is deliberately no interpolation parameter: nothing can send a mask through a blending path.

    Args:
        mask: (H, W) uint8/uint16 labels, or (H, W, 3) class colours.
        fill: the label (or colour, in the array's channel order) of uncovered pixels.
    """
    fill = (fill,) * 4 if isinstance(fill, int) else tuple(fill)
    return _warp(mask, m, cv2.INTER_NEAREST, border, fill)


def _warp(array: np.ndarray, m: np.ndarray, flags: int, border: str, fill: tuple[float, ...]) -> np.ndarray:
    h, w = array.shape[:2]
    return cv2.warpAffine(array, m[:2], (w, h), flags=flags, borderMode=BORDER_FLAGS[border],
                          borderValue=tuple(fill) + (0,) * (4 - len(fill)))
