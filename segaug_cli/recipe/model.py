"""The parsed recipe: frozen dataclasses, and the choices their fields may take.

Defaults live here, in the dataclasses; nothing past the parser sees a raw dict or a missing key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecipeError
from ..ops.spec import Range
from .checks import check_copies, check_seed
from .labelspec import LabelSpec
from .registry import OPS
from .tilespec import TileSpec

__all__ = [
    "BORDER_MODES",
    "IMAGE_FORMATS",
    "INTERPOLATIONS",
    "LAYOUTS",
    "LOSSY_FORMATS",
    "MASK_FORMATS",
    "TARGET_KINDS",
    "UNPAIRED",
    "Border",
    "Inputs",
    "LabelSpec",
    "Op",
    "Output",
    "Range",
    "Recipe",
    "Target",
    "TileSpec",
]

INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos")
BORDER_MODES = ("constant", "reflect", "replicate")
UNPAIRED = ("fail", "skip")  # an image without a mask: a failed pair, or skipped and counted
IMAGE_FORMATS = ("same", "png", "jpg", "tif")
MASK_FORMATS = ("png", "tif")
LOSSY_FORMATS = ("jpg", "jpeg", "webp")
TARGET_KINDS = ("label", "continuous")
LAYOUTS = ("split", "mirror")  # OUT/images + OUT/masks, or IN's own folders (see naming.folders_of)


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


MAX_PIXELS = 89_478_485  # 2**30 // 4 // 3, Pillow's MAX_IMAGE_PIXELS (about 9459x9459)


@dataclass(frozen=True)
class Inputs:
    """Where the pairs are in IN and how their names are read (see ``pairing.find_pairs``)."""

    images: str = "images"
    masks: str = "masks"
    mask_suffix: str = ""
    image_suffix: str = ""  # e.g. _leftImg8bit: not part of the key, kept in output names
    split: str | None = None  # a file of keys, relative to IN: only those pairs are used
    unpaired: str = "fail"  # fail | skip
    # a pair whose image, mask or target holds more pixels fails, its header read before any decoding:
    # Pillow's MAX_IMAGE_PIXELS, the size at which it warns of a decompression bomb
    max_pixels: int = MAX_PIXELS


@dataclass(frozen=True)
class Output:
    image_format: str = "same"
    mask_format: str = "png"
    jpeg_quality: int = 95
    # None: the fastest encoder settings measured per kind of file (files.png_params; zlib level 1 for
    # palette masks), never slower than OpenCV's default; a level 0-9 is passed to the encoder as is
    png_compression: int | None = None
    # "fast": 8-bit RGB(A) images through fpng (about 3x faster to write than libdeflate level 1, about
    # 10 % larger); "small": every PNG through segaug's libdeflate writer. Masks always take the latter.
    png: str = "fast"
    layout: str = "split"  # split | mirror: where outputs go, so names only (not in the fingerprint)
    mask_suffix: str | None = None  # replaces inputs.mask_suffix in output names; None keeps it


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
    labels: LabelSpec | None = None  # applied to each source mask once, before augmentation
    tiles: TileSpec | None = None  # each source pair cut into windows, each window a pair of its own

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
        """The recipe with command-line overrides applied (None keeps the recipe's value).

        Raises:
            RecipeError: an override is out of range; the message names the option.
        """
        changes: dict[str, Any] = {}
        if seed is not None:
            changes["seed"] = check_seed(seed, lambda msg: RecipeError("--seed", None, "", msg))
        if copies is not None:
            changes["copies"] = check_copies(copies, lambda msg: RecipeError("--copies", None, "", msg))
        return dataclasses.replace(self, **changes)

    def sample_content(self) -> str:
        """Canonical JSON of everything that decides the pixels of an augmented copy.

        ``copies``, ``class_copies``, ``keep_original`` and ``inputs`` are left out: they decide which
        samples exist and where their sources are, not what a given sample looks like, so changing
        them must not invalidate samples that are still produced. So are the output's ``layout`` and
        ``mask_suffix``: they decide names, and a sample under another name is another sample.
        """
        import json  # only expand and check need it: `segaug validate` starts faster without

        content = dataclasses.asdict(self)
        for key in ("copies", "class_copies", "keep_original", "inputs", "labels", "tiles"):
            content.pop(key)
        for key in ("layout", "mask_suffix"):
            content["output"].pop(key)
        content.update(self._source_content())  # absent when unused: older recipes keep their fingerprints
        return json.dumps(content, sort_keys=True, separators=(",", ":"))

    def original_content(self) -> str:
        """What decides a kept original's bytes: nothing (it is copied) unless labels or tiles re-encode it."""
        import json

        source = self._source_content()
        if not source:
            return "original"
        # a re-encoded original is written with the output settings, so they decide its bytes too
        encoding = {"png": self.output.png, "png_compression": self.output.png_compression}
        return json.dumps({**source, **encoding}, sort_keys=True, separators=(",", ":"))

    def _source_content(self) -> dict[str, str]:
        """The label map and the tile grid, each as its spec's stable text, when the recipe has them."""
        found = {"labels": self.labels, "tiles": self.tiles}
        return {key: spec.text() for key, spec in found.items() if spec is not None}
