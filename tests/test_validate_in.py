"""`segaug validate RECIPE IN`: the pairing report (pairs, images without masks, masks without images,
split entries missing, unlisted labels of a sample of masks), written to stdout, nothing written to disk."""

from __future__ import annotations

from conftest import REPO, tree_digest, write_recipe
from dataset_layouts import cityscapes, voc2012

from segaug_cli import recipe, survey

DATASETS = REPO / "recipes" / "datasets"


def report(result) -> list[str]:
    return result.stdout.splitlines()[1:]  # after the recipe's own line


def test_voc_report_counts_the_split_and_writes_nothing(cli, tmp_path):
    root = voc2012(tmp_path)
    before = tree_digest(tmp_path)
    result = cli("validate", DATASETS / "voc2012.yaml", root)
    assert result.exit_code == 0, result.stderr
    assert report(result) == [f"{root}: 2 pair(s) found", "3 image(s) left out: not listed in the split file"]
    assert tree_digest(tmp_path) == before


def test_images_without_masks_would_fail_exit_1(cli, tmp_path):
    root = voc2012(tmp_path)
    plain = write_recipe(tmp_path / "r.yaml", "inputs: {images: JPEGImages, masks: SegmentationClass}\n")
    result = cli("validate", plain, root)
    assert result.exit_code == 1
    assert report(result) == [
        f"{root}: 3 pair(s) found",
        "2 image(s) without a mask would fail (set inputs.unpaired: skip): JPEGImages/2008_000002.jpg, "
        "JPEGImages/2008_000003.jpg",
    ]


def test_split_entries_missing_name_the_line(cli, tmp_path):
    root = voc2012(tmp_path)
    (root / "ImageSets/Segmentation/train.txt").write_text("2007_000032\n2008_000002\n2009_999999\n")
    result = cli("validate", DATASETS / "voc2012.yaml", root)
    assert result.exit_code == 1
    assert report(result) == [
        f"{root}: 1 pair(s) found",
        "3 image(s) left out: not listed in the split file",
        "split entry missing: JPEGImages/2008_000002.jpg: listed on line 2 of ImageSets/Segmentation/train.txt "
        "but no mask found for this image",
        "split entry missing: ImageSets/Segmentation/train.txt line 3: '2009_999999' is listed but no image "
        "under JPEGImages/ has this key",
    ]


def test_cityscapes_report_lists_unmapped_ids_and_files_beside_masks(cli, tmp_path):
    root = cityscapes(tmp_path)
    result = cli("validate", DATASETS / "cityscapes.yaml", root)
    assert result.exit_code == 0, result.stderr
    lines = report(result)
    assert lines[0] == f"{root}: 3 pair(s) found"
    assert lines[1].startswith("6 other annotation file(s) beside the masks, not read: ")
    assert lines[-1] == (
        "labels: 1 seen in 3 sampled mask(s) but not listed (they would become 255, labels.default)"
    )  # the ego vehicle's id: not one of the 19 classes


def test_orphan_masks_and_a_missing_folder(cli, tmp_path):
    root = voc2012(tmp_path)
    (root / "SegmentationClass" / "2007_000032.png").rename(root / "SegmentationClass" / "1999_000001.png")
    plain = write_recipe(
        tmp_path / "r.yaml", "inputs: {images: JPEGImages, masks: SegmentationClass, unpaired: skip}\n"
    )
    result = cli("validate", plain, root)
    assert result.exit_code == 0
    assert report(result)[-1] == "1 mask(s) without an image: SegmentationClass/1999_000001.png"
    missing = cli("validate", plain, tmp_path / "nowhere")
    assert missing.exit_code == 2
    assert missing.stderr == (
        f"Error: {tmp_path}/nowhere/JPEGImages: no such folder (set inputs.images in the recipe to rename it)\n"
    )


def test_only_a_bounded_sample_of_masks_is_decoded(tmp_path, monkeypatch):
    root = cityscapes(tmp_path)
    decoded = []
    from segaug_cli import codecs

    real = codecs.decode_mask
    monkeypatch.setattr("segaug_cli.codecs.decode_mask", lambda data, name: decoded.append(name) or real(data, name))
    found = survey.survey(recipe.load(DATASETS / "cityscapes.yaml"), root, sample=2)
    assert found.pairs == 3 and found.sampled == 2 and len(decoded) == 2
