"""Class-aware copies (docs/recipes.md): `copies: {default: N, classes: {label: M}}` oversamples the
pairs whose mask contains a rare class, incremental reruns add or remove exactly the copies a rule
change implies, and the summary reports each class's pixel share before and after.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    age,
    blocky_mask,
    colour_coded,
    expand,
    read_manifest,
    rewritten,
    summary_counts,
    tree_digest,
    write_png,
    write_recipe,
)

from segaug_cli import recipe

# key -> (shape, extra classes painted on top of labels 0..2); 7 is the rare class
PAIRS = {
    "a": ((48, 64), (7,)),
    "b": ((40, 40), (3,)),
    "city/c": ((37, 53), (3, 7)),
    "d": ((30, 44), ()),
}
RECIPE = """\
seed: 4
copies: {rule}
transforms:
  - rotate: {{degrees: [-20, 20]}}
  - scale: {{range: [0.9, 1.1]}}
  - hflip: {{p: 0.5}}
"""
HEADER = "pixel share per class, source masks (before) and the augmented dataset (after):"


def make_class_dataset(root: Path) -> Path:
    for key, (shape, extra) in PAIRS.items():
        rng = np.random.default_rng([3, *key.encode()])
        mask = blocky_mask(rng, shape, 3)
        h, w = shape
        for i, label in enumerate(extra):  # a small patch, well inside the frame
            y, x = h // 3 + 4 * i, w // 3 + 5 * i
            mask[y : y + 5, x : x + 6] = label
        write_png(root / "images" / f"{key}.png", colour_coded(mask))
        write_png(root / "masks" / f"{key}.png", mask)
    return root


def recipe_text(rule: str) -> str:
    return RECIPE.format(rule=rule)


def source_labels(in_dir: Path, key: str) -> set[int]:
    return set(np.unique(cv2.imread(str(in_dir / "masks" / f"{key}.png"), cv2.IMREAD_UNCHANGED)).tolist())


def outputs(key: str, copies) -> set[str]:
    return {f"{folder}/{key}_aug{k}.png" for folder in ("images", "masks") for k in copies}


def expected_tree(copies_by_key: dict[str, int]) -> set[str]:
    return set().union(*(outputs(key, range(n)) for key, n in copies_by_key.items()))


def on_disk(out: Path) -> set[str]:
    return {p for p in tree_digest(out) if p.startswith(("images/", "masks/"))}


def share_table(stderr: str) -> dict[int, tuple[str, str]]:
    """The summary's class -> (before, after) shares, as printed."""
    lines = stderr.splitlines()
    start = lines.index(HEADER)
    assert lines[start + 1].split() == ["class", "before", "after"]
    table = {}
    for line in lines[start + 2 :]:
        match = re.fullmatch(r"\s*(\d+)\s+(\d+\.\d\d%)\s+(\d+\.\d\d%)", line)
        if not match:
            break
        table[int(match.group(1))] = (match.group(2), match.group(3))
    return table


def pixel_shares(paths: list[Path]) -> dict[int, float]:
    counts: Counter = Counter()
    for path in paths:
        values, n = np.unique(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), return_counts=True)
        counts.update(dict(zip(values.tolist(), n.tolist(), strict=True)))
    total = sum(counts.values())
    return {label: count / total for label, count in counts.items()}


@pytest.fixture
def in_dir(tmp_path) -> Path:
    root = make_class_dataset(tmp_path / "in")
    # The dataset is what the tests assume: class 7 in a and city/c only, class 3 in b and city/c only.
    assert [k for k in PAIRS if 7 in source_labels(root, k)] == ["a", "city/c"]
    assert [k for k in PAIRS if 3 in source_labels(root, k)] == ["b", "city/c"]
    return root


@pytest.fixture
def setup(tmp_path, cli, in_dir):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_text("{default: 1, classes: {7: 4}}"))
    out = tmp_path / "out"
    result = expand(cli, recipe, in_dir, out)
    assert result.exit_code == 0, result.output
    return in_dir, recipe, out, result


# ---------------------------------------------------------------------------------------------
# How many copies
# ---------------------------------------------------------------------------------------------


def test_pairs_with_the_rare_class_get_the_rule_s_copies_the_others_the_default(setup):
    _, _, out, result = setup

    assert summary_counts(result.stderr) == (10, 0, 0, 0)
    assert on_disk(out) == expected_tree({"a": 4, "b": 1, "city/c": 4, "d": 1})
    rows = read_manifest(out)
    assert [r["image"] for r in rows] == sorted(p for p in on_disk(out) if p.startswith("images/"))
    for row in rows:
        key, copy = re.fullmatch(r"images/(.+)_aug(\d+)\.png", row["image"]).groups()
        assert row["copy"] == copy
        assert row["source_mask"] == f"masks/{key}.png"


def test_the_largest_matching_rule_wins_and_copies_overrides_the_default(tmp_path, cli, in_dir):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_text("{default: 1, classes: {3: 2, 7: 3}}"))
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out, "--copies", "2")

    assert result.exit_code == 0, result.output
    # a: 7 -> 3; b: 3 -> 2; city/c: both -> 3; d: none -> the overridden default, 2
    assert on_disk(out) == expected_tree({"a": 3, "b": 2, "city/c": 3, "d": 2})


def test_workers_1_and_2_give_identical_bytes(tmp_path, cli, in_dir):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_text("{default: 1, classes: {7: 4}}"))
    one, two = tmp_path / "one", tmp_path / "two"

    first = expand(cli, recipe, in_dir, one, workers="1")
    second = expand(cli, recipe, in_dir, two, workers="2")

    assert first.exit_code == second.exit_code == 0, second.output
    assert tree_digest(one) == tree_digest(two)
    assert share_table(first.stderr) == share_table(second.stderr)


# ---------------------------------------------------------------------------------------------
# The before/after share table
# ---------------------------------------------------------------------------------------------


def test_the_summary_reports_each_class_share_before_and_after(setup):
    in_dir, _, out, result = setup
    table = share_table(result.stderr)

    before = pixel_shares(sorted((in_dir / "masks").rglob("*.png")))
    after = pixel_shares(sorted((out / "masks").rglob("*.png")))
    assert sorted(table) == sorted(set(before) | set(after))
    for label, (shown_before, shown_after) in table.items():
        assert shown_before == f"{before.get(label, 0):.2%}", label
        assert shown_after == f"{after.get(label, 0):.2%}", label
    assert after[7] > before[7]  # oversampled
    # The table comes before the summary line, which stays last.
    assert summary_counts(result.stderr) == (10, 0, 0, 0)


def test_a_rerun_reports_the_same_table_and_writes_nothing(setup, cli):
    in_dir, recipe, out, first = setup
    before = tree_digest(out)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 10, 0, 0)
    assert share_table(result.stderr) == share_table(first.stderr)
    assert rewritten(out) == set()
    assert tree_digest(out) == before


def test_no_table_without_class_rules(tmp_path, cli, in_dir):
    recipe = write_recipe(tmp_path / "r.yaml", recipe_text("2"))

    result = expand(cli, recipe, in_dir, tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert HEADER not in result.stderr
    assert summary_counts(result.stderr) == (8, 0, 0, 0)


# ---------------------------------------------------------------------------------------------
# Changing the rule
# ---------------------------------------------------------------------------------------------


def planned(stdout: str, action: str) -> set[str]:
    prefix = f"would {action} "
    return {line[len(prefix) :].split(" ")[0] for line in stdout.splitlines() if line.startswith(prefix)}


def test_fewer_copies_for_the_class_removes_exactly_the_surplus(setup, cli, tmp_path):
    in_dir, recipe, out, _ = setup
    before = tree_digest(out)
    rows_before = {r["image"]: r for r in read_manifest(out)}
    write_recipe(recipe, recipe_text("{default: 1, classes: {7: 2}}"))
    surplus = outputs("a", (2, 3)) | outputs("city/c", (2, 3))

    check = cli("check", recipe, in_dir, out, "--workers", "1")
    assert check.exit_code == 1
    assert check.stdout.splitlines() == [
        f"extra: {p}: the recipe no longer produces it" for p in sorted(surplus) if p.startswith("images/")
    ]

    dry = expand(cli, recipe, in_dir, out, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert planned(dry.stdout, "remove") == {p for p in surplus if p.startswith("images/")}
    for line in dry.stdout.splitlines():
        image = line.split(" ")[2]
        mask = image.replace("images/", "masks/", 1)
        assert line == f"would remove {image} and {mask} (no longer produced)"
    assert planned(dry.stdout, "write") == set()
    assert "would write 0, leave 6 unchanged, remove 4; 0 failed" in dry.stderr
    assert tree_digest(out) == before

    age(out)
    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 6, 4, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == set()
    assert on_disk(out) == set(before) - surplus - {"manifest.csv", "segaug.json"}
    assert on_disk(out) == expected_tree({"a": 2, "b": 1, "city/c": 2, "d": 1})
    assert {r["image"]: r for r in read_manifest(out)} == {
        image: row for image, row in rows_before.items() if image not in surplus
    }
    assert cli("check", recipe, in_dir, out, "--workers", "1").exit_code == 0
    clean = tmp_path / "clean"
    assert expand(cli, recipe, in_dir, clean).exit_code == 0
    assert tree_digest(clean) == tree_digest(out)


def test_moving_the_rule_to_another_class_adds_and_removes_copies(setup, cli, tmp_path):
    """The most copies any pair can get stays 4, so the same sample names exist before and after:
    only which pairs get them changes."""
    in_dir, recipe, out, _ = setup
    write_recipe(recipe, recipe_text("{default: 1, classes: {3: 4}}"))
    removed = outputs("a", (1, 2, 3))
    added = outputs("b", (1, 2, 3))

    check = cli("check", recipe, in_dir, out, "--workers", "1")
    assert check.exit_code == 1
    assert check.stdout.splitlines() == sorted(
        [f"missing: {p}: not in the manifest or not on disk" for p in added if p.startswith("images/")]
        + [f"extra: {p}: the recipe no longer produces it" for p in removed if p.startswith("images/")],
        key=lambda line: line.split(": ")[1],
    )

    dry = expand(cli, recipe, in_dir, out, "--dry-run")
    assert planned(dry.stdout, "remove") == {p for p in removed if p.startswith("images/")}
    assert planned(dry.stdout, "write") == {p for p in added if p.startswith("images/")}

    age(out)
    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (3, 7, 3, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == added
    assert on_disk(out) == expected_tree({"a": 1, "b": 4, "city/c": 4, "d": 1})
    assert cli("check", recipe, in_dir, out, "--workers", "1").exit_code == 0
    clean = tmp_path / "clean"
    assert expand(cli, recipe, in_dir, clean).exit_code == 0
    assert tree_digest(clean) == tree_digest(out)


def test_editing_a_mask_to_contain_the_class_gives_its_pair_more_copies(setup, cli):
    in_dir, recipe, out, _ = setup
    path = in_dir / "masks" / "d.png"
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    mask[2:6, 2:6] = 7
    write_png(path, mask)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (4, 9, 0, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == outputs("d", range(4))


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("copies", "line", "message"),
    [
        ("{default: 1, extra: 2}", 2, "copies.extra: unknown key; expected one of: default, classes"),
        ("{default: -1}", 2, "copies.default: must be a whole number from 0 to 10000, got -1"),
        ("{default: 1, classes: [7]}", 2, "copies.classes: must map class labels to copies, got [7]"),
        (
            "\n  default: 1\n  classes:\n    3: 2\n    7: -4",
            6,
            "copies.classes.7: must be a whole number from 0 to 10000, got -4",
        ),
        ("\n  classes:\n    7: 2.5", 4, "copies.classes.7: must be a whole number from 0 to 10000, got 2.5"),
        ("\n  classes:\n    road: 3", 4, "copies.classes.road: must be a whole number from 0 to 65535, got 'road'"),
        ("\n  classes:\n    7.5: 3", 4, "copies.classes.7.5: must be a whole number from 0 to 65535, got 7.5"),
        ("\n  classes:\n    -1: 3", 4, "copies.classes.-1: must be a whole number from 0 to 65535, got -1"),
        ("\n  classes:\n    70000: 3", 4, "copies.classes.70000: must be a whole number from 0 to 65535, got 70000"),
    ],
)
def test_bad_copies_mappings_are_refused_with_the_key_and_line(tmp_path, cli, copies, line, message):
    recipe = write_recipe(tmp_path / "r.yaml", f"seed: 0\ncopies: {copies}\ntransforms: [hflip]\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {recipe} line {line}: {message}\n"


def test_a_valid_copies_mapping_validates(tmp_path, cli):
    recipe = write_recipe(tmp_path / "r.yaml", "copies:\n  default: 2\n  classes: {7: 10, 9: 6}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 0, result.output


def test_a_matching_rule_wins_even_below_the_default_so_common_classes_can_be_thinned():
    rcp = recipe.parse("copies: {default: 4, classes: {0: 1, 7: 6}}\n", "r.yaml")
    assert rcp.copies_for({0, 3}) == 1  # only the thinning rule matches
    assert rcp.copies_for({0, 7}) == 6  # the largest matching rule
    assert rcp.copies_for({3}) == 4  # no rule matches: the default
    assert rcp.max_copies() == 6
