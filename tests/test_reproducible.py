"""Reproducible regeneration: byte-identical runs, incremental reruns and `segaug check`.

Incremental tests set every file under OUT to an old mtime first; a file whose mtime is still old
after the rerun was not written by it.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    age,
    expand,
    make_dataset,
    read_manifest,
    rewritten,
    run_segaug,
    summary_counts,
    tree_digest,
    write_png,
    write_recipe,
)

import segaug_cli
from segaug_cli import atomic

RECIPE = """\
seed: 11
copies: 2
keep_original: false
transforms:
  - rotate: {degrees: [-25, 25]}
  - translate: {fraction: [-0.1, 0.1]}
  - hflip: {p: 0.5}
  - gamma: {range: [0.8, 1.2]}
"""
PAIRS = {"a": (40, 52), "c": (36, 36), "city/d": (30, 44)}


def clean_run(cli, recipe: Path, in_dir: Path, out: Path, *args: str) -> dict[str, str]:
    """The digest of an expand into a fresh folder: what an incremental run must end up equal to."""
    assert not out.exists()
    result = expand(cli, recipe, in_dir, out, *args)
    assert result.exit_code == 0, result.output
    return tree_digest(out)


def outputs_of(key: str, copies=(0, 1)) -> set[str]:
    return {f"{folder}/{key}_aug{c}.png" for folder in ("images", "masks") for c in copies}


def rows_by_image(out: Path) -> dict[str, dict[str, str]]:
    return {r["image"]: r for r in read_manifest(out)}


def outputs_only(digest: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in digest.items() if k.startswith(("images/", "masks/"))}


@pytest.fixture
def setup(tmp_path, cli):
    """A dataset, a recipe and an OUT already expanded once."""
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"
    result = expand(cli, recipe, in_dir, out)
    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (6, 0, 0, 0)
    return in_dir, recipe, out


# ---------------------------------------------------------------------------------------------
# Byte-identical output
# ---------------------------------------------------------------------------------------------


def test_workers_1_2_and_4_give_identical_bytes(tmp_path, cli):
    pairs = {**PAIRS, "b": (24, 64), "city/e": (20, 20), "z": (50, 31)}
    in_dir = make_dataset(tmp_path / "in", pairs)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 2", "copies: 3"))

    digests = {n: clean_run(cli, recipe, in_dir, tmp_path / f"out{n}", "--workers", n) for n in "124"}

    assert len(outputs_only(digests["1"])) == 2 * 3 * len(pairs)
    assert "manifest.csv" in digests["1"]
    assert digests["1"] == digests["2"] == digests["4"]


def test_processes_with_different_hash_seeds_give_identical_bytes(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)

    for hash_seed in ("1", "2"):
        result = run_segaug(
            "expand", recipe, in_dir, tmp_path / f"out{hash_seed}", "--workers", "2", env={"PYTHONHASHSEED": hash_seed}
        )
        assert result.returncode == 0, result.stderr

    first, second = tree_digest(tmp_path / "out1"), tree_digest(tmp_path / "out2")
    assert len(outputs_only(first)) == 12 and "manifest.csv" in first
    assert first == second


def test_files_created_in_reverse_order_give_identical_bytes(tmp_path, cli):
    forward = make_dataset(tmp_path / "forward", {**PAIRS, "b": (20, 30), "city/b": (22, 22)})
    backward = tmp_path / "backward"
    for path in sorted((p for p in forward.rglob("*") if p.is_file()), reverse=True):
        target = backward / path.relative_to(forward)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)

    assert tree_digest(forward) == tree_digest(backward)
    forward_out = clean_run(cli, recipe, forward, tmp_path / "o1")
    assert forward_out == clean_run(cli, recipe, backward, tmp_path / "o2")


def test_outputs_do_not_depend_on_directory_listing_order(tmp_path, cli, monkeypatch):
    in_dir = make_dataset(tmp_path / "in", {**PAIRS, "b": (20, 30), "city/b": (22, 22)})
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    listed = clean_run(cli, recipe, in_dir, tmp_path / "o1")

    real_scandir = os.scandir
    calls = []

    class ReverseScandir:
        """os.scandir with its entries in reverse name order: a filesystem that lists differently."""

        def __init__(self, path="."):
            calls.append(path)
            with real_scandir(path) as entries:
                self._entries = iter(sorted(entries, key=lambda e: e.name, reverse=True))

        def __iter__(self):
            return self

        def __next__(self):
            return next(self._entries)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

        def close(self):
            pass

    monkeypatch.setattr(os, "scandir", ReverseScandir)
    reversed_digest = clean_run(cli, recipe, in_dir, tmp_path / "o2")
    monkeypatch.undo()

    assert calls, "the reversed listing was never used"
    assert reversed_digest == listed


# ---------------------------------------------------------------------------------------------
# Stable samples and incremental expand
# ---------------------------------------------------------------------------------------------


def test_adding_a_pair_changes_nothing_else(setup, tmp_path, cli):
    in_dir, recipe, out = setup
    before, rows_before = tree_digest(out), rows_by_image(out)
    make_dataset(in_dir, {"b": (34, 46)})  # sorts between "a" and "c": shifts every later index
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (2, 6, 0, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == outputs_of("b")
    after, rows_after = tree_digest(out), rows_by_image(out)
    assert {k: after[k] for k in outputs_only(before)} == outputs_only(before)
    assert {k: rows_after[k] for k in rows_before} == rows_before
    assert set(rows_after) - set(rows_before) == {"images/b_aug0.png", "images/b_aug1.png"}
    assert after == clean_run(cli, recipe, in_dir, tmp_path / "clean")


def test_removing_a_pair_removes_only_its_outputs(setup, tmp_path, cli):
    in_dir, recipe, out = setup
    before, rows_before = tree_digest(out), rows_by_image(out)
    (in_dir / "images" / "c.png").unlink()
    (in_dir / "masks" / "c.png").unlink()
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 4, 2, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == set()
    after = tree_digest(out)
    assert set(outputs_only(before)) - set(after) == outputs_of("c")
    assert outputs_only(after) == {k: v for k, v in outputs_only(before).items() if k not in outputs_of("c")}
    assert rows_by_image(out) == {k: v for k, v in rows_before.items() if not k.startswith("images/c_")}
    assert after == clean_run(cli, recipe, in_dir, tmp_path / "clean")


def test_rerun_with_nothing_changed_writes_and_decodes_nothing(setup, cli, monkeypatch):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    age(out)

    def refuse(*args, **kwargs):
        raise AssertionError("a rerun with nothing changed decoded or encoded pixels")

    for name in ("decode_image", "decode_mask", "decode_pixels", "encode_image", "encode_mask"):
        monkeypatch.setattr(segaug_cli.codecs, name, refuse)
    monkeypatch.setattr(cv2, "imdecode", refuse)
    monkeypatch.setattr(cv2, "imencode", refuse)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 6, 0, 0)
    assert rewritten(out) == set()  # not even manifest.csv or segaug.json
    assert tree_digest(out) == before


@pytest.mark.parametrize("folder", ["images", "masks"])
def test_editing_one_source_rewrites_exactly_that_pair(setup, tmp_path, cli, folder):
    in_dir, recipe, out = setup
    before, rows_before = tree_digest(out), rows_by_image(out)
    source = in_dir / folder / "city" / "d.png"
    array = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    array[:6, :6] = 3  # label 3 stays a valid label; a visible change for the image
    write_png(source, array)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (2, 4, 0, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == outputs_of("city/d")
    after = tree_digest(out)
    others = ("images/a_", "images/c_", "masks/a_", "masks/c_")
    assert {k: v for k, v in after.items() if k.startswith(others)} == {
        k: v for k, v in before.items() if k.startswith(others)
    }
    changed = {image for image, row in rows_by_image(out).items() if rows_before.get(image) != row}
    assert changed == {"images/city/d_aug0.png", "images/city/d_aug1.png"}
    assert after == clean_run(cli, recipe, in_dir, tmp_path / "clean")


def test_editing_one_op_rewrites_every_augmented_copy_and_no_original(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("keep_original: false", "keep_original: true"))
    out = tmp_path / "out"
    assert expand(cli, recipe, in_dir, out).exit_code == 0
    before = tree_digest(out)
    write_recipe(recipe, recipe.read_text().replace("degrees: [-25, 25]", "degrees: [-5, 5]"))
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (6, 3, 0, 0)
    augmented = set().union(*(outputs_of(k) for k in PAIRS))
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == augmented
    after = tree_digest(out)
    originals = [f"{folder}/{k}.png" for k in PAIRS for folder in ("images", "masks")]
    assert [after[rel] for rel in originals] == [before[rel] for rel in originals]
    assert after == clean_run(cli, recipe, in_dir, tmp_path / "clean")


def test_a_comment_in_the_recipe_rewrites_nothing(setup, cli):
    in_dir, recipe, out = setup
    text = recipe.read_text().replace("seed: 11", "seed: 11   # fixed")
    write_recipe(recipe, "# regenerated nightly\n" + text)
    age(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 6, 0, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == set()


def test_fewer_copies_removes_exactly_the_dropped_copies(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 2", "copies: 3"))
    out = tmp_path / "out"
    assert expand(cli, recipe, in_dir, out).exit_code == 0
    before, rows_before = tree_digest(out), rows_by_image(out)
    age(out)

    result = expand(cli, recipe, in_dir, out, "--copies", "2")

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 6, 3, 0)
    assert rewritten(out) - {"manifest.csv", "segaug.json"} == set()
    dropped = set().union(*(outputs_of(k, copies=(2,)) for k in PAIRS))
    assert set(outputs_only(before)) - set(tree_digest(out)) == dropped
    assert rows_by_image(out) == {k: v for k, v in rows_before.items() if "_aug2." not in k}
    assert tree_digest(out) == clean_run(cli, recipe, in_dir, tmp_path / "clean", "--copies", "2")


def test_files_segaug_did_not_write_are_left_alone_and_reported(setup, cli):
    in_dir, recipe, out = setup
    (out / "images" / "notes.txt").write_text("mine\n")
    write_png(out / "masks" / "city" / "hand_made.png", np.ones((5, 5), np.uint8))
    mine = (out / "images" / "notes.txt", out / "masks" / "city" / "hand_made.png")
    foreign = {p: p.read_bytes() for p in mine}

    result = expand(cli, recipe, in_dir, out, "--copies", "1")  # removes the dropped copies, not these

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (0, 3, 3, 0)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, result.stderr
    assert "images/notes.txt" in warnings[0] and "masks/city/hand_made.png" in warnings[0]
    assert {p: p.read_bytes() for p in foreign} == foreign
    assert not any(r["image"].endswith("notes.txt") for r in read_manifest(out))


def test_temporary_files_a_killed_run_left_are_swept_and_not_reported(setup, cli):
    in_dir, recipe, out = setup
    leftovers = [
        out / "images" / f".a_aug0.png.4242{atomic.TEMP_SUFFIX}",
        out / "masks" / "city" / f".b_aug1.png.7{atomic.TEMP_SUFFIX}",
    ]
    for path in leftovers:
        path.write_bytes(b"half a PNG")
    (out / "masks" / "city" / "notes.txt").write_text("mine\n")

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert [p for p in leftovers if p.exists()] == []
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "masks/city/notes.txt" in warnings[0], result.stderr
    assert atomic.TEMP_SUFFIX not in warnings[0]


def test_force_rewrites_everything_to_the_same_bytes(setup, cli):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    age(out)

    result = expand(cli, recipe, in_dir, out, "--force")

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (6, 0, 0, 0)
    assert set(outputs_only(before)) <= rewritten(out)
    assert tree_digest(out) == before


def test_outputs_deleted_or_altered_by_hand_are_regenerated(setup, cli):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    (out / "images" / "a_aug0.png").unlink()
    (out / "masks" / "city" / "d_aug1.png").unlink()
    altered = out / "masks" / "c_aug1.png"
    altered.write_bytes(altered.read_bytes() + b"\0")

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert summary_counts(result.stderr) == (3, 3, 0, 0)
    assert tree_digest(out) == before


# ---------------------------------------------------------------------------------------------
# --dry-run
# ---------------------------------------------------------------------------------------------


def planned(stdout: str, action: str) -> set[str]:
    """The first path of each ``would <action> PATH ...`` line."""
    prefix = f"would {action} "
    return {line[len(prefix) :].split(" ")[0] for line in stdout.splitlines() if line.startswith(prefix)}


def test_dry_run_into_a_missing_out_creates_nothing(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    result = expand(cli, recipe, in_dir, out, "--dry-run")

    assert result.exit_code == 0, result.output
    assert not out.exists()
    images = {p for k in PAIRS for p in outputs_of(k) if p.startswith("images/")}
    assert planned(result.stdout, "write") == images
    assert planned(result.stdout, "remove") == set()


def test_dry_run_lists_writes_and_removals_and_changes_nothing(setup, cli):
    in_dir, recipe, out = setup
    image = in_dir / "images" / "a.png"
    write_png(image, 255 - cv2.imread(str(image), cv2.IMREAD_UNCHANGED))
    before = tree_digest(out)
    age(out)

    dry = expand(cli, recipe, in_dir, out, "--dry-run", "--copies", "1")

    assert dry.exit_code == 0, dry.output
    assert tree_digest(out) == before and rewritten(out) == set()
    assert planned(dry.stdout, "write") == {"images/a_aug0.png"}
    dropped = {"images/a_aug1.png", "images/c_aug1.png", "images/city/d_aug1.png"}
    assert planned(dry.stdout, "remove") == dropped
    assert "would write 1, leave 2 unchanged, remove 3; 0 failed" in dry.stderr

    real = expand(cli, recipe, in_dir, out, "--copies", "1")
    assert summary_counts(real.stderr) == (1, 2, 3, 0)  # the dry run told the truth


# ---------------------------------------------------------------------------------------------
# segaug check
# ---------------------------------------------------------------------------------------------


def check(cli, recipe: Path, in_dir: Path, out: Path, *args: str):
    """Run check and assert that it wrote nothing (bytes and mtimes of the whole tree unchanged)."""
    age(out)
    before = tree_digest(out)
    result = cli("check", recipe, in_dir, out, "--workers", "1", *args)
    assert "Traceback" not in result.output
    assert tree_digest(out) == before
    assert rewritten(out) == set()
    return result


def test_a_file_name_with_a_carriage_return_is_recorded_and_trusted_by_a_rerun(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"odd\rname": (30, 20), "plain": (20, 20)})
    recipe, out = write_recipe(tmp_path / "r.yaml", RECIPE), tmp_path / "out"
    assert expand(cli, recipe, in_dir, out).exit_code == 0

    with open(out / "manifest.csv", encoding="utf-8", newline="") as fh:  # as the csv module asks
        images = [row["image"] for row in csv.DictReader(fh)]
    assert images == [
        "images/odd\rname_aug0.png",
        "images/odd\rname_aug1.png",
        "images/plain_aug0.png",
        "images/plain_aug1.png",
    ]
    rerun = expand(cli, recipe, in_dir, out)
    assert rerun.exit_code == 0, rerun.output
    assert summary_counts(rerun.stderr) == (0, 4, 0, 0)
    assert check(cli, recipe, in_dir, out).exit_code == 0


def differences(stdout: str) -> list[tuple[str, str]]:
    """(kind, path) of each ``kind: path: why`` line."""
    return [tuple(line.split(": ")[:2]) for line in stdout.splitlines()]


@pytest.mark.parametrize("deep", [[], ["--deep", "all"]], ids=["hashes", "deep-all"])
def test_check_passes_on_a_fresh_out(setup, cli, deep):
    in_dir, recipe, out = setup

    result = check(cli, recipe, in_dir, out, *deep)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "up to date" in result.stderr


def _delete(out: Path, rel: str) -> None:
    (out / rel).unlink()


def _edit(out: Path, rel: str) -> None:
    (out / rel).write_bytes((out / rel).read_bytes()[:-1] + b"\x01")


def _add(out: Path, rel: str) -> None:
    write_png(out / rel, np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize(
    ("damage", "rel", "kind"),
    [
        (_delete, "images/a_aug0.png", "missing"),
        (_delete, "masks/city/d_aug1.png", "missing"),
        (_edit, "images/c_aug1.png", "altered"),
        (_edit, "masks/a_aug1.png", "altered"),
        (_add, "images/stray.png", "extra"),
        (_add, "masks/city/stray.png", "extra"),
    ],
)
def test_check_lists_each_difference(setup, cli, damage, rel, kind):
    in_dir, recipe, out = setup
    damage(out, rel)

    result = check(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    assert differences(result.stdout) == [(kind, rel)]
    assert "1 difference" in result.stderr


def test_check_reports_a_changed_recipe_as_stale(setup, cli):
    in_dir, recipe, out = setup
    write_recipe(recipe, recipe.read_text().replace("range: [0.8, 1.2]", "range: [0.9, 1.1]"))

    result = check(cli, recipe, in_dir, out)

    assert result.exit_code == 1
    assert sorted(differences(result.stdout)) == sorted(
        ("stale", p) for k in PAIRS for p in outputs_of(k) if p.startswith("images/")
    )


def _edit_column(column: str, value: str):
    def edit(out: Path) -> None:
        import csv
        import io

        rows = read_manifest(out)
        rows[1][column] = value
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (out / "manifest.csv").write_text(buffer.getvalue(), encoding="utf-8")

    return edit


def _swap_rows(out: Path) -> None:
    lines = (out / "manifest.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    (out / "manifest.csv").write_text("".join(lines), encoding="utf-8")


def _drop_row(out: Path) -> None:
    lines = (out / "manifest.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (out / "manifest.csv").write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")


@pytest.mark.parametrize(
    "edit",
    [
        _edit_column("matrix", "1 0 0 0 1 0"),
        _edit_column("params", "{}"),
        _edit_column("seed", "42"),
        _edit_column("source_image", "images/c.png"),
        _swap_rows,
        _drop_row,
    ],
    ids=["matrix", "params", "seed", "source_image", "row-order", "row-dropped"],
)
def test_check_catches_a_hand_edited_manifest(setup, cli, edit):
    in_dir, recipe, out = setup
    edited_image = read_manifest(out)[1]["image"]
    edit(out)

    result = check(cli, recipe, in_dir, out)

    assert result.exit_code == 1, result.output
    named = {path for _, path in differences(result.stdout)}
    assert named & {"manifest.csv", edited_image}, result.stdout


def test_expand_repairs_a_hand_edited_manifest(setup, cli):
    in_dir, recipe, out = setup
    before = tree_digest(out)
    _edit_column("params", "{}")(out)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert tree_digest(out) == before
    assert check(cli, recipe, in_dir, out).exit_code == 0


def test_versions_are_recorded_and_a_different_one_is_noted(setup, cli):
    in_dir, recipe, out = setup
    sidecar = json.loads((out / "segaug.json").read_text())
    versions = sidecar["versions"]
    assert versions["segaug"] == segaug_cli.__version__
    assert versions["opencv"] == cv2.__version__
    assert versions["numpy"] == np.__version__
    assert check(cli, recipe, in_dir, out).stderr.count("note:") == 0

    versions["opencv"] = "0.0.1"
    (out / "segaug.json").write_text(json.dumps(sidecar))
    result = check(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output  # the bytes still match; only a note
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    assert "opencv 0.0.1" in notes[0] and cv2.__version__ in notes[0]
