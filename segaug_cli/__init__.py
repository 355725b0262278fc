"""segaug: offline augmentation for semantic-segmentation datasets.

The public Python interface is ``__all__`` (docs/python.md). Its names load on first use, so that
``import segaug_cli`` (and every ``segaug`` command) does not pay for NumPy and OpenCV up front.
"""

from __future__ import annotations

import importlib

from . import cpu
from .errors import RecipeError, SegaugError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms), as mypy reads it
if TYPE_CHECKING:
    from typing import Any

    from .api import ExpandResult, Recipe, Sample, expand, read_pair
    from .dataset import AugmentedPairs

__version__ = "0.1.0"

cpu.pin()  # before anything loads OpenCV: see segaug_cli.cpu

__all__ = [
    "AugmentedPairs",
    "ExpandResult",
    "Recipe",
    "RecipeError",
    "Sample",
    "SegaugError",
    "__version__",
    "expand",
    "read_pair",
]

_LAZY = {
    "AugmentedPairs": "dataset",
    "ExpandResult": "api",
    "Recipe": "api",
    "Sample": "api",
    "expand": "api",
    "read_pair": "api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
