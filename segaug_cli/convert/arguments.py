"""The arguments of one saved Albumentations transform, read one by one, and what they claim of a recipe.

``Args`` hands out each argument ``A.save`` wrote and remembers which were read, so that an argument
no translator looked at is refused (it might change the meaning). ``Claim`` is a recipe-wide setting a
transform decides (interpolation, border mode, fills: one per transform in Albumentations, one per
recipe in segaug). The helpers turn Albumentations' conventions (a single number for a symmetric range,
OpenCV's integer codes) into segaug's, or raise ``Untranslatable`` naming the argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pipeline import Node

# OpenCV's codes, as Albumentations saves them
INTERPOLATIONS = {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos"}
BORDERS = {0: "constant", 1: "replicate", 4: "reflect"}  # reflect: BORDER_REFLECT_101 in both
INTER_NEAREST, INTER_NEAREST_EXACT = 0, 6
_MISSING = object()


class Untranslatable(Exception):
    """This transform (or one of its arguments) has no exact segaug equivalent; str() says why."""


@dataclass(frozen=True)
class Claim:
    """A recipe-wide setting a transform decides: ``setting`` is ``interpolation`` or ``border.*``."""

    setting: str
    value: Any
    param: str  # the argument it comes from, for the message when two transforms disagree


@dataclass
class Translation:
    ops: list[dict[str, Any]] = field(default_factory=list)  # segaug ops without their p
    claims: list[Claim] = field(default_factory=list)


class Args:
    """A transform's saved arguments; every one must be read (or knowingly ignored) by its translator."""

    def __init__(self, node: Node):
        self.raw = node.params
        self.used = {"p"}

    def get(self, key: str, default: Any = _MISSING) -> Any:
        self.used.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise Untranslatable(f"{key}: missing from the saved transform")
        return default

    def ignore(self, *keys: str) -> None:
        """Arguments that touch only bounding boxes or keypoints, which segaug does not carry."""
        self.used.update(keys)

    def number(self, key: str, default: Any = _MISSING) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Untranslatable(f"{key}: expected a number, got {value!r}")
        return float(value)

    def whole(self, key: str) -> int:
        value = self.number(key)
        if value != int(value):
            raise Untranslatable(f"{key}: expected a whole number, got {value!r}")
        return int(value)

    def range(self, key: str, scalar: str = "refuse", bias: float = 0.0) -> tuple[float, float]:
        """A ``[lo, hi]`` argument. A single number means what Albumentations' constructor makes of it:
        ``symmetric`` (-x, x) for its ``*_limit`` arguments, ``fixed`` (x, x) for Affine's."""
        return as_range(self.get(key), key, scalar, bias)

    def expect(self, key: str, expected: Any, why: str) -> None:
        value = self.get(key, expected)
        if value != expected:
            raise Untranslatable(f"{key}: {value!r} {why}")

    def unknown(self) -> list[str]:
        return sorted(set(self.raw) - self.used)


def as_range(value: Any, key: str, scalar: str, bias: float = 0.0) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if scalar == "symmetric":
            return (clean(bias - abs(value)), clean(bias + abs(value)))
        if scalar == "fixed":
            return (float(value), float(value))
        raise Untranslatable(f"{key}: expected [lo, hi] as A.save writes it, got {value!r}")
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return (clean(bias + value[0]), clean(bias + value[1])) if bias else (float(value[0]), float(value[1]))
    raise Untranslatable(f"{key}: expected [lo, hi], got {value!r}")


def clean(x: float) -> float:
    """A sum such as 1 + (-0.09999999999999998) as the decimal it stands for (0.9), not its binary residue."""
    return float(f"{x:.12g}")


def axes(args: Args, key: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Affine's per-axis arguments: ``{"x": range, "y": range}``, or one value for both axes."""
    value = args.get(key)
    if isinstance(value, dict):
        if set(value) != {"x", "y"}:
            raise Untranslatable(f"{key}: expected keys x and y, got {sorted(value)}")
        return as_range(value["x"], f"{key}.x", "fixed"), as_range(value["y"], f"{key}.y", "fixed")
    both = as_range(value, key, "fixed")
    return both, both


# ---------------------------------------------------------------------------------------------
# Recipe-wide settings: image interpolation, border mode, fills
# ---------------------------------------------------------------------------------------------


def interpolation(args: Args) -> Claim:
    code = args.get("interpolation")
    if code not in INTERPOLATIONS:
        raise Untranslatable(f"interpolation: OpenCV code {code!r} is none of segaug's {_codes(INTERPOLATIONS)}")
    return Claim("interpolation", INTERPOLATIONS[code], "interpolation")


def mask_interpolation(args: Args, expected: int) -> None:
    """segaug resamples masks nearest-neighbour at pixel centres: OpenCV's INTER_NEAREST in a warp,
    INTER_NEAREST_EXACT in a resize (cv2.resize's INTER_NEAREST picks floor(x * scale), up to a pixel off)."""
    code = args.get("mask_interpolation")
    if code != expected:
        what = "INTER_NEAREST (0)" if expected == INTER_NEAREST else "INTER_NEAREST_EXACT (6)"
        raise Untranslatable(
            f"mask_interpolation: {code!r}; segaug resamples masks nearest-neighbour at pixel centres, "
            f"which here is OpenCV's {what}"
        )


def border(args: Args) -> list[Claim]:
    code = args.get("border_mode")
    if code not in BORDERS:
        raise Untranslatable(f"border_mode: OpenCV code {code!r} is none of segaug's {_codes(BORDERS)}")
    mode = BORDERS[code]
    claims = [Claim("border.mode", mode, "border_mode")]
    fill, fill_mask = args.get("fill", 0), args.get("fill_mask", 0)
    if mode == "constant":  # Albumentations reads the fills only then, and so does segaug
        claims += [
            Claim("border.image_fill", _image_fill(fill), "fill"),
            Claim("border.mask_fill", _label(fill_mask), "fill_mask"),
        ]
    return claims


def _image_fill(value: Any) -> float | list[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _tidy(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        return [_tidy(v) for v in value]  # per channel, in the image's RGB order, as segaug reads it
    raise Untranslatable(f"fill: expected a number or one per channel, got {value!r}")


def _label(value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value) and value >= 0:
        return int(value)
    raise Untranslatable(f"fill_mask: {value!r} is not a label (a whole number from 0)")


def _tidy(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _codes(table: dict[int, str]) -> str:
    return ", ".join(f"{name} ({code})" for code, name in table.items())


def resampling(args: Args) -> list[Claim]:
    """A warp's settings: image interpolation, nearest masks, border mode and fills."""
    mask_interpolation(args, INTER_NEAREST)
    return [interpolation(args), *border(args)]
