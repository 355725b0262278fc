"""Label conversions applied to a source mask once, before augmentation: arrays in, arrays out, no I/O.

A recipe's ``labels:`` section holds exactly one of four conversions:

- ``map: {7: 0, 8: 1}`` with ``default`` (a label, or ``keep``): listed labels map, every other label
  becomes ``default`` (255, the usual ignore index, when ``default`` is absent);
- ``reduce_zero_label: true``: 0 -> 255, every other label minus one, exactly as mmsegmentation does
  (so 255 stays 255: its "254 -> 255" step);
- ``colors: {"#ffffff": 0}`` (or ``[R, G, B]`` keys): a colour-coded mask becomes an index mask; the table
  is written in RGB as people read colours, the mask arrives in BGR as OpenCV decodes it;
- ``threshold: 128``: lossy (JPEG) binary masks, ``>= threshold`` -> 1 else 0 (colour converts to grey).

``parse_labels`` turns the recipe's mapping into a frozen ``LabelSpec`` and raises ``LabelsError`` whose
``keys`` lets the recipe parser point at the line; ``relabel`` applies a spec to one mask.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from .errors import PairError, SegaugError

KEEP = "keep"  # `default: keep`: unlisted labels stay as they are
IGNORE = 255  # `default` when absent: the ignore index of torchvision, mmsegmentation and Cityscapes
MAX_LABEL = 65535  # masks are uint8 or uint16
KEYS = ("map", "default", "reduce_zero_label", "colors", "threshold")
CONVERSIONS = ("map", "reduce_zero_label", "colors", "threshold")  # one of them per recipe
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_ROWS_PER_CHUNK = 256  # colour packing works on row bands so its uint32 temporaries stay a few MB

Rgb = tuple[int, int, int]
Keys = tuple[str | int, ...]


class LabelsError(SegaugError):
    """A ``labels:`` section that cannot be used; ``keys`` is the path below ``labels`` (``("map", 300)``)."""

    def __init__(self, keys: Keys, message: str):
        self.keys, self.message = keys, message
        super().__init__(f"labels.{'.'.join(str(k) for k in keys)}: {message}" if keys else f"labels: {message}")


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
            body = {"colors": [[_hex(rgb), label] for rgb, label in self.colors],
                    "default": self.default}
        elif self.reduce_zero_label:
            body = {"reduce_zero_label": True}
        else:
            body = {"threshold": self.threshold}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def _default_text(self) -> int | str:
        return KEEP if self.default is None else self.default


@dataclass(frozen=True)
class Relabelled:
    """A converted mask and how many of its pixels the spec did not list (they took ``default``)."""

    labels: np.ndarray  # (H, W) uint8, or uint16 when a label above 255 can come out
    unlisted: int = 0


# --- applying ----------------------------------------------------------------------------------------


def relabel(mask: np.ndarray, spec: LabelSpec) -> Relabelled:
    """Apply a spec to one source mask.

    Args:
        mask: (H, W) uint8/uint16 labels; for ``colors`` an (H, W, 3) uint8 colour mask in BGR order as
            OpenCV decodes it; for ``threshold`` either kind (colour converts to grey first).
        spec: the parsed ``labels:`` section.
    Returns:
        The (H, W) label mask and, for map and colors, how many pixels were not listed.
    Raises:
        PairError: the mask is not the kind the spec converts (colours given to a map, labels to colors).
    """
    if spec.table:
        return map_labels(mask, dict(spec.table), spec.default)
    if spec.colors:
        return colors_to_labels(mask, dict(spec.colors), spec.default)
    if spec.reduce_zero_label:
        return Relabelled(reduce_zero_label(mask))
    return Relabelled(threshold_mask(mask, spec.threshold))


def map_labels(mask: np.ndarray, table: dict[int, int], default: int | None = IGNORE) -> Relabelled:
    """Listed labels take their new value, every other label ``default`` (None: stays as it is).

    One lookup table per (table, default, dtype), so a 6000x6000 mask takes tens of milliseconds.
    Labels above what the mask's dtype holds are simply never met.
    """
    _need_labels(mask, "map")
    size = _lut_size(mask)
    items = tuple(sorted(table.items()))
    labels = _lookup(mask, _map_lut(items, default, size))
    listed = _listed_lut(tuple(k for k, _ in items), size)
    return Relabelled(labels, int(mask.size - np.count_nonzero(_lookup(mask, listed))))


def reduce_zero_label(mask: np.ndarray) -> np.ndarray:
    """mmsegmentation's ``reduce_zero_label``: 0 -> 255, 255 stays 255, every other label minus one."""
    _need_labels(mask, "reduce_zero_label")
    return _lookup(mask, _reduce_zero_lut(_lut_size(mask)))


def colors_to_labels(image: np.ndarray, colors: dict[Rgb, int], default: int = IGNORE) -> Relabelled:
    """An (H, W, 3) uint8 colour mask in BGR order (as OpenCV decodes) -> (H, W) labels.

    Args:
        image: the colour-coded mask, BGR.
        colors: RGB colour (as the recipe writes it) -> label.
        default: the label of every colour not listed.
    Returns:
        The labels, and how many pixels had a colour not listed.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PairError(f"labels.colors needs an 8-bit colour mask (3 channels), got {_describe(image)}; "
                        "a label mask takes labels.map")
    items = tuple(sorted(colors.items()))
    index = _colour_index(image, _colour_lut(tuple(rgb for rgb, _ in items)))
    values = np.array([default] + [label for _, label in items])
    labels = _lookup(index, values.astype(_smallest_dtype(values)))
    return Relabelled(labels, int(index.size - np.count_nonzero(index)))


def threshold_mask(mask: np.ndarray, threshold: int) -> np.ndarray:
    """Lossy binary masks (JPEG): ``>= threshold`` -> 1, else 0; a colour mask converts to grey first."""
    if mask.ndim == 3:
        mask = cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY)
    return np.greater_equal(mask, threshold).view(np.uint8)  # bool and uint8 share a layout: no copy


def _colour_index(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per pixel, 1 + the listed colour's position, or 0 for a colour not listed.

    Pixels pack to 0xRRGGBB in row bands, so the uint32 temporaries stay small on 6000x6000 masks.
    """
    index = np.empty(image.shape[:2], lut.dtype)
    for top in range(0, image.shape[0], _ROWS_PER_CHUNK):
        band = image[top: top + _ROWS_PER_CHUNK]
        code = band[..., 2].astype(np.uint32)  # BGR in memory: channel 2 is red
        code <<= 8
        code |= band[..., 1]
        code <<= 8
        code |= band[..., 0]
        np.take(lut, code, out=index[top: top + _ROWS_PER_CHUNK])
    return index


def _lookup(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``lut[mask]``; OpenCV's LUT is about four times faster for 8-bit masks and 256-entry tables."""
    if mask.dtype == np.uint8 and lut.shape == (256,):
        return cv2.LUT(mask, lut).reshape(mask.shape)
    if mask.dtype == np.uint8 and len(lut) < 256:
        lut = np.concatenate([lut, np.zeros(256 - len(lut), lut.dtype)])  # indices past the end never occur
        return cv2.LUT(mask, lut).reshape(mask.shape)
    return np.take(lut, mask)


@lru_cache(maxsize=8)
def _map_lut(items: tuple[tuple[int, int], ...], default: int | None, size: int) -> np.ndarray:
    lut = np.arange(size) if default is None else np.full(size, default)
    for source, target in items:
        if source < size:
            lut[source] = target
    return _frozen(lut.astype(_smallest_dtype(lut)))


@lru_cache(maxsize=8)
def _listed_lut(sources: tuple[int, ...], size: int) -> np.ndarray:
    lut = np.zeros(size, np.uint8)
    lut[[s for s in sources if s < size]] = 1
    return _frozen(lut)


@lru_cache(maxsize=2)
def _reduce_zero_lut(size: int) -> np.ndarray:
    lut = np.arange(size) - 1
    lut[0] = lut[255] = IGNORE
    return _frozen(lut.astype(np.uint8 if size == 256 else np.uint16))


@lru_cache(maxsize=4)
def _colour_lut(colours: tuple[Rgb, ...]) -> np.ndarray:
    """0xRRGGBB -> 1 + the colour's position in ``colours``; 0 for the other 16.7 million colours."""
    lut = np.zeros(1 << 24, np.uint8 if len(colours) < 256 else np.uint16)
    for position, (r, g, b) in enumerate(colours, start=1):
        lut[(r << 16) | (g << 8) | b] = position
    return _frozen(lut)


def _frozen(lut: np.ndarray) -> np.ndarray:
    lut.flags.writeable = False  # cached and shared by every call
    return lut


def _smallest_dtype(values: np.ndarray) -> type:
    return np.uint8 if int(values.max()) <= 255 else np.uint16


def _lut_size(mask: np.ndarray) -> int:
    return 256 if mask.dtype == np.uint8 else 65536


def _need_labels(mask: np.ndarray, option: str) -> None:
    if mask.ndim != 2 or mask.dtype not in (np.uint8, np.uint16):
        raise PairError(f"labels.{option} needs a label mask (one channel, uint8 or uint16), got "
                        f"{_describe(mask)}; a colour-coded mask takes labels.colors")


def _describe(array: np.ndarray) -> str:
    channels = "one channel" if array.ndim == 2 else f"{array.shape[2]} channels"
    return f"{channels}, {array.dtype}"


# --- parsing -----------------------------------------------------------------------------------------


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
            raise LabelsError(("colors", _shown_key(key)), f"the colour {_hex(rgb)} is given twice "
                              f"(also as {_show(seen[rgb])})")
        if not is_label(value):
            raise LabelsError(("colors", _shown_key(key)), f"maps to {_show(value)}, which is not a label "
                              f"(0 to {MAX_LABEL})")
        seen[rgb] = key
    return tuple(sorted((rgb, raw[key]) for rgb, key in seen.items()))


def parse_color(raw: Any) -> Rgb:
    """``"#ff8000"`` or ``[255, 128, 0]`` -> (255, 128, 0), in RGB order as the recipe writes it."""
    if isinstance(raw, str):
        if not _HEX.fullmatch(raw):
            raise LabelsError(("colors", raw), f"{raw!r} is not a colour; write #rrggbb (six hex digits, "
                              "quoted in YAML, where # starts a comment) or [R, G, B]")
        return int(raw[1:3], 16), int(raw[3:5], 16), int(raw[5:7], 16)
    if isinstance(raw, (list, tuple)) and len(raw) == 3 and all(_is_int(c) and 0 <= c <= 255 for c in raw):
        return int(raw[0]), int(raw[1]), int(raw[2])
    raise LabelsError(("colors", _shown_key(raw)), f"{_show(raw)} is not a colour; write #rrggbb or [R, G, B] "
                      "with each of R, G, B from 0 to 255")


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
        raise LabelsError(("threshold",), f"must be a whole number from 1 to {MAX_LABEL} (pixels >= it become 1), "
                          f"got {_show(raw)}")
    return raw


def is_label(value: Any) -> bool:
    """A whole number a uint16 mask can hold (True/False are not labels, though Python calls them ints)."""
    return _is_int(value) and 0 <= value <= MAX_LABEL


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _shown_key(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) else _show(key)


def _hex(rgb: Rgb) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
