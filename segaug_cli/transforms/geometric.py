"""Affine matrices about pixel centres, and the single warp of each target.

Convention, stated once: matrices are 3x3 float64 in homogeneous (x, y, 1) pixel coordinates, x to the
right and y down, mapping SOURCE pixels to OUTPUT pixels (what ``cv2.warpAffine`` takes without
``WARP_INVERSE_MAP``). Pixel centres are the reference, so the centre of an (H, W) image is
((W - 1) / 2, (H - 1) / 2) and a horizontal flip maps column x to W - 1 - x exactly.

Every matrix is built with ``exact``'s arithmetic, so its bits (and the manifest's digits) are the same
on every CPU. This module imports nothing from segaug outside ``transforms``: it never sees paths, YAML or
recipes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import exact

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
    return exact.matmul(exact.matmul(back, m), to_origin)


def identity() -> np.ndarray:
    return np.eye(3)


def rotate(degrees: float, shape: Shape) -> np.ndarray:
    """Counter-clockwise rotation as seen on screen (y down), like ``cv2.getRotationMatrix2D``."""
    s, c = exact.sin_cos_degrees(degrees)
    return _about_centre(np.array([[c, s], [-s, c]]), shape)


def scale(factor: float, shape: Shape) -> np.ndarray:
    return _about_centre(np.array([[factor, 0.0], [0.0, factor]]), shape)


def shear(degrees: float, shape: Shape) -> np.ndarray:
    """x-shear: each row moves sideways by tan(angle) times its distance from the centre row."""
    return _about_centre(np.array([[1.0, exact.tan_degrees(degrees)], [0.0, 1.0]]), shape)


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
        out = exact.matmul(m, out)
    return out


def warp_image(
    image: np.ndarray, m: np.ndarray, interpolation: str, border: str, fill: tuple[float, ...]
) -> np.ndarray:
    """Resample an image once at its own size with the recipe's interpolation (see ``resample_image``).

    Args:
        image: (H, W) or (H, W, C) array.
        m: 3x3 source-to-output matrix.
        fill: border value per channel in the array's own channel order (one value: all channels).
    """
    return resample_image(image, Resampling(image.shape[:2], m), interpolation, border, fill)


def warp_mask(mask: np.ndarray, m: np.ndarray, border: str, fill: int | tuple[int, ...]) -> np.ndarray:
    """Resample a label mask once at its own size, always nearest-neighbour: a label is copied, never blended.

    There is deliberately no interpolation parameter: nothing can send a mask through a blending path.

    Args:
        mask: (H, W) uint8/uint16 labels, or (H, W, 3) class colours.
        fill: the label (or colour, in the array's channel order) of uncovered pixels.
    """
    return resample_mask(mask, Resampling(mask.shape[:2], m), border, fill)


def _reflect_safe(array: np.ndarray, border: str) -> np.ndarray:
    """Repeat a 1-pixel-thin axis to 2 pixels when reflecting; the result is the same, exactly.

    OpenCV's cubic warp loops forever on BORDER_REFLECT_101 when an axis has length 1 (opencv#29867).
    Reflection then repeats that one row/column anyway, so two identical copies sample the same values.
    """
    if border != "reflect" or min(array.shape[:2]) > 1:
        return array
    reps = (2 if array.shape[0] == 1 else 1, 2 if array.shape[1] == 1 else 1) + (1,) * (array.ndim - 2)
    return np.tile(array, reps)


# ---------------------------------------------------------------------------------------------
# Ops that change the output size, and projective ones. Each returns a 3x3 source-to-output matrix;
# the caller tracks the output shape.
# ---------------------------------------------------------------------------------------------


def resize(out_shape: Shape, shape: Shape) -> np.ndarray:
    """Stretch an (H, W) image to ``out_shape``, pixel areas to pixel areas (as ``cv2.resize`` does)."""
    sx, sy = out_shape[1] / shape[1], out_shape[0] / shape[0]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])


def crop_to(x0: float, y0: float, box: Shape, out_shape: Shape) -> np.ndarray:
    """Map the box of size ``box`` at (x0, y0) onto an image of ``out_shape`` (a crop, maybe resized)."""
    shift = np.array([[1.0, 0, -x0], [0, 1, -y0], [0, 0, 1]])
    return exact.matmul(resize(out_shape, box), shift)


def rot90(k: int, shape: Shape) -> np.ndarray:
    """k quarter turns counter-clockwise, as ``np.rot90``; odd k swaps width and height."""
    h, w = shape
    quarter = {
        0: [[1, 0, 0], [0, 1, 0]],
        1: [[0, 1, 0], [-1, 0, w - 1]],
        2: [[-1, 0, w - 1], [0, -1, h - 1]],
        3: [[0, -1, h - 1], [1, 0, 0]],
    }[k % 4]
    return np.vstack([np.array(quarter, dtype=np.float64), [0, 0, 1]])


def perspective(corner_shifts: np.ndarray, shape: Shape) -> np.ndarray:
    """The homography moving the four corner pixels by ``corner_shifts`` (4x2 pixels, TL TR BR BL)."""
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float32)
    return cv2.getPerspectiveTransform(corners, (corners + corner_shifts).astype(np.float32)).astype(np.float64)


def is_affine(m: np.ndarray) -> bool:
    # products of affine matrices keep an exact [0, 0, 1] last row; a tolerance only guards rounding
    return abs(m[2, 0]) < 1e-12 and abs(m[2, 1]) < 1e-12 and abs(m[2, 2] - 1) < 1e-12


# ---------------------------------------------------------------------------------------------
# Resampling with a shape change, a homography, or per-pixel maps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resampling:
    """Where each output pixel of one resampling reads its source: a 3x3 source-to-output ``matrix``, or
    ``maps`` (output pixel -> source x, y) when a displacement field is involved; and the output's shape."""

    shape: Shape
    matrix: np.ndarray | None = None
    maps: tuple[np.ndarray, np.ndarray] | None = None


def resample_image(
    image: np.ndarray, how: Resampling, interpolation: str, border: str, fill: tuple[float, ...]
) -> np.ndarray:
    """Resample an image once: by ``how.maps`` when given, else by ``how.matrix``.

    OpenCV warps at most 4 channels at a time (and a border value has 4 entries), so wider images
    are warped in groups of 4 channels with the same matrix or maps.
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    fill = fill * channels if len(fill) == 1 else fill
    flags = INTERPOLATION_FLAGS[interpolation]
    if channels <= 4:
        return _resample(image, how, flags, border, fill)
    groups = [
        _resample(np.ascontiguousarray(image[:, :, i : i + 4]), how, flags, border, fill[i : i + 4])
        for i in range(0, channels, 4)
    ]
    return np.dstack([g if g.ndim == 3 else g[:, :, None] for g in groups])


def resample_mask(mask: np.ndarray, how: Resampling, border: str, fill: int | tuple[int, ...]) -> np.ndarray:
    """Resample a mask once, nearest-neighbour (no interpolation parameter, as ``warp_mask``)."""
    fill = (fill,) * 4 if isinstance(fill, int) else tuple(fill)
    return _resample(mask, how, cv2.INTER_NEAREST, border, fill)


def _resample(array: np.ndarray, how: Resampling, flags: int, border: str, fill: tuple[float, ...]) -> np.ndarray:
    value = tuple(fill) + (0,) * (4 - len(fill))
    size = (how.shape[1], how.shape[0])
    array = _reflect_safe(array, border)
    if how.maps is not None:
        # remap has no INTER_AREA; linear is its closest equivalent for a smooth field
        flags = cv2.INTER_LINEAR if flags == cv2.INTER_AREA else flags
        return cv2.remap(array, how.maps[0], how.maps[1], flags, borderMode=BORDER_FLAGS[border], borderValue=value)
    m = how.matrix
    if is_affine(m):
        return cv2.warpAffine(array, m[:2], size, flags=flags, borderMode=BORDER_FLAGS[border], borderValue=value)
    return cv2.warpPerspective(array, m, size, flags=flags, borderMode=BORDER_FLAGS[border], borderValue=value)
