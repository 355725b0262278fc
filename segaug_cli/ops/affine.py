"""Affine ops that keep the frame: a 3x3 matrix each, about the pixel-centre reference."""

from __future__ import annotations

from .spec import GeometricOp, ParamSpec, Range, Sampled, Shape, uniform

ORDER = 10  # first in the docs table and in error messages

# transforms.geometric is imported inside each builder: it loads OpenCV, which `segaug validate` never needs.


def _rotate(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.rotate(d.value("degrees"), shape)


def _scale(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.scale(d.value("factor"), shape)


def _shear(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.shear(d.value("degrees"), shape)


def _translate(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.translate(d.value("x"), d.value("y"), shape)


def _hflip(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.hflip(shape)


def _vflip(d: Sampled, shape: Shape):
    from ..transforms import geometric

    return geometric.vflip(shape)


OPS = (
    GeometricOp(
        name="rotate",
        doc="rotation about the image centre, counter-clockwise positive",
        params={"degrees": ParamSpec(Range(-30, 30), -360, 360, unit="degrees")},
        draw=uniform("degrees"),
        matrix=_rotate,
        headline=lambda d: f"rotate {round(d.value('degrees')):+d}",  # whole degrees; never "-0"
    ),
    GeometricOp(
        name="scale",
        doc="isotropic zoom about the image centre (>1 enlarges)",
        # not below 0.01: a near-zero scale with a reflect border makes OpenCV crawl for minutes
        params={"range": ParamSpec(Range(0.8, 1.2), 0.01, 10)},
        draw=uniform(factor="range"),
        matrix=_scale,
        headline=lambda d: f"scale {d.value('factor'):.2f}",
    ),
    GeometricOp(
        name="shear",
        doc="x-shear about the image centre",
        params={"degrees": ParamSpec(Range(-10, 10), -80, 80, unit="degrees")},
        draw=uniform("degrees"),
        matrix=_shear,
        headline=lambda d: f"shear {round(d.value('degrees')):+d}",
    ),
    GeometricOp(
        name="translate",
        doc="shift by a fraction of width and of height, drawn separately",
        params={"fraction": ParamSpec(Range(-0.1, 0.1), -1, 1)},
        draw=uniform(x="fraction", y="fraction"),
        matrix=_translate,
    ),
    GeometricOp(name="hflip", doc="mirror left-right: column x goes to W-1-x", draw=uniform(), matrix=_hflip),
    GeometricOp(name="vflip", doc="mirror top-bottom: row y goes to H-1-y", draw=uniform(), matrix=_vflip),
)
