"""Image-only ops that are not lookup tables: hsv, blur, noise, clahe, jpeg.

hsv is pointwise and runs on the source before resampling; the neighbourhood and noise ops run on
the output, where the camera would.
"""

from __future__ import annotations

from .spec import ParamSpec, PhotometricOp, Range, Sampled, Whole, uniform

ORDER = 50  # after the tone ops

# transforms.photometric is imported inside each builder: it loads OpenCV, which `segaug validate` never needs.


def _hsv(d: Sampled):
    from ..transforms import photometric

    return lambda img: photometric.hsv(img, d.value("hue"), d.value("saturation"), d.value("value"))


def _blur(d: Sampled):
    from ..transforms import photometric

    return lambda img: photometric.blur(img, d.value("sigma"))


def _noise(d: Sampled):
    from ..transforms import photometric

    def add(img):
        channels = 1 if img.ndim == 2 else img.shape[2]
        return photometric.add_noise(img, d.normal_noise((*img.shape[:2], channels)), d.value("sigma"))

    return add


def _clahe(d: Sampled):
    from ..transforms import photometric

    return lambda img: photometric.clahe(img, d.value("clip_limit"), d.setting("tiles"))


def _jpeg(d: Sampled):
    from ..transforms import photometric

    return lambda img: photometric.jpeg(img, d.value("quality"))


OPS = (
    PhotometricOp(
        name="hsv",
        doc="shift hue (degrees) and add to saturation and value (fractions of full scale); image only",
        params={
            "hue": ParamSpec(Range(-10, 10), -180, 180, unit="degrees"),
            "saturation": ParamSpec(Range(-0.1, 0.1), -1, 1),
            "value": ParamSpec(Range(-0.1, 0.1), -1, 1),
        },
        draw=uniform("hue", "saturation", "value"),
        on_source=_hsv,
    ),
    PhotometricOp(
        name="blur",
        doc="Gaussian blur; image only",
        params={"sigma": ParamSpec(Range(0.5, 1.5), 0, 50, unit="pixels")},
        draw=uniform("sigma"),
        on_output=_blur,
    ),
    PhotometricOp(
        name="noise",
        doc="add Gaussian noise of sigma x full scale, per pixel and channel; image only",
        params={"sigma": ParamSpec(Range(0.0, 0.03), 0, 1)},
        draw=uniform("sigma", seed=True),
        on_output=_noise,
    ),
    PhotometricOp(
        name="clahe",
        doc="contrast-limited adaptive histogram equalisation on tiles x tiles tiles; image only",
        params={"clip_limit": ParamSpec(Range(1, 4), 0, 100, open_lo=True)},
        settings={"tiles": Whole(default=8, lo=1, hi=64)},
        draw=uniform("clip_limit"),
        on_output=_clahe,
    ),
    PhotometricOp(
        name="jpeg",
        doc="JPEG compression artefacts at a quality from 1 to 100; image only",
        params={"quality": ParamSpec(Range(50, 95), 1, 100, integer=True)},
        draw=uniform("quality"),
        on_output=_jpeg,
        headline=lambda d: f"jpeg q={d.value('quality')}",
    ),
)
