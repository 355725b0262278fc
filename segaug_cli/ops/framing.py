"""Ops that change the frame: resize, pad, crop, random_resized_crop, rot90.

Their draws are context-free (a crop's position as fractions of the slack); the resolvers turn
them into pixels once the size so far, and for class-aware crops the mask, are known.
"""

from __future__ import annotations

from collections.abc import Sequence

from .spec import (
    Configured,
    Frame,
    GeometricOp,
    Labels,
    ParamSpec,
    Range,
    Resolved,
    Sampled,
    Shape,
    Share,
    Size,
    Values,
    Whole,
    WholeSet,
    uniform,
)

ORDER = 20  # after the affine ops
CROP_TRIES = 10  # candidate windows for random_resized_crop, and for crop with max_class_share
_SIZE = (256, 256)  # the default output size of resize and the crops

# NumPy and transforms.geometric (OpenCV) are imported inside the functions: `segaug validate` reads
# these records and never needs either.


# ---------------------------------------------------------------------------------------------
# resize, pad
# ---------------------------------------------------------------------------------------------


def _resize(d: Sampled, frame: Frame) -> Resolved:
    from ..transforms import geometric

    size = tuple(d.setting("size"))
    return geometric.resize(size, frame.shape), size, {}


def _pad(d: Sampled, frame: Frame) -> Resolved:
    from ..transforms import geometric

    h, w = frame.shape
    size, multiple = d.setting("size"), d.setting("multiple")
    th, tw = (max(h, size[0]), max(w, size[1])) if size else (h, w)
    if multiple or not size:
        m = multiple or 32
        th, tw = -(-th // m) * m, -(-tw // m) * m
    dx, dy = (tw - w) // 2, (th - h) // 2
    # a whole-pixel shift, written exactly (dx / w * w is not always dx in floating point)
    return geometric.crop_to(-dx, -dy, (h, w), (h, w)), (th, tw), {"top": dy, "left": dx}


# ---------------------------------------------------------------------------------------------
# crop
# ---------------------------------------------------------------------------------------------


def _draw_crop(op: Configured, rng) -> Values:
    values: list[tuple[str, object]] = [
        ("x", float(rng.random())),
        ("y", float(rng.random())),
        ("_pick", float(rng.random())),
    ]
    if op.setting("max_class_share") < 1:
        values.append(("_tries", rng.random((CROP_TRIES - 1, 2)).tolist()))
    return tuple(values)


def _crop(d: Sampled, frame: Frame) -> Resolved:
    import numpy as np

    from ..transforms import geometric

    h, w = frame.shape
    ch, cw = d.setting("size")
    classes, cap, ignore = d.setting("classes"), d.setting("max_class_share"), d.setting("ignore")
    needs_mask = (classes or cap < 1) and frame.mask.ndim == 2
    labels = frame.mask_in_frame(ignore if ignore is not None else 0) if needs_mask else None
    anchor = _pick_pixel(labels, classes, d.value("_pick")) if needs_mask and classes else None
    candidates = [(d.value("x"), d.value("y"))] + ([tuple(t) for t in d.value("_tries")] if cap < 1 else [])
    windows = [_window(u, v, (h, w), (ch, cw), anchor) for u, v in candidates]
    if needs_mask and cap < 1:
        shares = [_max_share(labels, x0, y0, (ch, cw), ignore) for x0, y0 in windows]
        ok = [i for i, share in enumerate(shares) if share <= cap]
        chosen = windows[ok[0] if ok else int(np.argmin(shares))]
    else:
        chosen = windows[0]
    x0, y0 = chosen
    return geometric.crop_to(x0, y0, (ch, cw), (ch, cw)), (ch, cw), {"left": x0, "top": y0}


def _offset(fraction: float, slack: int, lo: int | None = None, hi: int | None = None) -> int:
    """A window offset from a fraction: anywhere in [min(0, slack), max(0, slack)], within [lo, hi]."""
    first, last = min(0, slack), max(0, slack)
    if lo is not None:
        first, last = max(first, lo), min(last, hi)
        if first > last:
            first = last = min(max(lo, min(0, slack)), max(0, slack))
    return first + min(int(fraction * (last - first + 1)), last - first)


def _window(u: float, v: float, shape: Shape, box: Shape, anchor: tuple[int, int] | None) -> tuple[int, int]:
    (h, w), (ch, cw) = shape, box
    if anchor is None:
        return _offset(u, w - cw), _offset(v, h - ch)
    ax, ay = anchor  # the window must contain this pixel
    return _offset(u, w - cw, ax - cw + 1, ax), _offset(v, h - ch, ay - ch + 1, ay)


def _pick_pixel(labels, classes: Sequence[int], u: float) -> tuple[int, int] | None:
    import numpy as np

    ys, xs = np.nonzero(np.isin(labels, classes))
    if not len(xs):
        return None
    i = min(int(u * len(xs)), len(xs) - 1)
    return int(xs[i]), int(ys[i])


def _max_share(labels, x0: int, y0: int, box: Shape, ignore: int | None) -> float:
    import numpy as np

    h, w = labels.shape
    window = labels[max(0, y0) : min(h, y0 + box[0]), max(0, x0) : min(w, x0 + box[1])].ravel()
    if ignore is not None:
        window = window[window != ignore]
    if not window.size:
        return 1.0
    return float(np.bincount(window).max() / window.size)


# ---------------------------------------------------------------------------------------------
# random_resized_crop, rot90
# ---------------------------------------------------------------------------------------------


def _draw_resized_crop(op: Configured, rng) -> Values:
    """torchvision's scheme: up to CROP_TRIES (area fraction, log aspect, x, y) candidates."""
    import numpy as np

    from ..transforms import exact

    area, aspect = op.range("area"), op.range("aspect")
    tries = np.column_stack(
        [
            rng.uniform(area.lo, area.hi, CROP_TRIES),
            rng.uniform(exact.log(aspect.lo), exact.log(aspect.hi), CROP_TRIES),
            rng.random((CROP_TRIES, 2)),
        ]
    )
    return (("_tries", tries.tolist()),)


def _resized_crop(d: Sampled, frame: Frame) -> Resolved:
    import numpy as np

    from ..transforms import exact, geometric

    h, w = frame.shape
    size = tuple(d.setting("size"))
    for area, log_aspect, u, v in d.value("_tries")[:CROP_TRIES]:
        target, aspect = area * h * w, exact.exp(log_aspect)
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


def _draw_rot90(op: Configured, rng) -> Values:
    choices = op.setting("k")
    return (("k", int(choices[int(rng.integers(len(choices)))])),)


def _rot90(d: Sampled, frame: Frame) -> Resolved:
    from ..transforms import geometric

    h, w = frame.shape
    k = d.value("k") % 4
    return geometric.rot90(k, (h, w)), ((w, h) if k % 2 else (h, w)), {}


OPS = (
    GeometricOp(
        name="resize",
        doc="stretch to size [height, width]",
        settings={"size": Size(default=_SIZE)},
        draw=uniform(),
        resolve=_resize,
    ),
    GeometricOp(
        name="pad",
        doc="pad to at least size [height, width] and/or up to a multiple (32 when neither is given), centred; "
        "new pixels get image_fill / mask_fill (or the border mode)",
        settings={"size": Size(optional=True), "multiple": Whole(lo=1, hi=4096, optional=True)},
        draw=uniform(),
        resolve=_pad,
    ),
    GeometricOp(
        name="crop",
        doc="random crop to size [height, width]; with classes, the window contains a random pixel of those "
        "classes when there is one; max_class_share retries crops where one class dominates",
        settings={
            "size": Size(default=_SIZE),
            "classes": Labels(default=()),
            "max_class_share": Share(default=1.0),
            "ignore": Whole(default=255, lo=0, hi=65535, optional=True),
        },
        draw=_draw_crop,
        resolve=_crop,
    ),
    GeometricOp(
        name="random_resized_crop",
        doc="crop a random area fraction and aspect ratio (width / height), resized to size",
        params={
            "area": ParamSpec(Range(0.08, 1.0), 0, 1, open_lo=True),
            "aspect": ParamSpec(Range(0.75, 4 / 3), 0, 100, open_lo=True),
        },
        settings={"size": Size(default=_SIZE)},
        draw=_draw_resized_crop,
        resolve=_resized_crop,
    ),
    GeometricOp(
        name="rot90",
        doc="k quarter turns counter-clockwise, k drawn from the list; odd k swaps width and height",
        settings={"k": WholeSet(default=(0, 1, 2, 3), lo=0, hi=3)},
        draw=_draw_rot90,
        resolve=_rot90,
        headline=lambda d: f"rot90 k={d.value('k')}",
    ),
)
