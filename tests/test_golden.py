"""Every recipe's bytes are pinned: outputs, manifest.csv and segaug.json, file by file.

A failure here means a change altered what segaug writes. If that was the point, bump
``FORMAT_VERSION`` (so reruns rewrite old outputs rather than trust them) and run ``make golden``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_outputs import RECIPES, golden_path, library_versions, run_recipe


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_bytes_match_the_golden_record(recipe: Path, tmp_path: Path):
    record = json.loads(golden_path(recipe).read_text(encoding="utf-8"))
    if record["versions"] != library_versions():
        pytest.skip(f"golden bytes were recorded with {record['versions']}, this is {library_versions()}")
    files = run_recipe(recipe, tmp_path / "out")
    assert sorted(files) == sorted(record["files"]), "a different set of files"
    changed = sorted(path for path, digest in files.items() if record["files"][path] != digest)
    assert changed == [], f"{len(changed)} of {len(files)} files changed, e.g. {changed[:5]}"


def test_every_recipe_has_a_golden_record():
    assert sorted(p.stem for p in RECIPES) == sorted(p.stem for p in golden_path(RECIPES[0]).parent.glob("*.json"))
