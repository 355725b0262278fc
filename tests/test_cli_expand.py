"""`segaug expand` end to end: a real worker pool, the output layout, the manifest, and every error path.

Most runs use ``--workers 2`` so that results travel through a real multiprocessing pool; the
subprocess tests also check what a user's terminal or CI log sees (stderr, exit codes).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from pathlib import Path

import conftest
import cv2
import numpy as np
import pytest
from conftest import (
    blocky_mask,
    error_lines,
    make_dataset,
    output_files,
    read_manifest,
    run_segaug,
    summary_counts,
    tree_digest,
    write_png,
    write_recipe,
)
from PIL import Image

RECIPE = """\
seed: 3
copies: 2
transforms:
  - rotate: {degrees: [-20, 20]}
  - scale: {range: [0.9, 1.1]}
  - hflip: {p: 0.5}
  - brightness: {range: [-0.1, 0.1]}
"""

# Keys whose output names sort differently by key than by image name in code-point order:
# "B" < "a" (upper case first), and "a-1_aug0" < "a_aug0" ('-' < '_') although key "a" < "a-1".
PAIRS = {"a": (48, 64), "B": (40, 40), "a-1": (30, 44), "city/c": (37, 53)}
COLUMNS = ("image", "mask", "source_image", "source_mask", "copy", "seed", "matrix", "params")


expand = functools.partial(conftest.expand, workers=2)  # two workers: the pool path, as users run it


def matrix_of(row: dict[str, str]) -> np.ndarray:
    return np.array([float(x) for x in row["matrix"].split(" ")], np.float64).reshape(2, 3)


def read_unchanged(path: Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None, path
    return array


def expected_outputs(keys, copies: int, image_ext: str = ".png", mask_suffix: str = "") -> tuple[list, list]:
    images = sorted(f"images/{k}_aug{c}{image_ext}" for k in keys for c in range(copies))
    masks = sorted(f"masks/{k}_aug{c}{mask_suffix}.png" for k in keys for c in range(copies))
    return images, masks


def assert_manifest_describes_out(out: Path) -> list[dict[str, str]]:
    """manifest.csv: the contract's columns, sorted by image, one row per output pair on disk."""
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert set(COLUMNS) <= set(header), header
    rows = read_manifest(out)
    images = [r["image"] for r in rows]
    assert images == sorted(images)  # Python's str order is code-point order
    assert len(set(images)) == len(images)
    assert sorted(images) == output_files(out, "images")
    assert sorted(r["mask"] for r in rows) == output_files(out, "masks")
    return rows


# ---------------------------------------------------------------------------------------------
# The whole path, in a real subprocess
# ---------------------------------------------------------------------------------------------


def test_expand_end_to_end_with_a_worker_pool(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    before = tree_digest(in_dir)
    out = tmp_path / "out"

    result = run_segaug("expand", recipe, in_dir, out, "--workers", "2")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    # Not a terminal: no progress bar, only the summary line.
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert summary_counts(result.stderr) == (8, 0, 0, 0)
    assert tree_digest(in_dir) == before  # IN is never written to

    images, masks = expected_outputs(PAIRS, 2)
    assert output_files(out, "images") == images  # city/ mirrored, names <stem>_aug<k>.<ext>
    assert output_files(out, "masks") == masks
    rows = assert_manifest_describes_out(out)
    assert [r["image"] for r in rows][:4] == [
        "images/B_aug0.png",
        "images/B_aug1.png",
        "images/a-1_aug0.png",
        "images/a-1_aug1.png",
    ]
    for row in rows:
        key, copy = re.fullmatch(r"images/(.+)_aug(\d+)\.png", row["image"]).groups()
        assert row["mask"] == f"masks/{key}_aug{copy}.png"
        assert (row["source_image"], row["source_mask"]) == (f"images/{key}.png", f"masks/{key}.png")
        assert row["copy"] == copy
        assert 0 <= int(row["seed"]) < 2**64
        assert isinstance(json.loads(row["params"]), dict)
        assert "rotate" in json.loads(row["params"])
        # The manifest's matrix reproduces the output mask from the source mask exactly.
        source_mask = read_unchanged(in_dir / row["source_mask"])
        out_mask, out_image = read_unchanged(out / row["mask"]), read_unchanged(out / row["image"])
        assert out_mask.shape == out_image.shape[:2]
        h, w = out_mask.shape
        warped = cv2.warpAffine(
            source_mask, matrix_of(row), (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        np.testing.assert_array_equal(out_mask, warped, err_msg=row["mask"])
    assert len({r["seed"] for r in rows}) == len(rows)


def test_quiet_prints_nothing_on_success(tmp_path):
    in_dir = make_dataset(tmp_path / "in")
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)

    result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--workers", "2", "--quiet")

    assert result.returncode == 0, result.stderr
    assert (result.stdout, result.stderr) == ("", "")
    assert len(output_files(tmp_path / "out", "images")) == 6


def test_failed_pair_in_a_subprocess_gives_one_line_and_no_traceback(tmp_path):
    in_dir = make_dataset(tmp_path / "in")
    (in_dir / "masks" / "b.png").unlink()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)

    result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--workers", "2", "--quiet")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == ["error: images/b.png: no mask found for this image"]
    assert summary_counts(result.stderr) == (4, 0, 0, 1)  # --quiet still reports a failure


# ---------------------------------------------------------------------------------------------
# Output options
# ---------------------------------------------------------------------------------------------


def test_keep_original_copies_the_pair_byte_for_byte(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 2", "copies: 1\nkeep_original: true"))
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    keys = ("a", "b", "city/c")
    assert output_files(out, "images") == sorted(
        [f"images/{k}.png" for k in keys] + [f"images/{k}_aug0.png" for k in keys]
    )
    rows = {r["image"]: r for r in assert_manifest_describes_out(out)}
    for key in keys:
        for folder in ("images", "masks"):
            rel = f"{folder}/{key}.png"
            assert (out / rel).read_bytes() == (in_dir / rel).read_bytes(), rel
        row = rows[f"images/{key}.png"]
        assert row["mask"] == f"masks/{key}.png"
        assert (row["source_image"], row["source_mask"]) == (f"images/{key}.png", f"masks/{key}.png")
        described = (row["copy"], row["seed"], row["matrix"], row["params"])
        assert described == ("original", "", "1 0 0 0 1 0", "{}")
        assert rows[f"images/{key}_aug0.png"]["copy"] == "0"


@pytest.mark.parametrize(
    ("source_ext", "image_format", "out_ext"),
    [(".png", "jpg", ".jpg"), (".jpg", "png", ".png"), (".jpg", "same", ".jpg"), (".png", "same", ".png")],
)
def test_image_format_changes_image_extensions_and_masks_stay_png(tmp_path, cli, source_ext, image_format, out_ext):
    in_dir = make_dataset(tmp_path / "in")
    if source_ext != ".png":
        for path in sorted((in_dir / "images").rglob("*.png")):
            assert cv2.imwrite(str(path.with_suffix(source_ext)), cv2.imread(str(path)))
            path.unlink()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE + f"output: {{image_format: {image_format}}}\n")
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    images, masks = expected_outputs(("a", "b", "city/c"), 2, out_ext)
    assert output_files(out, "images") == images
    assert output_files(out, "masks") == masks
    signature = b"\xff\xd8\xff" if out_ext == ".jpg" else b"\x89PNG\r\n\x1a\n"
    for rel in images:
        assert (out / rel).read_bytes().startswith(signature), rel
    for rel in masks:
        assert (out / rel).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), rel
    rows = assert_manifest_describes_out(out)
    assert {r["source_image"] for r in rows} == {f"images/{k}{source_ext}" for k in ("a", "b", "city/c")}


def test_mask_suffix_names_the_output_masks(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    for path in sorted((in_dir / "masks").rglob("*.png")):
        path.rename(path.with_name(f"{path.stem}_mask.png"))
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE + "inputs: {mask_suffix: _mask}\n")
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    images, masks = expected_outputs(("a", "b", "city/c"), 2, mask_suffix="_mask")
    assert (output_files(out, "images"), output_files(out, "masks")) == (images, masks)
    rows = assert_manifest_describes_out(out)
    assert rows[0]["source_mask"] == "masks/a_mask.png"


def test_copies_and_seed_options_override_the_recipe(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (48, 64), "b": (40, 40)})
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    same_as_overrides = write_recipe(
        tmp_path / "r11.yaml", RECIPE.replace("seed: 3", "seed: 5").replace("copies: 2", "copies: 11")
    )

    overridden = expand(cli, recipe, in_dir, tmp_path / "o1", "--copies", "11", "--seed", "5")
    written = expand(cli, same_as_overrides, in_dir, tmp_path / "o2")
    plain = expand(cli, recipe, in_dir, tmp_path / "o3")

    assert (overridden.exit_code, written.exit_code, plain.exit_code) == (0, 0, 0)
    assert summary_counts(overridden.stderr) == (22, 0, 0, 0)
    # the same files; o1's segaug.json also records the overrides it was made with
    same = {**tree_digest(tmp_path / "o1"), "segaug.json": tree_digest(tmp_path / "o2")["segaug.json"]}
    assert same == tree_digest(tmp_path / "o2")
    rows = assert_manifest_describes_out(tmp_path / "o1")
    # Code-point order: a_aug10 sorts before a_aug2.
    assert [r["image"] for r in rows][:4] == [
        "images/a_aug0.png",
        "images/a_aug1.png",
        "images/a_aug10.png",
        "images/a_aug2.png",
    ]
    plain_rows = {r["image"]: r["seed"] for r in read_manifest(tmp_path / "o3")}
    assert len(plain_rows) == 4
    assert all(plain_rows[r["image"]] != r["seed"] for r in rows if r["image"] in plain_rows)


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


def test_uint16_images_and_masks_keep_their_dtype_and_labels(tmp_path, cli):
    in_dir = tmp_path / "in"
    rng = np.random.default_rng(1)
    lut = np.array([0, 256, 300, 1000, 65000], np.uint16)
    for key, shape in {"a": (40, 56), "b": (33, 33)}.items():
        mask = lut[blocky_mask(rng, shape, 5)]
        image = (np.stack([mask, mask // 2, 65535 - mask], axis=2)).astype(np.uint16)
        write_png(in_dir / "images" / f"{key}.png", image)
        write_png(in_dir / "masks" / f"{key}.png", mask)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE + "  - contrast: {range: [0.8, 1.2]}\n")
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    rows = assert_manifest_describes_out(out)
    assert len(rows) == 4
    seen = set()
    for row in rows:
        image, mask = read_unchanged(out / row["image"]), read_unchanged(out / row["mask"])
        assert image.dtype == np.uint16 and image.ndim == 3, row["image"]
        assert mask.dtype == np.uint16 and mask.ndim == 2, row["mask"]
        source = read_unchanged(in_dir / row["source_mask"])
        assert set(np.unique(mask)) <= set(np.unique(source)) | {0}
        warped = cv2.warpAffine(
            source,
            matrix_of(row),
            mask.shape[::-1],
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        np.testing.assert_array_equal(mask, warped)
        seen |= set(np.unique(mask).tolist())
    assert {1000, 65000} & seen  # labels above 255 survive


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_one_three_and_four_channel_images(tmp_path, cli, channels):
    in_dir = tmp_path / "in"
    rng = np.random.default_rng(channels)
    mask = blocky_mask(rng, (36, 50), 4)
    planes = [(mask * 60 + 10 * c).astype(np.uint8) for c in range(channels)]
    image = planes[0] if channels == 1 else np.stack(planes, axis=2)
    write_png(in_dir / "images" / "x.png", image)
    write_png(in_dir / "masks" / "x.png", mask)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    for rel in ("images/x_aug0.png", "images/x_aug1.png"):
        written = read_unchanged(out / rel)
        assert written.shape == image.shape and written.dtype == np.uint8, rel


def test_palette_mask_stays_a_palette_png_of_indices(tmp_path, cli):
    in_dir = tmp_path / "in"
    indices = blocky_mask(np.random.default_rng(5), (40, 60), 4)
    palette = [0, 0, 0, 200, 30, 30, 30, 200, 30, 250, 250, 10]
    source = Image.frombytes("P", (60, 40), indices.tobytes())
    source.putpalette(palette)
    (in_dir / "masks").mkdir(parents=True)
    source.save(in_dir / "masks" / "p.png")
    write_png(in_dir / "images" / "p.png", (indices * 50).astype(np.uint8))
    with Image.open(in_dir / "masks" / "p.png") as img:
        source_palette = img.getpalette()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 2", "copies: 3"))
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    for row in assert_manifest_describes_out(out):
        with Image.open(out / row["mask"]) as img:
            assert img.mode == "P", row["mask"]
            assert img.getpalette() == source_palette
            labels = np.array(img)
        assert set(np.unique(labels)) <= {0, 1, 2, 3}
        warped = cv2.warpAffine(
            indices, matrix_of(row), (60, 40), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        np.testing.assert_array_equal(labels, warped)  # indices moved, never turned into colours


# ---------------------------------------------------------------------------------------------
# Pairs that fail alone: exit 1, a one-line reason naming the file, the others written
# ---------------------------------------------------------------------------------------------


def _no_mask(in_dir: Path) -> None:
    (in_dir / "masks" / "b.png").unlink()


def _corrupt_image(in_dir: Path) -> None:
    (in_dir / "images" / "b.png").write_bytes(np.random.default_rng(0).bytes(2000))


def _empty_mask(in_dir: Path) -> None:
    (in_dir / "masks" / "b.png").write_bytes(b"")


def _mask_of_another_size(in_dir: Path) -> None:
    write_png(in_dir / "masks" / "b.png", np.zeros((20, 30), np.uint8))  # image b is 40x40


@pytest.mark.parametrize(
    ("damage", "fragments"),
    [
        (_no_mask, ["images/b.png: ", "no mask"]),
        (_corrupt_image, ["images/b.png: "]),
        (_empty_mask, ["masks/b.png", "empty"]),
        (_mask_of_another_size, ["masks/b.png", "images/b.png", "30x20", "40x40"]),
    ],
    ids=["no-mask", "corrupt-image", "empty-mask", "size-mismatch"],
)
def test_a_bad_pair_fails_alone(tmp_path, cli, damage, fragments):
    in_dir = make_dataset(tmp_path / "in")
    damage(in_dir)
    before = tree_digest(in_dir)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert "\n" not in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    assert summary_counts(result.stderr) == (4, 0, 0, 1)
    images, masks = expected_outputs(("a", "city/c"), 2)
    assert (output_files(out, "images"), output_files(out, "masks")) == (images, masks)
    assert [r["image"] for r in assert_manifest_describes_out(out)] == images
    with open(out / "errors.csv", newline="", encoding="utf-8") as fh:
        failures = list(csv.DictReader(fh))
    assert [f["source_image"] for f in failures] == ["images/b.png"]
    assert tree_digest(in_dir) == before


def test_masks_without_images_are_a_warning(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    write_png(in_dir / "masks" / "zz.png", np.zeros((8, 8), np.uint8))
    write_png(in_dir / "masks" / "city" / "lonely.png", np.zeros((8, 8), np.uint8))
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "2 mask" in warnings[0]
    assert "masks/city/lonely.png" in warnings[0] and "masks/zz.png" in warnings[0]
    assert summary_counts(result.stderr) == (6, 0, 0, 0)
    assert not (out / "errors.csv").exists()


def test_strict_stops_at_the_first_failure(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (30, 30), "b": (30, 30), "c": (30, 30), "d": (30, 30)})
    (in_dir / "masks" / "a.png").unlink()
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = cli("expand", recipe, in_dir, out, "--workers", "1", "--strict")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert error_lines(result.stderr) == ["error: images/a.png: no mask found for this image"]
    assert output_files(out, "images") == []  # pairs are run in key order: nothing after "a"
    assert assert_manifest_describes_out(out) == []

    pooled = cli("expand", recipe, in_dir, tmp_path / "out2", "--workers", "2", "--strict")
    assert pooled.exit_code == 1
    assert len(output_files(tmp_path / "out2", "images")) < 6  # it stopped: not all 3 good pairs
    assert_manifest_describes_out(tmp_path / "out2")


# ---------------------------------------------------------------------------------------------
# Usage errors: exit 2, one line, nothing written
# ---------------------------------------------------------------------------------------------


def assert_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_bad_recipe_exits_2_and_creates_no_out(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    recipe = write_recipe(tmp_path / "bad.yaml", "copies: 2\ntransforms:\n  - rotat: {degrees: 5}\n")
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out)

    assert_usage_error(result, "bad.yaml", "line 3", "rotat")
    assert not out.exists()


def test_missing_in_exits_2(tmp_path, cli):
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, tmp_path / "nowhere", out)

    assert_usage_error(result, "nowhere")
    assert not out.exists()


@pytest.mark.parametrize("layout", ["out-inside-in", "in-inside-out", "same", "same-via-symlink"])
def test_overlapping_in_and_out_are_refused(tmp_path, cli, layout):
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    if layout == "in-inside-out":
        out = tmp_path / "outer"
        in_dir = make_dataset(out / "in")
    else:
        in_dir = make_dataset(tmp_path / "in")
        out = {"out-inside-in": in_dir / "out", "same": in_dir}.get(layout, tmp_path / "link")
        if layout == "same-via-symlink":
            out.symlink_to(in_dir, target_is_directory=True)
    watched = out if layout == "in-inside-out" else in_dir
    before = tree_digest(watched)

    result = expand(cli, recipe, in_dir, out)

    assert_usage_error(result, "must be separate folders")
    assert tree_digest(watched) == before
    assert layout != "out-inside-in" or not out.exists()


def test_in_is_never_modified_even_with_failures_and_originals(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    _corrupt_image(in_dir)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE + "keep_original: true\n")
    before = tree_digest(in_dir)
    mtimes = {p: p.stat().st_mtime_ns for p in in_dir.rglob("*")}

    first = expand(cli, recipe, in_dir, tmp_path / "out")
    again = expand(cli, recipe, in_dir, tmp_path / "out", "--force")

    assert (first.exit_code, again.exit_code) == (1, 1)
    assert tree_digest(in_dir) == before
    assert {p: p.stat().st_mtime_ns for p in in_dir.rglob("*")} == mtimes
