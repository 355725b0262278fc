"""Output layouts: ``output.layout: mirror`` writes into IN's own folders, ``output.mask_suffix`` renames
what the masks hold; every place that derives output paths (names, manifest, check, reruns, shards and
merge) follows, and the default stays OUT/images + OUT/masks."""

from __future__ import annotations

import functools
import uuid

import conftest
import pytest
from conftest import output_files, read_manifest, tree_digest, write_recipe
from dataset_layouts import CITYSCAPES_FRAMES, cityscapes, voc2012

from segaug_cli import recipe as recipes
from segaug_cli.naming import output_key_of, output_samples
from segaug_cli.pairing import Pair

expand = functools.partial(conftest.expand, quiet=True, ok=True)

INPUTS = (
    "inputs: {images: leftImg8bit/train, masks: gtFine/train, image_suffix: _leftImg8bit, "
    "mask_suffix: _gtFine_labelIds}\n"
)
MIRROR = INPUTS + "output: {layout: mirror, mask_suffix: _gtFine_labelTrainIds}\n"
RECIPE = "seed: 3\ncopies: 2\n" + MIRROR + "transforms: [hflip, {rotate: {degrees: [-5, 5]}}]\n"
FRAMES = [(f.split("_")[0], f) for f in CITYSCAPES_FRAMES["train"]]


def parse_error(text: str) -> str:
    with pytest.raises(recipes.RecipeError) as caught:
        recipes.parse(text, "r.yaml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("output: {layout: tree}\n", "r.yaml line 1: output.layout: must be one of split, mirror, got 'tree'"),
        ("output: {mask_suffix: a/b}\n", "r.yaml line 1: output.mask_suffix: must be text without slashes, got 'a/b'"),
        ("output: {mask_suffix: 3}\n", "r.yaml line 1: output.mask_suffix: must be text without slashes, got 3"),
        (
            "inputs: {images: ., masks: gt}\noutput: {layout: mirror}\n",
            "r.yaml line 1: inputs.images: is IN itself, and output.layout: mirror would write into OUT's top, "
            "beside manifest.csv",
        ),
        (
            "inputs: {images: a, masks: manifest.csv/b}\noutput: {layout: mirror}\n",
            "r.yaml line 1: inputs.masks: 'manifest.csv/b' would lie beside the files segaug writes in OUT "
            "(output.layout: mirror)",
        ),
        (
            "inputs: {images: d, masks: ./d/, mask_suffix: _m}\noutput:\n  layout: mirror\n  mask_suffix: ''\n",
            "r.yaml line 4: output.mask_suffix: gives masks the images' names in 'd'; choose a mask_suffix apart "
            "from the image_suffix",
        ),
        (
            "inputs: {images: a, masks: b, split: a/train.txt}\noutput: {layout: mirror}\n",
            "r.yaml line 1: inputs.split: 'a/train.txt' would lie among OUT's outputs or books, where output.layout: "
            "mirror writes OUT's own split file; keep it outside the images and masks folders",
        ),
        (
            "inputs: {images: a, masks: b}\noutput: {layout: mirror}\ntargets: [{name: edges, folder: b}]\n",
            "r.yaml line 3: targets[0].folder: 'b' holds other outputs too; output.layout: mirror needs a folder apart",
        ),
    ],
)
def test_layout_errors_name_the_key(text, message):
    assert parse_error(text) == message


def test_defaults_keep_the_contract_layout_and_the_fingerprint():
    plain, mirrored = recipes.parse("copies: 1\n"), recipes.parse("copies: 1\noutput: {layout: mirror}\n")
    assert (plain.output.layout, plain.output.mask_suffix) == ("split", None)
    assert plain.sample_content() == mirrored.sample_content()  # names only: no pixel is redone


def test_names_in_each_layout():
    pair = Pair("aachen/a", "leftImg8bit/train/aachen/a_leftImg8bit.png", "gtFine/train/aachen/a_gtFine_labelIds.png")
    split = recipes.parse(
        "copies: 1\nkeep_original: true\n" + INPUTS + "output: {mask_suffix: _gtFine_labelTrainIds}\n"
    )
    mirror = recipes.parse("copies: 1\nkeep_original: true\n" + MIRROR)
    assert [(s.image, s.mask) for s in output_samples(split, pair)] == [
        ("images/aachen/a_leftImg8bit.png", "masks/aachen/a_gtFine_labelTrainIds.png"),
        ("images/aachen/a_aug0_leftImg8bit.png", "masks/aachen/a_aug0_gtFine_labelTrainIds.png"),
    ]
    assert [(s.image, s.mask) for s in output_samples(mirror, pair)] == [
        ("leftImg8bit/train/aachen/a_leftImg8bit.png", "gtFine/train/aachen/a_gtFine_labelTrainIds.png"),
        ("leftImg8bit/train/aachen/a_aug0_leftImg8bit.png", "gtFine/train/aachen/a_aug0_gtFine_labelTrainIds.png"),
    ]
    key = output_key_of(mirror)  # a shard tells its own files by the key their names give back
    assert key("gtFine/train/aachen/a_aug0_gtFine_labelTrainIds.png") == "aachen/a"
    assert key("leftImg8bit/train/aachen/.a_aug0_leftImg8bit.png.123.segaug-tmp") == "aachen/a"


def test_mirror_writes_beside_the_source_folders_and_out_is_an_in_again(cli, tmp_path):
    out, again = tmp_path / "out", tmp_path / "again"
    expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), cityscapes(tmp_path), out)
    rows = read_manifest(out)
    assert [r["image"] for r in rows] == [
        f"leftImg8bit/train/{c}/{f}_aug{k}_leftImg8bit.png" for c, f in FRAMES for k in (0, 1)
    ]
    assert [r["mask"] for r in rows] == [
        f"gtFine/train/{c}/{f}_aug{k}_gtFine_labelTrainIds.png" for c, f in FRAMES for k in (0, 1)
    ]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "gtFine",
        "leftImg8bit",
        "manifest.csv",
        "segaug.json",
    ]
    # OUT is an IN for the same inputs, the mask suffix being what the masks now hold
    same = INPUTS.replace("_gtFine_labelIds", "_gtFine_labelTrainIds")
    result = conftest.expand(cli, write_recipe(tmp_path / "same.yaml", f"copies: 1\n{same}"), out, again, ok=True)
    assert "note:" not in result.stderr and "warning:" not in result.stderr
    assert len(output_files(again, "masks")) == len(rows)


def test_check_flags_a_file_not_in_the_manifest_under_a_mirrored_folder(cli, tmp_path):
    recipe, root, out = write_recipe(tmp_path / "r.yaml", RECIPE), cityscapes(tmp_path), tmp_path / "out"
    expand(cli, recipe, root, out)
    assert cli("check", recipe, root, out, "--workers", "1").exit_code == 0
    stray = out / "gtFine" / "train" / "aachen" / "stray_gtFine_labelTrainIds.png"
    stray.write_bytes((out / read_manifest(out)[0]["mask"]).read_bytes())
    result = cli("check", recipe, root, out, "--workers", "1")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "extra: gtFine/train/aachen/stray_gtFine_labelTrainIds.png: not in the manifest"
    ]


def test_a_rerun_in_another_layout_moves_every_output(cli, tmp_path):
    root, out = cityscapes(tmp_path), tmp_path / "out"
    split = write_recipe(tmp_path / "split.yaml", RECIPE.replace("layout: mirror, ", ""))
    expand(cli, split, root, out)
    assert len(output_files(out, "masks")) == 6
    result = conftest.expand(cli, write_recipe(tmp_path / "mirror.yaml", RECIPE), root, out, ok=True)
    assert "6 written, 0 unchanged, 6 removed" in result.stderr
    assert output_files(out, "images") == output_files(out, "masks") == []
    assert len(output_files(out, "leftImg8bit")) == len(output_files(out, "gtFine")) == 6
    assert cli("check", write_recipe(tmp_path / "mirror.yaml", RECIPE), root, out).exit_code == 0


def test_mirrored_shards_merge_into_what_one_run_writes(cli, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 2", "copies: {default: 1, classes: {26: 3}}"))
    root, whole, sharded = cityscapes(tmp_path), tmp_path / "whole", tmp_path / "sharded"
    expand(cli, recipe, root, whole)
    for k in (1, 2):
        expand(cli, recipe, root, sharded, "--shard", f"{k}/2")
    assert cli("merge", recipe, root, sharded).exit_code == 0
    digests, merged = tree_digest(whole), tree_digest(sharded)
    assert {k: v for k, v in merged.items() if k != "segaug.json"} == {
        k: v for k, v in digests.items() if k != "segaug.json"
    }
    # class_copies: a car (labelId 26) is in every frame, so each gets 3 copies
    assert len([p for p in merged if p.startswith("gtFine/")]) == 3 * len(FRAMES)


VOC = (
    "copies: 2\ninputs: {images: JPEGImages, masks: SegmentationClass, split: ImageSets/Segmentation/train.txt}\n"
    "output: {layout: mirror}\ntransforms: [hflip]\n"
)
SPLIT = "ImageSets/Segmentation/train.txt"


def test_a_mirrored_split_lists_out_s_own_keys_so_out_is_an_in_for_the_same_recipe(cli, tmp_path):
    recipe, out, again = write_recipe(tmp_path / "voc.yaml", VOC), tmp_path / "out", tmp_path / "again"
    expand(cli, recipe, voc2012(tmp_path), out)
    keys = [f"{key}_aug{k}" for key in ("2007_000032", "2007_000042") for k in (0, 1)]
    assert (out / SPLIT).read_text(encoding="utf-8") == "".join(f"{key}\n" for key in keys)
    before = (out / SPLIT).stat().st_mtime_ns
    expand(cli, recipe, voc2012(tmp_path), out)  # nothing to do: nothing rewritten
    assert (out / SPLIT).stat().st_mtime_ns == before
    result = conftest.expand(cli, recipe, out, again, ok=True)
    assert "note:" not in result.stderr  # every image of OUT is listed, each with its mask
    assert (again / SPLIT).read_text(encoding="utf-8").split() == [f"{key}_aug{k}" for key in keys for k in (0, 1)]


@pytest.mark.parametrize(("edit", "kind"), [("2007_000032_aug0\n", "altered"), (None, "missing")])
def test_check_compares_out_s_split_file_with_the_manifest(cli, tmp_path, edit, kind):
    recipe, root, out = write_recipe(tmp_path / "voc.yaml", VOC), voc2012(tmp_path), tmp_path / "out"
    expand(cli, recipe, root, out)
    assert cli("check", recipe, root, out, "--workers", "1").exit_code == 0
    if edit is None:
        (out / SPLIT).unlink()
    else:
        (out / SPLIT).write_text(edit, encoding="utf-8")
    result = cli("check", recipe, root, out, "--workers", "1")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{kind}: {SPLIT}: does not list exactly OUT's keys: run segaug expand"]
    expand(cli, recipe, root, out)  # expand puts it right
    assert cli("check", recipe, root, out, "--workers", "1").exit_code == 0


def test_merge_writes_the_split_file_an_unsharded_run_writes(cli, tmp_path):
    recipe, root = write_recipe(tmp_path / "voc.yaml", VOC), voc2012(tmp_path)
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    expand(cli, recipe, root, whole)
    for k in (1, 2):
        expand(cli, recipe, root, sharded, "--shard", f"{k}/2")
    assert not (sharded / SPLIT).exists()  # a shard holds a share of the keys
    assert cli("merge", recipe, root, sharded).exit_code == 0
    assert (sharded / SPLIT).read_bytes() == (whole / SPLIT).read_bytes()
    assert cli("check", recipe, root, sharded, "--workers", "1").exit_code == 0


def test_a_mirrored_split_file_in_a_bucket_is_the_local_run_s(endpoint, tmp_path):
    pytest.importorskip("s3fs")
    from services import BUCKET, SECRET, s3_client, s3_options

    from segaug_cli import engine

    rcp, root, local = recipes.load(write_recipe(tmp_path / "voc.yaml", VOC)), voc2012(tmp_path), tmp_path / "local"
    engine.expand(rcp, root, local, engine.ExpandOptions(workers=1))
    prefix, opts = f"layouts/{uuid.uuid4().hex[:8]}", s3_options(endpoint, secret=SECRET)
    summary = engine.expand(rcp, root, f"s3://{BUCKET}/{prefix}", engine.ExpandOptions(workers=1, storage_options=opts))
    assert summary.failed == 0 and summary.fatal is None
    stored = s3_client(endpoint, secret=SECRET).get_object(Bucket=BUCKET, Key=f"{prefix}/{SPLIT}")["Body"].read()
    assert stored == (local / SPLIT).read_bytes()
    checked = engine.check(rcp, root, f"s3://{BUCKET}/{prefix}", engine.CheckOptions(workers=1, storage_options=opts))
    assert checked.differences == []
