"""`check` knows shards: on an OUT holding shards not yet merged, one line says which are there, which
are missing, and what to run, instead of listing every output as both extra and missing."""

from __future__ import annotations

import pytest
from conftest import make_dataset, write_recipe

RECIPE = "seed: 5\ncopies: 2\ntransforms:\n  - hflip: {p: 0.5}\n"
PAIRS = {f"p{i}": (20 + i, 24) for i in range(8)}


@pytest.fixture
def job(tmp_path):
    return write_recipe(tmp_path / "r.yaml", RECIPE), make_dataset(tmp_path / "in", PAIRS)


def shard_runs(cli, recipe, in_dir, out, *shards):
    for shard in shards:
        result = cli("expand", recipe, in_dir, out, "-j", "1", "-q", "--shard", shard)
        assert result.exit_code == 0, result.output


def test_a_complete_unmerged_set_is_named_with_merge_to_run(cli, job, tmp_path):
    recipe, in_dir = job
    shard_runs(cli, recipe, in_dir, tmp_path / "out", "1/2", "2/2")

    result = cli("check", recipe, in_dir, tmp_path / "out", "-j", "1")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "segaug check: OUT holds shards 1/2, 2/2, not merged: run `segaug merge RECIPE IN OUT`, "
        "or check one shard with `segaug check RECIPE IN OUT --shard K/N`\n"
    )


def test_a_missing_shard_is_named(cli, job, tmp_path):
    recipe, in_dir = job
    shard_runs(cli, recipe, in_dir, tmp_path / "out", "1/3", "3/3")

    result = cli("check", recipe, in_dir, tmp_path / "out", "-j", "1")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("segaug check: OUT holds shards 1/3, 3/3, not merged, and shard 2/3 is missing")
    assert "segaug merge" in result.stderr


def test_one_shard_checks_and_the_merged_out_checks(cli, job, tmp_path):
    recipe, in_dir = job
    shard_runs(cli, recipe, in_dir, tmp_path / "out", "1/2", "2/2")

    assert cli("check", recipe, in_dir, tmp_path / "out", "-j", "1", "--shard", "2/2").exit_code == 0
    assert cli("merge", recipe, in_dir, tmp_path / "out").exit_code == 0
    assert cli("check", recipe, in_dir, tmp_path / "out", "-j", "1").exit_code == 0


def test_an_empty_out_is_still_a_list_of_what_is_missing(cli, job, tmp_path):
    recipe, in_dir = job
    result = cli("check", recipe, in_dir, tmp_path / "none", "-j", "1")

    assert result.exit_code == 1
    assert "missing: manifest.csv: OUT has no manifest: run segaug expand" in result.stdout
