"""Ops that bend the frame: perspective (a 3x3 homography), elastic and grid_distortion (displacement fields)."""

from __future__ import annotations

from .spec import Configured, Frame, GeometricOp, ParamSpec, Range, Resolved, Sampled, Values, Whole, uniform

ORDER = 30  # after the framing ops

# NumPy and transforms (OpenCV) are imported inside the functions: `segaug validate` never needs them.


def _draw_perspective(op: Configured, rng) -> Values:
    r = op.range("scale")
    scale = float(rng.uniform(r.lo, r.hi))
    return (("scale", scale), ("_shifts", rng.uniform(-1, 1, (4, 2)).tolist()))


def _perspective(d: Sampled, frame: Frame) -> Resolved:
    import numpy as np

    from ..transforms import geometric

    h, w = frame.shape
    shifts = np.asarray(d.value("_shifts")) * d.value("scale") * np.array([w, h])
    m = geometric.perspective(shifts, (h, w))
    return m, (h, w), {"matrix": [float(x) for x in m.ravel()]}


def _elastic(d: Sampled, frame: Frame) -> Resolved:
    from ..transforms import fields

    shape = frame.shape
    noise = d.uniform_noise((2, *shape))
    return fields.elastic(noise[0], noise[1], d.value("alpha"), d.value("sigma")), shape, {}


def _draw_grid(op: Configured, rng) -> Values:
    r, steps = op.range("distort"), op.setting("steps")
    return (
        ("x_steps", (1 + rng.uniform(r.lo, r.hi, steps)).tolist()),
        ("y_steps", (1 + rng.uniform(r.lo, r.hi, steps)).tolist()),
    )


def _grid(d: Sampled, frame: Frame) -> Resolved:
    import numpy as np

    from ..transforms import fields

    shape = frame.shape
    return fields.grid_distortion(np.array(d.value("x_steps")), np.array(d.value("y_steps")), shape), shape, {}


OPS = (
    GeometricOp(
        name="perspective",
        doc="move each corner by up to scale x the size, drawn separately; a 3x3 homography",
        params={"scale": ParamSpec(Range(0.05, 0.1), 0, 0.5)},
        draw=_draw_perspective,
        resolve=_perspective,
    ),
    GeometricOp(
        name="elastic",
        doc="smooth random displacement: alpha is its RMS size in pixels, sigma its smoothness in pixels",
        params={
            "alpha": ParamSpec(Range(2, 6), 0, 1000, unit="pixels"),
            "sigma": ParamSpec(Range(8, 12), 0, 1000, open_lo=True, unit="pixels"),
        },
        draw=uniform("alpha", "sigma", seed=True),
        resolve=_elastic,
    ),
    GeometricOp(
        name="grid_distortion",
        doc="stretch or squeeze each of steps x steps grid cells by 1 + distort",
        params={"distort": ParamSpec(Range(-0.3, 0.3), -0.9, 0.9)},
        settings={"steps": Whole(default=5, lo=1, hi=64)},
        draw=_draw_grid,
        resolve=_grid,
    ),
)
