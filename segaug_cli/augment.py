"""One sample, arrays in and arrays out: draws -> one resampling plan -> one resampling per target.

``plan_sample`` turns a sample's draws into pixels: every geometric op becomes a stage (a 3x3
homography, or a displacement field), adjacent homographies are multiplied into one, and each
target is then resampled ONCE: ``warpAffine`` for an affine chain, ``warpPerspective`` for a
projective one, a single ``remap`` with composed maps when a field is involved. Masks always go
nearest-neighbour. What each op contributes comes from its record in ``segaug_cli.ops``. No I/O
and no randomness here (random fields come from ``sampling`` by seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import cpu
from .errors import PairError
from .ops.spec import GeometricOp, GroupOp, PhotometricOp
from .recipe import Recipe, Target, spec_of
from .sampling import Draw, applied_leaves
from .transforms import exact, fields, geometric, photometric

Shape = tuple[int, int]
Stage = np.ndarray | fields.Field

cpu.require_pinned()  # every render goes through this module: refuse OpenCV kernels that vary by CPU


# ---------------------------------------------------------------------------------------------
# Geometry of one sample
# ---------------------------------------------------------------------------------------------


@dataclass
class Geometry:
    """The resampling of one sample: stages from source to output, and the output shape."""

    shape: Shape
    stages: list[Stage] = field(default_factory=list)

    def then(self, stage: Stage, shape: Shape) -> None:
        if isinstance(stage, np.ndarray) and self.stages and isinstance(self.stages[-1], np.ndarray):
            self.stages[-1] = exact.matmul(stage, self.stages[-1])  # adjacent homographies compose into one
        else:
            self.stages.append(stage)
        self.shape = shape

    @property
    def matrix(self) -> np.ndarray | None:
        """The single 3x3 source-to-output matrix, or None when a displacement field is involved."""
        if not self.stages:
            return np.eye(3)
        if len(self.stages) == 1 and isinstance(self.stages[0], np.ndarray):
            return self.stages[0]
        return None

    def _resampling(self) -> geometric.Resampling:
        matrix = self.matrix
        maps = None if matrix is not None else fields.compose_maps(self.stages, self.shape)
        return geometric.Resampling(self.shape, matrix, maps)

    def image(self, image: np.ndarray, interpolation: str, border: str, fill: tuple[float, ...]) -> np.ndarray:
        return geometric.resample_image(image, self._resampling(), interpolation, border, fill)

    def mask(self, mask: np.ndarray, border: str, fill: int | tuple[int, ...]) -> np.ndarray:
        return geometric.resample_mask(mask, self._resampling(), border, fill)


@dataclass
class _Context:
    """What a geometric op may look at while it is resolved: the shape so far, and the mask (``ops.spec.Frame``)."""

    geometry: Geometry
    mask: np.ndarray

    @property
    def shape(self) -> Shape:
        return self.geometry.shape

    def mask_in_frame(self, outside: int) -> np.ndarray:
        """The source labels as they stand at this point of the chain (``outside`` where uncovered)."""
        return self.geometry.mask(self.mask, "constant", outside)


# ---------------------------------------------------------------------------------------------
# Photometric ops: pointwise ones run on the source before resampling (so the border fill stays
# exactly image_fill); neighbourhood and noise ops run on the output, where the camera would.
# ---------------------------------------------------------------------------------------------

ImageOp = Callable[[np.ndarray], np.ndarray]


def _tone(image: np.ndarray, ops: list[photometric.Step | ImageOp]) -> np.ndarray:
    """Apply pointwise ops in order, chaining consecutive lookup-table steps into one table."""
    steps: list[photometric.Step] = []
    for op in ops + [None]:
        if isinstance(op, photometric.Step):
            steps.append(op)
            continue
        image, steps = photometric.apply(image, steps), []
        if op is not None:
            image = op(image)
    return image


# ---------------------------------------------------------------------------------------------
# Planning and rendering
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    geometry: Geometry
    before: list = field(default_factory=list)  # pointwise image ops, in recipe order
    after: list[ImageOp] = field(default_factory=list)
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)  # by manifest label


def plan_sample(draws: tuple[Draw, ...], mask: np.ndarray, recipe: Recipe) -> Plan:
    """Resolve a sample's draws against its source mask's size (and labels, for class-aware crops).

    Raises:
        LookupError: a draw names an op the registry does not know.
    """
    plan = Plan(Geometry(mask.shape[:2]))
    ctx = _Context(plan.geometry, mask)
    for label, d in applied_leaves(draws):
        _add(plan, ctx, label, d)
    return plan


def _add(plan: Plan, ctx: _Context, label: str, d: Draw) -> None:
    """One applied op into the plan: a resampling stage, or an image function before or after it."""
    spec = spec_of(d.name)
    if isinstance(spec, GeometricOp):
        stage, shape, details = spec.stage(d, ctx)
        plan.geometry.then(stage, shape)
        if details:
            plan.resolved[label] = details
    elif isinstance(spec, PhotometricOp):
        if spec.on_source is not None:
            plan.before.append(spec.on_source(d))
        else:
            plan.after.append(spec.on_output(d))
    elif not isinstance(spec, GroupOp):  # a group's members come through on their own
        raise TypeError(f"op {d.name!r}: augment cannot apply a {type(spec).__name__}")


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray
    mask: np.ndarray
    targets: tuple[np.ndarray, ...]
    matrix: np.ndarray | None  # 3x3 source-to-output, None when a displacement field is involved
    resolved: dict[str, dict[str, Any]]


def render(
    image: np.ndarray,
    mask: np.ndarray,
    draws: tuple[Draw, ...],
    recipe: Recipe,
    targets: Sequence[tuple[np.ndarray, Target]] = (),
) -> Rendered:
    """Augment one image, its mask and any extra targets with one shared geometry.

    Args:
        image: (H, W) or (H, W, C) uint8/uint16/float32 image in OpenCV channel order (BGR[A]).
        mask: (H, W) uint8/uint16 labels, or (H, W, 3) class colours, of the same height and width.
        targets: extra (H, W) maps with their recipe entries: label maps go nearest, continuous linear.
    Raises:
        PairError: the recipe's fills do not fit this pair.
    """
    plan = plan_sample(draws, mask, recipe)
    border = recipe.border.mode
    toned = _tone(image, plan.before)
    image_fill = image_fill_for(image, recipe.border.image_fill)
    out_image = plan.geometry.image(toned, recipe.interpolation, border, image_fill)
    for op in plan.after:
        out_image = op(out_image)
    out_mask = plan.geometry.mask(mask, border, mask_fill_for(mask, recipe.border.mask_fill))
    out_targets = tuple(
        plan.geometry.mask(array, border, int(_target_fill(array, t)))
        if t.kind == "label"
        else plan.geometry.image(array, "linear", border, (_target_fill(array, t),))
        for array, t in targets
    )
    return Rendered(out_image, out_mask, out_targets, plan.geometry.matrix, plan.resolved)


def augment(
    image: np.ndarray, mask: np.ndarray, draws: tuple[Draw, ...], recipe: Recipe
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Augment one image/mask pair: (image, mask, 3x3 matrix or None when non-affine fields apply)."""
    out = render(image, mask, draws, recipe)
    return out.image, out.mask, out.matrix


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


def _target_fill(array: np.ndarray, target: Target) -> float:
    """A target's fill, refused when its integer dtype cannot hold it (OpenCV would saturate it silently)."""
    if np.issubdtype(array.dtype, np.integer):
        lo, hi = np.iinfo(array.dtype).min, np.iinfo(array.dtype).max
        if not lo <= target.fill <= hi:
            raise PairError(
                f"targets[{target.name}].fill {target.fill:g} does not fit in this {array.dtype} map ({lo} to {hi})"
            )
    return target.fill


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
