"""The manifest's columns and their order are part of the format every existing OUT depends on: a
reordered header makes each earlier OUT "not a segaug manifest". So they are pinned here literally."""

from __future__ import annotations

import csv

from conftest import write_recipe

from segaug_cli import manifest

COLUMNS = [
    "image",
    "mask",
    "source_image",
    "source_mask",
    "copy",
    "seed",
    "matrix",
    "params",
    "fingerprint",
    "image_sha256",
    "mask_sha256",
]


def test_the_manifest_columns_are_the_pinned_list():
    assert list(manifest.COLUMNS) == COLUMNS


def test_a_written_manifest_starts_with_the_pinned_header(tmp_path, cli, dataset):
    recipe = write_recipe(tmp_path / "r.yaml", "copies: 1\ntransforms:\n  - hflip: {}\n")
    assert cli("expand", recipe, dataset, tmp_path / "out", "--workers", "1").exit_code == 0
    with open(tmp_path / "out" / "manifest.csv", newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == COLUMNS
