"""One sample, arrays in and arrays out: draws -> one resampling plan -> one resampling per target.

``plan_sample`` turns a sample's draws into pixels: every geometric op becomes a stage (a 3x3
homography, or a displacement field), adjacent homographies are multiplied into one, and each
target is then resampled ONCE: ``warpAffine`` for an affine chain, ``warpPerspective`` for a
projective one, a single ``remap`` with composed maps when a field is involved. Masks always go
nearest-neighbour. No I/O and no randomness here (random fields come from ``sampling`` by seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PairError
from .recipe import Recipe, Target
from .sampling import CROP_TRIES, Draw, applied_leaves, normal_field, uniform_field
from .transforms import fields, geometric, photometric

Shape = tuple[int, int]
Stage = np.ndarray | fields.Field


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
            self.stages[-1] = stage @ self.stages[-1]  # adjacent homographies compose into one
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

    def _maps(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None if self.matrix is not None else fields.compose_maps(self.stages, self.shape)

    def image(self, image: np.ndarray, interpolation: str, border: str, fill: tuple[float, ...]) -> np.ndarray:
        return geometric.resample_image(image, self.matrix, self.shape, interpolation, border, fill, self._maps())

    def mask(self, mask: np.ndarray, border: str, fill: int | tuple[int, ...]) -> np.ndarray:
        return geometric.resample_mask(mask, self.matrix, self.shape, border, fill, self._maps())


@dataclass
class _Context:
    """What a geometric op may look at while it is resolved: the shape so far, and the mask."""

    geometry: Geometry
    mask: np.ndarray
    border: str
    mask_fill: int | tuple[int, ...]

    def mask_in_frame(self, outside: int) -> np.ndarray:
        """The source labels as they stand at this point of the chain (``outside`` where uncovered)."""
        return self.geometry.mask(self.mask, "constant", outside)


Resolved = tuple[Stage, Shape, dict[str, Any]]


def _affine(build: Callable[[Draw, Shape], np.ndarray]) -> Callable[[Draw, _Context], Resolved]:
    return lambda d, ctx: (build(d, ctx.geometry.shape), ctx.geometry.shape, {})


def _resize(d: Draw, ctx: _Context) -> Resolved:
    size = tuple(d.setting("size"))
    return geometric.resize(size, ctx.geometry.shape), size, {}


def _pad(d: Draw, ctx: _Context) -> Resolved:
    h, w = ctx.geometry.shape
    size, multiple = d.setting("size"), d.setting("multiple")
    th, tw = (max(h, size[0]), max(w, size[1])) if size else (h, w)
    if multiple or not size:
        m = multiple or 32
        th, tw = -(-th // m) * m, -(-tw // m) * m
    dx, dy = (tw - w) // 2, (th - h) // 2
    # a whole-pixel shift, written exactly (dx / w * w is not always dx in floating point)
    return geometric.crop_to(-dx, -dy, (h, w), (h, w)), (th, tw), {"top": dy, "left": dx}


def _offset(fraction: float, slack: int, lo: int | None = None, hi: int | None = None) -> int:
    """A window offset from a fraction: anywhere in [min(0, slack), max(0, slack)], within [lo, hi]."""
    first, last = min(0, slack), max(0, slack)
    if lo is not None:
        first, last = max(first, lo), min(last, hi)
        if first > last:
            first = last = min(max(lo, min(0, slack)), max(0, slack))
    return first + min(int(fraction * (last - first + 1)), last - first)


def _crop(d: Draw, ctx: _Context) -> Resolved:
    h, w = ctx.geometry.shape
    ch, cw = d.setting("size")
    classes, cap, ignore = d.setting("classes"), d.setting("max_class_share"), d.setting("ignore")
    needs_mask = (classes or cap < 1) and ctx.mask.ndim == 2
    frame = ctx.mask_in_frame(ignore if ignore is not None else 0) if needs_mask else None
    anchor = _pick_pixel(frame, classes, d.value("_pick")) if needs_mask and classes else None
    candidates = [(d.value("x"), d.value("y"))] + ([tuple(t) for t in d.value("_tries")] if cap < 1 else [])
    windows = [_window(u, v, (h, w), (ch, cw), anchor) for u, v in candidates]
    if needs_mask and cap < 1:
        shares = [_max_share(frame, x0, y0, (ch, cw), ignore) for x0, y0 in windows]
        ok = [i for i, share in enumerate(shares) if share <= cap]
        chosen = windows[ok[0] if ok else int(np.argmin(shares))]
    else:
        chosen = windows[0]
    x0, y0 = chosen
    return geometric.crop_to(x0, y0, (ch, cw), (ch, cw)), (ch, cw), {"left": x0, "top": y0}


def _window(u: float, v: float, shape: Shape, box: Shape, anchor: tuple[int, int] | None) -> tuple[int, int]:
    (h, w), (ch, cw) = shape, box
    if anchor is None:
        return _offset(u, w - cw), _offset(v, h - ch)
    ax, ay = anchor  # the window must contain this pixel
    return _offset(u, w - cw, ax - cw + 1, ax), _offset(v, h - ch, ay - ch + 1, ay)


def _pick_pixel(frame: np.ndarray, classes: Sequence[int], u: float) -> tuple[int, int] | None:
    ys, xs = np.nonzero(np.isin(frame, classes))
    if not len(xs):
        return None
    i = min(int(u * len(xs)), len(xs) - 1)
    return int(xs[i]), int(ys[i])


def _max_share(frame: np.ndarray, x0: int, y0: int, box: Shape, ignore: int | None) -> float:
    h, w = frame.shape
    window = frame[max(0, y0):min(h, y0 + box[0]), max(0, x0):min(w, x0 + box[1])].ravel()
    if ignore is not None:
        window = window[window != ignore]
    if not window.size:
        return 1.0
    return float(np.bincount(window).max() / window.size)


def _resized_crop(d: Draw, ctx: _Context) -> Resolved:
    h, w = ctx.geometry.shape
    size = tuple(d.setting("size"))
    for area, log_aspect, u, v in d.value("_tries")[:CROP_TRIES]:
        target, aspect = area * h * w, float(np.exp(log_aspect))
        fw, fh = np.sqrt(target * aspect), np.sqrt(target / aspect)
        if not (fw < w + 1 and fh < h + 1):  # also an aspect so extreme that a side is infinite
            continue
        cw, ch = round(fw), round(fh)
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = _offset(u, w - cw), _offset(v, h - ch)
            break
    else:  # no candidate fits (an extreme aspect range): the whole frame, as torchvision falls back to
        ch, cw = h, w
        x0, y0 = 0, 0
    details = {"left": x0, "top": y0, "width": cw, "height": ch}
    return geometric.crop_to(x0, y0, (ch, cw), size), size, details


def _rot90(d: Draw, ctx: _Context) -> Resolved:
    h, w = ctx.geometry.shape
    k = d.value("k") % 4
    return geometric.rot90(k, (h, w)), ((w, h) if k % 2 else (h, w)), {}


def _perspective(d: Draw, ctx: _Context) -> Resolved:
    h, w = ctx.geometry.shape
    shifts = np.asarray(d.value("_shifts")) * d.value("scale") * np.array([w, h])
    m = geometric.perspective(shifts, (h, w))
    return m, (h, w), {"matrix": [float(x) for x in m.ravel()]}


def _elastic(d: Draw, ctx: _Context) -> Resolved:
    shape = ctx.geometry.shape
    noise = uniform_field(d.value("seed"), (2, *shape))
    return fields.elastic(noise[0], noise[1], d.value("alpha"), d.value("sigma")), shape, {}


def _grid(d: Draw, ctx: _Context) -> Resolved:
    shape = ctx.geometry.shape
    return fields.grid_distortion(np.array(d.value("x_steps")), np.array(d.value("y_steps")), shape), shape, {}


_GEOMETRIC: dict[str, Callable[[Draw, _Context], Resolved]] = {
    "rotate": _affine(lambda d, shape: geometric.rotate(d.value("degrees"), shape)),
    "scale": _affine(lambda d, shape: geometric.scale(d.value("factor"), shape)),
    "shear": _affine(lambda d, shape: geometric.shear(d.value("degrees"), shape)),
    "translate": _affine(lambda d, shape: geometric.translate(d.value("x"), d.value("y"), shape)),
    "hflip": _affine(lambda d, shape: geometric.hflip(shape)),
    "vflip": _affine(lambda d, shape: geometric.vflip(shape)),
    "resize": _resize,
    "pad": _pad,
    "crop": _crop,
    "random_resized_crop": _resized_crop,
    "rot90": _rot90,
    "perspective": _perspective,
    "elastic": _elastic,
    "grid_distortion": _grid,
}

# ---------------------------------------------------------------------------------------------
# Photometric ops: pointwise ones run on the source before resampling (so the border fill stays
# exactly image_fill); neighbourhood and noise ops run on the output, where the camera would.
# ---------------------------------------------------------------------------------------------

ImageOp = Callable[[np.ndarray], np.ndarray]

_INTENSITY_STEPS: dict[str, Callable[[Draw], photometric.Step]] = {
    "brightness": lambda d: photometric.brightness(d.value("delta")),
    "contrast": lambda d: photometric.contrast(d.value("factor")),
    "gamma": lambda d: photometric.gamma(d.value("gamma")),
}
_BEFORE: dict[str, Callable[[Draw], ImageOp]] = {
    "hsv": lambda d: lambda img: photometric.hsv(img, d.value("hue"), d.value("saturation"), d.value("value")),
}
_AFTER: dict[str, Callable[[Draw], ImageOp]] = {
    "blur": lambda d: lambda img: photometric.blur(img, d.value("sigma")),
    "noise": lambda d: lambda img: photometric.add_noise(
        img, normal_field(d.value("seed"), (*img.shape[:2], 1 if img.ndim == 2 else img.shape[2])),
        d.value("sigma")),
    "clahe": lambda d: lambda img: photometric.clahe(img, d.value("clip_limit"), d.setting("tiles")),
    "jpeg": lambda d: lambda img: photometric.jpeg(img, d.value("quality")),
}


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
    """Resolve a sample's draws against its source mask's size (and labels, for class-aware crops)."""
    plan = Plan(Geometry(mask.shape[:2]))
    ctx = _Context(plan.geometry, mask, recipe.border.mode, recipe.border.mask_fill)
    for label, d in applied_leaves(draws):
        if d.name in _GEOMETRIC:
            stage, shape, details = _GEOMETRIC[d.name](d, ctx)
            plan.geometry.then(stage, shape)
            if details:
                plan.resolved[label] = details
        elif d.name in _INTENSITY_STEPS:
            plan.before.append(_INTENSITY_STEPS[d.name](d))
        elif d.name in _BEFORE:
            plan.before.append(_BEFORE[d.name](d))
        elif d.name in _AFTER:
            plan.after.append(_AFTER[d.name](d))
    return plan


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray
    mask: np.ndarray
    targets: tuple[np.ndarray, ...]
    matrix: np.ndarray | None  # 3x3 source-to-output, None when a displacement field is involved
    resolved: dict[str, dict[str, Any]]


def render(image: np.ndarray, mask: np.ndarray, draws: tuple[Draw, ...], recipe: Recipe,
           targets: Sequence[tuple[np.ndarray, Target]] = ()) -> Rendered:
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
        plan.geometry.mask(array, border, int(_target_fill(array, t))) if t.kind == "label"
        else plan.geometry.image(array, "linear", border, (_target_fill(array, t),))
        for array, t in targets
    )
    return Rendered(out_image, out_mask, out_targets, plan.geometry.matrix, plan.resolved)


def augment(image: np.ndarray, mask: np.ndarray, draws: tuple[Draw, ...],
            recipe: Recipe) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
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
            raise PairError(f"targets[{target.name}].fill {target.fill:g} does not fit in this "
                            f"{array.dtype} map ({lo} to {hi})")
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
