"""The ``tiles:`` section of a recipe: parsed into a frozen ``TileSpec``, standard library only.

``tiles: {size: [h, w], stride: [h, w], partial: shift|pad, min_labelled, ignore, background}``;
``segaug_cli.tiles`` lays the grid and cuts the windows. It lives in the recipe package, without
NumPy, so that loading a recipe stays fast. ``Window`` is here too: the manifest's ``source_window``.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from typing import Any

from ..errors import TilesError

KEYS = ("size", "stride", "partial", "min_labelled", "ignore", "background")
PARTIAL = ("shift", "pad")
MAX_LABEL = 65535

Keys = tuple[str, ...]


@dataclass(frozen=True)
class TileSpec:
    """One parsed ``tiles:`` section. Sizes are (height, width) in pixels."""

    size: tuple[int, int]
    stride: tuple[int, int]
    partial: str = "shift"  # shift | pad
    min_labelled: float = 0.0  # share of a window's pixels that must carry a label; 0 keeps every window
    ignore: int | None = 255  # a label that does not count as labelled
    background: int | None = None  # another label that does not count (e.g. 0), when given

    def text(self) -> str:
        """A stable one-line form for the run's fingerprint: any change to the grid or the skip rule
        gives another text."""
        fields = {
            "size": list(self.size),
            "stride": list(self.stride),
            "partial": self.partial,
            "min_labelled": self.min_labelled,
            "ignore": self.ignore,
            "background": self.background,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Window:
    """A window of the source, in pixels; with ``partial: pad`` it may run past the bottom/right border."""

    top: int
    left: int
    height: int
    width: int

    def text(self) -> str:
        """The manifest's ``source_window`` column: top, left, height, width separated by spaces."""
        return f"{self.top} {self.left} {self.height} {self.width}"


def parse_tiles(raw: Any) -> TileSpec | None:
    """The ``tiles:`` section as a spec; None when absent (pairs are used whole).

    Raises:
        TilesError: an unknown key, a size or stride that is not positive, a share outside [0, 1].
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TilesError((), f"must be a mapping such as {{size: [512, 512], stride: [512, 512]}}, got {_show(raw)}")
    for key in raw:
        if key not in KEYS:
            raise TilesError((str(key),), f"unknown key; expected one of {', '.join(KEYS)}")
    if "size" not in raw:
        raise TilesError(("size",), "is required: the [height, width] of a tile in pixels")
    size = _pixels(raw["size"], "size")
    partial = raw.get("partial", "shift")
    if partial not in PARTIAL:
        raise TilesError(("partial",), f"must be shift or pad, got {_show(partial)}")
    return TileSpec(
        size=size,
        stride=_pixels(raw.get("stride", list(size)), "stride"),
        partial=partial,
        min_labelled=_share(raw.get("min_labelled", 0.0)),
        ignore=_label_or_none(raw.get("ignore", 255), "ignore"),
        background=_label_or_none(raw.get("background"), "background"),
    )


def _pixels(raw: Any, key: str) -> tuple[int, int]:
    """``512`` or ``[512, 256]`` -> (height, width), each a whole number >= 1."""
    pair = [raw, raw] if _is_int(raw) else raw
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(_is_int(v) and v >= 1 for v in pair)):
        raise TilesError((key,), f"must be [height, width] in pixels, whole numbers of at least 1, got {_show(raw)}")
    return int(pair[0]), int(pair[1])


def _share(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 <= raw <= 1:
        raise TilesError(("min_labelled",), f"must be a share from 0 to 1 (0.05 = 5% of the pixels), got {_show(raw)}")
    return float(raw)


def _label_or_none(raw: Any, key: str) -> int | None:
    if raw is not None and not (_is_int(raw) and 0 <= raw <= MAX_LABEL):
        raise TilesError((key,), f"must be a label from 0 to {MAX_LABEL}, or null for none, got {_show(raw)}")
    return raw


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # NumPy integers too


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
