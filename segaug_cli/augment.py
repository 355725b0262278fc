"""One sample, arrays in and arrays out: sampled draws -> one matrix -> one warp per target.

No I/O and no randomness here; the engine and the tests call this with decoded arrays and the draws
that ``sampling`` made.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import PairError
from .recipe import Recipe
from .sampling import Draw
from .transforms import geometric, photometric

_MATRIX_BUILDERS: dict[str, Callable[[Draw, geometric.Shape], np.ndarray]] = {
    "rotate": lambda d, shape: geometric.rotate(d.value("degrees"), shape),
    "scale": lambda d, shape: geometric.scale(d.value("factor"), shape),
    "shear": lambda d, shape: geometric.shear(d.value("degrees"), shape),
    "translate": lambda d, shape: geometric.translate(d.value("x"), d.value("y"), shape),
    "hflip": lambda d, shape: geometric.hflip(shape),
    "vflip": lambda d, shape: geometric.vflip(shape),
}

_INTENSITY_STEPS: dict[str, Callable[[Draw], photometric.Step]] = {
    "brightness": lambda d: photometric.brightness(d.value("delta")),
    "contrast": lambda d: photometric.contrast(d.value("factor")),
    "gamma": lambda d: photometric.gamma(d.value("gamma")),
}


def sample_matrix(draws: tuple[Draw, ...], shape: geometric.Shape) -> np.ndarray:
    """The single 3x3 matrix of every applied geometric op, composed in recipe order."""
    return geometric.compose(
        [_MATRIX_BUILDERS[d.name](d, shape) for d in draws if d.applied and d.kind == "geometric"]
    )


def intensity_steps(draws: tuple[Draw, ...]) -> list[photometric.Step]:
    return [_INTENSITY_STEPS[d.name](d) for d in draws if d.applied and d.kind == "photometric"]


def augment(
    image: np.ndarray, mask: np.ndarray, draws: tuple[Draw, ...], recipe: Recipe
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Augment one image/mask pair.

    Photometric ops run on the source image before the warp, so the border fill stays exactly
    ``image_fill``; they commute with the warp everywhere else.

    Args:
        image: (H, W) or (H, W, C) uint8/uint16/float32 image in OpenCV channel order (BGR[A]).
        mask: (H, W) uint8/uint16 labels, or (H, W, 3) class colours, of the same height and width.
    Returns:
        (image, mask, matrix): the augmented arrays and the 3x3 source-to-output matrix.
    Raises:
        PairError: the recipe's fills do not fit this pair.
    """
    matrix = sample_matrix(draws, image.shape[:2])
    toned = photometric.apply(image, intensity_steps(draws))
    image_fill = image_fill_for(image, recipe.border.image_fill)
    mask_fill = mask_fill_for(mask, recipe.border.mask_fill)
    border = recipe.border.mode
    out_image = geometric.warp_image(toned, matrix, recipe.interpolation, border, image_fill)
    out_mask = geometric.warp_mask(mask, matrix, border, mask_fill)
    return out_image, out_mask, matrix


def image_fill_for(image: np.ndarray, fill: tuple[float, ...]) -> tuple[float, ...]:
    """The recipe's fill (one value, or one per channel in RGB[A] order) in the array's channel order."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    if len(fill) == 1:
        return fill
    if len(fill) != channels:
        raise PairError(f"border.image_fill has {len(fill)} values but the image has {channels} channel(s)")
    if channels in (3, 4):
        fill = (fill[2], fill[1], fill[0], *fill[3:])
    return fill


def mask_fill_for(mask: np.ndarray, fill: int | tuple[int, ...]) -> int | tuple[int, ...]:
    """The fill as the mask stores it: a label for label masks, a BGR colour for colour masks."""
    top = np.iinfo(mask.dtype).max
    if mask.ndim == 2:
        if not isinstance(fill, int):
            raise PairError(f"border.mask_fill is a colour {list(fill)} but the mask holds labels, not colours")
        if fill > top:
            raise PairError(f"border.mask_fill {fill} does not fit in this {mask.dtype} mask (max {top})")
        return fill
    colour = (fill, fill, fill) if isinstance(fill, int) else fill
    if max(colour) > top:
        raise PairError(f"border.mask_fill {fill} does not fit in this {mask.dtype} colour mask (max {top})")
    return (colour[2], colour[1], colour[0])
