"""Every recipe's bytes are pinned: outputs, manifest.csv and segaug.json, file by file.

A failure here means a change altered what segaug writes. If that was the point, bump
``FORMAT_VERSION`` (so reruns rewrite old outputs rather than trust them) and run ``make golden``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_outputs import (
    OP_GOLDEN,
    PIXEL_GOLDEN,
    RECIPES,
    golden_path,
    library_versions,
    op_names,
    pixel_versions,
    run_one_op,
    run_recipe,
    run_recipe_pixels,
)


def golden(path: Path) -> dict:
    record = json.loads(path.read_text(encoding="utf-8"))
    if record["versions"] != library_versions():
        pytest.skip(f"golden bytes were recorded with {record['versions']}, this is {library_versions()}")
    return record["files"]


def assert_same_files(files: dict[str, str], expected: dict[str, str]) -> None:
    assert sorted(files) == sorted(expected), "a different set of files"
    changed = sorted(path for path, digest in files.items() if expected[path] != digest)
    assert changed == [], f"{len(changed)} of {len(files)} files changed, e.g. {changed[:5]}"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_bytes_match_the_golden_record(recipe: Path, tmp_path: Path):
    expected = golden(golden_path(recipe))
    assert_same_files(run_recipe(recipe, tmp_path / "out"), expected)


def test_every_recipe_has_a_golden_record():
    assert sorted(p.stem for p in RECIPES) == sorted(p.stem for p in golden_path(RECIPES[0]).parent.glob("*.json"))


@pytest.mark.parametrize("name", op_names())
def test_one_op_bytes_match_the_golden_record(name: str, tmp_path: Path):
    expected = golden(OP_GOLDEN)
    assert name in expected, f"no golden record for the op {name}: run `make golden`"
    assert_same_files(run_one_op(name, tmp_path), expected[name])


def test_the_golden_record_is_for_the_output_format_this_code_writes(tmp_path: Path):
    """Bytes that change on purpose come with a new FORMAT_VERSION; the golden files record which."""
    run_recipe(RECIPES[0], tmp_path / "out")
    written = json.loads((tmp_path / "out" / "segaug.json").read_text(encoding="utf-8"))["format"]
    recorded = {json.loads(p.read_text(encoding="utf-8"))["format"] for p in [OP_GOLDEN, *map(golden_path, RECIPES)]}
    assert recorded == {written}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_outputs_decode_to_the_pinned_pixels(recipe: Path, tmp_path: Path):
    """Pixels, palettes and transparency are pinned apart from the bytes: a new PNG compressor changes
    every file's bytes but must not change what any of them decodes to."""
    record = json.loads(PIXEL_GOLDEN.read_text(encoding="utf-8"))
    if record["versions"] != pixel_versions():
        pytest.skip(f"golden pixels were recorded with {record['versions']}, this is {pixel_versions()}")
    assert_same_files(run_recipe_pixels(recipe, tmp_path / "out"), record["recipes"][recipe.stem])
