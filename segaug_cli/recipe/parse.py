"""Recipe text -> ``Recipe``: one function per section, each with its place in the file in hand.

Every error names the recipe file, the YAML line and the key path (``transforms[0].rotate.degrees``)
in one sentence. Op keys come from the registry's records; each kind of fixed setting has its parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import singledispatch
from pathlib import Path
from typing import Any

from ..errors import RecipeError, SectionError
from ..ops.spec import (
    GroupOp,
    Labels,
    Members,
    ParamSpec,
    Range,
    SettingSpec,
    Share,
    Size,
    Weights,
    Whole,
    WholeSet,
)
from .checks import check_copies, check_name_suffix, check_seed, check_split_file, is_number, kind_of, num, show
from .labelspec import LabelSpec, parse_labels
from .layoutspec import layout_problem
from .loader import KeyPath, compose, dotted
from .model import (
    BORDER_MODES,
    IMAGE_FORMATS,
    INTERPOLATIONS,
    LAYOUTS,
    LOSSY_FORMATS,
    MASK_FORMATS,
    TARGET_KINDS,
    UNPAIRED,
    Border,
    Inputs,
    Op,
    Output,
    Recipe,
    Target,
)
from .registry import OPS
from .tilespec import TileSpec, parse_tiles

TOP_KEYS = (
    "seed",
    "copies",
    "keep_original",
    "inputs",
    "labels",
    "tiles",
    "output",
    "interpolation",
    "border",
    "transforms",
    "targets",
)
OUTPUT_KEYS = ("image_format", "mask_format", "jpeg_quality", "png_compression", "png", "layout", "mask_suffix")
INPUT_KEYS = ("images", "masks", "image_suffix", "mask_suffix", "split", "unpaired", "max_pixels")
MAX_CHANNELS = 64
MAX_SIDE = 65536
MAX_LABEL = 65535


def parse(text: str, name: str = "<recipe>") -> Recipe:
    """Validate recipe text.

    Args:
        text: the recipe's YAML.
        name: the file name the error messages give.
    Raises:
        RecipeError: the text is empty, not YAML, or breaks a rule; the message names the line and the key.
    """
    data, lines = compose(text, name)
    return recipe_of(data, At(name, lines))


class At:
    """Where a value sits: the recipe's name, the line of every key, and this value's key path.

    A plain class rather than a dataclass: one is made per key, and only ever read.
    """

    __slots__ = ("name", "lines", "path")

    def __init__(self, name: str, lines: Mapping[KeyPath, int], path: KeyPath = ()):
        self.name, self.lines, self.path = name, lines, path

    def __truediv__(self, key: Any) -> At:
        return At(self.name, self.lines, self.path + (key,))

    def error(self, message: str) -> RecipeError:
        """The error for this value: the line of its key, or of the nearest enclosing key."""
        path = self.path
        line = next((self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None)
        return RecipeError(self.name, line, dotted(path), message)


# ---------------------------------------------------------------------------------------------
# Shapes of values
# ---------------------------------------------------------------------------------------------


def _mapping(value: Any, at: At, allowed: tuple[str, ...]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise at.error(f"must be a mapping of keys to values, got {kind_of(value)}")
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise (at / key).error(f"unknown key; expected one of: {', '.join(allowed)}")
    return value


def _choice(value: Any, at: At, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise at.error(f"must be one of {', '.join(choices)}, got {show(value)}")
    return value


def _number(value: Any, at: At, lo: float, hi: float, open_lo: bool = False) -> float:
    if not is_number(value) or not math.isfinite(value):
        raise at.error(f"must be a finite number, got {show(value)}")
    if value < lo or value > hi or (open_lo and value == lo):
        bracket = "(" if open_lo else "["
        raise at.error(f"must be in {bracket}{num(lo)}, {num(hi)}], got {show(value)}")
    return float(value)


def _integer(value: Any, at: At, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise at.error(f"must be a whole number from {lo} to {hi}, got {show(value)}")
    return value


def _boolean(value: Any, at: At) -> bool:
    if not isinstance(value, bool):
        raise at.error(f"must be true or false, got {show(value)}")
    return value


def _relative_folder(value: Any, at: At) -> str:
    if not isinstance(value, str) or not value.strip():
        raise at.error(f"must be a folder name, got {show(value)}")
    parts = Path(value).parts
    if Path(value).is_absolute() or ".." in parts:
        raise at.error(f"must be a folder inside IN (no absolute path, no '..'), got {show(value)}")
    return value


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def recipe_of(data: Any, at: At) -> Recipe:
    top = _mapping(data, at, TOP_KEYS)
    copies, class_copies = _copies(top.get("copies", Recipe.copies), at / "copies")
    recipe = Recipe(
        seed=check_seed(top.get("seed", 0), (at / "seed").error),
        copies=copies,
        class_copies=class_copies,
        targets=_targets(top.get("targets"), at / "targets"),
        keep_original=_boolean(top.get("keep_original", False), at / "keep_original"),
        inputs=_inputs(top.get("inputs"), at / "inputs"),
        labels=_labels_section(top.get("labels"), at / "labels"),
        tiles=_tiles_section(top.get("tiles"), at / "tiles"),
        output=_output(top.get("output"), at / "output"),
        interpolation=_choice(top.get("interpolation", "linear"), at / "interpolation", INTERPOLATIONS),
        border=_border(top.get("border"), at / "border"),
        transforms=_transforms(top.get("transforms"), at / "transforms"),
    )
    problem = layout_problem(recipe)  # output folders and names that would collide in OUT
    if problem is not None:
        keys, message = problem
        for key in keys:
            at = at / key
        raise at.error(message)
    return recipe


def _copies(value: Any, at: At) -> tuple[int, tuple[tuple[int, int], ...]]:
    """``copies: 4``, or ``copies: {default: 2, classes: {7: 10}}`` to oversample rare classes."""
    if not isinstance(value, dict):
        return check_copies(value, at.error), ()
    raw = _mapping(value, at, ("default", "classes"))
    default = check_copies(raw.get("default", Recipe.copies), (at / "default").error)
    classes = raw.get("classes") or {}
    if not isinstance(classes, dict):
        raise (at / "classes").error(f"must map class labels to copies, got {show(classes)}")
    rules = tuple(
        (
            _integer(label, at / "classes" / str(label), 0, MAX_LABEL),  # str: a key, as the loader records it
            check_copies(n, (at / "classes" / str(label)).error),
        )
        for label, n in sorted(classes.items(), key=lambda kv: str(kv[0]))
    )
    return default, rules


def _targets(value: Any, at: At) -> tuple[Target, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise at.error(f"must be a list of targets, got {kind_of(value)}")
    targets = tuple(_target(item, at / i) for i, item in enumerate(value))
    names = [t.name for t in targets]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise (at / i / "name").error(f"duplicate target name {name!r}")
    return targets


def _target(value: Any, at: At) -> Target:
    raw = _mapping(value, at, ("name", "folder", "kind", "fill"))
    name = raw.get("name")
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name)
        or name in ("images", "masks")
    ):
        raise (at / "name").error(
            f"must be a folder name other than images and masks (letters, digits, _ . -), got {show(name)}"
        )
    if name in ("manifest.csv", "segaug.json", "errors.csv"):  # OUT/<name>/ would collide with them
        raise (at / "name").error(f"{name!r} is a file segaug writes in OUT; choose another name")
    kind = _choice(raw.get("kind", "label"), at / "kind", TARGET_KINDS)
    fill = _number(raw.get("fill", 0), at / "fill", -1e30, 1e30)
    if kind == "label" and not (fill.is_integer() and 0 <= fill <= MAX_LABEL):  # a label, never invented
        raise (at / "fill").error(
            f"must be a whole number from 0 to 65535 for a label target, got {show(raw.get('fill'))}"
        )
    return Target(name=name, folder=_relative_folder(raw.get("folder", name), at / "folder"), kind=kind, fill=fill)


def _inputs(value: Any, at: At) -> Inputs:
    raw = _mapping(value, at, INPUT_KEYS)
    split = raw.get("split")
    inputs = Inputs(
        images=_relative_folder(raw.get("images", "images"), at / "images"),
        masks=_relative_folder(raw.get("masks", "masks"), at / "masks"),
        mask_suffix=check_name_suffix(raw.get("mask_suffix", ""), (at / "mask_suffix").error),
        image_suffix=check_name_suffix(raw.get("image_suffix", ""), (at / "image_suffix").error),
        split=None if split is None else check_split_file(split, (at / "split").error),
        unpaired=_choice(raw.get("unpaired", "fail"), at / "unpaired", UNPAIRED),
        max_pixels=_integer(raw.get("max_pixels", Inputs.max_pixels), at / "max_pixels", 1, MAX_SIDE * MAX_SIDE),
    )
    if Path(inputs.images) == Path(inputs.masks) and inputs.mask_suffix == inputs.image_suffix:
        raise (at / "masks").error(
            "is the same folder as inputs.images; set inputs.mask_suffix (e.g. _mask) so masks can be told from images"
        )
    return inputs


def _labels_section(value: Any, at: At) -> LabelSpec | None:
    return _section(parse_labels, value, at)


def _tiles_section(value: Any, at: At) -> TileSpec | None:
    return _section(parse_tiles, value, at)


def _section(parse_section: Any, value: Any, at: At) -> Any:
    """A section parsed by its own module; its error's keys locate the line (``labels.map.300``)."""
    try:
        return parse_section(value)
    except SectionError as exc:
        located = at
        for key in exc.keys:
            located = located / str(key)  # the loader records keys as their text
        raise located.error(exc.message) from None


def _output(value: Any, at: At) -> Output:
    raw = _mapping(value, at, OUTPUT_KEYS)
    mask_format = raw.get("mask_format", "png")
    if isinstance(mask_format, str) and mask_format.lower() in LOSSY_FORMATS:
        raise (at / "mask_format").error(f"{mask_format!r} is lossy and would invent label values; use png or tif")
    compression, mask_suffix = raw.get("png_compression"), raw.get("mask_suffix")
    return Output(
        image_format=_choice(raw.get("image_format", "same"), at / "image_format", IMAGE_FORMATS),
        mask_format=_choice(mask_format, at / "mask_format", MASK_FORMATS),
        jpeg_quality=_integer(raw.get("jpeg_quality", 95), at / "jpeg_quality", 1, 100),
        png_compression=None if compression is None else _integer(compression, at / "png_compression", 0, 9),
        png=_choice(raw.get("png", "fast"), at / "png", ("fast", "small")),
        layout=_choice(raw.get("layout", "split"), at / "layout", LAYOUTS),
        mask_suffix=None if mask_suffix is None else check_name_suffix(mask_suffix, (at / "mask_suffix").error),
    )


def _border(value: Any, at: At) -> Border:
    raw = _mapping(value, at, ("mode", "image_fill", "mask_fill"))
    return Border(
        mode=_choice(raw.get("mode", "constant"), at / "mode", BORDER_MODES),
        image_fill=_image_fill(raw.get("image_fill", 0), at / "image_fill"),
        mask_fill=_mask_fill(raw.get("mask_fill", 0), at / "mask_fill"),
    )


def _mask_fill(value: Any, at: At) -> int | tuple[int, int, int]:
    if isinstance(value, list):
        if len(value) != 3:
            raise at.error(f"must be a label or an [R, G, B] colour, got {show(value)}")
        return tuple(_integer(v, at, 0, 255) for v in value)
    return _integer(value, at, 0, MAX_LABEL)


def _image_fill(value: Any, at: At) -> tuple[float, ...]:
    values = value if isinstance(value, list) else [value]
    if not 1 <= len(values) <= MAX_CHANNELS:
        raise at.error(f"must be a number or a list of one number per channel (R, G, B, A), got {show(value)}")
    return tuple(_number(v, at, 0, 65535) for v in values)


# ---------------------------------------------------------------------------------------------
# Transforms: the keys of each op come from its record
# ---------------------------------------------------------------------------------------------


def _transforms(value: Any, at: At) -> tuple[Op, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise at.error(f"must be a list of ops, got {kind_of(value)}")
    return tuple(_op(item, at / index) for index, item in enumerate(value))


def _op(item: Any, at: At) -> Op:
    if isinstance(item, str):  # `- hflip` is shorthand for `- hflip: {}`
        item = {item: None}
    if not isinstance(item, dict) or len(item) != 1:
        raise at.error("each transform must be one op name with its settings, e.g. '- hflip: {p: 0.5}'")
    ((name, body),) = item.items()
    if name not in OPS:
        raise at.error(f"unknown op {name!r}; expected one of: {', '.join(OPS)}")
    spec, at = OPS[name], at / name
    raw = _mapping(body, at, ("p", *spec.params, *spec.settings))
    p = _number(raw.get("p", 1.0), at / "p", 0, 1)
    ranges = tuple(
        (param, _range(raw.get(param, pspec.default), at / param, pspec)) for param, pspec in spec.params.items()
    )
    fixed = tuple(
        (key, _fixed(raw.get(key, sspec.default), at / key, sspec))
        for key, sspec in spec.settings.items()
        if not isinstance(sspec, Members)
    )
    members = tuple(
        member
        for key, sspec in spec.settings.items()
        if isinstance(sspec, Members)
        for member in _transforms(raw.get(key), at / key)
    )
    op = Op(name=name, p=p, ranges=ranges, settings=fixed, ops=members)
    if isinstance(spec, GroupOp):
        _check_group(op, spec, at)
    return op


def _range(value: Any, at: At, spec: ParamSpec) -> Range:
    if isinstance(value, Range):
        return value
    if is_number(value):
        value = [value, value]
    if not isinstance(value, list) or len(value) != 2:
        raise at.error(f"must be a number or a range [lo, hi], got {show(value)}")
    lo, hi = (_number(v, at, spec.lo, spec.hi, spec.open_lo) for v in value)
    if lo > hi:
        raise at.error(f"lo ({num(lo)}) > hi ({num(hi)})")
    return Range(lo, hi)


def _check_group(op: Op, spec: GroupOp, at: At) -> None:
    """Groups need members; weights match them; a count cannot exceed them."""
    if not op.ops:
        raise (at / "ops").error("must list at least one op")
    weights = dict(op.settings).get("weights")
    if weights is not None and (len(weights) != len(op.ops) or not sum(weights) > 0):
        raise (at / "weights").error(f"must give one weight per op ({len(op.ops)}), not all zero")
    if spec.count_param and op.range(spec.count_param).hi > len(op.ops):
        raise (at / spec.count_param).error(f"cannot exceed the number of ops ({len(op.ops)})")


# ---------------------------------------------------------------------------------------------
# Fixed settings: one parser per kind of setting
# ---------------------------------------------------------------------------------------------


def _fixed(value: Any, at: At, spec: SettingSpec) -> Any:
    if value is spec.default:  # defaults are written in their parsed form
        return value
    return _setting(spec, value, at)


@singledispatch
def _setting(spec: SettingSpec, value: Any, at: At) -> Any:
    raise TypeError(f"no parser for setting kind {type(spec).__name__}")


@_setting.register(Size)
def _size(spec: Size, value: Any, at: At) -> tuple[int, int] | None:
    if value is None and spec.optional:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise at.error(f"must be [height, width], got {show(value)}")
    return tuple(_integer(v, at, 1, MAX_SIDE) for v in value)


@_setting.register(Whole)
def _whole(spec: Whole, value: Any, at: At) -> int | None:
    if value is None and spec.optional:
        return None
    return _integer(value, at, spec.lo, spec.hi)


@_setting.register(Share)
def _share(spec: Share, value: Any, at: At) -> float:
    return _number(value, at, 0, 1, open_lo=True)


@_setting.register(WholeSet)
def _whole_set(spec: WholeSet, value: Any, at: At) -> tuple[int, ...]:
    chosen = tuple(_integer(v, at, spec.lo, spec.hi) for v in (value if isinstance(value, list) else [value]))
    if not chosen:
        raise at.error("must list at least one value")
    return chosen


@_setting.register(Labels)
def _labels(spec: Labels, value: Any, at: At) -> tuple[int, ...]:
    return tuple(_integer(v, at, 0, MAX_LABEL) for v in (value if isinstance(value, list) else [value]))


@_setting.register(Weights)
def _weights(spec: Weights, value: Any, at: At) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise at.error(f"must be a list of weights, one per op, got {show(value)}")
    return tuple(_number(v, at, 0, 1e9) for v in value)
