"""`check` trusts nothing it can recompute: without segaug.json (an OUT copied without it), or with one
that does not vouch for the manifest, every row is recomputed from recipe and inputs, and a row edited
by hand is a difference, listed with the columns that differ."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import write_recipe

RECIPE = "seed: 4\ncopies: 2\nkeep_original: true\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"


def edit_row(out: Path, image: str, **changes: str) -> None:
    """Rewrite one row of OUT/manifest.csv as a person with a spreadsheet would (other bytes unchanged)."""
    text = (out / "manifest.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    target = next(r for r in rows if r["image"] == image)
    target.update(changes)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    (out / "manifest.csv").write_text(buffer.getvalue(), encoding="utf-8")


@pytest.fixture
def made(tmp_path, cli, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"
    assert cli("expand", recipe, dataset, out, "--workers", "1").exit_code == 0
    return recipe, dataset, out


@pytest.mark.parametrize("sidecar", ["absent", "present"])
def test_an_edited_row_is_a_difference_with_or_without_segaug_json(made, cli, sidecar):
    recipe, dataset, out = made
    if sidecar == "absent":
        (out / "segaug.json").unlink()
    edit_row(out, "images/a_aug1.png", matrix="1 0 0 0 1 0", params="{}")

    result = cli("check", recipe, dataset, out, "--workers", "1")

    assert result.exit_code == 1
    assert "row differs: images/a_aug1.png: its manifest row differs from a recomputation in: matrix, params\n" in (
        result.stdout
    )
    assert "difference(s)" in result.stderr


def test_an_edited_seed_of_a_kept_original_is_a_difference(made, cli):
    recipe, dataset, out = made
    (out / "segaug.json").unlink()
    edit_row(out, "images/b.png", seed="12345")

    result = cli("check", recipe, dataset, out, "--workers", "1")

    assert result.exit_code == 1
    assert result.stdout == "row differs: images/b.png: its manifest row differs from a recomputation in: seed\n"


def test_an_unedited_out_without_segaug_json_passes_after_recomputing_every_row(made, cli):
    recipe, dataset, out = made
    (out / "segaug.json").unlink()

    result = cli("check", recipe, dataset, out, "--workers", "1")

    assert result.exit_code == 0, result.output
    assert "note: OUT has no segaug.json vouching for its manifest: every row was recomputed" in result.stderr
