"""`segaug preview`: the contact sheet's layout, what its tiles show, and the command's exit codes."""

from __future__ import annotations

import io
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_dataset, write_png, write_recipe
from PIL import Image

from segaug_cli import engine, preview, recipe
from segaug_cli.sampling import draw_for

TILE = 64
GEOMETRIC = (
    "seed: 3\ncopies: 3\ntransforms:\n  - rotate: {degrees: [-25, 25]}\n"
    "  - scale: {range: [0.8, 1.2]}\n  - hflip: {p: 0.5}\n"
)
BAD_ROTATE = "seed: 0\ncopies: 2\ntransforms:\n  - rotate: {degrees: [30, -30]}\n"
GREY = 128


def load(tmp_path: Path, text: str = GEOMETRIC) -> recipe.Recipe:
    return recipe.load(write_recipe(tmp_path / "r.yaml", text))


def cell(sheet: np.ndarray, row: int, col: int, tile: int = TILE) -> np.ndarray:
    y, x = preview.layout_for(tile).origin(row, col)
    return sheet[y : y + tile, x : x + tile]


def blended(bgr) -> np.ndarray:
    """What the overlay makes of a class colour over a uniform grey image."""
    return GREY * (1 - preview.OVERLAY_ALPHA) + np.asarray(bgr, np.float64) * preview.OVERLAY_ALPHA


def pixels_near(tile: np.ndarray, colour: np.ndarray) -> int:
    return int((np.abs(tile.astype(np.float64) - colour).max(axis=2) <= 1).sum())


def grey_pair(root: Path, key: str, mask: np.ndarray) -> None:
    write_png(root / "images" / f"{key}.png", np.full((*mask.shape, 3), GREY, np.uint8))
    write_png(root / "masks" / f"{key}.png", mask)


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


def test_sheet_is_pairs_by_source_plus_samples_tiles_with_captions(tmp_path, dataset):
    layout = preview.layout_for(TILE)
    sheet = preview.contact_sheet(load(tmp_path), dataset, pairs=2, samples=3, tile=TILE)
    caption_and_gaps = (2 * layout.caption + 3 * layout.gap, 5 * layout.gap)
    assert sheet.shape == (2 * TILE + caption_and_gaps[0], 4 * TILE + caption_and_gaps[1], 3)
    assert sheet.dtype == np.uint8
    assert layout.caption >= preview.CAPTION_LINES * 10  # room for legible lines, not a sliver
    y, x = layout.origin(0, 1)
    caption = sheet[y + TILE : y + TILE + layout.caption, x : x + TILE]
    assert (caption != preview.SHEET_BACKGROUND).any(axis=2).sum() > 100  # text was written there


def test_more_pairs_asked_than_exist_gives_one_row_per_pair(tmp_path, dataset):
    three = preview.contact_sheet(load(tmp_path), dataset, pairs=10, samples=1, tile=TILE)
    assert three.shape[:2] == preview.layout_for(TILE).size(3, 2)


def test_pairs_are_spread_over_the_dataset_first_included():
    items = [f"p{i:02}" for i in range(12)]
    assert preview.spread(iter(items), 12, 4) == ["p00", "p03", "p06", "p09"]
    assert preview.spread(iter(items), 12, 1) == ["p00"]
    assert preview.spread(iter(items[:3]), 3, 5) == items[:3]


# ---------------------------------------------------------------------------------------------
# What the tiles show
# ---------------------------------------------------------------------------------------------


def test_first_column_is_the_source_rendering(tmp_path, dataset):
    sheet = preview.contact_sheet(load(tmp_path), dataset, pairs=3, samples=2, tile=TILE)
    for row, key in enumerate(["a", "b", "city/c"]):
        image = cv2.imread(str(dataset / "images" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(dataset / "masks" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(cell(sheet, row, 0), preview.tile(image, mask, None, TILE)), key


def test_augmented_tiles_differ_from_the_source_and_from_each_other(tmp_path, dataset):
    sheet = preview.contact_sheet(load(tmp_path), dataset, pairs=3, samples=4, tile=TILE)
    for row in range(3):
        tiles = [cell(sheet, row, col) for col in range(5)]
        for (i, first), (j, second) in combinations(enumerate(tiles), 2):
            assert not np.array_equal(first, second), (row, i, j)


def test_copies_are_exactly_what_expand_writes(tmp_path, dataset):
    rcp = load(tmp_path)
    sheet = preview.contact_sheet(rcp, dataset, pairs=3, samples=3, tile=TILE)
    out = tmp_path / "out"
    summary = engine.expand(rcp, dataset, out, engine.ExpandOptions(workers=1))
    assert summary.written == 9 and not summary.failed
    for row, key in enumerate(["a", "b", "city/c"]):
        for k in range(3):
            image = cv2.imread(str(out / "images" / f"{key}_aug{k}.png"), cv2.IMREAD_UNCHANGED)
            mask = cv2.imread(str(out / "masks" / f"{key}_aug{k}.png"), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(cell(sheet, row, k + 1), preview.tile(image, mask, None, TILE)), (key, k)


def test_a_class_has_one_colour_in_every_tile(tmp_path):
    root = tmp_path / "in"
    first, second = np.ones((60, 80), np.uint8), np.full((60, 80), 7, np.uint8)
    first[15:45, 20:60] = 3  # class 3 with class 1 in one pair, with class 7 in the other:
    second[10:50, 10:40] = 3  # a colour assigned by order of appearance would differ between them
    grey_pair(root, "p", first)
    grey_pair(root, "q", second)
    sheet = preview.contact_sheet(load(tmp_path), root, pairs=2, samples=3, tile=TILE)
    colours = preview.class_colours(np.dtype(np.uint8))
    class_3, class_1, class_7 = (blended(colours[label]) for label in (3, 1, 7))
    assert min(np.abs(class_3 - class_1).max(), np.abs(class_3 - class_7).max()) > 20  # told apart
    for row in range(2):
        for col in range(4):
            assert pixels_near(cell(sheet, row, col), class_3) > 100, (row, col)
            other = class_1 if row == 0 else class_7
            assert pixels_near(cell(sheet, row, col), other) > 100, (row, col)


def test_palette_masks_use_their_own_palette(tmp_path):
    root = tmp_path / "in"
    labels = np.zeros((60, 80), np.uint8)
    labels[10:50, 10:40], labels[10:50, 45:75] = 1, 2
    palette = [0, 0, 0, 255, 0, 0, 0, 0, 255]  # RGB: index 1 red, index 2 blue
    img = Image.fromarray(labels, mode="P")
    img.putpalette(palette)
    (root / "masks").mkdir(parents=True)
    img.save(root / "masks" / "p.png")
    write_png(root / "images" / "p.png", np.full((60, 80, 3), GREY, np.uint8))
    sheet = preview.contact_sheet(load(tmp_path), root, pairs=1, samples=2, tile=TILE)
    red, blue = blended((0, 0, 255)), blended((255, 0, 0))  # BGR
    walk_1 = blended(preview.class_colours(np.dtype(np.uint8))[1])
    assert np.abs(walk_1 - red).max() > 20  # the palette colour is not what any label 1 would get
    for col in range(3):
        tile = cell(sheet, 0, col)
        assert pixels_near(tile, red) > 100 and pixels_near(tile, blue) > 100, col
        assert pixels_near(tile, walk_1) == 0, col


def test_ignore_label_is_hatched_not_coloured(tmp_path):
    labels = np.zeros((64, 64), np.uint8)
    labels[:, 32:] = preview.IGNORE_LABEL
    tile = preview.tile(np.full((64, 64), GREY, np.uint8), labels, None, 64)
    dark = (tile == preview.HATCH_DARK).all(axis=2)
    assert dark[:, 36:].mean() > 0.3  # stripes across the ignored half (its edge column aside)
    assert not dark[:, :30].any()
    ignore_colour = blended(preview.class_colours(np.dtype(np.uint8))[preview.IGNORE_LABEL])
    assert pixels_near(tile, ignore_colour) == 0


def test_images_of_every_dtype_display_by_full_range():
    shown = preview.to_display(np.array([[0, 4096, 65535]], np.uint16))
    assert shown.tolist() == [[[0] * 3, [16] * 3, [255] * 3]]  # scaled by 65535 -> 255, grey -> BGR
    assert preview.to_display(np.full((2, 2, 3), 1.5, np.float32)).max() == 255
    assert preview.to_display(np.full((2, 2, 3), 0.5, np.float32)).max() == 128
    transparent = np.zeros((2, 2, 4), np.uint8)
    assert (preview.to_display(transparent) == 128).all()  # no alpha: the grey behind shows
    assert preview.to_display(np.zeros((2, 2, 6), np.uint16)).shape == (2, 2, 3)


def test_caption_summarises_the_applied_ops(tmp_path):
    rcp = load(
        tmp_path,
        "transforms:\n  - rot90: {k: [1]}\n  - vflip: {p: 0}\n  - hflip: {p: 1}\n"
        "  - hsv: {}\n  - rotate: {degrees: -3.4}\n",
    )
    assert preview.summarise(draw_for(rcp.transforms, 1)) == "rot90 k=1, hflip, hsv, rotate -3"
    assert preview.summarise(()) == "no op applied"


def test_a_pair_that_cannot_be_loaded_gets_a_tile_saying_why(tmp_path, dataset):
    (dataset / "images" / "a.png").write_bytes(b"not a png")
    sheet = preview.contact_sheet(load(tmp_path), dataset, pairs=3, samples=2, tile=TILE)
    assert sheet.shape[:2] == preview.layout_for(TILE).size(3, 3)
    reason = "images/a.png: not a readable image (corrupt, truncated or an unsupported format)"
    assert np.array_equal(cell(sheet, 0, 0), preview.error_tile(reason, TILE))
    assert (cell(sheet, 0, 1) == preview.SHEET_BACKGROUND).all()  # no copies of a pair that is not there
    assert not np.array_equal(cell(sheet, 1, 1), cell(sheet, 1, 0))  # the next pair is still previewed
    only_failed = preview.contact_sheet(load(tmp_path), dataset, pairs=1, samples=2, tile=TILE)
    assert only_failed.shape[:2] == preview.layout_for(TILE).size(1, 3)  # the size never depends on failures


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


def test_cli_writes_a_png_of_the_sheet(cli, tmp_path, dataset):
    path = write_recipe(tmp_path / "r.yaml", GEOMETRIC)
    out = tmp_path / "sheets" / "preview.png"
    result = cli("preview", path, dataset, "-o", out, "--pairs", 2, "--samples", 3, "--tile", TILE)
    assert result.exit_code == 0, result.stderr
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.shape == (*preview.layout_for(TILE).size(2, 4), 3)
    assert result.stdout == f"segaug preview: wrote {out} ({written.shape[1]}x{written.shape[0]} pixels)\n"
    assert Image.open(io.BytesIO(out.read_bytes())).format == "PNG"
    assert sorted(p.name for p in out.parent.iterdir()) == ["preview.png"]  # no temporary file left


def test_cli_seed_changes_the_copies(cli, tmp_path, dataset):
    path = write_recipe(tmp_path / "r.yaml", GEOMETRIC)
    sheets = []
    for seed in ("3", "4"):
        out = tmp_path / f"s{seed}.png"
        assert cli("preview", path, dataset, "-o", out, "--tile", TILE, "--seed", seed).exit_code == 0
        sheets.append(cv2.imread(str(out)))
    assert np.array_equal(cell(sheets[0], 0, 0), cell(sheets[1], 0, 0))  # same source tile
    assert not np.array_equal(cell(sheets[0], 0, 1), cell(sheets[1], 0, 1))


def test_cli_bad_recipe_exits_2_with_one_line(cli, tmp_path, dataset):
    path = write_recipe(tmp_path / "r.yaml", BAD_ROTATE)
    out = tmp_path / "preview.png"
    result = cli("preview", path, dataset, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path} line 4: transforms[0].rotate.degrees: lo (30) > hi (-30)\n"
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing", "{in_dir}: no such folder"),
        ("inside", "{out}: inside IN ({in_dir}), which segaug never writes to"),
        ("jpg", "{out}: the contact sheet is a PNG; name it with .png"),
    ],
)
def test_cli_unusable_in_or_output_exits_2(cli, tmp_path, where, message):
    in_dir = tmp_path / "nope" if where == "missing" else make_dataset(tmp_path / "in")
    out = {"missing": tmp_path / "p.png", "inside": in_dir / "p.png", "jpg": tmp_path / "p.jpg"}[where]
    result = cli("preview", write_recipe(tmp_path / "r.yaml", GEOMETRIC), in_dir, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == "Error: " + message.format(in_dir=in_dir, out=out) + "\n"
    assert not out.exists()


def test_pairs_are_found_as_expand_finds_them_suffixes_included(tmp_path):
    # Cityscapes names images <frame>_leftImg8bit and masks <frame>_gtFine_labelIds: without the
    # recipe's image suffix no image would have a mask, and every row would be one error tile.
    from dataset_layouts import cityscapes

    rcp = recipe.load(Path(__file__).resolve().parent.parent / "recipes" / "datasets" / "cityscapes.yaml")
    sheet = preview.contact_sheet(rcp, cityscapes(tmp_path), pairs=2, samples=1, tile=TILE)
    assert sheet.shape[:2] == preview.layout_for(TILE).size(2, 2)
    for row in range(2):
        assert not (cell(sheet, row, 1) == preview.SHEET_BACKGROUND).all()  # a copy was rendered
