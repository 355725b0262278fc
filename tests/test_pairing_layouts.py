"""find_pairs on real dataset layouts: image suffixes, split lists, unannotated images; then labels and tiles
on the masks those datasets ship."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dataset_layouts import (
    CITYSCAPES_TRAIN_IDS,
    POTSDAM_RGB,
    ade20k,
    box_mask,
    cityscapes,
    cityscapes_label_ids,
    isic2018,
    kvasir_seg,
    potsdam,
    potsdam_labels,
    voc2012,
    voc_mask,
)

from segaug_cli import codecs
from segaug_cli.errors import UsageError
from segaug_cli.labels import parse_labels, relabel
from segaug_cli.pairing import Pair, Pairing, find_pairs
from segaug_cli.tiles import parse_tiles, tiles


def mask_of(root: Path, pair: Pair) -> np.ndarray:
    return codecs.decode_mask((root / pair.mask).read_bytes(), pair.mask).labels


def touch(root: Path, *rels: str) -> Path:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    return root


# --- Pascal VOC 2012 -----------------------------------------------------------------------------------


def test_voc_split_uses_the_listed_pairs_and_counts_the_rest(tmp_path):
    root = voc2012(tmp_path)
    found = find_pairs(
        root, "JPEGImages", "SegmentationClass", split="ImageSets/Segmentation/train.txt", unpaired="skip"
    )
    assert found == Pairing(
        pairs=(
            Pair("2007_000032", "JPEGImages/2007_000032.jpg", "SegmentationClass/2007_000032.png"),
            Pair("2007_000042", "JPEGImages/2007_000042.jpg", "SegmentationClass/2007_000042.png"),
        ),
        orphan_masks=(),
        ignored=(),
        skipped=(),
        left_out=3,
    )  # 2007_000033 (val) and two unannotated


def test_voc_without_split_unannotated_images_fail_by_default(tmp_path):
    found = find_pairs(voc2012(tmp_path), "JPEGImages", "SegmentationClass")
    assert [(p.key, p.problem) for p in found.pairs] == [
        ("2007_000032", None),
        ("2007_000033", None),
        ("2007_000042", None),
        ("2008_000002", "no mask found for this image"),
        ("2008_000003", "no mask found for this image"),
    ]


def test_voc_without_split_unannotated_images_can_be_skipped_and_counted(tmp_path):
    found = find_pairs(voc2012(tmp_path), "JPEGImages", "SegmentationClass", unpaired="skip")
    assert [p.key for p in found.pairs] == ["2007_000032", "2007_000033", "2007_000042"]
    assert found.skipped == ("JPEGImages/2008_000002.jpg", "JPEGImages/2008_000003.jpg")
    assert found.left_out == 0


def test_voc_palette_masks_give_class_indices_with_255_borders(tmp_path):
    root = voc2012(tmp_path)
    pair = find_pairs(root, "JPEGImages", "SegmentationClass", split="ImageSets/Segmentation/val.txt").pairs[0]
    assert pair.key == "2007_000033"
    labels = mask_of(root, pair)
    assert np.array_equal(labels, voc_mask(15))
    assert sorted(np.unique(labels).tolist()) == [0, 15, 255]


# --- Cityscapes ----------------------------------------------------------------------------------------


def test_cityscapes_keys_drop_both_suffixes(tmp_path):
    root = cityscapes(tmp_path)
    found = find_pairs(root, "leftImg8bit/train", "gtFine/train", "_gtFine_labelIds", image_suffix="_leftImg8bit")
    assert found.pairs == tuple(
        Pair(
            f"{city}/{frame}",
            f"leftImg8bit/train/{city}/{frame}_leftImg8bit.png",
            f"gtFine/train/{city}/{frame}_gtFine_labelIds.png",
        )
        for city, frame in [
            ("aachen", "aachen_000000_000019"),
            ("aachen", "aachen_000001_000019"),
            ("bochum", "bochum_000000_000313"),
        ]
    )
    assert [(p.image_suffix, p.mask_suffix) for p in found.pairs] == [("_leftImg8bit", "_gtFine_labelIds")] * 3
    assert found.ignored == tuple(
        f"gtFine/train/{c}/{f}_gtFine_polygons.json"
        for c, f in [
            ("aachen", "aachen_000000_000019"),
            ("aachen", "aachen_000001_000019"),
            ("bochum", "bochum_000000_000313"),
        ]
    )
    # The colour and instance PNGs beside each labelIds file carry the pair's key and another suffix:
    # listed apart as beside a paired mask, not as masks without an image.
    assert found.orphan_masks == ()
    assert len(found.beside) == 6
    assert found.beside[0] == "gtFine/train/aachen/aachen_000000_000019_gtFine_color.png"


def test_cityscapes_split_names_city_and_frame(tmp_path):
    root = cityscapes(tmp_path)
    (root / "train.txt").write_text("# mmsegmentation style\naachen/aachen_000001_000019\n\n", encoding="utf-8")
    found = find_pairs(
        root, "leftImg8bit/train", "gtFine/train", "_gtFine_labelIds", image_suffix="_leftImg8bit", split="train.txt"
    )
    assert [p.key for p in found.pairs] == ["aachen/aachen_000001_000019"]
    assert found.left_out == 2


def test_cityscapes_label_ids_become_train_ids(tmp_path):
    root = cityscapes(tmp_path)
    pair = find_pairs(root, "leftImg8bit/val", "gtFine/val", "_gtFine_labelIds", image_suffix="_leftImg8bit").pairs[0]
    out = relabel(mask_of(root, pair), parse_labels({"map": CITYSCAPES_TRAIN_IDS, "default": 255}))
    expected = cityscapes_label_ids()
    expected = np.select([expected == 7, expected == 23, expected == 26], [0, 10, 13], 255)
    assert out.labels.tolist() == expected.tolist()
    assert out.unlisted == 16  # the ego-vehicle row (id 1) is not a train class


def test_image_without_the_image_suffix_is_an_unpaired_image(tmp_path):
    root = cityscapes(tmp_path)
    touch(root, "leftImg8bit/train/aachen/README.png")
    kwargs = {
        "images": "leftImg8bit/train",
        "masks": "gtFine/train",
        "mask_suffix": "_gtFine_labelIds",
        "image_suffix": "_leftImg8bit",
    }
    failed = [p for p in find_pairs(root, **kwargs).pairs if p.problem]
    assert failed == [
        Pair(
            "aachen/README",
            "leftImg8bit/train/aachen/README.png",
            None,
            "no mask found for this image: its name does not end with the image suffix '_leftImg8bit'",
        )
    ]
    found = find_pairs(root, **kwargs, unpaired="skip")
    assert found.skipped == ("leftImg8bit/train/aachen/README.png",) and len(found.pairs) == 3


# --- ADE20K --------------------------------------------------------------------------------------------


def test_ade20k_pairs_and_reduce_zero_label(tmp_path):
    root = ade20k(tmp_path)
    found = find_pairs(root, "images/training", "annotations/training")
    assert found == Pairing(
        (
            Pair(
                "ADE_train_00000001",
                "images/training/ADE_train_00000001.jpg",
                "annotations/training/ADE_train_00000001.png",
            ),
            Pair(
                "ADE_train_00000002",
                "images/training/ADE_train_00000002.jpg",
                "annotations/training/ADE_train_00000002.png",
            ),
        ),
        (),
        (),
    )
    spec = parse_labels({"reduce_zero_label": True})
    assert np.array_equal(relabel(mask_of(root, found.pairs[0]), spec).labels, box_mask(149, outside=0))
    assert np.array_equal(relabel(mask_of(root, found.pairs[1]), spec).labels, box_mask(255, outside=12))


# --- ISIC 2018 -----------------------------------------------------------------------------------------


def test_isic_masks_carry_a_suffix_and_licence_files_are_ignored(tmp_path):
    root = isic2018(tmp_path)
    found = find_pairs(root, "ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth", "_segmentation")
    assert [(p.key, p.image, p.mask) for p in found.pairs] == [
        (
            key,
            f"ISIC2018_Task1-2_Training_Input/{key}.jpg",
            f"ISIC2018_Task1_Training_GroundTruth/{key}_segmentation.png",
        )
        for key in ("ISIC_0000000", "ISIC_0000001", "ISIC_0000003")
    ]
    assert found.orphan_masks == ()
    assert found.ignored == (
        "ISIC2018_Task1-2_Training_Input/ATTRIBUTION.txt",
        "ISIC2018_Task1-2_Training_Input/LICENSE.txt",
        "ISIC2018_Task1_Training_GroundTruth/ATTRIBUTION.txt",
        "ISIC2018_Task1_Training_GroundTruth/LICENSE.txt",
    )
    labels = relabel(mask_of(root, found.pairs[0]), parse_labels({"map": {0: 0, 255: 1}})).labels
    assert np.array_equal(labels, box_mask(1))


# --- Kvasir-SEG ----------------------------------------------------------------------------------------


def test_kvasir_jpeg_masks_threshold_to_the_drawn_polyp(tmp_path):
    root = kvasir_seg(tmp_path)
    found = find_pairs(root)
    assert [(p.key, p.image, p.mask) for p in found.pairs] == [
        (key, f"images/{key}.jpg", f"masks/{key}.jpg")
        for key in ("cju0qkwl35piu0993l0dewei2", "cju0qoxqj9q6s0835b43399p4")
    ]
    assert found.ignored == () and found.orphan_masks == ()  # kavsir_bboxes.json lies beside, not inside
    lossy = mask_of(root, found.pairs[0])
    assert lossy.ndim == 3 and len(np.unique(lossy)) > 2
    assert np.array_equal(relabel(lossy, parse_labels({"threshold": 128})).labels, box_mask(1))


# --- ISPRS Potsdam -------------------------------------------------------------------------------------


def test_potsdam_pairs_colours_and_tiles(tmp_path):
    root = potsdam(tmp_path)
    found = find_pairs(root, "2_Ortho_RGB", "5_Labels_all", "_label", image_suffix="_RGB")
    assert [(p.key, p.image_suffix, p.mask_suffix) for p in found.pairs] == [
        ("top_potsdam_2_10", "_RGB", "_label"),
        ("top_potsdam_2_11", "_RGB", "_label"),
    ]
    assert found.ignored == ("2_Ortho_RGB/top_potsdam_2_10_RGB.tfw", "2_Ortho_RGB/top_potsdam_2_11_RGB.tfw")
    out = relabel(mask_of(root, found.pairs[0]), parse_labels({"colors": POTSDAM_RGB, "default": 255}))
    assert np.array_equal(out.labels, potsdam_labels()) and out.unlisted == 0
    image = codecs.decode_image((root / found.pairs[0].image).read_bytes(), found.pairs[0].image)
    cut = list(tiles(image, out.labels, found.pairs[0].key, parse_tiles({"size": [16, 16]})))
    assert [t.key for t in cut] == [f"top_potsdam_2_10_y{y:02d}_x{x:02d}" for y in (0, 16, 24) for x in (0, 16, 32)]
    assert np.array_equal(cut[0].mask, np.ones((16, 16), np.uint8))  # the building


# --- split files ---------------------------------------------------------------------------------------


def split_root(tmp_path: Path, text: str) -> Path:
    touch(
        tmp_path,
        "images/a.png",
        "masks/a.png",
        "images/b.png",
        "masks/b.png",
        "images/sub/c.png",
        "masks/sub/c.png",
        "images/d.png",
    )
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists/train.txt").write_text(text, encoding="utf-8")
    return tmp_path


def test_split_ignores_blank_lines_comments_and_surrounding_spaces(tmp_path):
    root = split_root(tmp_path, "# training keys\n\n  sub/c  \r\nb\n   # indented comment\n")
    found = find_pairs(root, split="lists/train.txt")
    assert found.pairs == (
        Pair("b", "images/b.png", "masks/b.png"),
        Pair("sub/c", "images/sub/c.png", "masks/sub/c.png"),
    )
    assert found.left_out == 2  # a, and d (which has no mask but was not asked for)


def test_split_key_without_image_fails_naming_the_line(tmp_path):
    root = split_root(tmp_path, "a\n\nzz\n")
    assert find_pairs(root, split="lists/train.txt", unpaired="skip").pairs == (
        Pair("a", "images/a.png", "masks/a.png"),
        Pair("zz", "lists/train.txt", None, "line 3: 'zz' is listed but no image under images/ has this key"),
    )


def test_split_key_without_mask_fails_even_when_unpaired_images_are_skipped(tmp_path):
    root = split_root(tmp_path, "d\n")
    found = find_pairs(root, split="lists/train.txt", unpaired="skip")
    assert found.pairs == (
        Pair("d", "images/d.png", None, "listed on line 1 of lists/train.txt but no mask found for this image"),
    )
    assert found.skipped == ()


def test_split_with_a_byte_order_mark(tmp_path):
    root = split_root(tmp_path, "")
    (root / "lists/train.txt").write_bytes("\ufeffa\n".encode())
    assert [p.key for p in find_pairs(root, split="lists/train.txt").pairs] == ["a"]


def test_a_key_listed_twice_is_an_error(tmp_path):
    root = split_root(tmp_path, "a\nb\na\n")
    with pytest.raises(UsageError) as info:
        find_pairs(root, split="lists/train.txt")
    assert str(info.value) == f"{root / 'lists/train.txt'} line 3: 'a' is listed twice (first on line 1)"


@pytest.mark.parametrize("split", ["lists/missing.txt", "lists"])
def test_missing_split_file_is_a_one_line_error(tmp_path, split):
    root = split_root(tmp_path, "a\n")
    with pytest.raises(UsageError) as info:
        find_pairs(root, split=split)
    assert str(info.value) == f"{root / split}: no such split file (inputs.split is a file of keys, relative to IN)"


def test_a_binary_split_file_is_a_one_line_error(tmp_path):
    root = split_root(tmp_path, "")
    (root / "lists/train.txt").write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(UsageError) as info:
        find_pairs(root, split="lists/train.txt")
    assert str(info.value) == f"{root / 'lists/train.txt'}: not a text file of keys (inputs.split)"


def test_defaults_keep_todays_pairing(tmp_path):
    root = split_root(tmp_path, "")
    found = find_pairs(root)
    assert found.skipped == () and found.left_out == 0
    assert found.pairs[-1] == Pair("sub/c", "images/sub/c.png", "masks/sub/c.png")
    assert found.pairs[2] == Pair("d", "images/d.png", None, "no mask found for this image")


def test_suffixes_of_a_pair_without_suffixes_are_empty():
    assert (
        Pair("city/a", "images/city/a.png", "masks/city/a.png").image_suffix,
        Pair("city/a", "images/city/a.png", "masks/city/a_mask.png").mask_suffix,
        Pair("a", "images/a.png", None, "no mask").mask_suffix,
    ) == ("", "_mask", "")


def test_unknown_unpaired_policy_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError, match="unpaired must be one of"):
        find_pairs(split_root(tmp_path, ""), unpaired="ignore")


def test_files_beside_an_unpaired_mask_stay_masks_without_an_image(tmp_path):
    root = cityscapes(tmp_path)
    (root / "leftImg8bit/train/bochum/bochum_000000_000313_leftImg8bit.png").unlink()
    found = find_pairs(root, "leftImg8bit/train", "gtFine/train", "_gtFine_labelIds", image_suffix="_leftImg8bit")
    assert found.orphan_masks == tuple(
        f"gtFine/train/bochum/bochum_000000_000313_gtFine_{kind}.png" for kind in ("color", "instanceIds", "labelIds")
    )
    assert len(found.beside) == 4  # those of the two aachen frames, whose pairs are whole
