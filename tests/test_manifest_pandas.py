"""manifest.csv read with pandas as docs/python.md says: the columns, in order, and their dtypes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SAMPLE

import segaug_cli

PYTHON_DOC = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
READ = 'pd.read_csv("out/street/manifest.csv", dtype={"copy": "string", "seed": "UInt64"})'


def documented_dtypes() -> dict[str, str]:
    """column -> dtype, from the table between the doc's manifest-dtypes markers."""
    table = PYTHON_DOC.split("<!-- manifest-dtypes -->")[1].split("<!-- /manifest-dtypes -->")[0]
    found = {}
    for line in table.strip().splitlines()[2:]:
        columns, dtype = (cell.strip() for cell in line.strip("|").split("|")[:2])
        for column in re.findall(r"`([^`]+)`", columns):
            found[column] = dtype.strip("`")
    return found


def test_the_doc_reads_the_manifest_as_this_test_does():
    assert READ in PYTHON_DOC
    assert list(documented_dtypes())[:3] == ["image", "mask", "source_image"]


def test_a_real_manifest_has_the_documented_columns_and_dtypes(tmp_path: Path):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (make install-optional installs it)")
    spec = yaml.safe_load((REPO / "recipes" / "training_crops.yaml").read_text(encoding="utf-8"))
    spec.update(keep_original=True, copies=2)  # rows of originals (no seed) and of fields (no matrix)
    result = segaug_cli.expand(segaug_cli.Recipe.from_dict(spec), SAMPLE, tmp_path / "out", workers=1)
    assert result.ok
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv", dtype={"copy": "string", "seed": "UInt64"})
    expected = documented_dtypes()
    assert list(manifest.columns) == list(expected)
    for column, dtype in expected.items():
        if dtype == "text":
            assert pd.api.types.is_string_dtype(manifest[column]), column
        else:
            assert str(manifest[column].dtype) == dtype, column
    originals = manifest["copy"] == "original"
    assert originals.sum() == 12 and set(manifest["copy"]) == {"original", "0", "1"}
    assert manifest.loc[originals, "seed"].isna().all() and manifest.loc[~originals, "seed"].notna().all()
    assert manifest["seed"].max() > 2**63  # unsigned 64-bit seeds survive whole
    assert manifest["matrix"].isna().any()  # an elastic or grid copy has no matrix
