"""Recipes: YAML in, frozen dataclasses out, validated against the op registry.

``model`` holds the dataclasses, ``loader`` reads YAML with the line of every key, ``parse`` checks
each section (``labelspec`` and ``tilespec`` the labels and tiles sections; ``layoutspec`` where
the outputs go in OUT), ``registry`` lists the ops that ``segaug_cli.ops`` defines. The names below
are the package's interface; other modules import them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RecipeError
from ..ops.spec import OpSpec, ParamSpec, SettingSpec
from .checks import MAX_COPIES
from .layoutspec import output_folders, output_mask_suffix, walked_folders
from .loader import as_loaded
from .model import (
    BORDER_MODES,
    IMAGE_FORMATS,
    INTERPOLATIONS,
    LOSSY_FORMATS,
    MASK_FORMATS,
    TARGET_KINDS,
    UNPAIRED,
    Border,
    Inputs,
    LabelSpec,
    Op,
    Output,
    Range,
    Recipe,
    Target,
    TileSpec,
)
from .parse import MAX_CHANNELS, TOP_KEYS, At, parse, recipe_of
from .registry import GEOMETRIC_OPS, OPS, PHOTOMETRIC_OPS, spec_of

__all__ = [
    "BORDER_MODES",
    "GEOMETRIC_OPS",
    "IMAGE_FORMATS",
    "INTERPOLATIONS",
    "LOSSY_FORMATS",
    "MASK_FORMATS",
    "MAX_CHANNELS",
    "MAX_COPIES",
    "OPS",
    "PHOTOMETRIC_OPS",
    "TARGET_KINDS",
    "TOP_KEYS",
    "UNPAIRED",
    "Border",
    "Inputs",
    "LabelSpec",
    "Op",
    "OpSpec",
    "Output",
    "ParamSpec",
    "Range",
    "Recipe",
    "SettingSpec",
    "Target",
    "TileSpec",
    "load",
    "output_folders",
    "output_mask_suffix",
    "parse",
    "parse_data",
    "spec_of",
    "walked_folders",
]


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


def parse_data(data: Any, name: str = "<mapping>") -> Recipe:
    """Validate a recipe given as data, as YAML would load it (mappings, lists, strings, numbers,
    booleans, None; tuples read as lists). The data is copied, never changed.

    Args:
        name: what the error messages call the recipe (there is no file, so no line either).
    Raises:
        RecipeError: the data breaks a rule; the message names the key, as for a file.
    """
    return recipe_of(as_loaded(data, name), At(name, {}))
