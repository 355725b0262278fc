"""Albumentations transforms -> segaug ops, one translator per transform, parameter by parameter.

A translator reads every argument ``A.save`` wrote for its transform and returns the segaug ops with
the same meaning, plus the recipe-wide settings the transform decides (image interpolation, border
mode and fills: one per transform in Albumentations, one per recipe in segaug). A value that segaug
cannot express exactly raises ``Untranslatable`` naming the argument; so does an argument the
translator does not know, since it might change the meaning. The values were read off the sources of
Albumentations 2.0.8 (what each argument does to the pixels) and are checked against the package by
tests/test_convert_albumentations.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .arguments import (
    INTER_NEAREST_EXACT,
    Args,
    Claim,
    Translation,
    Untranslatable,
    as_range,
    axes,
    border,
    clean,
    interpolation,
    mask_interpolation,
    resampling,
)
from .pipeline import Node

# ---------------------------------------------------------------------------------------------
# Geometric transforms
# ---------------------------------------------------------------------------------------------


def _flip(op: str) -> Callable[[Args], Translation]:
    return lambda args: Translation([{op: {}}])


def _random_rotate90(args: Args) -> Translation:
    return Translation([{"rot90": {"k": [0, 1, 2, 3]}}])  # randint(0, 3) quarter turns of np.rot90


def _rotate(args: Args) -> Translation:
    args.ignore("rotate_method")
    args.expect(
        "crop_border", False, "crops to the largest rectangle inside the rotated image; segaug has no such crop"
    )
    degrees = args.range("limit", "symmetric")
    return Translation([{"rotate": {"degrees": list(degrees)}}], resampling(args))


def _affine_ops(scale: tuple[float, float], degrees: tuple[float, float], shear: tuple[float, float]) -> list[dict]:
    """Albumentations builds T @ Shear @ Rotate @ Scale about the centre ((W-1)/2, (H-1)/2), as segaug does:
    scale first, then rotate, then shear (identity parts left out)."""
    ops: list[dict[str, Any]] = []
    if scale != (1.0, 1.0):
        ops.append({"scale": {"range": list(scale)}})
    if degrees != (0.0, 0.0):
        ops.append({"rotate": {"degrees": list(degrees)}})
    if shear != (0.0, 0.0):
        # Albumentations negates the drawn shear angle before taking its tangent (Affine._get_shear_params)
        ops.append({"shear": {"degrees": [-shear[1], -shear[0]]}})
    return ops


def _no_translation(args: Args, *keys: str) -> None:
    for key in keys:
        value = args.get(key, None)
        if value is None:
            continue
        x, y = _axes_of(value, key)
        if x != (0.0, 0.0) or y != (0.0, 0.0):
            raise Untranslatable(
                f"{key}: Albumentations shifts by whole pixels (int(fraction x size), or a whole number of "
                "pixels), segaug's translate by an exact fraction of the size; no exact equivalent"
            )


def _axes_of(value: Any, key: str) -> tuple[tuple[float, float], tuple[float, float]]:
    if isinstance(value, dict):
        return as_range(value.get("x", 0), f"{key}.x", "fixed"), as_range(value.get("y", 0), f"{key}.y", "fixed")
    both = as_range(value, key, "fixed")
    return both, both


def _isotropic(sx: tuple[float, float], sy: tuple[float, float], keep_ratio: bool, key: str) -> tuple[float, float]:
    if sx != sy:
        raise Untranslatable(f"{key}: x {list(sx)} and y {list(sy)} differ; segaug's scale is isotropic")
    if sx[0] != sx[1] and not keep_ratio:
        raise Untranslatable(
            f"{key}: with keep_ratio false Albumentations draws the x and y factors separately "
            "(an anisotropic zoom); segaug's scale is isotropic"
        )
    return sx


def _affine(args: Args) -> Translation:
    args.ignore("rotate_method")
    args.expect("fit_output", False, "resizes the output to hold the whole warped image; segaug keeps the frame")
    keep_ratio = bool(args.get("keep_ratio", False))
    sx, sy = axes(args, "scale")
    scale = _isotropic(sx, sy, keep_ratio, "scale")
    if args.get("balanced_scale", False) and scale != (1.0, 1.0):
        raise Untranslatable("balanced_scale: draws below or above 1 with equal chance; segaug draws uniformly")
    _no_translation(args, "translate_percent", "translate_px")
    shear_x, shear_y = axes(args, "shear")
    if shear_y != (0.0, 0.0):
        raise Untranslatable(f"shear: y shear {list(shear_y)}; segaug's shear is along x only")
    degrees = args.range("rotate", "fixed")
    return Translation(_affine_ops(scale, degrees, shear_x), resampling(args))


def _shift_scale_rotate(args: Args) -> Translation:
    args.ignore("rotate_method")
    for key in ("shift_limit_x", "shift_limit_y"):
        if args.range(key, "symmetric") != (0.0, 0.0):
            raise Untranslatable(
                f"{key}: Albumentations shifts by whole pixels (int(fraction x size)), segaug's translate by "
                "an exact fraction of the size; no exact equivalent"
            )
    lo, hi = args.range("scale_limit", "symmetric", bias=1.0)  # saved as the change from 1
    scale = _isotropic((lo, hi), (lo, hi), False, "scale_limit")
    degrees = args.range("rotate_limit", "symmetric")
    return Translation(_affine_ops(scale, degrees, (0.0, 0.0)), resampling(args))


def _random_crop(args: Args) -> Translation:
    args.expect("pad_if_needed", False, "pads small images before cropping; segaug's crop places them at random")
    args.ignore("pad_position", "border_mode", "fill", "fill_mask")  # read only when padding
    # both take the window's corner as int((size - crop + 1) * u), u uniform in [0, 1)
    return Translation([{"crop": {"size": [args.whole("height"), args.whole("width")]}}])


def _pad_if_needed(args: Args) -> Translation:
    args.expect("position", "center", "places the image off-centre; segaug's pad centres it")
    args.expect("padding", 0, "is not PadIfNeeded's own argument")
    sizes = (args.get("min_height", None), args.get("min_width", None))
    divisors = (args.get("pad_height_divisor", None), args.get("pad_width_divisor", None))
    if None not in sizes and divisors == (None, None):
        op = {"size": [int(sizes[0]), int(sizes[1])]}
    elif sizes == (None, None) and None not in divisors and divisors[0] == divisors[1]:
        op = {"multiple": int(divisors[0])}
    else:
        raise Untranslatable(
            f"min_height/min_width {list(sizes)}, pad_height_divisor/pad_width_divisor {list(divisors)}: "
            "segaug's pad takes a size for both sides or one multiple for both"
        )
    return Translation([{"pad": op}], border(args))


def _resize_settings(args: Args) -> list[Claim]:
    args.expect("area_for_downscale", None, "switches to INTER_AREA when shrinking; segaug keeps one interpolation")
    mask_interpolation(args, INTER_NEAREST_EXACT)
    return [interpolation(args)]


def _resize(args: Args) -> Translation:
    size = [args.whole("height"), args.whole("width")]
    return Translation([{"resize": {"size": size}}], _resize_settings(args))


def _random_resized_crop(args: Args) -> Translation:
    size = args.get("size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise Untranslatable(f"size: expected [height, width], got {size!r}")
    op = {
        "area": list(args.range("scale")),
        "aspect": list(args.range("ratio")),
        "size": [int(size[0]), int(size[1])],
    }
    return Translation([{"random_resized_crop": op}], _resize_settings(args))


# ---------------------------------------------------------------------------------------------
# Photometric transforms
# ---------------------------------------------------------------------------------------------


def _brightness_contrast(args: Args) -> Translation:
    if args.range("contrast_limit", "symmetric") != (0.0, 0.0):
        raise Untranslatable(
            "contrast_limit: Albumentations scales values about 0 (alpha x value), segaug's contrast about "
            "the image mean; no exact equivalent"
        )
    args.expect("brightness_by_max", True, "adds a fraction of the image mean; segaug adds a fraction of full scale")
    args.expect("ensure_safe_range", False, "narrows the drawn values per image; segaug draws them as given")
    lo, hi = args.range("brightness_limit", "symmetric")
    return Translation([{"brightness": {"range": [lo, hi]}}] if (lo, hi) != (0.0, 0.0) else [])


def _gamma(args: Args) -> Translation:
    lo, hi = args.range("gamma_limit")  # in percent: 80 is gamma 0.8, out = full * (in / full) ** gamma
    return Translation([{"gamma": {"range": [clean(lo / 100), clean(hi / 100)]}}])


def _hue_saturation_value(args: Args) -> Translation:
    hue = args.range("hue_shift_limit", "symmetric")
    sat = args.range("sat_shift_limit", "symmetric")
    val = args.range("val_shift_limit", "symmetric")
    # Albumentations works on 8-bit HSV (float images are converted): hue in OpenCV's 0..179 steps of
    # 2 degrees, saturation and value in 0..255; segaug takes degrees and fractions of full scale
    op = {
        "hue": [2 * hue[0], 2 * hue[1]],
        "saturation": [sat[0] / 255, sat[1] / 255],
        "value": [val[0] / 255, val[1] / 255],
    }
    return Translation([{"hsv": op}])


def _gaussian_blur(args: Args) -> Translation:
    if args.get("blur_limit") not in (0, [0, 0], (0, 0)):
        raise Untranslatable(
            f"blur_limit: {args.get('blur_limit')!r} draws the kernel size separately; segaug sizes the kernel "
            "from sigma (set blur_limit to 0)"
        )
    return Translation([{"blur": {"sigma": list(args.range("sigma_limit"))}}])


def _gauss_noise(args: Args) -> Translation:
    args.expect("mean_range", [0.0, 0.0], "shifts the noise mean; segaug's noise has mean 0")
    args.expect("per_channel", True, "adds the same noise to every channel; segaug draws it per channel")
    args.expect("noise_scale_factor", 1.0, "draws the noise at a lower resolution; segaug draws it per pixel")
    # std_range is a fraction of the dtype's maximum, as segaug's sigma
    return Translation([{"noise": {"sigma": list(args.range("std_range"))}}])


def _clahe(args: Args) -> Translation:
    clip = args.get("clip_limit")
    clip_range = (1.0, float(clip)) if isinstance(clip, (int, float)) else as_range(clip, "clip_limit", "refuse")
    tiles = args.get("tile_grid_size")
    if not (isinstance(tiles, (list, tuple)) and len(tiles) == 2 and tiles[0] == tiles[1]):
        raise Untranslatable(f"tile_grid_size: {tiles!r}; segaug's clahe takes a square grid")
    return Translation([{"clahe": {"clip_limit": list(clip_range), "tiles": int(tiles[0])}}])


def _image_compression(args: Args) -> Translation:
    args.expect("compression_type", "jpeg", "is not JPEG; segaug's jpeg op is JPEG only")
    lo, hi = args.range("quality_range")  # randint(lo, hi), both ends included, as segaug's whole-number draw
    return Translation([{"jpeg": {"quality": [int(lo), int(hi)]}}])


def _no_op(args: Args) -> Translation:
    return Translation()


@dataclass(frozen=True)
class Translator:
    """How one Albumentations transform becomes segaug ops.

    ``stage`` says where segaug applies its ops: ``geometric`` (one resampling), ``source`` (pointwise
    colour ops, on the source before resampling), ``output`` (blur, noise, CLAHE, JPEG: after resampling)
    or ``none``.
    """

    translate: Callable[[Args], Translation]
    stage: str


TRANSLATORS: dict[str, Translator] = {
    "HorizontalFlip": Translator(_flip("hflip"), "geometric"),
    "VerticalFlip": Translator(_flip("vflip"), "geometric"),
    "RandomRotate90": Translator(_random_rotate90, "geometric"),
    "Rotate": Translator(_rotate, "geometric"),
    "Affine": Translator(_affine, "geometric"),
    "ShiftScaleRotate": Translator(_shift_scale_rotate, "geometric"),
    "RandomCrop": Translator(_random_crop, "geometric"),
    "PadIfNeeded": Translator(_pad_if_needed, "geometric"),
    "Resize": Translator(_resize, "geometric"),
    "RandomResizedCrop": Translator(_random_resized_crop, "geometric"),
    "RandomBrightnessContrast": Translator(_brightness_contrast, "source"),
    "RandomGamma": Translator(_gamma, "source"),
    "HueSaturationValue": Translator(_hue_saturation_value, "source"),
    "GaussianBlur": Translator(_gaussian_blur, "output"),
    "GaussNoise": Translator(_gauss_noise, "output"),
    "CLAHE": Translator(_clahe, "output"),
    "ImageCompression": Translator(_image_compression, "output"),
    "NoOp": Translator(_no_op, "none"),
}


def translate(node: Node) -> Translation:
    """The segaug ops (without p) and recipe-wide settings of one non-group transform.

    Raises:
        Untranslatable: no segaug op has this meaning, or an argument cannot be expressed exactly.
    """
    translator = TRANSLATORS.get(node.name)
    if translator is None:
        raise Untranslatable("has no segaug equivalent")
    args = Args(node)
    try:
        result = translator.translate(args)
    except (TypeError, ValueError, KeyError, IndexError) as exc:  # a hand-edited value of the wrong kind
        raise Untranslatable(f"an argument holds a value of the wrong kind ({exc})") from None
    unknown = args.unknown()
    if unknown:
        raise Untranslatable(f"{unknown[0]}: an argument segaug convert does not know, so cannot translate")
    return result
