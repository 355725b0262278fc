"""A contact sheet of sampled pairs, each mask overlaid on its image: see a recipe before expanding.

Rows are pairs, columns the source pair and then copies 0..M-1. Each copy is rendered from the seed
``expand`` gives it (``sample_seed(recipe.seed, key, copy)``) through the same ``augment.render``,
so a tile shows exactly the pair ``expand`` writes as ``<key>_aug<copy>`` (for a pair that gets at
least copy+1 copies). Pure arrays out: the caller encodes and writes the sheet.

Choices, all written down in the README's "Preview" section:

- Which pairs: K spread evenly over the dataset in key order (pair ``i * N // K`` for i < K), so a
  dataset of several folders shows several of them; the first pair is always included. IN is paired
  exactly as ``expand`` pairs it (suffixes, split file, extra targets), and walked twice instead of
  held: once to count the pairs, once to take the K.
- Colours: one fixed colour per label value, from a golden-ratio walk round the hue circle (so
  neighbouring labels are far apart), the same in every tile and every sheet. Palette PNG masks use
  their own palette; colour-coded masks use their own colours.
- Ignore: label 255 of 8-bit label masks (the usual "void" value) is not a class; it is drawn as a
  dark diagonal hatch rather than a colour.
- Display: uint16 images are scaled by 65535 -> 255, float32 by 1.0 -> 255 (clipped), grey becomes
  grey BGR, alpha is composited over mid-grey, and images of more than 4 channels show their first 3.
- IN may be a URL (``s3://bucket/raw``): it is paired from one listing and only the pairs shown are
  read, one GET each for image and mask; the sheet may be written to a URL too, as one whole object.
"""

from __future__ import annotations

import colorsys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from . import codecs, storage
from .augment import render
from .errors import SegaugError, UsageError
from .pairing import Listed, Pair, scan_inputs
from .recipe import Recipe, spec_of
from .sampling import Draw, applied_leaves, draw_for, sample_seed

GOLDEN = 0.6180339887498949  # hue step between consecutive labels: never close to a recent one
FIRST_HUE = 0.58  # label 0 (usually background or sky) gets a calm azure rather than red
IGNORE_LABEL = 255
OVERLAY_ALPHA = 0.35  # class colour over the image: the image stays readable underneath
EDGE_ALPHA = 0.9  # class boundaries nearly opaque, so thin and small classes stay visible
HATCH_PERIOD = 6  # pixels per stripe pair of the ignore hatch
HATCH_DARK = (40, 40, 40)
SHEET_BACKGROUND = (236, 236, 236)  # BGR; light grey reads well on light and dark README themes
LETTERBOX = (224, 224, 224)  # the part of a tile that is not image: a shade off the sheet, not black
TEXT = (32, 32, 32)
MUTED_TEXT = (96, 96, 96)
ERROR_TEXT = (30, 30, 190)
FONT = cv2.FONT_HERSHEY_SIMPLEX
CAPTION_LINES = 4  # key and "source" / "copy k"; then three lines for the ops or the source's details


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Pixel sizes of a sheet: square tiles, a caption strip under each, gaps around both."""

    tile: int
    gap: int
    font_scale: float
    line: int  # caption line height
    caption: int  # caption strip height

    def size(self, rows: int, cols: int) -> tuple[int, int]:
        """(height, width) of a sheet of rows x cols tiles."""
        height = rows * (self.tile + self.caption) + (rows + 1) * self.gap
        return height, cols * self.tile + (cols + 1) * self.gap

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """(y, x) of a tile's top-left corner."""
        return self.gap + row * (self.tile + self.caption + self.gap), self.gap + col * (self.tile + self.gap)


def layout_for(tile: int) -> Layout:
    """The layout of ``tile``-pixel tiles; text grows with the tile so it stays legible when a
    README shrinks the sheet to the page width."""
    if tile < 32:
        raise UsageError(f"--tile {tile}: tiles must be at least 32 pixels")
    font_scale = max(0.35, tile / 440)
    (_, height), baseline = cv2.getTextSize("Hg", FONT, font_scale, 1)
    line = height + baseline + max(2, height // 3)
    gap = max(4, tile // 32)
    return Layout(tile, gap, font_scale, line, CAPTION_LINES * line + gap // 2)


# ---------------------------------------------------------------------------------------------
# The sheet
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One tile of the sheet and the lines of its caption."""

    pixels: np.ndarray  # (tile, tile, 3) uint8 BGR
    key: str
    role: str  # "source" or "copy k": with the key, the caption's first line
    text: str  # the rest of the caption, wrapped at ", "


def contact_sheet(
    recipe: Recipe,
    in_dir: str | Path,
    pairs: int = 4,
    samples: int = 4,
    tile: int = 256,
    storage_options: dict | None = None,
) -> np.ndarray:
    """A contact sheet: ``pairs`` rows of the source pair then ``samples`` augmented copies.

    Args:
        recipe: the parsed recipe; its ``inputs`` say where the pairs are.
        in_dir: the dataset folder (IN), or its URL.
        pairs: how many pairs (rows), spread evenly over the dataset in key order.
        samples: how many copies per pair (copies 0..samples-1, as ``expand`` seeds them).
        tile: the side of each square tile, in pixels.
        storage_options: the backend's options when ``in_dir`` is a URL.
    Returns:
        (H, W, 3) uint8 BGR image of ``layout_for(tile).size(rows, samples + 1)``.
    Raises:
        UsageError: IN has no pairs, its folders are missing, or a count is out of range.
        StorageError: IN is a URL whose store cannot be read.
    """
    if pairs < 1 or samples < 0:
        raise UsageError(f"--pairs must be at least 1 and --samples at least 0 (got {pairs} and {samples})")
    layout = layout_for(tile)
    source = _source(in_dir, storage_options or {})
    # Paired as expand pairs (suffixes, split, targets), walked twice rather than held: once to count.
    scan = scan_inputs(source, recipe.inputs, recipe.targets)
    total = sum(1 for _ in scan)
    if not total:
        where = f"{source.url}/{recipe.inputs.images}" if isinstance(source, Listed) else source / recipe.inputs.images
        raise UsageError(f"{where}: no images found")
    rows = [_row(recipe, source, pair, samples, layout.tile) for pair in spread(scan, total, pairs)]
    return _assemble(rows, layout, samples + 1)


def _source(in_dir: str | Path, storage_options: dict) -> Path | Listed:
    """IN as pairing reads it: a local folder, or a URL's one listing (its backend imported only then)."""
    return storage.source_of(in_dir, storage_options, must_exist=True)


def spread(items: Iterable[Pair], n: int, count: int) -> list[Pair]:
    """``count`` of the ``n`` items evenly spread over them (all of them when there are fewer), first
    included: item ``i * n // count`` for each i < count."""
    wanted = {i * n // count for i in range(count)} if count < n else range(n)
    return [item for index, item in enumerate(items) if index in wanted]


def _assemble(rows: list[list[Cell]], layout: Layout, cols: int) -> np.ndarray:
    """Paste the cells; a short row (a pair that failed to load) leaves its other cells empty."""
    sheet = np.empty((*layout.size(len(rows), cols), 3), np.uint8)
    sheet[:] = SHEET_BACKGROUND
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            y, x = layout.origin(r, c)
            sheet[y : y + layout.tile, x : x + layout.tile] = cell.pixels
            _caption(sheet, cell, (y + layout.tile, x), layout)
    return sheet


def _row(recipe: Recipe, in_dir: Path | Listed, pair: Pair, samples: int, size: int) -> list[Cell]:
    """The source cell and one cell per copy; a pair that cannot be loaded gets one error cell (a
    store that fails stops the command instead: it is no fault of the pair)."""
    try:
        image, mask = _load(in_dir, pair)
    except storage.StorageError:
        raise
    except SegaugError as exc:
        return [Cell(error_tile(str(exc), size), pair.key, "source", "cannot be loaded")]
    source = Cell(tile(image, mask.labels, mask.palette, size), pair.key, "source", _describe(image, mask))
    return [source] + [_copy_cell(recipe, pair.key, image, mask, k, size) for k in range(samples)]


def _load(in_dir: Path | Listed, pair: Pair) -> tuple[np.ndarray, codecs.Mask]:
    if pair.problem:
        raise UsageError(f"{pair.image}: {pair.problem}")
    image_bytes, mask_bytes = _read(in_dir, pair.image), _read(in_dir, pair.mask)
    return codecs.decode_pair(image_bytes, mask_bytes, pair.image, pair.mask)


def _read(in_dir: Path | Listed, rel: str) -> bytes:
    return in_dir.fetch(rel) if isinstance(in_dir, Listed) else codecs.read_bytes(in_dir / rel)


def _copy_cell(recipe: Recipe, key: str, image: np.ndarray, mask: codecs.Mask, copy: int, size: int) -> Cell:
    draws = draw_for(recipe.transforms, sample_seed(recipe.seed, key, copy))
    try:
        rendered = render(image, mask.labels, draws, recipe)
    except SegaugError as exc:  # e.g. fills that do not fit this pair: expand fails it the same way
        return Cell(error_tile(str(exc), size), key, f"copy {copy}", "failed")
    pixels = tile(rendered.image, rendered.mask, mask.palette, size)
    return Cell(pixels, key, f"copy {copy}", summarise(draws))


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------


def summarise(draws: tuple[Draw, ...]) -> str:
    """The applied ops of a sample, short: ``rotate +7, scale 1.04, hflip, brightness``."""
    names = [spec_of(d.name).label(d) for _, d in applied_leaves(draws) if not d.children]
    return ", ".join(names) or "no op applied"


def _describe(image: np.ndarray, mask: codecs.Mask) -> str:
    """``320x240 grey uint8, classes 0 1 2 255`` for a source tile's caption."""
    channels = {2: "grey", 3: "colour", 4: "colour+alpha"}.get(image.shape[2] if image.ndim == 3 else 2)
    kind = channels or f"{image.shape[2]}-band"
    labels = mask.labels
    if labels.ndim == 3:
        classes = f"{len(np.unique(labels.reshape(-1, 3), axis=0))} class colours"
    else:
        classes = "classes " + " ".join(str(v) for v in np.unique(labels))
    return f"{image.shape[1]}x{image.shape[0]} {kind} {image.dtype}, {classes}"


def _caption(sheet: np.ndarray, cell: Cell, corner: tuple[int, int], layout: Layout) -> None:
    """Write a caption under a tile: key and role dark on the first line (the key cut first, so the
    role always shows), then the text muted and wrapped between list items, so ``rotate +7`` never
    breaks across lines."""
    scale, width = layout.font_scale, layout.tile
    role = f"  {cell.role}"
    first = _fit(cell.key, scale, width - _text_width(role, scale)) + role
    items = cell.text.split(", ")
    words = [item + "," for item in items[:-1]] + items[-1:]
    lines = [(first, TEXT)] + [(text, MUTED_TEXT) for text in _wrap(words, scale, width, CAPTION_LINES - 1)]
    y, x = corner
    for i, (text, colour) in enumerate(lines):
        baseline = y + (i + 1) * layout.line - layout.line // 4
        cv2.putText(sheet, text, (x + 1, baseline), FONT, scale, colour, 1, cv2.LINE_AA)


def _text_width(text: str, font_scale: float) -> int:
    return cv2.getTextSize(text, FONT, font_scale, 1)[0][0]


def _fit(text: str, font_scale: float, width: int) -> str:
    """``text``, cut with ``...`` where it would run past ``width`` pixels."""
    if _text_width(text, font_scale) <= width:
        return text
    while text and _text_width(text + "...", font_scale) > width:
        text = text[:-1]
    return text + "..."


def _wrap(words: list[str], font_scale: float, width: int, max_lines: int) -> list[str]:
    """Greedy wrap of ``words`` (joined by spaces) to ``width``; the last line ends in ``...`` when
    words are left over, and a word too long for a line is cut."""
    lines: list[str] = []
    words = list(words)
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and _text_width(f"{line} {words[0]}", font_scale) <= width:
            line += " " + words.pop(0)
        lines.append(line)
    if words:  # the next word did not fit, so this is too long and _fit cuts it
        lines[-1] = f"{lines[-1]} {' '.join(words)}"
    return [_fit(line, font_scale, width) for line in lines]


# ---------------------------------------------------------------------------------------------
# One tile: display image, letterbox, overlay
# ---------------------------------------------------------------------------------------------


def tile(image: np.ndarray, labels: np.ndarray, palette: list[int] | None, size: int) -> np.ndarray:
    """One tile: the image with its mask overlaid, letterboxed into a ``size`` x ``size`` square.

    Args:
        image: (H, W[, C]) uint8/uint16/float32 image, BGR[A] for 3 or 4 channels.
        labels: (H, W) uint8/uint16 label mask, or (H, W, 3) uint8/uint16 BGR class colours.
        palette: a palette PNG's flat [R, G, B, ...] palette, or None.
    Returns:
        (size, size, 3) uint8 BGR.
    """
    h, w = labels.shape[:2]
    scale = min(size / h, size / w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    smooth = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    shown = cv2.resize(to_display(image), (tw, th), interpolation=smooth)
    small = cv2.resize(labels, (tw, th), interpolation=cv2.INTER_NEAREST)  # labels are never blended
    out = np.empty((size, size, 3), np.uint8)
    out[:] = LETTERBOX
    y0, x0 = (size - th) // 2, (size - tw) // 2
    out[y0 : y0 + th, x0 : x0 + tw] = overlay(shown, small, palette)
    return out


def to_display(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR for any image segaug reads, scaled by its dtype's full range."""
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)  # 65535 -> 255 exactly
    elif image.dtype == np.float32:  # float images are taken to span [0, 1]
        image = (np.clip(np.nan_to_num(image), 0, 1) * 255 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 4:
        alpha = image[:, :, 3:].astype(np.float32) / 255
        return (image[:, :, :3] * alpha + 128 * (1 - alpha) + 0.5).astype(np.uint8)
    if channels == 3:
        return image
    if channels == 2:  # grey and alpha (or two bands): the first shows as grey
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, 0]), cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image[:, :, :3])  # multispectral: the first three bands


def overlay(shown: np.ndarray, labels: np.ndarray, palette: list[int] | None) -> np.ndarray:
    """Tint each class with its colour, draw class boundaries, and hatch the ignore label."""
    colours = class_colour_image(labels, palette)
    out = shown.astype(np.float32) * (1 - OVERLAY_ALPHA) + colours.astype(np.float32) * OVERLAY_ALPHA
    edges = boundaries(labels)
    out[edges] = shown[edges] * (1 - EDGE_ALPHA) + colours[edges].astype(np.float32) * EDGE_ALPHA
    if labels.ndim == 2 and labels.dtype == np.uint8:
        ignored = labels == IGNORE_LABEL
        out[ignored] = shown[ignored] * 0.6 + 0.4 * np.float32(HATCH_DARK[0])  # dimmed between the stripes
        out[ignored & _stripes(labels.shape)] = HATCH_DARK
    return (out + 0.5).astype(np.uint8)


def class_colour_image(labels: np.ndarray, palette: list[int] | None) -> np.ndarray:
    """(H, W, 3) uint8 BGR: each pixel's class colour (colour masks are their own colours)."""
    if labels.ndim == 3:
        return labels if labels.dtype == np.uint8 else to_display(labels)
    return class_colours(labels.dtype, palette)[labels]


def class_colours(dtype: np.dtype, palette: list[int] | None = None) -> np.ndarray:
    """(N, 3) uint8 BGR colour of every label value of ``dtype``; a palette overrides its entries."""
    table = _hue_walk(int(np.iinfo(dtype).max) + 1)
    if palette is None:
        return table
    rgb = np.asarray(palette[: len(palette) // 3 * 3], np.uint8).reshape(-1, 3)[: len(table)]
    table = table.copy()
    table[: len(rgb)] = rgb[:, ::-1]
    return table


@cache
def _hue_walk(count: int) -> np.ndarray:
    """Label v -> hue FIRST_HUE + v * golden ratio; every fifth label's ring changes saturation and
    value, so labels whose hues come round close together (v and v + 5, v + 8) still differ."""
    rings = ((0.85, 1.0), (1.0, 0.7), (0.5, 1.0))  # (saturation, value)
    cycle = min(count, 768)  # beyond 768 labels (instance ids) the colours repeat
    rgb = [colorsys.hsv_to_rgb((FIRST_HUE + v * GOLDEN) % 1, *rings[(v // 5) % 3]) for v in range(cycle)]
    bgr = (np.array(rgb)[:, ::-1] * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.resize(bgr, (count, 3)))


def boundaries(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose right, left, upper or lower neighbour has another label (or colour)."""
    differs_x = labels[:, 1:] != labels[:, :-1]
    differs_y = labels[1:] != labels[:-1]
    if labels.ndim == 3:
        differs_x, differs_y = differs_x.any(axis=2), differs_y.any(axis=2)
    edges = np.zeros(labels.shape[:2], bool)
    edges[:, 1:] |= differs_x
    edges[:, :-1] |= differs_x
    edges[1:] |= differs_y
    edges[:-1] |= differs_y
    return edges


def _stripes(shape: tuple[int, ...]) -> np.ndarray:
    yy, xx = np.indices(shape[:2])
    return (xx + yy) % HATCH_PERIOD < HATCH_PERIOD // 2


def error_tile(message: str, size: int) -> np.ndarray:
    """A tile that says why a pair could not be shown, wrapped to the tile."""
    layout, margin = layout_for(size), 6
    width, room = size - 2 * margin, (size - 2 * margin) // layout.line - 1
    out = np.empty((size, size, 3), np.uint8)
    out[:] = LETTERBOX
    lines = ["cannot show this pair:"] + _wrap(message.split(" "), layout.font_scale, width, room)
    for i, text in enumerate(lines):
        cv2.putText(
            out,
            _fit(text, layout.font_scale, width),
            (margin, margin + (i + 1) * layout.line),
            FONT,
            layout.font_scale,
            ERROR_TEXT if i == 0 else TEXT,
            1,
            cv2.LINE_AA,
        )
    return out


def png_bytes(sheet: np.ndarray) -> bytes:
    """The sheet as PNG, compressed hard: it is written once and often committed to a repository."""
    ok, buffer = cv2.imencode(".png", sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise UsageError("cannot encode the contact sheet as PNG")
    return buffer.tobytes()


def output_path(in_dir: str | Path, output: str | Path) -> str | Path:
    """Where the sheet may be written: a ``.png`` file (or object, at a URL) outside IN, which is never
    written to.

    Raises:
        UsageError: another extension, a path inside IN, or a URL that names no object in a bucket.
    """
    return storage.check_output_file(in_dir, output, ".png", "the contact sheet is a PNG")


def write_sheet(path: str | Path, data: bytes, storage_options: dict | None = None) -> None:
    """Write the sheet's PNG whole: a local file atomically, or at a URL one object in one PUT."""
    storage.write_file(path, data, storage_options)
