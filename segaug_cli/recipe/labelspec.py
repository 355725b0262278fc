"""The ``labels:`` section of a recipe: parsed into a frozen ``LabelSpec``, standard library only.

A recipe's ``labels:`` holds exactly one of four conversions (``segaug_cli.labels`` applies them):

- ``map: {7: 0, 8: 1}`` with ``default`` (a label, or ``keep``): listed labels map, every other label
  becomes ``default`` (255, the usual ignore index, when ``default`` is absent);
- ``reduce_zero_label: true``: 0 -> 255, every other label minus one, as mmsegmentation does;
- ``colors: {"#ffffff": 0}`` (or ``[R, G, B]`` keys): a colour-coded mask becomes an index mask;
- ``threshold: 128``: lossy (JPEG) binary masks, ``>= threshold`` -> 1 else 0.

It lives in the recipe package, without NumPy or OpenCV, so that loading a recipe stays fast.
``parse_labels`` raises ``LabelsError`` whose ``keys`` lets the parser point at the line.
"""

from __future__ import annotations

import json
import numbers
import re
from dataclasses import dataclass
from typing import Any

from ..errors import LabelsError

KEEP = "keep"  # `default: keep`: unlisted labels stay as they are
IGNORE = 255  # `default` when absent: the ignore index of torchvision, mmsegmentation and Cityscapes
MAX_LABEL = 65535  # masks are uint8 or uint16
KEYS = ("map", "default", "reduce_zero_label", "colors", "threshold")
CONVERSIONS = ("map", "reduce_zero_label", "colors", "threshold")  # one of them per recipe
_HEX = re.compile(r"#[0-9a-fA-F]{6}")

Rgb = tuple[int, int, int]
Keys = tuple[str | int, ...]


@dataclass(frozen=True)
class LabelSpec:
    """One parsed ``labels:`` section; exactly one of table, reduce_zero_label, colors, threshold is set."""

    table: tuple[tuple[int, int], ...] = ()  # (source label, new label), sorted by source
    default: int | None = IGNORE  # the label of everything unlisted; None keeps it as it is
    reduce_zero_label: bool = False
    colors: tuple[tuple[Rgb, int], ...] = ()  # (RGB colour, label), sorted by colour
    threshold: int | None = None

    def text(self) -> str:
        """A stable one-line form for the run's fingerprint: equal specs give equal text, any change
        (a mapped label, the default, a colour) gives another."""
        if self.table:
            body: dict[str, Any] = {"map": [list(p) for p in self.table], "default": self._default_text()}
        elif self.colors:
            body = {"colors": [[_hex(rgb), label] for rgb, label in self.colors], "default": self.default}
        elif self.reduce_zero_label:
            body = {"reduce_zero_label": True}
        else:
            body = {"threshold": self.threshold}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def _default_text(self) -> int | str:
        return KEEP if self.default is None else self.default


def parse_labels(raw: Any) -> LabelSpec | None:
    """The ``labels:`` section as a spec; None when absent (masks are used as they are).

    Args:
        raw: the section as YAML gives it: a mapping with one of map, reduce_zero_label, colors,
            threshold (and ``default`` beside map or colors).
    Raises:
        LabelsError: an unknown key, conflicting conversions, or a value that is not a label/colour.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise LabelsError((), f"must be a mapping with one of {', '.join(CONVERSIONS)}, got {_show(raw)}")
    for key in raw:
        if key not in KEYS:
            raise LabelsError((key,), f"unknown key; expected one of {', '.join(KEYS)}")
    if raw.get("reduce_zero_label", False) not in (True, False):
        raise LabelsError(("reduce_zero_label",), f"must be true or false, got {_show(raw['reduce_zero_label'])}")
    chosen = _conversion(raw)
    if chosen is None:
        return None  # `reduce_zero_label: false` alone, as mmsegmentation configs write it: nothing to do
    if chosen == "map":
        return LabelSpec(table=parse_map(raw["map"]), default=parse_default(raw.get("default", IGNORE), True))
    if chosen == "colors":
        return LabelSpec(colors=parse_colors(raw["colors"]), default=parse_default(raw.get("default", IGNORE), False))
    if chosen == "reduce_zero_label":
        return LabelSpec(reduce_zero_label=True)
    return LabelSpec(threshold=parse_threshold(raw["threshold"]))


def _conversion(raw: dict) -> str | None:
    """The one conversion the section names; two, or ``default`` without map or colors, are errors."""
    chosen = [key for key in CONVERSIONS if key in raw and not (key == "reduce_zero_label" and raw[key] is False)]
    if len(chosen) > 1:
        raise LabelsError((chosen[1],), f"cannot be combined with labels.{chosen[0]}; use one conversion per recipe")
    if not chosen and "reduce_zero_label" not in raw:
        raise LabelsError((), f"needs one of {', '.join(CONVERSIONS)}")
    if "default" in raw and (not chosen or chosen[0] not in ("map", "colors")):
        raise LabelsError(("default",), "applies to map and colors only")
    return chosen[0] if chosen else None


def parse_map(raw: Any) -> tuple[tuple[int, int], ...]:
    """``{7: 0, 8: 1}`` -> ((7, 0), (8, 1)); every key and value must be a label (0-65535)."""
    if not isinstance(raw, dict) or not raw:
        raise LabelsError(("map",), f"must be a mapping of label to label, e.g. {{7: 0, 8: 1}}, got {_show(raw)}")
    pairs = []
    for key, value in raw.items():
        if not is_label(key):
            raise LabelsError(("map", key), f"{_show(key)} is not a label (a whole number from 0 to {MAX_LABEL})")
        if not is_label(value):
            raise LabelsError(("map", key), f"maps to {_show(value)}, which is not a label (0 to {MAX_LABEL})")
        pairs.append((key, value))
    return tuple(sorted(pairs))


def parse_colors(raw: Any) -> tuple[tuple[Rgb, int], ...]:
    """``{"#ffffff": 0, (0, 0, 255): 1}`` -> (((0, 0, 255), 1), ((255, 255, 255), 0)); RGB order."""
    if not isinstance(raw, dict) or not raw:
        raise LabelsError(("colors",), f'must be a mapping of colour to label, e.g. {{"#ffffff": 0}}, got {_show(raw)}')
    seen: dict[Rgb, Any] = {}  # colour -> the key that gave it, for the "given twice" message
    for key, value in raw.items():
        rgb = parse_color(key)
        if rgb in seen:
            raise LabelsError(
                ("colors", _shown_key(key)), f"the colour {_hex(rgb)} is given twice (also as {_show(seen[rgb])})"
            )
        if not is_label(value):
            raise LabelsError(
                ("colors", _shown_key(key)), f"maps to {_show(value)}, which is not a label (0 to {MAX_LABEL})"
            )
        seen[rgb] = key
    return tuple(sorted((rgb, raw[key]) for rgb, key in seen.items()))


def parse_color(raw: Any) -> Rgb:
    """``"#ff8000"`` or ``[255, 128, 0]`` -> (255, 128, 0), in RGB order as the recipe writes it."""
    if isinstance(raw, str):
        if not _HEX.fullmatch(raw):
            raise LabelsError(
                ("colors", raw),
                f"{raw!r} is not a colour; write #rrggbb (six hex digits, "
                "quoted in YAML, where # starts a comment) or [R, G, B]",
            )
        return int(raw[1:3], 16), int(raw[3:5], 16), int(raw[5:7], 16)
    if isinstance(raw, (list, tuple)) and len(raw) == 3 and all(_is_int(c) and 0 <= c <= 255 for c in raw):
        return int(raw[0]), int(raw[1]), int(raw[2])
    raise LabelsError(
        ("colors", _shown_key(raw)),
        f"{_show(raw)} is not a colour; write #rrggbb or [R, G, B] with each of R, G, B from 0 to 255",
    )


def parse_default(raw: Any, keep_allowed: bool) -> int | None:
    """A label, or ``keep`` (None) for a map; a colour has no label to keep."""
    if raw == KEEP and keep_allowed:
        return None
    if not is_label(raw):
        also = " or keep" if keep_allowed else " (keep applies to map only: a colour has no label to keep)"
        raise LabelsError(("default",), f"must be a label from 0 to {MAX_LABEL}{also}, got {_show(raw)}")
    return raw


def parse_threshold(raw: Any) -> int:
    if not _is_int(raw) or not 1 <= raw <= MAX_LABEL:
        raise LabelsError(
            ("threshold",), f"must be a whole number from 1 to {MAX_LABEL} (pixels >= it become 1), got {_show(raw)}"
        )
    return raw


def is_label(value: Any) -> bool:
    """A whole number a uint16 mask can hold (True/False are not labels, though Python calls them ints)."""
    return _is_int(value) and 0 <= value <= MAX_LABEL


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # NumPy integers too


def _shown_key(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) else _show(key)


def _hex(rgb: Rgb) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
