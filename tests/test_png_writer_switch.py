"""Every PNG segaug writes with output.png: small comes from its own writer on libdeflate: palette masks
keep PLTE and tRNS, 16-bit and colour masks keep their values, an OUT written by OpenCV's encoder is reported by `check`
in one line that names both writers and rewritten by the next `expand` to the same pixels, and a
missing compressor stops a run with one line instead of writing other bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO, make_dataset, read_manifest, tree_digest, write_recipe
from PIL import Image

import segaug_cli.codecs
import segaug_cli.errors
import segaug_cli.fingerprint
import segaug_cli.storage.books
from segaug_cli import codecs, png
from segaug_cli.recipe import Output

# output.png: small, so colour images go through the libdeflate writer too (fpng's own tests: test_fast_png.py)
RECIPE = (
    "seed: 3\ncopies: 2\noutput: {png: small}\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"
)


def is_ours(data: bytes, array: np.ndarray, kind: str, **palette) -> bool:
    return data == png.encode_png(array, kind=kind, **palette)


def test_images_and_masks_of_a_run_are_the_writers_bytes(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    out = tmp_path / "out"
    assert cli("expand", write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--workers", "1").exit_code == 0
    for row in read_manifest(out):
        image = cv2.imread(str(out / row["image"]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / row["mask"]), cv2.IMREAD_UNCHANGED)
        assert is_ours((out / row["image"]).read_bytes(), image, "image")
        assert is_ours((out / row["mask"]).read_bytes(), mask, "mask")


def test_palette_masks_keep_palette_and_transparency(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"a": (30, 41)})
    labels = cv2.imread(str(in_dir / "masks" / "a.png"), cv2.IMREAD_UNCHANGED)
    palette = [v for i in range(6) for v in (40 * i, 255 - 40 * i, 7 * i)]
    source = Image.fromarray(labels, mode="P")
    source.putpalette(palette)
    source.save(in_dir / "masks" / "a.png", transparency=bytes([255, 128, 0, 255, 255, 9]))
    out = tmp_path / "out"
    assert cli("expand", write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--workers", "1").exit_code == 0
    for k in range(2):
        data = (out / "masks" / f"a_aug{k}.png").read_bytes()
        with Image.open(out / "masks" / f"a_aug{k}.png") as written:
            assert written.mode == "P" and written.getpalette() == palette
            assert written.info["transparency"] == bytes([255, 128, 0, 255, 255, 9])
            indices = np.array(written)
        assert set(np.unique(indices)) <= set(np.unique(labels)) | {0}
        assert is_ours(data, indices, "mask", palette=palette, transparency=bytes([255, 128, 0, 255, 255, 9]))


@pytest.mark.parametrize("level", [None, 0, 9])
def test_16_bit_and_colour_masks_round_trip_at_every_level(level):
    rng = np.random.default_rng(5)
    for labels in (rng.integers(0, 60000, (13, 7), dtype=np.uint16), rng.integers(0, 255, (9, 11, 3), np.uint8)):
        data = codecs.encode_mask(codecs.Mask(labels), labels, "png", level)
        assert np.array_equal(codecs.decode_mask(data, "m.png").labels, labels)
        assert data == png.encode_png(labels, kind="mask", level=level)


def test_a_png_the_writer_cannot_hold_fails_the_pair_with_a_sentence():
    with pytest.raises(segaug_cli.errors.PairError, match="^cannot encode as .png: a PNG holds"):
        codecs.encode_image(np.zeros((4, 4, 2), np.uint8), ".png", Output())


def write_as_before(monkeypatch, recipe: Path, in_dir: Path, out: Path, cli) -> None:
    """An OUT as the segaug before its own writer made it: OpenCV's encoder, format 1, no png version."""
    monkeypatch.setattr(segaug_cli.fingerprint, "FORMAT_VERSION", 1)
    monkeypatch.setattr(segaug_cli.fingerprint, "_png_encoder", lambda: "")
    monkeypatch.setattr(segaug_cli.storage.books, "FORMAT_VERSION", 1)
    old_versions = {k: v for k, v in segaug_cli.storage.books.versions().items() if k != "png"}
    monkeypatch.setattr(segaug_cli.storage.books, "versions", lambda: old_versions)
    monkeypatch.setattr(
        segaug_cli.codecs,
        "_encode_png",
        lambda array, kind, level, palette=None, transparency=None: cv2.imencode(".png", array)[1].tobytes(),
    )
    assert cli("expand", recipe, in_dir, out, "--workers", "1").exit_code == 0
    monkeypatch.undo()


def decoded(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): cv2.imread(str(p), cv2.IMREAD_UNCHANGED).tobytes()
        for p in sorted(out.rglob("*.png"))
    }


def test_check_names_the_new_writer_in_one_line_and_a_rerun_rewrites_to_the_same_pixels(tmp_path, cli, monkeypatch):
    in_dir, out = make_dataset(tmp_path / "in"), tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    write_as_before(monkeypatch, recipe, in_dir, out, cli)
    before, pixels_before = tree_digest(out), decoded(out)
    assert json.loads((out / "segaug.json").read_text())["format"] == 1

    checked = cli("check", recipe, in_dir, out, "--workers", "1")

    assert checked.exit_code == 1
    notes = [line for line in checked.stderr.splitlines() if line.startswith("note:")]
    opencv = cv2.__version__
    assert notes == [
        f"note: OUT's PNG files were written with OpenCV {opencv}'s encoder (libpng and zlib, format 1); this "
        f"segaug writes them with {codecs.png_encoder()}: `segaug expand` rewrites them, to the same pixels"
    ]
    assert "libdeflate" in notes[0]
    assert {line.split(":")[0] for line in checked.stdout.splitlines()} == {"stale"}

    rerun = cli("expand", recipe, in_dir, out, "--workers", "1")

    assert rerun.exit_code == 0
    after = tree_digest(out)
    outputs = [name for name in before if name.endswith(".png")]
    assert all(after[name] != before[name] for name in outputs)  # every PNG rewritten...
    assert decoded(out) == pixels_before  # ...to exactly the same pixels
    assert json.loads((out / "segaug.json").read_text())["format"] == segaug_cli.fingerprint.FORMAT_VERSION
    assert cli("check", recipe, in_dir, out, "--workers", "1").exit_code == 0


def test_without_the_compressor_a_run_stops_with_one_line_and_writes_no_png(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (12, 10)})
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    code = (
        "import sys; sys.modules['deflate'] = None\n"  # what a platform without the wheel sees
        "from segaug_cli.cli import main; main(sys.argv[1:], prog_name='segaug')"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "expand",
            str(recipe),
            str(in_dir),
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 1
    error, summary = run.stderr.strip().splitlines()  # one error line, then the run's usual summary
    assert "Traceback" not in run.stderr
    assert error.startswith("error: ") and error.count(":") >= 2
    assert "cannot write PNG: segaug writes it with libdeflate through the 'deflate' package" in error
    assert summary.startswith("segaug: output samples 0 written")
    assert list((tmp_path / "out").rglob("*.png")) == []
