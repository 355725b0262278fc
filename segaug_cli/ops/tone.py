"""Pointwise intensity ops: brightness, contrast, gamma. Image only.

Each builds a ``photometric.Step``; consecutive steps chain into one lookup table, applied to the
source before resampling so the border stays exactly ``image_fill``.
"""

from __future__ import annotations

from .spec import ParamSpec, PhotometricOp, Range, Sampled, uniform

ORDER = 40  # the first image-only family

# transforms.photometric is imported inside each builder: it loads OpenCV, which `segaug validate` never needs.


def _brightness(d: Sampled):
    from ..transforms import photometric

    return photometric.brightness(d.value("delta"))


def _contrast(d: Sampled):
    from ..transforms import photometric

    return photometric.contrast(d.value("factor"))


def _gamma(d: Sampled):
    from ..transforms import photometric

    return photometric.gamma(d.value("gamma"))


OPS = (
    PhotometricOp(
        name="brightness",
        doc="add a fraction of the dtype's full scale; image only",
        params={"range": ParamSpec(Range(-0.2, 0.2), -1, 1)},
        draw=uniform(delta="range"),
        on_source=_brightness,
    ),
    PhotometricOp(
        name="contrast",
        doc="scale the distance from the image mean; image only",
        params={"range": ParamSpec(Range(0.8, 1.2), 0, 10)},
        draw=uniform(factor="range"),
        on_source=_contrast,
    ),
    PhotometricOp(
        name="gamma",
        doc="out = full * (in / full) ** gamma; image only",
        params={"range": ParamSpec(Range(0.8, 1.2), 0, 10, open_lo=True)},
        draw=uniform(gamma="range"),
        on_source=_gamma,
    ),
)
