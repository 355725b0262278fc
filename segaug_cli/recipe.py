"""Recipe parsing and validation: YAML in, frozen dataclasses out.

Nothing past this module sees a raw dict or a missing key. Every error names the recipe file, the
YAML line and the key path (``transforms[0].rotate.degrees``) in one sentence.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RecipeError

# ---------------------------------------------------------------------------------------------
# Parsed recipe
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A closed interval sampled uniformly; ``lo == hi`` is a fixed value."""

    lo: float
    hi: float


@dataclass(frozen=True)
class Op:
    """One transform of the recipe: its name, probability, sampled ranges and fixed settings.

    Groups (``one_of``, ``some_of``) hold their member ops in ``ops``.
    """

    name: str
    p: float = 1.0
    ranges: tuple[tuple[str, Range], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()
    ops: tuple[Op, ...] = ()

    @property
    def kind(self) -> str:
        return OPS[self.name].kind

    def range(self, param: str) -> Range:
        return dict(self.ranges)[param]

    def setting(self, name: str) -> Any:
        return dict(self.settings)[name]


@dataclass(frozen=True)
class Target:
    """An extra per-pixel map resampled with the same geometry as the image and mask.

    ``label`` maps (edges, instances) are resampled nearest-neighbour; ``continuous`` maps (weights,
    distances, depth) with linear interpolation.
    """

    name: str  # the output folder, and the manifest column
    folder: str  # the input folder, relative to IN
    kind: str = "label"
    fill: float = 0


@dataclass(frozen=True)
class Inputs:
    images: str = "images"
    masks: str = "masks"
    mask_suffix: str = ""


@dataclass(frozen=True)
class Output:
    image_format: str = "same"
    mask_format: str = "png"
    jpeg_quality: int = 95
    png_compression: int | None = None  # None: OpenCV's own fast default filter and strategy


@dataclass(frozen=True)
class Border:
    mode: str = "constant"
    image_fill: tuple[float, ...] = (0.0,)  # one value for every channel, or one per channel (RGB[A])
    mask_fill: int | tuple[int, int, int] = 0  # a label, or an [R, G, B] class colour for colour masks


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    copies: int = 4
    keep_original: bool = False
    inputs: Inputs = field(default_factory=Inputs)
    output: Output = field(default_factory=Output)
    interpolation: str = "linear"
    border: Border = field(default_factory=Border)
    transforms: tuple[Op, ...] = ()
    class_copies: tuple[tuple[int, int], ...] = ()  # (label, copies): pairs containing label get more
    targets: tuple[Target, ...] = ()

    def max_copies(self) -> int:
        """The most copies any pair can get: ``copies``, or the largest class rule."""
        return max([self.copies] + [n for _, n in self.class_copies])

    def copies_for(self, labels: set[int] | None) -> int:
        """Copies of a pair whose mask holds ``labels``: the largest matching class rule, else ``copies``.

        A rule may be below the default, to thin out pairs of an over-represented class.
        """
        matching = [n for label, n in self.class_copies if labels and label in labels]
        return max(matching) if matching else self.copies

    def with_overrides(self, seed: int | None = None, copies: int | None = None) -> Recipe:
        """The recipe with command-line overrides applied (None keeps the recipe's value)."""
        changes: dict[str, Any] = {}
        if seed is not None:
            changes["seed"] = _check_seed(seed, "--seed", lambda msg: RecipeError("--seed", None, "", msg))
        if copies is not None:
            changes["copies"] = _check_copies(copies, lambda msg: RecipeError("--copies", None, "", msg))
        return dataclasses.replace(self, **changes)

    def sample_content(self) -> str:
        """Canonical JSON of everything that decides the pixels of an augmented copy.

        ``copies``, ``class_copies``, ``keep_original`` and ``inputs`` are left out: they decide which
        samples exist and where their sources are, not what a given sample looks like, so changing
        them must not invalidate samples that are still produced.
        """
        content = dataclasses.asdict(self)
        for key in ("copies", "class_copies", "keep_original", "inputs"):
            content.pop(key)
        return json.dumps(content, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Choices and op specifications: the only list of names, read by the parser, docs and tests
# ---------------------------------------------------------------------------------------------

INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos")
BORDER_MODES = ("constant", "reflect", "replicate")
IMAGE_FORMATS = ("same", "png", "jpg", "tif")
MASK_FORMATS = ("png", "tif")
LOSSY_FORMATS = ("jpg", "jpeg", "webp")
MAX_COPIES = 10_000
MAX_CHANNELS = 64


@dataclass(frozen=True)
class ParamSpec:
    """A sampled parameter: a number or [lo, hi] range within sensible bounds."""

    default: Range
    lo: float  # the widest sensible bounds: absurd values are refused, not clipped
    hi: float
    open_lo: bool = False  # lo itself is excluded (a scale of 0 collapses the image)
    unit: str = ""
    integer: bool = False  # drawn as a whole number (JPEG quality, group sizes)


@dataclass(frozen=True)
class SettingSpec:
    """A fixed setting of an op: ``kind`` names its parser (size, int, int_set, labels, share, ...)."""

    kind: str
    default: Any
    lo: float = 0
    hi: float = 0


@dataclass(frozen=True)
class OpSpec:
    kind: str  # "geometric", "photometric" or "group"
    params: Mapping[str, ParamSpec]
    doc: str
    settings: Mapping[str, SettingSpec] = field(default_factory=dict)


_SIZE = SettingSpec("size", (256, 256))
_MAX_SIDE = 65536

OPS: dict[str, OpSpec] = {
    "rotate": OpSpec(
        "geometric",
        {"degrees": ParamSpec(Range(-30, 30), -360, 360, unit="degrees")},
        "rotation about the image centre, counter-clockwise positive",
    ),
    "scale": OpSpec(
        "geometric",
        # not below 0.01: a near-zero scale with a reflect border makes OpenCV crawl for minutes
        {"range": ParamSpec(Range(0.8, 1.2), 0.01, 10)},
        "isotropic zoom about the image centre (>1 enlarges)",
    ),
    "shear": OpSpec(
        "geometric",
        {"degrees": ParamSpec(Range(-10, 10), -80, 80, unit="degrees")},
        "x-shear about the image centre",
    ),
    "translate": OpSpec(
        "geometric",
        {"fraction": ParamSpec(Range(-0.1, 0.1), -1, 1)},
        "shift by a fraction of width and of height, drawn separately",
    ),
    "hflip": OpSpec("geometric", {}, "mirror left-right: column x goes to W-1-x"),
    "vflip": OpSpec("geometric", {}, "mirror top-bottom: row y goes to H-1-y"),
    "resize": OpSpec("geometric", {}, "stretch to size [height, width]", {"size": _SIZE}),
    "pad": OpSpec(
        "geometric", {}, "pad to at least size [height, width] and/or up to a multiple (32 when neither is "
        "given), centred; new pixels get image_fill / mask_fill (or the border mode)",
        {"size": SettingSpec("optional_size", None), "multiple": SettingSpec("optional_int", None, 1, 4096)},
    ),
    "crop": OpSpec(
        "geometric", {}, "random crop to size [height, width]; with classes, the window contains a random pixel of "
        "those classes when there is one; max_class_share retries crops where one class dominates",
        {"size": _SIZE, "classes": SettingSpec("labels", ()), "max_class_share": SettingSpec("share", 1.0),
         "ignore": SettingSpec("optional_int", 255, 0, 65535)},
    ),
    "random_resized_crop": OpSpec(
        "geometric",
        {"area": ParamSpec(Range(0.08, 1.0), 0, 1, open_lo=True),
         "aspect": ParamSpec(Range(0.75, 4 / 3), 0, 100, open_lo=True)},
        "crop a random area fraction and aspect ratio (width / height), resized to size",
        {"size": _SIZE},
    ),
    "rot90": OpSpec(
        "geometric", {}, "k quarter turns counter-clockwise, k drawn from the list; odd k swaps width and height",
        {"k": SettingSpec("int_set", (0, 1, 2, 3), 0, 3)},
    ),
    "perspective": OpSpec(
        "geometric", {"scale": ParamSpec(Range(0.05, 0.1), 0, 0.5)},
        "move each corner by up to scale x the size, drawn separately; a 3x3 homography",
    ),
    "elastic": OpSpec(
        "geometric",
        {"alpha": ParamSpec(Range(2, 6), 0, 1000, unit="pixels"),
         "sigma": ParamSpec(Range(8, 12), 0, 1000, open_lo=True, unit="pixels")},
        "smooth random displacement: alpha is its RMS size in pixels, sigma its smoothness in pixels",
    ),
    "grid_distortion": OpSpec(
        "geometric", {"distort": ParamSpec(Range(-0.3, 0.3), -0.9, 0.9)},
        "stretch or squeeze each of steps x steps grid cells by 1 + distort",
        {"steps": SettingSpec("int", 5, 1, 64)},
    ),
    "brightness": OpSpec(
        "photometric",
        {"range": ParamSpec(Range(-0.2, 0.2), -1, 1)},
        "add a fraction of the dtype's full scale; image only",
    ),
    "contrast": OpSpec(
        "photometric",
        {"range": ParamSpec(Range(0.8, 1.2), 0, 10)},
        "scale the distance from the image mean; image only",
    ),
    "gamma": OpSpec(
        "photometric",
        {"range": ParamSpec(Range(0.8, 1.2), 0, 10, open_lo=True)},
        "out = full * (in / full) ** gamma; image only",
    ),
    "hsv": OpSpec(
        "photometric",
        {"hue": ParamSpec(Range(-10, 10), -180, 180, unit="degrees"),
         "saturation": ParamSpec(Range(-0.1, 0.1), -1, 1), "value": ParamSpec(Range(-0.1, 0.1), -1, 1)},
        "shift hue (degrees) and add to saturation and value (fractions of full scale); image only",
    ),
    "blur": OpSpec(
        "photometric", {"sigma": ParamSpec(Range(0.5, 1.5), 0, 50, unit="pixels")},
        "Gaussian blur; image only",
    ),
    "noise": OpSpec(
        "photometric", {"sigma": ParamSpec(Range(0.0, 0.03), 0, 1)},
        "add Gaussian noise of sigma x full scale, per pixel and channel; image only",
    ),
    "clahe": OpSpec(
        "photometric", {"clip_limit": ParamSpec(Range(1, 4), 0, 100, open_lo=True)},
        "contrast-limited adaptive histogram equalisation on tiles x tiles tiles; image only",
        {"tiles": SettingSpec("int", 8, 1, 64)},
    ),
    "jpeg": OpSpec(
        "photometric", {"quality": ParamSpec(Range(50, 95), 1, 100, integer=True)},
        "JPEG compression artefacts at a quality from 1 to 100; image only",
    ),
    "one_of": OpSpec(
        "group", {}, "apply one of ops, chosen with the given weights (default: equal)",
        {"ops": SettingSpec("ops", None), "weights": SettingSpec("weights", None)},
    ),
    "some_of": OpSpec(
        "group", {"n": ParamSpec(Range(1, 2), 0, 1000, integer=True)},
        "apply n of ops (n drawn from the range), in recipe order",
        {"ops": SettingSpec("ops", None)},
    ),
}

GEOMETRIC_OPS = tuple(name for name, spec in OPS.items() if spec.kind == "geometric")
PHOTOMETRIC_OPS = tuple(name for name, spec in OPS.items() if spec.kind == "photometric")
TARGET_KINDS = ("label", "continuous")

# ---------------------------------------------------------------------------------------------
# Loading: YAML text -> (plain data, line of every key path) -> Recipe
# ---------------------------------------------------------------------------------------------

Path_ = tuple[Any, ...]
_TOP_KEYS = (
    "seed", "copies", "keep_original", "inputs", "output", "interpolation", "border", "transforms", "targets",
)


def load(path: str | Path) -> Recipe:
    """Read and validate a recipe file.

    Raises:
        RecipeError: the file cannot be read, is not YAML, or breaks a rule; the message names the
            file, the line and the key.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "cannot be read as UTF-8 text"
        raise RecipeError(str(path), None, "", reason) from None
    return parse(text, str(path))


def parse(text: str, name: str = "<recipe>") -> Recipe:
    """Validate recipe text; ``name`` is used in error messages."""
    data, lines = _compose(text, name)
    return _Parser(name, lines).recipe(data)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` and ``1.0e308`` as numbers (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _compose(text: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """Safe-load YAML while keeping the line of every key (``safe_load`` drops marks)."""
    lines: dict[Path_, int] = {}
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:  # before construction, which flattens `<<` merges into the mapping
                _record_lines(node, (), lines, set(), name)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise RecipeError(name, mark.line + 1 if mark else None, "", f"invalid YAML: {problem}") from None
    except RecursionError:
        raise RecipeError(name, None, "", "invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        # PyYAML's own constructors fail this way on e.g. `!!int abc`, `!!bool maybe`, `!!timestamp x`
        # or an integer of more digits than Python converts.
        raise RecipeError(name, None, "", "invalid YAML: a value does not fit its type or tag "
                          "(e.g. !!int abc, !!timestamp 2001-13-45)") from None
    return data, lines


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int], seen: set[int], name: str) -> None:
    """Record each key's line and refuse duplicate keys (YAML would keep the last one silently).

    Each node is walked once: an alias (``*a``) can point back into its own anchor or fan out
    exponentially, and its keys keep the line of the key that uses the alias.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: construction reports it
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first:
                why = f"duplicate key (first on line {first[key]})"
                raise RecipeError(name, line, _dotted(path + (key,)), why)
            first[key] = line
            _record_lines(value_node, path + (key,), lines, seen, name)
            lines[path + (key,)] = line  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, path + (index,), lines, seen, name)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, str) and not part.isprintable():  # a key with a line break: keep one line
            part = repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_seed(value: Any, key: str, fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise fail(f"must be a whole number from 0 to 2**64-1, got {_show(value)}")
    return value


def _check_copies(value: Any, fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COPIES:
        raise fail(f"must be a whole number from 0 to {MAX_COPIES}, got {_show(value)}")
    return value


class _Parser:
    """Walks the plain data with the key path in hand, so every error can say where it is."""

    def __init__(self, name: str, lines: dict[Path_, int]):
        self.name, self.lines = name, lines

    def error(self, path: Path_, message: str) -> RecipeError:
        line = next((self.lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in self.lines), None)
        return RecipeError(self.name, line, _dotted(path), message)

    # -- shapes ---------------------------------------------------------------------------------

    def mapping(self, value: Any, path: Path_, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"must be a mapping of keys to values, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.error(path + (key,), f"unknown key; expected one of: {', '.join(allowed)}")
        return value

    def choice(self, value: Any, path: Path_, choices: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in choices:
            raise self.error(path, f"must be one of {', '.join(choices)}, got {_show(value)}")
        return value

    def number(self, value: Any, path: Path_, lo: float, hi: float, open_lo: bool = False) -> float:
        if not _is_number(value) or not math.isfinite(value):
            raise self.error(path, f"must be a finite number, got {_show(value)}")
        if value < lo or value > hi or (open_lo and value == lo):
            bracket = "(" if open_lo else "["
            raise self.error(path, f"must be in {bracket}{_num(lo)}, {_num(hi)}], got {_show(value)}")
        return float(value)

    def integer(self, value: Any, path: Path_, lo: int, hi: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.error(path, f"must be a whole number from {lo} to {hi}, got {_show(value)}")
        return value

    def boolean(self, value: Any, path: Path_) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"must be true or false, got {_show(value)}")
        return value

    def relative_folder(self, value: Any, path: Path_) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(path, f"must be a folder name, got {_show(value)}")
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts:
            raise self.error(path, f"must be a folder inside IN (no absolute path, no '..'), got {_show(value)}")
        return value

    # -- sections -------------------------------------------------------------------------------

    def recipe(self, data: Any) -> Recipe:
        top = self.mapping(data, (), _TOP_KEYS)
        fail = lambda key: lambda msg: self.error((key,), msg)  # noqa: E731
        copies, class_copies = self.copies(top.get("copies", Recipe.copies), ("copies",))
        return Recipe(
            seed=_check_seed(top.get("seed", 0), "seed", fail("seed")),
            copies=copies,
            class_copies=class_copies,
            targets=self.targets(top.get("targets"), ("targets",)),
            keep_original=self.boolean(top.get("keep_original", False), ("keep_original",)),
            inputs=self.inputs(top.get("inputs"), ("inputs",)),
            output=self.output(top.get("output"), ("output",)),
            interpolation=self.choice(top.get("interpolation", "linear"), ("interpolation",), INTERPOLATIONS),
            border=self.border(top.get("border"), ("border",)),
            transforms=self.transforms(top.get("transforms"), ("transforms",)),
        )

    def copies(self, value: Any, path: Path_) -> tuple[int, tuple[tuple[int, int], ...]]:
        """``copies: 4``, or ``copies: {default: 2, classes: {7: 10}}`` to oversample rare classes."""
        fail = lambda p: lambda msg: self.error(p, msg)  # noqa: E731
        if not isinstance(value, dict):
            return _check_copies(value, fail(path)), ()
        raw = self.mapping(value, path, ("default", "classes"))
        default = _check_copies(raw.get("default", Recipe.copies), fail(path + ("default",)))
        classes = raw.get("classes") or {}
        if not isinstance(classes, dict):
            raise self.error(path + ("classes",), f"must map class labels to copies, got {_show(classes)}")
        rules = tuple(
            (self.integer(label, path + ("classes", str(label)), 0, 65535),  # str: a key, as lines records it
             _check_copies(n, fail(path + ("classes", str(label)))))
            for label, n in sorted(classes.items(), key=lambda kv: str(kv[0]))
        )
        return default, rules

    def targets(self, value: Any, path: Path_) -> tuple[Target, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(path, f"must be a list of targets, got {_kind(value)}")
        targets = tuple(self.target(item, path + (i,)) for i, item in enumerate(value))
        names = [t.name for t in targets]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.error(path + (i, "name"), f"duplicate target name {name!r}")
        return targets

    def target(self, value: Any, path: Path_) -> Target:
        raw = self.mapping(value, path, ("name", "folder", "kind", "fill"))
        name = raw.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) \
                or name in ("images", "masks"):
            raise self.error(path + ("name",), f"must be a folder name other than images and masks "
                             f"(letters, digits, _ . -), got {_show(name)}")
        if name in ("manifest.csv", "segaug.json", "errors.csv"):  # OUT/<name>/ would collide with them
            raise self.error(path + ("name",), f"{name!r} is a file segaug writes in OUT; "
                             "choose another name")
        kind = self.choice(raw.get("kind", "label"), path + ("kind",), TARGET_KINDS)
        fill = self.number(raw.get("fill", 0), path + ("fill",), -1e30, 1e30)
        if kind == "label" and not (fill.is_integer() and 0 <= fill <= 65535):  # a label, never invented
            raise self.error(path + ("fill",), f"must be a whole number from 0 to 65535 for a label target, "
                             f"got {_show(raw.get('fill'))}")
        return Target(
            name=name,
            folder=self.relative_folder(raw.get("folder", name), path + ("folder",)),
            kind=kind,
            fill=fill,
        )

    def inputs(self, value: Any, path: Path_) -> Inputs:
        raw = self.mapping(value, path, ("images", "masks", "mask_suffix"))
        suffix = raw.get("mask_suffix", "")
        if not isinstance(suffix, str) or re.search(r"[/\\]", suffix):
            raise self.error(path + ("mask_suffix",), f"must be text without slashes, got {_show(suffix)}")
        inputs = Inputs(
            images=self.relative_folder(raw.get("images", "images"), path + ("images",)),
            masks=self.relative_folder(raw.get("masks", "masks"), path + ("masks",)),
            mask_suffix=suffix,
        )
        if Path(inputs.images) == Path(inputs.masks) and not suffix:
            raise self.error(path + ("masks",), "is the same folder as inputs.images; set inputs.mask_suffix "
                             "(e.g. _mask) so masks can be told from images")
        return inputs

    def output(self, value: Any, path: Path_) -> Output:
        raw = self.mapping(value, path, ("image_format", "mask_format", "jpeg_quality", "png_compression"))
        mask_format = raw.get("mask_format", "png")
        if isinstance(mask_format, str) and mask_format.lower() in LOSSY_FORMATS:
            raise self.error(
                path + ("mask_format",),
                f"{mask_format!r} is lossy and would invent label values; use png or tif",
            )
        compression = raw.get("png_compression")
        return Output(
            image_format=self.choice(raw.get("image_format", "same"), path + ("image_format",), IMAGE_FORMATS),
            mask_format=self.choice(mask_format, path + ("mask_format",), MASK_FORMATS),
            jpeg_quality=self.integer(raw.get("jpeg_quality", 95), path + ("jpeg_quality",), 1, 100),
            png_compression=None
            if compression is None
            else self.integer(compression, path + ("png_compression",), 0, 9),
        )

    def border(self, value: Any, path: Path_) -> Border:
        raw = self.mapping(value, path, ("mode", "image_fill", "mask_fill"))
        return Border(
            mode=self.choice(raw.get("mode", "constant"), path + ("mode",), BORDER_MODES),
            image_fill=self.image_fill(raw.get("image_fill", 0), path + ("image_fill",)),
            mask_fill=self.mask_fill(raw.get("mask_fill", 0), path + ("mask_fill",)),
        )

    def mask_fill(self, value: Any, path: Path_) -> int | tuple[int, int, int]:
        if isinstance(value, list):
            if len(value) != 3:
                raise self.error(path, f"must be a label or an [R, G, B] colour, got {_show(value)}")
            return tuple(self.integer(v, path, 0, 255) for v in value)
        return self.integer(value, path, 0, 65535)

    def image_fill(self, value: Any, path: Path_) -> tuple[float, ...]:
        values = value if isinstance(value, list) else [value]
        if not 1 <= len(values) <= MAX_CHANNELS:
            raise self.error(path, "must be a number or a list of one number per channel (R, G, B, A), "
                             f"got {_show(value)}")
        return tuple(self.number(v, path, 0, 65535) for v in values)

    def transforms(self, value: Any, path: Path_) -> tuple[Op, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.error(path, f"must be a list of ops, got {_kind(value)}")
        return tuple(self.op(item, path + (index,)) for index, item in enumerate(value))

    def op(self, item: Any, path: Path_) -> Op:
        if isinstance(item, str):  # `- hflip` is shorthand for `- hflip: {}`
            item = {item: None}
        if not isinstance(item, dict) or len(item) != 1:
            raise self.error(path, "each transform must be one op name with its settings, e.g. '- hflip: {p: 0.5}'")
        (name, settings), = item.items()
        if name not in OPS:
            raise self.error(path, f"unknown op {name!r}; expected one of: {', '.join(OPS)}")
        spec, op_path = OPS[name], path + (name,)
        raw = self.mapping(settings, op_path, ("p", *spec.params, *spec.settings))
        p = self.number(raw.get("p", 1.0), op_path + ("p",), 0, 1)
        ranges = tuple(
            (param, self.range(raw.get(param, pspec.default), op_path + (param,), pspec))
            for param, pspec in spec.params.items()
        )
        fixed = tuple(
            (key, self.setting(raw.get(key, sspec.default), op_path + (key,), sspec))
            for key, sspec in spec.settings.items() if key != "ops"
        )
        members = self.transforms(raw.get("ops"), op_path + ("ops",)) if "ops" in spec.settings else ()
        op = Op(name=name, p=p, ranges=ranges, settings=fixed, ops=members)
        self.check_group(op, op_path)
        return op

    def setting(self, value: Any, path: Path_, spec: SettingSpec) -> Any:
        if value is spec.default:  # defaults are written in their parsed form
            return value
        if value is None and (spec.kind.startswith("optional") or spec.kind == "weights"):
            return None
        kind = spec.kind.removeprefix("optional_")
        if kind == "size":
            if not isinstance(value, list) or len(value) != 2:
                raise self.error(path, f"must be [height, width], got {_show(value)}")
            return tuple(self.integer(v, path, 1, _MAX_SIDE) for v in value)
        if kind == "int":
            return self.integer(value, path, int(spec.lo), int(spec.hi))
        if kind == "share":
            return self.number(value, path, 0, 1, open_lo=True)
        if kind in ("int_set", "labels"):
            items = value if isinstance(value, list) else [value]
            hi = int(spec.hi) if kind == "int_set" else 65535
            chosen = tuple(self.integer(v, path, int(spec.lo), hi) for v in items)
            if kind == "int_set" and not chosen:
                raise self.error(path, "must list at least one value")
            return chosen
        if kind == "weights":
            if not isinstance(value, list) or not value:
                raise self.error(path, f"must be a list of weights, one per op, got {_show(value)}")
            return tuple(self.number(v, path, 0, 1e9) for v in value)
        raise AssertionError(f"unknown setting kind {spec.kind}")

    def check_group(self, op: Op, path: Path_) -> None:
        """Groups need members; weights match them; n cannot exceed them."""
        if OPS[op.name].kind != "group":
            return
        if not op.ops:
            raise self.error(path + ("ops",), "must list at least one op")
        weights = dict(op.settings).get("weights")
        if weights is not None and (len(weights) != len(op.ops) or not sum(weights) > 0):
            raise self.error(path + ("weights",), f"must give one weight per op ({len(op.ops)}), not all zero")
        if op.name == "some_of" and op.range("n").hi > len(op.ops):
            raise self.error(path + ("n",), f"cannot exceed the number of ops ({len(op.ops)})")

    def range(self, value: Any, path: Path_, spec: ParamSpec) -> Range:
        if isinstance(value, Range):
            return value
        if _is_number(value):
            value = [value, value]
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(path, f"must be a number or a range [lo, hi], got {_show(value)}")
        lo, hi = (self.number(v, path, spec.lo, spec.hi, spec.open_lo) for v in value)
        if lo > hi:
            raise self.error(path, f"lo ({_num(lo)}) > hi ({_num(hi)})")
        return Range(lo, hi)


def _show(value: Any, limit: int = 60) -> str:
    """A value as the message quotes it, cut short: a hostile alias fan-out can be gigabytes long,
    so only its first few levels and items are ever rendered (``repr`` of it all would never end)."""
    import reprlib

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxset = 3, 4, 4, 4
    short.maxstring = short.maxlong = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(type(value), repr(value))
