"""The public Python interface (docs/python.md): ``Recipe.sample`` gives, pixel for pixel, what
``segaug expand`` writes; ``expand`` is the command; errors are the command line's lines."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO, SAMPLE, read_manifest, tree_digest, write_recipe

import segaug_cli
from segaug_cli import Recipe, RecipeError, SegaugError
from segaug_cli.cli import main
from segaug_cli.codecs import decode_pixels

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
PUBLIC = {
    "AugmentedPairs",
    "ExpandResult",
    "Recipe",
    "RecipeError",
    "Sample",
    "SegaugError",
    "__version__",
    "expand",
    "read_pair",
}


@pytest.fixture(scope="module")
def expanded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """OUT of ``segaug expand`` (the command line, one worker) for every recipe on sample_data/, made once."""
    outs = {}
    for recipe in RECIPES:
        out = tmp_path_factory.mktemp("expanded") / recipe.stem
        args = ["expand", str(recipe), str(SAMPLE), str(out), "--workers", "1", "--quiet"]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outs[recipe.stem] = out
    return outs


def key_of(recipe: Recipe, source_image: str) -> str:
    """The pair's key as expand derives it: the path under the images folder, without extension."""
    images = recipe.spec.inputs.images
    return source_image.removeprefix(f"{images}/").rsplit(".", 1)[0]


def decoded(out: Path, rel: str) -> np.ndarray:
    return decode_pixels((out / rel).read_bytes(), rel)


@pytest.mark.parametrize("recipe_path", RECIPES, ids=lambda p: p.stem)
def test_sample_is_what_expand_writes(recipe_path: Path, expanded: dict[str, Path]):
    out = expanded[recipe_path.stem]
    recipe = Recipe.load(recipe_path)
    rows = read_manifest(out)
    assert len(rows) == len({r["source_image"] for r in rows}) * recipe.copies  # every pair, every copy
    for row in rows:
        image, mask = segaug_cli.read_pair(SAMPLE / row["source_image"], SAMPLE / row["source_mask"])
        key = key_of(recipe, row["source_image"])
        sample = recipe.sample(image, mask, key=key, copy=int(row["copy"]), written_as=row["image"])
        assert np.array_equal(sample.image, decoded(out, row["image"])), row["image"]
        assert sample.image.dtype == decoded(out, row["image"]).dtype
        assert np.array_equal(sample.mask, decoded(out, row["mask"])), row["mask"]
        assert sample.seed == int(row["seed"])
        assert sample.params == json.loads(row["params"])
        assert (key, int(row["copy"]), 0) == (sample.key, sample.copy, sample.epoch)
        if row["matrix"]:
            assert sample.matrix is not None
            assert list(sample.matrix.ravel()) == [float(x) for x in row["matrix"].split()]
            assert sample.matrix.shape == ((2, 3) if len(row["matrix"].split()) == 6 else (3, 3))
        else:  # a displacement field: no matrix
            assert sample.matrix is None


def test_without_written_as_a_png_output_is_the_same_and_a_jpeg_one_is_the_image_before_encoding(expanded):
    out, recipe = expanded["default"], Recipe.load(REPO / "recipes" / "default.yaml")
    rows = {r["image"]: r for r in read_manifest(out)}
    for name in ("images/street/frame_000_aug1.png", "images/street/frame_002_aug1.jpg"):
        row = rows[name]
        image, mask = segaug_cli.read_pair(SAMPLE / row["source_image"], SAMPLE / row["source_mask"])
        sample = recipe.sample(image, mask, key=key_of(recipe, row["source_image"]), copy=1)
        same = np.array_equal(sample.image, decoded(out, name))
        assert same == name.endswith(".png")
        if not same:  # JPEG at quality 95: close, not equal
            assert np.abs(sample.image.astype(int) - decoded(out, name).astype(int)).mean() < 2


def test_sample_is_frozen_and_pickles():
    recipe = Recipe.load(REPO / "recipes" / "default.yaml")
    image, mask = segaug_cli.read_pair(SAMPLE / "images/street/frame_000.png", SAMPLE / "masks/street/frame_000.png")
    sample = recipe.sample(image, mask, key="street/frame_000", copy=0)
    with pytest.raises(AttributeError):
        sample.copy = 1  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(sample))
    assert np.array_equal(again.image, sample.image) and again.params == sample.params
    assert pickle.loads(pickle.dumps(recipe)) == recipe


def test_epoch_zero_is_the_offline_draw_and_other_epochs_draw_anew():
    recipe = Recipe.load(REPO / "recipes" / "default.yaml")
    image, mask = segaug_cli.read_pair(SAMPLE / "images/street/frame_000.png", SAMPLE / "masks/street/frame_000.png")
    seeds = {e: recipe.sample(image, mask, key="street/frame_000", copy=0, epoch=e).seed for e in (0, 1, 2)}
    assert len(set(seeds.values())) == 3
    assert recipe.sample(image, mask, key="street/frame_000", copy=0, epoch=1).seed == seeds[1]


@pytest.mark.parametrize("recipe_path", RECIPES, ids=lambda p: p.stem)
def test_from_dict_is_load_of_the_same_data(recipe_path: Path):
    data = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
    assert Recipe.from_dict(data) == Recipe.load(recipe_path)


def test_from_dict_reads_tuples_as_lists_and_leaves_the_data_alone():
    data = {"copies": 2, "transforms": ({"rotate": {"degrees": (-10, 10)}},)}
    recipe = Recipe.from_dict(data)
    assert recipe.copies == 2
    assert recipe == Recipe.from_dict({"copies": 2, "transforms": [{"rotate": {"degrees": [-10, 10]}}]})
    assert data == {"copies": 2, "transforms": ({"rotate": {"degrees": (-10, 10)}},)}


BAD = "copies: 2\ntransforms:\n  - rotate: {degrees: [30, -30]}\n"


def test_a_bad_recipe_file_raises_the_line_segaug_validate_prints(tmp_path: Path):
    path = write_recipe(tmp_path / "bad.yaml", BAD)
    with pytest.raises(RecipeError) as caught:
        Recipe.load(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {caught.value}"
    assert str(caught.value) == f"{path} line 3: transforms[0].rotate.degrees: lo (30) > hi (-30)"


def test_a_bad_mapping_raises_the_same_sentence_without_a_line():
    with pytest.raises(RecipeError, match=r"^<mapping>: transforms\[0\]\.rotate\.degrees: lo \(30\) > hi \(-30\)$"):
        Recipe.from_dict(yaml.safe_load(BAD))
    with pytest.raises(RecipeError, match=r"^train\.yaml: transforms\[0\]: unknown op 'spin'"):
        Recipe.from_dict({"transforms": [{"spin": {}}]}, name="train.yaml")
    with pytest.raises(RecipeError, match=r"^<mapping>: must be a mapping of keys to values, got a list$"):
        Recipe.from_dict([])  # type: ignore[arg-type]
    assert issubclass(RecipeError, SegaugError)


def test_sample_refuses_arrays_that_do_not_fit():
    recipe = Recipe.from_dict({"transforms": [{"hflip": {}}]})
    image = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(SegaugError, match=r"^a/b: the mask is 5x4 but the image is 6x4$"):
        recipe.sample(image, np.zeros((4, 5), np.uint8), key="a/b", copy=0)
    with pytest.raises(SegaugError, match=r"^a/b: the mask must be an \(H, W\) or \(H, W, C\) uint8/uint16 array"):
        recipe.sample(image, np.zeros((4, 6), np.int64), key="a/b", copy=0)
    with pytest.raises(SegaugError, match=r"^a/b: targets must be the recipe's \(none\); got \['edges'\]$"):
        recipe.sample(image, np.zeros((4, 6), np.uint8), key="a/b", copy=0, targets={"edges": image[..., 0]})


def test_an_unknown_keyword_is_refused_as_python_refuses_it(tmp_path: Path):
    recipe = Recipe.from_dict({"transforms": [{"hflip": {}}]})
    image = np.zeros((4, 6), np.uint8)
    with pytest.raises(TypeError, match=r"^sample\(\) got an unexpected keyword argument 'epochs'$"):
        recipe.sample(image, image, key="k", copy=0, epochs=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^expand\(\) got an unexpected keyword argument 'dryrun'$"):
        segaug_cli.expand(recipe, SAMPLE, tmp_path / "out", dryrun=True)  # type: ignore[call-arg]
    assert not (tmp_path / "out").exists()


def test_a_flip_is_exact():
    recipe = Recipe.from_dict({"copies": 1, "transforms": [{"hflip": {}}]})
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    mask = np.arange(24, dtype=np.uint8).reshape(4, 6)
    sample = recipe.sample(image, mask, key="k", copy=0)
    assert np.array_equal(sample.image, image[:, ::-1]) and np.array_equal(sample.mask, mask[:, ::-1])
    assert sample.matrix is not None and sample.matrix.tolist() == [[-1, 0, 5], [0, 1, 0]]
    assert sample.params == {"hflip": {}}


def test_expand_is_the_command(expanded: dict[str, Path], tmp_path: Path):
    out = tmp_path / "out"
    result = segaug_cli.expand(REPO / "recipes" / "street.yaml", SAMPLE, out, workers=1)
    assert tree_digest(out) == tree_digest(expanded["street"])
    assert (result.pairs, result.written, result.unchanged, result.failed, result.ok) == (4, 12, 0, 0, True)
    again = segaug_cli.expand(Recipe.load(REPO / "recipes" / "street.yaml"), SAMPLE, out, workers=1)
    assert (again.written, again.unchanged, again.removed) == (0, 12, 0)


def test_expand_records_seed_and_copies_as_the_command_does(tmp_path: Path):
    recipe = REPO / "recipes" / "street.yaml"
    segaug_cli.expand(recipe, SAMPLE, tmp_path / "api", workers=1, seed=7, copies=1)
    args = ["expand", str(recipe), str(SAMPLE), str(tmp_path / "cli"), "-j", "1", "-q", "--seed", "7", "--copies", "1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert tree_digest(tmp_path / "api") == tree_digest(tmp_path / "cli")


def test_expand_raises_the_commands_line_on_a_user_error(tmp_path: Path):
    with pytest.raises(SegaugError) as caught:
        segaug_cli.expand(REPO / "recipes" / "street.yaml", tmp_path / "nowhere", tmp_path / "out")
    result = CliRunner().invoke(main, ["expand", str(REPO / "recipes/street.yaml"), str(tmp_path / "nowhere"), "x"])
    assert result.exit_code == 2 and result.output.strip() == f"Error: {caught.value}"
    assert str(caught.value) == f"{tmp_path / 'nowhere'}: no such folder"
    assert not (tmp_path / "out").exists()


def test_expand_reports_failed_pairs_in_its_result(tmp_path: Path):
    in_dir = tmp_path / "in"
    (in_dir / "images").mkdir(parents=True)
    (in_dir / "masks").mkdir()
    (in_dir / "images" / "a.png").write_bytes(b"not a png")
    (in_dir / "masks" / "a.png").write_bytes(b"not a png")
    recipe = Recipe.from_dict({"copies": 1, "transforms": [{"hflip": {}}]})
    result = segaug_cli.expand(recipe, in_dir, tmp_path / "out", workers=1)
    assert not result.ok and result.failed == 1 and result.failures[0][0] == "images/a.png"


def test_public_names_are_all_and_load_on_use():
    assert set(segaug_cli.__all__) == PUBLIC
    assert all(hasattr(segaug_cli, name) for name in PUBLIC)
    assert (REPO / "segaug_cli" / "py.typed").is_file()
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        segaug_cli.Nothing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_package_loads_neither_numpy_nor_opencv():
    code = "import sys, segaug_cli; print(sorted({'numpy', 'cv2'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_py_typed_ships_with_the_package():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '[tool.setuptools.package-data]\nsegaug_cli = ["py.typed"]' in text
