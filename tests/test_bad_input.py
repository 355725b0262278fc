"""Bad input: every case fails clearly (one line naming the file and the reason), loses nothing, and
never reaches outside OUT or into IN.

Pairs fail alone (exit 1, the others written, ``OUT/errors.csv``); recipe and folder mistakes are
usage errors (exit 2, nothing written). No case prints a Python traceback.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    error_lines,
    expand,
    make_dataset,
    output_files,
    read_manifest,
    run_segaug,
    summary_counts,
    tree_digest,
    write_png,
    write_recipe,
)

from segaug_cli import atomic

RECIPE = """\
seed: 5
copies: 2
transforms:
  - rotate: {degrees: [-20, 20]}
  - hflip: {p: 0.5}
  - brightness: {range: [-0.1, 0.1]}
"""
PAIRS = {"a": (40, 48), "b": (36, 36), "city/c": (30, 44)}
GOOD = ("a", "city/c")  # the pairs that stay intact when "b" is damaged


def errors_csv(out: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(out / "errors.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def expected_images(keys, copies: int = 2) -> list[str]:
    return sorted(f"images/{k}_aug{c}.png" for k in keys for c in range(copies))


def assert_manifest_matches_disk(out: Path) -> list[dict[str, str]]:
    """Every manifest row's files exist with the recorded sha256, and nothing else is under OUT."""
    rows = read_manifest(out)
    for row in rows:
        for rel, digest in ((row["image"], row["image_sha256"]), (row["mask"], row["mask_sha256"])):
            assert (out / rel).is_file(), f"manifest lists {rel}, which is not on disk"
            assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest, rel
    assert sorted(r["image"] for r in rows) == output_files(out, "images")
    assert sorted(r["mask"] for r in rows) == output_files(out, "masks")
    return rows


def png_bytes(shape=(36, 36)) -> bytes:
    ok, data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


# ---------------------------------------------------------------------------------------------
# Unreadable files: one pair fails, the rest are written
# ---------------------------------------------------------------------------------------------

DAMAGES = {
    "corrupt": lambda: np.random.default_rng(1).bytes(3000),
    "corrupt-png-body": lambda: png_bytes()[:33] + np.random.default_rng(2).bytes(2000),
    "truncated": lambda: png_bytes()[: len(png_bytes()) // 2],
    "zero-byte": lambda: b"",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("role", ["images", "masks"])
def test_unreadable_file_fails_its_pair_alone(tmp_path, cli, role, damage):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    bad = f"{role}/b.png"
    (in_dir / bad).write_bytes(DAMAGES[damage]())
    out = tmp_path / "out"

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert bad in lines[0]
    reason = "empty" if damage == "zero-byte" else "not a readable"
    assert reason in lines[0]
    assert summary_counts(result.stderr) == (4, 0, 0, 1)
    assert output_files(out, "images") == expected_images(GOOD)
    assert [r["image"] for r in assert_manifest_matches_disk(out)] == expected_images(GOOD)
    columns, failures = errors_csv(out)
    assert columns == ["source_image", "reason"]
    assert [f["source_image"] for f in failures] == ["images/b.png"]
    assert bad in failures[0]["reason"] and reason in failures[0]["reason"]


def test_a_truncated_real_png_from_a_subprocess_gives_only_segaugs_own_lines(tmp_path):
    """What a terminal shows: one line per bad pair and the summary; no decoder chatter from OpenCV
    (which logs e.g. "PNG input buffer is incomplete" to stderr by itself)."""
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    good = (in_dir / "images" / "b.png").read_bytes()
    (in_dir / "images" / "b.png").write_bytes(good[: len(good) // 2])
    (in_dir / "masks" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(60))
    out = tmp_path / "out"

    done = run_segaug("expand", write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--workers", "2", timeout=120)

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    errors = sorted(lines[:-1])  # in the order the workers finished
    assert [line.split(":")[0] for line in errors] == ["error", "error"], done.stderr
    assert "masks/a.png" in errors[0] and "images/b.png" in errors[1]
    assert summary_counts(done.stderr) == (2, 0, 0, 2)


def test_non_image_files_are_ignored_with_a_note(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    for folder in ("images", "masks"):
        (in_dir / folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
        (in_dir / folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
        (in_dir / folder / "city" / "notes.txt").write_text("annotated by hand\n")
    out = tmp_path / "out"

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 0, result.output
    assert error_lines(result.stderr) == []
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    assert "Thumbs.db" in notes[0] and "notes.txt" in notes[0]
    assert summary_counts(result.stderr) == (6, 0, 0, 0)
    assert not (out / "errors.csv").exists()
    assert output_files(out, "images") == expected_images(PAIRS)


def test_image_without_mask_fails_its_pair(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    (in_dir / "masks" / "city" / "c.png").unlink()
    out = tmp_path / "out"

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "images/city/c.png" in lines[0] and "no mask" in lines[0], result.stderr
    assert output_files(out, "images") == expected_images(("a", "b"))
    _, failures = errors_csv(out)
    assert [f["source_image"] for f in failures] == ["images/city/c.png"]


def test_size_mismatch_fails_its_pair_naming_both_sizes(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    write_png(in_dir / "masks" / "b.png", np.zeros((36, 35), np.uint8))  # image b is 36x36
    out = tmp_path / "out"

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for fragment in ("masks/b.png", "images/b.png", "35x36", "36x36"):
        assert fragment in lines[0]
    assert output_files(out, "images") == expected_images(GOOD)
    assert_manifest_matches_disk(out)


def test_strict_stops_at_the_first_failure(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (30, 30), "b": (30, 30), "c": (30, 30)})
    (in_dir / "images" / "b.png").write_bytes(b"")
    out = tmp_path / "out"

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--strict")

    assert result.exit_code == 1
    assert len(error_lines(result.stderr)) == 1 and "images/b.png" in result.stderr
    # In process, pairs run in key order: "a" was written, "c" never started.
    assert output_files(out, "images") == expected_images(("a",))
    assert_manifest_matches_disk(out)
    _, failures = errors_csv(out)
    assert [f["source_image"] for f in failures] == ["images/b.png"]


@pytest.mark.parametrize("fmt", ["jpg", "jpeg", "JPG", "webp"])
def test_lossy_mask_format_is_refused_by_validate(tmp_path, cli, fmt):
    recipe = write_recipe(tmp_path / "lossy.yaml", f"copies: 1\noutput:\n  mask_format: {fmt}\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    for fragment in ("lossy.yaml", "line 3", "mask_format", "lossy"):
        assert fragment in result.stderr


# ---------------------------------------------------------------------------------------------
# OUT that cannot be written
# ---------------------------------------------------------------------------------------------


def test_out_that_is_a_regular_file_is_a_usage_error(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1, result.stderr
    assert str(out) in result.stderr
    assert out.read_bytes() == b"precious"


def test_an_output_folder_blocked_by_a_file_stops_the_run_cleanly(tmp_path, cli):
    """Works as root too: OUT/masks is a regular file, so no mask can be written."""
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "masks").write_bytes(b"in the way")

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out)

    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and str(out / "masks") in lines[0], result.stderr
    assert output_files(out, "images") == []  # the pair that could not be written whole left nothing
    if (out / "manifest.csv").is_file():
        assert read_manifest(out) == []
    assert (out / "masks").read_bytes() == b"in the way"


class DiskFull:
    """Stand-in for atomic.open: the first ``allowed`` files are written whole; from then on (or, if
    ``transient``, for that one file) half the bytes reach the disk and the write fails with ENOSPC,
    as a real full disk does."""

    def __init__(self, allowed: int, transient: bool):
        self.allowed, self.transient, self.calls, self.failed = allowed, transient, 0, []

    def __call__(self, path, mode="r", *args, **kwargs):
        fh = open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed back to the caller
        if "w" not in mode:
            return fh
        self.calls += 1
        if self.calls <= self.allowed or (self.transient and self.calls > self.allowed + 1):
            return fh
        return _FullFile(fh, path, self.failed)


class _FullFile:
    def __init__(self, fh, path, failed: list):
        self.fh, self.path, self.failed = fh, path, failed

    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        self.failed.append(self.path if isinstance(self.path, int) else str(self.path))
        raise OSError(errno.ENOSPC, "No space left on device")  # as write(2) reports it: no file name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


def final_name(temporary: str) -> str:
    """The final path of a temporary file that atomic_write names ``.<name>.<pid><TEMP_SUFFIX>``."""
    match = re.fullmatch(rf"\.(.+)\.\d+{re.escape(atomic.TEMP_SUFFIX)}", Path(temporary).name)
    return str(Path(temporary).with_name(match.group(1))) if match else temporary


def assert_names_the_file_being_written(error: str, failed, out: Path, reference_files: dict) -> None:
    """The error names the output's final path, never a temporary one. A named temporary tells which
    output it was; an unnamed file (a descriptor, O_TMPFILE on Linux) has no name until it is whole,
    so then the error must name one of the run's outputs under OUT."""
    if isinstance(failed, str):
        assert final_name(failed) in error, error
        return
    assert atomic.TEMP_SUFFIX not in error, error
    named = [rel for rel in reference_files if f"{out / rel}:" in error]
    assert len(named) == 1, error


@pytest.fixture
def reference(tmp_path_factory, cli):
    """The dataset, the recipe, and OUT as a run on a roomy disk writes it."""
    root = tmp_path_factory.mktemp("reference")
    in_dir = make_dataset(root / "in", PAIRS)
    recipe = write_recipe(root / "r.yaml", RECIPE)
    assert expand(cli, recipe, in_dir, root / "out").exit_code == 0
    return in_dir, recipe, root / "out"


# 12 outputs (3 pairs x 2 copies x image and mask), then manifest.csv and segaug.json.
# Both ways of writing a file whole: an unnamed file linked once written (Linux), a named temporary.
@pytest.mark.parametrize("unnamed_files", [True, False], ids=["unnamed", "named-temporary"])
@pytest.mark.parametrize(
    ("allowed", "transient"), [(0, False), (3, False), (7, False), (12, False), (13, False), (3, True)]
)
def test_disk_full_stops_cleanly_and_a_rerun_finishes_the_job(
    tmp_path, cli, monkeypatch, reference, allowed, transient, unnamed_files
):
    if unnamed_files and not atomic._UNNAMED_FILES["supported"]:
        pytest.skip("this system has no O_TMPFILE")
    in_dir, recipe, reference_out = reference
    out = tmp_path / "out"
    disk = DiskFull(allowed, transient)
    monkeypatch.setattr(atomic, "open", disk, raising=False)
    monkeypatch.setitem(atomic._UNNAMED_FILES, "supported", unnamed_files)

    result = expand(cli, recipe, in_dir, out)

    monkeypatch.undo()
    assert disk.failed, "the simulated disk never filled up: does atomic_write still use open()?"
    assert result.exit_code == 1  # the README: OUT cannot be written -> one line, exit 1
    errors = [line for line in result.stderr.splitlines() if "No space left on device" in line]
    assert len(errors) == 1, result.stderr
    assert_names_the_file_being_written(errors[0], disk.failed[0], out, tree_digest(reference_out))
    # Nothing partial under a final name: each output there is the complete file a full run writes.
    reference_files = tree_digest(reference_out)
    for rel, digest in tree_digest(out).items():
        if rel.startswith(("images/", "masks/")):
            assert digest == reference_files.get(rel), f"{rel} is partial or wrong"
        assert not rel.endswith(atomic.TEMP_SUFFIX), rel
    if (out / "manifest.csv").is_file():
        assert_manifest_matches_disk(out)

    rerun = expand(cli, recipe, in_dir, out)

    assert rerun.exit_code == 0, rerun.output
    finished = tree_digest(out)
    assert {k: v for k, v in finished.items() if k != "segaug.json"} == {
        k: v for k, v in reference_files.items() if k != "segaug.json"
    }


# ---------------------------------------------------------------------------------------------
# Recipes: no code execution, no absurd values, no writing outside OUT
# ---------------------------------------------------------------------------------------------

PYTHON_TAGS = [
    "seed: !!python/object/apply:os.system ['touch {marker}']",
    "seed: !!python/object/new:os.system ['touch {marker}']",
    "transforms:\n  - rotate: {{degrees: !!python/name:os.system }}",
    "copies: !!python/object/apply:subprocess.call [['touch', '{marker}']]",
    'seed: !!python/object/apply:builtins.eval [\'open("{marker}", "w")\']',
    "seed: !!binary aGVsbG8=",
    "seed: !custom 3",
]


@pytest.mark.parametrize("text", PYTHON_TAGS)
def test_yaml_tags_that_construct_objects_are_rejected(tmp_path, cli, text):
    marker = tmp_path / "executed"
    recipe = write_recipe(tmp_path / "evil.yaml", "copies: 1\n" + text.format(marker=marker) + "\n")
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 20)})

    runs = (cli("validate", recipe), cli("expand", recipe, in_dir, tmp_path / "out", "--workers", "1"))
    for result in runs:
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert result.stderr.startswith("Error: ") and "evil.yaml" in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("copies: 1000000000", "copies"),
        ("copies: -1", "copies"),
        ("seed: -1", "seed"),
        ("seed: 1e400", "seed"),
        ("transforms:\n  - rotate: {degrees: 1e308}", "degrees"),
        ("transforms:\n  - rotate: {degrees: [-1e308, 1e308]}", "degrees"),
        ("transforms:\n  - rotate: {degrees: .nan}", "degrees"),
        ("transforms:\n  - rotate: {degrees: [.nan, 5]}", "degrees"),
        ("transforms:\n  - scale: {range: [1, .inf]}", "range"),
        ("transforms:\n  - translate: {fraction: -.inf}", "fraction"),
        ("transforms:\n  - hflip: {p: .nan}", "p"),
        ("transforms:\n  - brightness: {range: 1e10}", "range"),
        ("border: {image_fill: .nan}", "image_fill"),
        ("border: {mask_fill: 1e308}", "mask_fill"),
        ("border: {image_fill: [" + ", ".join(["1"] * 1000) + "]}", "image_fill"),
        ("output: {jpeg_quality: 1000000}", "jpeg_quality"),
        ("output: {png_compression: 99}", "png_compression"),
    ],
)
def test_absurd_values_are_refused_with_a_message(tmp_path, cli, text, key):
    recipe = write_recipe(tmp_path / "absurd.yaml", "seed: 1\n" + text + "\n")

    result = cli("validate", recipe)

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "absurd.yaml" in result.stderr and key in result.stderr


def test_absurd_copies_on_the_command_line_are_refused(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 20)})

    result = expand(cli, write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, tmp_path / "out", "--copies", str(10**9))

    assert result.exit_code == 2
    assert "--copies" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "inputs",
    [
        "{images: ../x}",
        "{masks: ../../etc}",
        "{images: images/../../x}",
        "{images: /tmp}",
        "{masks: 'masks/../../../'}",
        "{mask_suffix: '/../../x'}",
        "{mask_suffix: '\\\\..\\\\x'}",
    ],
)
def test_recipe_inputs_cannot_point_outside_in(tmp_path, cli, inputs):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 20)})
    recipe = write_recipe(tmp_path / "r.yaml", f"copies: 1\ninputs: {inputs}\n")
    before = tree_digest(tmp_path)

    result = expand(cli, recipe, in_dir, tmp_path / "out")

    assert result.exit_code == 2, result.output
    assert "inputs." in result.stderr
    assert tree_digest(tmp_path) == before  # nothing written anywhere, OUT included


def test_every_file_a_run_writes_lies_inside_out(tmp_path, cli):
    """Odd but legal names (dots, a mask suffix, renamed folders, a folder called 'x..') stay inside OUT."""
    in_dir = tmp_path / "in"
    for rel in ("pics/x../a.b.png", "pics/a..b/c.png", "pics/d..png"):
        write_png(in_dir / rel, np.full((12, 12, 3), 80, np.uint8))
        mask_rel = "labels/" + rel.split("/", 1)[1].replace(".png", "..gt.png")
        write_png(in_dir / mask_rel, np.zeros((12, 12), np.uint8))
    recipe = write_recipe(
        tmp_path / "r.yaml",
        "copies: 1\ntransforms:\n  - hflip: {}\ninputs: {images: pics, masks: labels, mask_suffix: ..gt}\n",
    )
    out = tmp_path / "deep" / "out"
    before = tree_digest(tmp_path)

    result = expand(cli, recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    after = tree_digest(tmp_path)
    changed = {rel for rel in after if before.get(rel) != after[rel]}
    assert changed and all(rel.startswith("deep/out/") for rel in changed), sorted(changed)
    assert all(rel in after for rel in before)  # and nothing was removed
    for row in read_manifest(out):
        for rel in (row["image"], row["mask"]):
            assert (out / rel).resolve().is_relative_to(out.resolve()), rel
    assert len(read_manifest(out)) == 3


# ---------------------------------------------------------------------------------------------
# IN is never modified
# ---------------------------------------------------------------------------------------------


def test_in_is_never_modified_by_a_run_with_failures(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {**PAIRS, "d": (20, 24), "e": (20, 20), "f": (16, 16)})
    (in_dir / "images" / "b.png").write_bytes(b"")  # zero-byte
    good = (in_dir / "masks" / "d.png").read_bytes()
    (in_dir / "masks" / "d.png").write_bytes(good[: len(good) // 2])  # truncated
    (in_dir / "masks" / "e.png").unlink()  # no mask
    write_png(in_dir / "masks" / "f.png", np.zeros((10, 10), np.uint8))  # size mismatch
    (in_dir / "images" / "notes.txt").write_text("x")
    (in_dir / "masks" / "orphan.png").write_bytes(png_bytes((8, 8)))
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE + "keep_original: true\n")
    before = tree_digest(in_dir)
    stats = {p: (p.stat().st_mtime_ns, p.stat().st_mode) for p in in_dir.rglob("*")}

    first = expand(cli, recipe, in_dir, tmp_path / "out")
    again = expand(cli, recipe, in_dir, tmp_path / "out", "--force")
    pooled = cli("expand", recipe, in_dir, tmp_path / "out2", "--workers", "2")

    assert (first.exit_code, again.exit_code, pooled.exit_code) == (1, 1, 1)
    assert len(error_lines(first.stderr)) == 4, first.stderr
    assert tree_digest(in_dir) == before
    assert {p: (p.stat().st_mtime_ns, p.stat().st_mode) for p in in_dir.rglob("*")} == stats


def test_in_given_as_a_file_is_one_line_exit_2(tmp_path, cli):
    not_a_folder = tmp_path / "in.txt"
    not_a_folder.write_text("x")
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text("copies: 1\n")
    result = cli("expand", recipe_path, not_a_folder, tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {not_a_folder}: is a file, not a folder\n"
    assert not (tmp_path / "out").exists()
