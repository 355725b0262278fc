"""`--seed` and `--copies` are part of the run: `expand` records them in segaug.json, `check` and
`merge` use what OUT records, and refuse another value in one line; shards made with an override
merge into what one run with the same override writes."""

from __future__ import annotations

import json

import pytest
from conftest import make_dataset, tree_digest, write_recipe

RECIPE = "seed: 5\ncopies: 3\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"
PAIRS = {f"{folder}p{i}": (20 + i, 24) for i, folder in enumerate(["", "", "city/", "a/b/", ""])}


@pytest.fixture
def job(tmp_path):
    return write_recipe(tmp_path / "r.yaml", RECIPE), make_dataset(tmp_path / "in", PAIRS)


def run(cli, *args):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def test_expand_records_the_overrides_given_and_only_those(cli, job, tmp_path):
    recipe, in_dir = job
    run(cli, "expand", recipe, in_dir, tmp_path / "plain", "-j", "1", "-q")
    run(cli, "expand", recipe, in_dir, tmp_path / "over", "-j", "1", "-q", "--copies", "2", "--seed", "9")

    assert "overrides" not in json.loads((tmp_path / "plain/segaug.json").read_text())
    assert json.loads((tmp_path / "over/segaug.json").read_text())["overrides"] == {"copies": 2, "seed": 9}


@pytest.mark.parametrize("override", [("--copies", "2"), ("--seed", "9"), ("--copies", "5", "--seed", "1")])
def test_check_uses_the_overrides_out_was_made_with(cli, job, tmp_path, override):
    recipe, in_dir = job
    run(cli, "expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q", *override)

    result = cli("check", recipe, in_dir, tmp_path / "out", "-j", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    # given again, the same values are accepted
    assert cli("check", recipe, in_dir, tmp_path / "out", "-j", "1", *override).exit_code == 0


def test_check_refuses_another_value_in_one_line(cli, job, tmp_path):
    recipe, in_dir = job
    run(cli, "expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q", "--copies", "2")

    other = cli("check", recipe, in_dir, tmp_path / "out", "--copies", "3")
    from_recipe = cli("check", recipe, in_dir, tmp_path / "out", "--seed", "6")

    assert (other.exit_code, other.stdout) == (2, "")
    assert (
        other.stderr == "Error: --copies 3: OUT was made with --copies 2; give the same value or leave --copies out\n"
    )
    assert from_recipe.exit_code == 2
    assert from_recipe.stderr == (
        "Error: --seed 6: OUT was made with the recipe's seed (5); give the same value or leave --seed out\n"
    )


def test_check_of_an_empty_out_applies_the_options_given(cli, job, tmp_path):
    recipe, in_dir = job
    result = cli("check", recipe, in_dir, tmp_path / "nothing", "--copies", "2", "-j", "1")

    assert result.exit_code == 1
    assert "missing: images/p0_aug1.png" in result.stdout
    assert "images/p0_aug2.png" not in result.stdout


def test_a_rerun_without_the_override_is_the_recipe_again(cli, job, tmp_path):
    recipe, in_dir = job
    run(cli, "expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q", "--copies", "2")
    run(cli, "expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q")

    assert "overrides" not in json.loads((tmp_path / "out/segaug.json").read_text())
    assert cli("check", recipe, in_dir, tmp_path / "out", "-j", "1").exit_code == 0


def test_shards_made_with_an_override_merge_to_the_run_with_it(cli, job, tmp_path):
    recipe, in_dir = job
    override = ("--copies", "2", "--seed", "11")
    run(cli, "expand", recipe, in_dir, tmp_path / "whole", "-j", "1", "-q", *override)
    for k in (1, 2):
        run(cli, "expand", recipe, in_dir, tmp_path / "sharded", "-j", "1", "-q", "--shard", f"{k}/2", *override)

    merged = cli("merge", recipe, in_dir, tmp_path / "sharded")

    assert merged.exit_code == 0, merged.output
    assert tree_digest(tmp_path / "sharded") == tree_digest(tmp_path / "whole")
    assert cli("check", recipe, in_dir, tmp_path / "sharded", "-j", "1").exit_code == 0


def test_merge_refuses_another_override_in_one_line(cli, job, tmp_path):
    recipe, in_dir = job
    for k in (1, 2):
        run(cli, "expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q", "--shard", f"{k}/2", "--seed", "11")

    result = cli("merge", recipe, in_dir, tmp_path / "out", "--seed", "12")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --seed 12: shard 1/2 was made with --seed 11; give the same value or leave --seed out\n"
    )
    assert cli("merge", recipe, in_dir, tmp_path / "out", "--seed", "11").exit_code == 0
