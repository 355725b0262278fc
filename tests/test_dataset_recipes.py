"""Each dataset recipe of recipes/datasets/ on a miniature of its dataset as it ships: one `segaug expand`,
the pairs it finds and leaves out, the names it writes, the labels it maps, the tiles it cuts."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, colour_coded, decode_labels, expand, output_files, read_manifest, rewarp_mask, write_recipe
from dataset_layouts import (
    ADE_FRAMES,
    CITYSCAPES_FRAMES,
    CITYSCAPES_TRAIN_IDS,
    ISIC_KEYS,
    KVASIR_KEYS,
    POTSDAM_RGB,
    POTSDAM_TILES,
    VOC_ANNOTATED,
    VOC_UNANNOTATED,
    ade20k,
    cityscapes,
    isic2018,
    kvasir_seg,
    potsdam,
    potsdam_colours,
    potsdam_labels,
    voc2012,
)

from segaug_cli import codecs, recipe
from segaug_cli.labels import relabel

DATASETS = REPO / "recipes" / "datasets"


def variant(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Path:
    """The dataset recipe with some text replaced (each replacement must apply)."""
    text = (DATASETS / name).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return write_recipe(tmp_path / name, text)


def labels_of(out: Path, rel: str) -> np.ndarray:
    return codecs.decode_mask((out / rel).read_bytes(), rel).labels


def pixels_of(path: Path) -> np.ndarray:
    return codecs.decode_image(path.read_bytes(), path.name)


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("note: ", "warning: "))]


# --- Cityscapes ----------------------------------------------------------------------------------------


def test_cityscapes_recipe_maps_every_label_id_to_its_train_id():
    spec = recipe.load(DATASETS / "cityscapes.yaml").labels
    ids = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = np.array([CITYSCAPES_TRAIN_IDS.get(i, 255) for i in range(256)], np.uint8).reshape(16, 16)
    assert np.array_equal(relabel(ids, spec).labels, expected)


def test_cityscapes_expands_in_its_own_layout_with_train_ids_in_every_mask(cli, tmp_path):
    root, out = cityscapes(tmp_path), tmp_path / "out"
    result = expand(cli, DATASETS / "cityscapes.yaml", root, out)
    assert result.exit_code == 0, result.stderr
    frames = [(f.split("_")[0], f) for f in CITYSCAPES_FRAMES["train"]]  # val is another folder: not in
    assert output_files(out, "leftImg8bit") == [
        f"leftImg8bit/train/{c}/{f}_aug{k}_leftImg8bit.png" for c, f in frames for k in (0, 1)
    ]
    assert output_files(out, "gtFine") == [
        f"gtFine/train/{c}/{f}_aug{k}_gtFine_labelTrainIds.png" for c, f in frames for k in (0, 1)
    ]
    assert notes(result.stderr)[0].startswith(
        "note: 6 other annotation file(s) beside the masks not read: "
        "gtFine/train/aachen/aachen_000000_000019_gtFine_color.png, "
    )
    assert not any("have no image" in line for line in notes(result.stderr))
    for row in read_manifest(out):  # the labelIds source, mapped, then warped by the row: exactly the output
        source = labels_of(root, row["source_mask"])
        mapped = np.vectorize(lambda i: CITYSCAPES_TRAIN_IDS.get(int(i), 255))(source).astype(np.uint8)
        assert np.array_equal(labels_of(out, row["mask"]), rewarp_mask(mapped, row, 255))


def test_cityscapes_out_is_an_in_for_the_same_inputs_with_the_train_id_suffix(cli, tmp_path):
    out, again = tmp_path / "out", tmp_path / "again"
    assert expand(cli, DATASETS / "cityscapes.yaml", cityscapes(tmp_path), out).exit_code == 0
    text = (DATASETS / "cityscapes.yaml").read_text(encoding="utf-8").split("\nlabels:")[0]  # trainIds in: no map
    text = text.replace("mask_suffix: _gtFine_labelIds", "mask_suffix: _gtFine_labelTrainIds")
    recipe_path = write_recipe(
        tmp_path / "again.yaml", text.replace("copies: 2", "copies: 1") + "\ntransforms: [hflip]\n"
    )
    result = expand(cli, recipe_path, out, again)
    assert result.exit_code == 0, result.stderr
    assert notes(result.stderr) == []  # every output image found its mask: nothing orphaned or unpaired
    assert output_files(again, "leftImg8bit")[0] == (
        "leftImg8bit/train/aachen/aachen_000000_000019_aug0_aug0_leftImg8bit.png"
    )
    assert len(output_files(again, "gtFine")) == 6


# --- Pascal VOC 2012 -----------------------------------------------------------------------------------


def test_voc_expands_the_train_split_only_and_counts_the_rest(cli, tmp_path):
    root, out = voc2012(tmp_path), tmp_path / "out"
    result = expand(cli, DATASETS / "voc2012.yaml", root, out)
    assert result.exit_code == 0, result.stderr
    assert output_files(out, "SegmentationClass") == [
        f"SegmentationClass/{key}_aug{k}.png" for key in ("2007_000032", "2007_000042") for k in range(4)
    ]
    assert notes(result.stderr) == ["note: 3 image(s) left out: not listed in the split file (inputs.split)"]
    for row in read_manifest(out):
        data = (out / row["mask"]).read_bytes()
        assert codecs.is_palette_png(data)  # the palette goes back, the indices stay class ids
        label = VOC_ANNOTATED[Path(row["source_mask"]).stem]
        assert set(np.unique(labels_of(out, row["mask"]))) <= {0, label, 255}


def test_voc_without_the_split_skips_and_names_unannotated_images(cli, tmp_path):
    recipe_path = variant(tmp_path, "voc2012.yaml", ("  split: ImageSets/Segmentation/train.txt", ""))
    result = expand(cli, recipe_path, voc2012(tmp_path), tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert notes(result.stderr) == [
        f"note: 2 image(s) without a mask skipped (inputs.unpaired: skip): "
        f"JPEGImages/{VOC_UNANNOTATED[0]}.jpg, JPEGImages/{VOC_UNANNOTATED[1]}.jpg"
    ]
    assert len(output_files(tmp_path / "out", "SegmentationClass")) == 4 * len(VOC_ANNOTATED)


# --- ADE20K ----------------------------------------------------------------------------------------------


def test_ade20k_keeps_its_zero_label_for_the_loader_to_reduce(cli, tmp_path):
    root, out = ade20k(tmp_path), tmp_path / "out"
    result = expand(cli, DATASETS / "ade20k.yaml", root, out)
    assert result.exit_code == 0, result.stderr
    assert output_files(out, "annotations") == [
        f"annotations/training/{key}_aug{k}.png" for key in ADE_FRAMES["training"] for k in (0, 1)
    ]
    for row in read_manifest(out):  # uncovered corners are 0, "other", which the loader ignores
        source = labels_of(root, row["source_mask"])
        assert np.array_equal(labels_of(out, row["mask"]), rewarp_mask(source, row, 0))


# --- ISIC 2018 -------------------------------------------------------------------------------------------


def test_isic_masks_become_0_and_1_and_keep_their_suffix(cli, tmp_path):
    out = tmp_path / "out"
    result = expand(cli, DATASETS / "isic2018.yaml", isic2018(tmp_path), out)
    assert result.exit_code == 0, result.stderr
    images, truth = "ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth"
    assert output_files(out, images) == [f"{images}/{key}_aug{k}.jpg" for key in ISIC_KEYS for k in range(4)]
    assert output_files(out, truth) == [f"{truth}/{key}_aug{k}_segmentation.png" for key in ISIC_KEYS for k in range(4)]
    assert notes(result.stderr) == [
        "note: 4 non-image file(s) ignored: ISIC2018_Task1-2_Training_Input/ATTRIBUTION.txt, "
        "ISIC2018_Task1-2_Training_Input/LICENSE.txt, ISIC2018_Task1_Training_GroundTruth/ATTRIBUTION.txt, "
        "ISIC2018_Task1_Training_GroundTruth/LICENSE.txt"
    ]
    for rel in output_files(out, truth):
        assert set(np.unique(labels_of(out, rel))) == {0, 1}


# --- Kvasir-SEG ------------------------------------------------------------------------------------------


def test_kvasir_jpeg_masks_are_thresholded_to_0_and_1_exactly(cli, tmp_path):
    root, out = kvasir_seg(tmp_path), tmp_path / "out"
    result = expand(cli, DATASETS / "kvasir_seg.yaml", root, out)
    assert result.exit_code == 0, result.stderr
    assert output_files(out, "masks") == [f"masks/{key}_aug{k}.png" for key in KVASIR_KEYS for k in range(4)]
    for row in read_manifest(out):
        source = labels_of(root, row["source_mask"])  # a colour JPEG: grey levels along every edge
        grey = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY) if source.ndim == 3 else source
        output = labels_of(out, row["mask"])
        assert set(np.unique(output)) == {0, 1}
        assert np.array_equal(output, rewarp_mask((grey >= 128).astype(np.uint8), row, 0))


# --- ISPRS Potsdam ---------------------------------------------------------------------------------------

SMALL_TILES = ("size: [512, 512]", "size: [16, 16]"), ("stride: [512, 512]", "stride: [16, 16]")


def test_potsdam_plain_tiles_reassemble_to_the_source_byte_for_byte(cli, tmp_path):
    root, out = potsdam(tmp_path), tmp_path / "out"
    recipe_path = variant(tmp_path, "potsdam.yaml", *SMALL_TILES, ("copies: 2", "copies: 0\nkeep_original: true"))
    result = expand(cli, recipe_path, root, out)
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(out)
    tops_lefts = [(0, 0), (0, 16), (0, 32), (16, 0), (16, 16), (16, 32), (24, 0), (24, 16), (24, 32)]  # 40x48
    assert [r["image"] for r in rows] == [
        f"2_Ortho_RGB/{tile}_y{t:02d}_x{left:02d}_RGB.tif" for tile in POTSDAM_TILES for t, left in tops_lefts
    ]
    assert rows[0]["mask"] == f"5_Labels_all/{POTSDAM_TILES[0]}_y00_x00_label.png"
    assert [r["source_window"] for r in rows[:3]] == ["0 0 16 16", "0 16 16 16", "0 32 16 16"]
    assert {r["copy"] for r in rows} == {"original"}
    for tile in POTSDAM_TILES:
        source = pixels_of(root / "2_Ortho_RGB" / f"{tile}_RGB.tif")
        image, labels = np.zeros_like(source), np.full(source.shape[:2], 99, np.uint8)
        for row in (r for r in rows if r["source_image"].endswith(f"{tile}_RGB.tif")):
            top, left, height, width = map(int, row["source_window"].split())
            image[top : top + height, left : left + width] = pixels_of(out / row["image"])
            labels[top : top + height, left : left + width] = labels_of(out, row["mask"])
        assert np.array_equal(image, source)
        assert np.array_equal(labels, potsdam_labels())  # the colour table round-trips to the class indices


def test_potsdam_colour_table_round_trips(tmp_path):
    spec = recipe.load(DATASETS / "potsdam.yaml").labels
    assert dict(spec.colors) == {tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)): v for h, v in POTSDAM_RGB.items()}
    converted = relabel(potsdam_colours(potsdam_labels()), spec)
    assert np.array_equal(converted.labels, potsdam_labels()) and converted.unlisted == 0


def test_potsdam_unlisted_colours_are_counted_in_the_summary(cli, tmp_path):
    root = potsdam(tmp_path)
    mask = root / "5_Labels_all" / f"{POTSDAM_TILES[0]}_label.tif"
    colours = potsdam_colours(potsdam_labels())
    colours[:2, :5] = (7, 7, 7)  # 10 pixels of a colour the table does not list
    assert cv2.imwrite(str(mask), colours)
    result = expand(cli, variant(tmp_path, "potsdam.yaml", *SMALL_TILES), root, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert (
        "warning: 10 mask pixel(s) had a colour not in labels.colors and took labels.default; check the table "
        "with `segaug validate RECIPE IN`" in result.stderr
    )


def test_alignment_holds_on_augmented_tiles(cli, tmp_path):
    """The strong way: the image's colour is a function of the label, decoded back after augmentation."""
    root, out = tmp_path / "in", tmp_path / "out"
    labels = potsdam_labels()
    for tile in POTSDAM_TILES:
        (root / "2_Ortho_RGB").mkdir(parents=True, exist_ok=True)
        (root / "5_Labels_all").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "2_Ortho_RGB" / f"{tile}_RGB.tif"), colour_coded(labels))
        cv2.imwrite(str(root / "5_Labels_all" / f"{tile}_label.tif"), potsdam_colours(labels))
    recipe_path = variant(
        tmp_path,
        "potsdam.yaml",
        *SMALL_TILES,
        ("interpolation: linear", "interpolation: nearest"),
        ("mode: reflect", "mode: constant"),
        ("  - brightness: {range: [-0.1, 0.1]}\n", ""),
        ("  - contrast:   {range: [0.9, 1.1]}\n", ""),
        ("degrees: 90, p: 0.5", "degrees: [-30, 30]"),
    )
    result = expand(cli, recipe_path, root, out)
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(out)
    assert len(rows) == 2 * 9 * 2
    for row in rows:
        mask = labels_of(out, row["mask"])
        decoded, distance = decode_labels(pixels_of(out / row["image"]))
        inside = mask != 255  # the constant border: mask_fill 255, image_fill 0
        assert np.array_equal(decoded[inside], mask[inside])
        assert distance[inside].max() == 0


# --- bad input -------------------------------------------------------------------------------------------


def test_a_split_file_that_does_not_exist(cli, tmp_path):
    recipe_path = variant(tmp_path, "voc2012.yaml", ("Segmentation/train.txt", "Segmentation/tran.txt"))
    root = voc2012(tmp_path)
    result = expand(cli, recipe_path, root, tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {root}/ImageSets/Segmentation/tran.txt: no such split file (inputs.split is "
        "a file of keys, relative to IN)\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("{7: 0,    # road", "{road: 0,    # road"),
            "line 34: labels.map.road: 'road' is not a label (a whole number from 0 to 65535)",
        ),
        (
            ("{7: 0,    # road", "{70000: 0,    # road"),
            "line 34: labels.map.70000: 70000 is not a label (a whole number from 0 to 65535)",
        ),
    ],
)
def test_a_label_map_key_that_is_not_a_label(cli, tmp_path, edit, message):
    recipe_path = variant(tmp_path, "cityscapes.yaml", edit)
    result = expand(cli, recipe_path, cityscapes(tmp_path), tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {recipe_path} {message}\n"
    assert not (tmp_path / "out").exists()


def test_a_colour_given_twice(cli, tmp_path):
    recipe_path = variant(tmp_path, "potsdam.yaml", ('"#0000ff": 1', '"#FFFFFF": 1'))
    result = cli("validate", recipe_path)
    assert result.exit_code == 2
    line = next(n for n, text in enumerate(recipe_path.read_text().splitlines(), 1) if "#FFFFFF" in text)
    assert result.stderr == (
        f"Error: {recipe_path} line {line}: labels.colors.#FFFFFF: the colour #ffffff is given "
        "twice (also as '#ffffff')\n"
    )


def test_a_tile_larger_than_the_image_fails_that_pair(cli, tmp_path):
    root = potsdam(tmp_path)
    result = expand(cli, DATASETS / "potsdam.yaml", root, tmp_path / "out")
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: 2_Ortho_RGB/{tile}_RGB.tif: tiles.size is 512x512 (height x width) but the image is 40x48; "
        "cut smaller tiles or set tiles.partial: pad"
        for tile in POTSDAM_TILES
    ]


def test_tiles_stride_zero(cli, tmp_path):
    recipe_path = variant(tmp_path, "potsdam.yaml", ("stride: [512, 512]", "stride: [0, 512]"))
    result = cli("validate", recipe_path)
    assert result.exit_code == 2
    line = next(n for n, text in enumerate(recipe_path.read_text().splitlines(), 1) if "stride:" in text)
    assert result.stderr == (
        f"Error: {recipe_path} line {line}: tiles.stride: must be [height, width] in pixels, "
        "whole numbers of at least 1, got [0, 512]\n"
    )


def test_every_dataset_recipe_validates():
    for path in sorted(DATASETS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert re.search(rf"^#   segaug expand recipes/datasets/{path.name} \S+ \S+$", text, re.M), path.name
        recipe.load(path)


def test_kept_originals_hold_mapped_labels_and_follow_the_map(cli, tmp_path):
    root, out = cityscapes(tmp_path), tmp_path / "out"
    recipe_path = variant(tmp_path, "cityscapes.yaml", ("copies: 2", "copies: 0\nkeep_original: true"))
    assert expand(cli, recipe_path, root, out).exit_code == 0
    rows = read_manifest(out)
    assert rows[0]["image"] == "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    assert rows[0]["mask"] == "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"
    assert (out / rows[0]["image"]).read_bytes() == (root / rows[0]["source_image"]).read_bytes()  # copied
    source = labels_of(root, rows[0]["source_mask"])
    mapped = np.vectorize(lambda i: CITYSCAPES_TRAIN_IDS.get(int(i), 255))(source).astype(np.uint8)
    assert np.array_equal(labels_of(out, rows[0]["mask"]), mapped)  # re-encoded with trainIds
    variant(tmp_path, "cityscapes.yaml", ("copies: 2", "copies: 0\nkeep_original: true"), ("26: 13", "26: 14"))
    result = expand(cli, recipe_path, root, out)  # the map changed: every kept original is rewritten
    assert result.exit_code == 0 and "3 written, 0 unchanged" in result.stderr


def test_class_aware_copies_read_mapped_labels(cli, tmp_path):
    recipe_path = variant(tmp_path, "cityscapes.yaml", ("copies: 2", "copies: {default: 1, classes: {13: 3}}"))
    out = tmp_path / "out"
    result = expand(cli, recipe_path, cityscapes(tmp_path), out)
    assert result.exit_code == 0, result.stderr
    assert len(output_files(out, "gtFine")) == 3 * 3  # every frame has a car: labelId 26, trainId 13
    table = result.stderr.split("pixel share per class")[1]
    assert re.search(r"^\s+13\s", table, re.M) and not re.search(r"^\s+26\s", table, re.M)
