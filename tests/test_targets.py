"""Several targets per image (the recipe's `targets:`): extra label and continuous maps share each sample's
geometry with the image and the mask, land in OUT/<name>/, and get a column pair in the manifest.

The affine tests re-warp every source target with the manifest's matrix (nearest for label maps,
linear for continuous ones, constant border with the target's own fill) and compare with the output.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from conftest import (
    age,
    error_lines,
    expand,
    make_dataset,
    read_manifest,
    rewritten,
    summary_counts,
    tree_digest,
    write_png,
    write_recipe,
)

PAIRS = {"a": (48, 64), "b": (40, 40), "city/c": (37, 53)}
COPIES = 2

# name -> (input folder, kind, fill, output extension)
TARGETS = {
    "edges": ("edges_in", "label", 5, ".png"),
    "instances": ("instances", "label", 65000, ".png"),
    "dist": ("distance", "continuous", -1.5, ".tif"),
    "depth": ("depth", "continuous", 7, ".png"),
}

RECIPE = f"""\
seed: 5
copies: {COPIES}
interpolation: linear
border: {{mode: constant, image_fill: 0, mask_fill: 0}}
targets:
  - {{name: edges, folder: edges_in, kind: label, fill: 5}}
  - {{name: instances, kind: label, fill: 65000}}
  - {{name: dist, folder: distance, kind: continuous, fill: -1.5}}
  - {{name: depth, kind: continuous, fill: 7}}
transforms:
  - rotate: {{degrees: [-30, 30]}}
  - scale: {{range: [0.8, 1.2]}}
  - shear: {{degrees: [-10, 10]}}
  - translate: {{fraction: [-0.1, 0.1]}}
  - hflip: {{p: 0.5}}
  - brightness: {{range: [-0.1, 0.1]}}
"""


def read_unchanged(path: Path) -> np.ndarray:
    if path.suffix == ".tif":
        return tifffile.imread(path)
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None, path
    return array


def target_maps(mask: np.ndarray) -> dict[str, np.ndarray]:
    """Extra maps of one mask: uint8 edges, uint16 instance ids above 255, float32 distances, uint16 depth."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    boundary = np.zeros_like(mask, bool)
    boundary[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    boundary[:-1, :] |= mask[:-1, :] != mask[1:, :]
    edges = np.where(boundary, 9, np.where(mask == 2, 3, 0)).astype(np.uint8)
    instances = (1000 + 300 * mask.astype(np.uint16) + (xx // 16)).astype(np.uint16)
    dist = cv2.distanceTransform((mask != 0).astype(np.uint8), cv2.DIST_L2, 3).astype(np.float32) + 0.25
    depth = (5000 + 700 * yy + 300 * xx + 2000 * np.sin(xx / 5.0)).astype(np.uint16)
    return {"edges": edges, "instances": instances, "dist": dist, "depth": depth}


def write_target(in_dir: Path, name: str, key: str, array: np.ndarray) -> Path:
    folder = TARGETS[name][0]
    if name == "dist":
        path = in_dir / folder / f"{key}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, array)
    else:
        path = in_dir / folder / f"{key}.png"
        write_png(path, array)
    return path


def make_target_dataset(root: Path, pairs=PAIRS) -> Path:
    in_dir = make_dataset(root, pairs)
    for key in pairs:
        mask = cv2.imread(str(in_dir / "masks" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        for name, array in target_maps(mask).items():
            write_target(in_dir, name, key, array)
    return in_dir


def outputs_of(key: str, copies=range(COPIES)) -> set[str]:
    paths = set()
    for k in copies:
        paths |= {f"images/{key}_aug{k}.png", f"masks/{key}_aug{k}.png"}
        paths |= {f"{name}/{key}_aug{k}{ext}" for name, (_, _, _, ext) in TARGETS.items()}
    return paths


def matrix_of(row: dict[str, str]) -> np.ndarray:
    values = [float(x) for x in row["matrix"].split(" ")]
    assert len(values) == 6, row["matrix"]
    return np.array(values, np.float64).reshape(2, 3)


def rewarp(source: np.ndarray, matrix: np.ndarray, kind: str, fill: float) -> np.ndarray:
    h, w = source.shape[:2]
    flags = cv2.INTER_NEAREST if kind == "label" else cv2.INTER_LINEAR
    return cv2.warpAffine(source, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=(fill,) * 4)


@pytest.fixture
def setup(tmp_path, cli):
    """A dataset with four extra targets, the recipe, and an OUT expanded once."""
    in_dir = make_target_dataset(tmp_path / "in")
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"
    result = expand(cli, recipe, in_dir, out)
    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (len(PAIRS) * COPIES, 0, 0, 0)
    return in_dir, recipe, out


# ---------------------------------------------------------------------------------------------
# Layout, manifest, resampling
# ---------------------------------------------------------------------------------------------


def test_every_target_gets_its_own_output_folder_and_extension(setup):
    _, _, out = setup
    everything = set().union(*(outputs_of(k) for k in PAIRS))
    on_disk = {p for p in tree_digest(out) if "/" in p}
    assert on_disk == everything
    # Output folders are named after the target, not after its input folder.
    assert not (out / "edges_in").exists() and not (out / "distance").exists()


def test_manifest_has_a_path_and_a_hash_column_per_target(setup):
    _, _, out = setup
    with open(out / "manifest.csv", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
    for name in TARGETS:
        assert header.count(name) == 1 and header.count(f"{name}_sha256") == 1, header
        assert header.index(f"{name}_sha256") == header.index(name) + 1
    rows = read_manifest(out)
    assert len(rows) == len(PAIRS) * COPIES
    for row in rows:
        stem = row["image"].removeprefix("images/").removesuffix(".png")
        for name, (_, _, _, ext) in TARGETS.items():
            assert row[name] == f"{name}/{stem}{ext}"
            assert row[f"{name}_sha256"] == hashlib.sha256((out / row[name]).read_bytes()).hexdigest()


def test_affine_outputs_equal_the_sources_rewarped_with_the_manifest_matrix(setup):
    in_dir, _, out = setup
    rows = read_manifest(out)
    fills_seen = dict.fromkeys(TARGETS, False)
    for row in rows:
        key = row["source_image"].removeprefix("images/").removesuffix(".png")
        matrix = matrix_of(row)
        mask = read_unchanged(out / row["mask"])
        for name, (folder, kind, fill, _) in TARGETS.items():
            source = read_unchanged(in_dir / folder / f"{key}{'.tif' if name == 'dist' else '.png'}")
            output = read_unchanged(out / row[name])
            expected = rewarp(source, matrix, kind, fill)
            assert output.dtype == source.dtype and output.shape == mask.shape, (name, row["image"])
            if kind == "label":
                np.testing.assert_array_equal(output, expected, err_msg=f"{name} {row['image']}")
            elif output.dtype == np.float32:
                np.testing.assert_allclose(output, expected, rtol=0, atol=1e-4, err_msg=name + row["image"])
            else:  # integer continuous maps: linear interpolation rounds to the nearest integer
                diff = np.abs(output.astype(np.int64) - expected.astype(np.int64))
                assert diff.max() <= 1, (name, row["image"], diff.max())
            # Uncovered pixels (mask = mask_fill where the image is 0 all round) carry the target's own fill.
            fills_seen[name] |= bool((output == (np.float32(fill) if kind == "continuous" else fill)).any())
    assert all(fills_seen.values()), fills_seen


def test_label_targets_hold_only_source_values_and_their_fill(setup):
    in_dir, _, out = setup
    grew = False
    for row in read_manifest(out):
        key = row["source_image"].removeprefix("images/").removesuffix(".png")
        for name in ("edges", "instances"):
            folder, _, fill, _ = TARGETS[name]
            source = read_unchanged(in_dir / folder / f"{key}.png")
            output = read_unchanged(out / row[name])
            assert set(np.unique(output)) <= set(np.unique(source)) | {fill}, (name, row["image"])
        instances = read_unchanged(out / row["instances"])
        assert instances.dtype == np.uint16
        grew |= bool((instances[instances != 65000] > 255).all())
    assert grew  # instance ids above 255 survive in a uint16 label target


def test_continuous_linear_ramp_lands_where_the_matrix_says(tmp_path, cli):
    """Independent of OpenCV: a float map whose value is the source x coordinate must read, at each
    output pixel well inside the source, the x of that pixel mapped back through the matrix."""
    in_dir = make_dataset(tmp_path / "in", {"a": (48, 64)})
    yy, xx = np.mgrid[0:48, 0:64]
    (in_dir / "ramp").mkdir()
    tifffile.imwrite(in_dir / "ramp" / "a.tif", xx.astype(np.float32))
    recipe = write_recipe(
        tmp_path / "r.yaml",
        """\
copies: 3
targets: [{name: ramp, kind: continuous, fill: -100}]
transforms:
  - rotate: {degrees: [-40, 40]}
  - scale: {range: [0.7, 1.3]}
  - translate: {fraction: [-0.1, 0.1]}
""",
    )
    out = tmp_path / "out"
    assert expand(cli, recipe, in_dir, out).exit_code == 0
    for row in read_manifest(out):
        assert row["ramp"] == row["image"].replace("images/", "ramp/").replace(".png", ".tif")
        output = tifffile.imread(out / row["ramp"])
        assert output.dtype == np.float32
        inverse = cv2.invertAffineTransform(matrix_of(row))
        sx = inverse[0, 0] * xx + inverse[0, 1] * yy + inverse[0, 2]
        sy = inverse[1, 0] * xx + inverse[1, 1] * yy + inverse[1, 2]
        inside = (sx >= 1) & (sx <= 62) & (sy >= 1) & (sy <= 46)
        outside = (sx < -1) | (sx > 64) | (sy < -1) | (sy > 48)
        assert inside.sum() > 500
        np.testing.assert_allclose(output[inside], sx[inside], atol=0.05)
        assert (output[outside] == -100).all()


NON_AFFINE_RECIPE = """\
seed: 2
copies: 4
interpolation: nearest
border: {mode: constant, mask_fill: 9}
targets:
  - {name: twin, folder: twin, kind: label, fill: 9}
transforms:
  - rot90: {k: [1, 3]}
  - crop: {size: [30, 34]}
  - rotate: {degrees: [-20, 20]}
  - perspective: {scale: [0.05, 0.1]}
  - elastic: {alpha: [2, 4], sigma: [6, 8]}
  - hflip: {p: 0.5}
"""


@pytest.mark.parametrize("mask_dtype", [np.uint8, np.uint16])
def test_a_label_target_equal_to_the_mask_stays_equal_through_any_geometry(tmp_path, cli, mask_dtype):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    for key in PAIRS:
        mask = cv2.imread(str(in_dir / "masks" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        if mask_dtype == np.uint16:  # ids above 255 in both the mask and its twin
            mask = mask.astype(np.uint16) * 1000
            write_png(in_dir / "masks" / f"{key}.png", mask)
        write_png(in_dir / "twin" / f"{key}.png", mask)
    recipe = write_recipe(tmp_path / "r.yaml", NON_AFFINE_RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert len(rows) == 4 * len(PAIRS)
    outputs = []
    for row in rows:
        assert row["matrix"] == ""  # the elastic field makes every sample non-affine
        mask = read_unchanged(out / row["mask"])
        twin = read_unchanged(out / row["twin"])
        assert mask.shape == (30, 34)  # the crop's [height, width], whatever rot90 did before it
        assert twin.dtype == mask.dtype == mask_dtype
        np.testing.assert_array_equal(twin, mask, err_msg=row["image"])
        outputs.append(mask.tobytes())
    assert len(set(outputs)) == len(outputs)  # every sample is a different geometry


# ---------------------------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------------------------


def test_a_pair_missing_its_target_file_fails_alone(tmp_path, cli):
    in_dir = make_target_dataset(tmp_path / "in")
    (in_dir / "edges_in" / "b.png").unlink()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    assert errors == ["error: images/b.png: no edges file found (looked for edges_in/b.*)"]
    assert summary_counts(result.stderr) == (2 * COPIES, 0, 0, 1)
    written = {p for p in tree_digest(out) if "/" in p}
    assert written == outputs_of("a") | outputs_of("city/c")
    errors_csv = (out / "errors.csv").read_text(encoding="utf-8")
    assert "images/b.png" in errors_csv and "no edges file found" in errors_csv


def test_a_missing_target_folder_is_a_usage_error(tmp_path, cli):
    in_dir = make_target_dataset(tmp_path / "in")
    for path in (in_dir / "depth").rglob("*.png"):
        path.unlink()
    for path in sorted((in_dir / "depth").rglob("*"), reverse=True):
        path.rmdir()
    (in_dir / "depth").rmdir()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: {in_dir / 'depth'}: no such folder (set targets[depth].folder in the recipe to rename it)\n"
    )
    assert not out.exists()


def test_a_target_of_another_size_fails_its_pair(tmp_path, cli):
    in_dir = make_target_dataset(tmp_path / "in")
    write_png(in_dir / "depth" / "a.png", np.zeros((10, 12), np.uint16))
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    assert errors == ["error: images/a.png: depth/a.png is 12x10 but masks/a.png is 64x48"]
    assert {p for p in tree_digest(out) if "/" in p} == outputs_of("b") | outputs_of("city/c")


# ---------------------------------------------------------------------------------------------
# Incremental reruns and check
# ---------------------------------------------------------------------------------------------


def test_a_rerun_writes_nothing(setup, cli):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, len(PAIRS) * COPIES, 0, 0)
    assert rewritten(out) == set()
    assert tree_digest(out) == before


def test_editing_one_target_file_regenerates_only_that_pair(setup, cli):
    in_dir, recipe, out = setup
    source = in_dir / "edges_in" / "b.png"
    write_png(source, np.where(cv2.imread(str(source), cv2.IMREAD_UNCHANGED) == 0, 9, 0).astype(np.uint8))
    before = tree_digest(out)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (COPIES, (len(PAIRS) - 1) * COPIES, 0, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == outputs_of("b")
    after = tree_digest(out)
    changed = {p for p in after if after[p] != before.get(p)} - {"manifest.csv", "segaug.json"}
    assert changed == {f"edges/b_aug{k}.png" for k in range(COPIES)}
    rows = {r["image"]: r for r in read_manifest(out)}
    assert rows["images/b_aug0.png"]["edges_sha256"] == after["edges/b_aug0.png"]


def test_check_passes_on_a_fresh_out(setup, cli):
    in_dir, recipe, out = setup
    before = tree_digest(out)

    result = cli("check", recipe, in_dir, out, "--workers", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"up to date ({len(PAIRS) * COPIES} output pairs)" in result.stderr
    assert tree_digest(out) == before


@pytest.mark.parametrize("rel", ["edges/a_aug1.png", "dist/city/c_aug0.tif"])
def test_a_deleted_target_output_is_reported_by_check_and_regenerated(setup, cli, rel):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    (out / rel).unlink()

    check = cli("check", recipe, in_dir, out, "--workers", "1")

    assert check.exit_code == 1
    assert check.stdout.splitlines() == [f"missing: {rel}: listed in the manifest but the file is gone"]
    assert not (out / rel).exists()  # check writes nothing

    age(out)
    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (1, len(PAIRS) * COPIES - 1, 0, 0)
    assert tree_digest(out) == before
    stem = rel.split("/", 1)[1].rsplit(".", 1)[0]
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == {
        p for p in before if p.split("/", 1)[-1].rsplit(".", 1)[0] == stem and "/" in p
    }
    assert cli("check", recipe, in_dir, out, "--workers", "1").exit_code == 0


def test_an_altered_target_output_is_reported_by_check(setup, cli):
    in_dir, recipe, out = setup
    rel = "instances/b_aug0.png"
    (out / rel).write_bytes((out / rel).read_bytes() + b"\0")

    check = cli("check", recipe, in_dir, out, "--workers", "1")

    assert check.exit_code == 1
    why = "the file's bytes differ from the manifest's sha256"
    assert check.stdout.splitlines() == [f"altered: {rel}: {why}"]


def test_a_stray_file_in_a_target_folder_is_an_extra_for_check(setup, cli):
    in_dir, recipe, out = setup
    write_png(out / "depth" / "stray.png", np.zeros((4, 4), np.uint16))

    check = cli("check", recipe, in_dir, out, "--workers", "1")

    assert check.exit_code == 1
    assert check.stdout.splitlines() == ["extra: depth/stray.png: not in the manifest"]


# ---------------------------------------------------------------------------------------------
# Formats and kept originals
# ---------------------------------------------------------------------------------------------


def test_kept_originals_copy_every_target_byte_for_byte(tmp_path, cli):
    in_dir = make_target_dataset(tmp_path / "in", {"a": (48, 64)})
    text = RECIPE.replace(f"copies: {COPIES}", "copies: 1\nkeep_original: true")
    recipe = write_recipe(tmp_path / "r.yaml", text)
    out = tmp_path / "out"

    assert expand(cli, recipe, in_dir, out).exit_code == 0

    original = next(r for r in read_manifest(out) if r["copy"] == "original")
    for name, (folder, _, _, _) in TARGETS.items():
        ext = ".tif" if name == "dist" else ".png"
        assert original[name] == f"{name}/a{ext}"
        assert (out / original[name]).read_bytes() == (in_dir / folder / f"a{ext}").read_bytes()


def test_label_targets_follow_mask_format_and_other_continuous_sources_become_tiff(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (48, 64)})
    mask = cv2.imread(str(in_dir / "masks" / "a.png"), cv2.IMREAD_UNCHANGED)
    write_png(in_dir / "edges" / "a.png", mask * 3)
    weights = (np.arange(48 * 64).reshape(48, 64) % 200).astype(np.uint8)
    write_png(in_dir / "weights" / "a.bmp", weights)
    recipe = write_recipe(
        tmp_path / "r.yaml",
        """\
copies: 1
output: {mask_format: tif}
targets:
  - {name: edges, kind: label}
  - {name: weights, kind: continuous}
transforms: [hflip]
""",
    )
    out = tmp_path / "out"

    assert expand(cli, recipe, in_dir, out).exit_code == 0

    (row,) = read_manifest(out)
    assert (row["mask"], row["edges"], row["weights"]) == ("masks/a_aug0.tif", "edges/a_aug0.tif", "weights/a_aug0.tif")
    np.testing.assert_array_equal(tifffile.imread(out / row["edges"]), np.fliplr(mask * 3))
    np.testing.assert_array_equal(tifffile.imread(out / row["weights"]), np.fliplr(weights))


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images", "masks"])
def test_a_target_may_not_take_an_output_folder_name(tmp_path, cli, name):
    recipe = write_recipe(tmp_path / "r.yaml", f"copies: 1\ntargets:\n  - {{name: {name}, folder: extra}}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {recipe} line 3: targets[0].name: must be a folder name other than images and masks "
        f"(letters, digits, _ . -), got '{name}'\n"
    )


def test_duplicate_target_names_are_refused(tmp_path, cli):
    recipe = write_recipe(tmp_path / "r.yaml", "targets:\n  - {name: w}\n  - {name: w, folder: w2}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr == f"Error: {recipe} line 3: targets[1].name: duplicate target name 'w'\n"


def test_an_unknown_target_kind_is_refused(tmp_path, cli):
    recipe = write_recipe(tmp_path / "r.yaml", "targets:\n  - {name: w, kind: nearest}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {recipe} line 2: targets[0].kind: must be one of label, continuous, got 'nearest'\n"
    )


@pytest.mark.parametrize("name", ["manifest.csv", "segaug.json", "errors.csv"])
def test_a_target_may_not_take_the_name_of_a_file_segaug_writes_in_out(tmp_path, cli, name):
    recipe = write_recipe(tmp_path / "r.yaml", f"copies: 1\ntargets:\n  - {{name: {name}, folder: extra}}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {recipe} line 3: targets[0].name: {name!r} is a file segaug writes in OUT; choose another name\n"
    )


@pytest.mark.parametrize("fill", ["2.5", "-1", "70000"])
def test_a_label_target_fill_must_be_a_label(tmp_path, cli, fill):
    recipe = write_recipe(tmp_path / "r.yaml", f"targets:\n  - {{name: w, kind: label, fill: {fill}}}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {recipe} line 2: targets[0].fill: must be a whole number from 0 to 65535 "
        f"for a label target, got {fill}\n"
    )


def test_a_continuous_target_fill_may_be_fractional_or_negative(tmp_path, cli):
    recipe = write_recipe(tmp_path / "r.yaml", "targets:\n  - {name: w, kind: continuous, fill: -2.5}\n")

    assert cli("validate", recipe).exit_code == 0


def test_a_fill_that_does_not_fit_the_target_fails_the_pair_instead_of_inventing_a_label(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (48, 64), "b": (40, 40)})
    for key, dtype in (("a", np.uint8), ("b", np.uint16)):
        mask = cv2.imread(str(in_dir / "masks" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        write_png(in_dir / "edges" / f"{key}.png", mask.astype(dtype))
    recipe = write_recipe(
        tmp_path / "r.yaml",
        """\
copies: 1
targets: [{name: edges, kind: label, fill: 300}]
transforms: [{rotate: {degrees: 30}}]
""",
    )
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    why = "targets[edges].fill 300 does not fit in this uint8 map (0 to 255)"
    assert errors == [f"error: images/a.png: {why}"]
    output = read_unchanged(out / "edges" / "b_aug0.png")  # the uint16 map takes it
    assert output.dtype == np.uint16 and (output == 300).any()
    assert not (out / "edges" / "a_aug0.png").exists()


def test_a_palette_label_target_keeps_its_indices_and_its_palette(tmp_path, cli):
    """Instance maps from annotation tools (VOC's SegmentationObject) are palette PNGs: indices,
    not colours."""
    from PIL import Image

    in_dir = make_dataset(tmp_path / "in", {"a": (48, 64)})
    indices = (cv2.imread(str(in_dir / "masks" / "a.png"), cv2.IMREAD_UNCHANGED) * 2 + 1).astype(np.uint8)
    palette = [(i * 37) % 256 for i in range(768)]
    image = Image.fromarray(indices, "P")
    image.putpalette(palette)
    (in_dir / "instances").mkdir()
    image.save(in_dir / "instances" / "a.png")
    recipe = write_recipe(
        tmp_path / "r.yaml",
        """\
copies: 1
targets: [{name: instances, kind: label, fill: 0}]
transforms: [hflip]
""",
    )
    out = tmp_path / "out"

    assert expand(cli, recipe, in_dir, out).exit_code == 0

    with Image.open(out / "instances" / "a_aug0.png") as written:
        assert written.mode == "P"
        assert written.getpalette() == palette
        np.testing.assert_array_equal(np.array(written), np.fliplr(indices))
