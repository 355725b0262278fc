"""output.png: fast (the default) writes 8-bit colour images with fpng; small writes every PNG with libdeflate.

Either way the pixels are the same; masks, grey and 16-bit images always take segaug's libdeflate writer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_dataset, write_recipe

from segaug_cli import codecs, png
from segaug_cli.recipe import parse

RECIPE = "seed: 5\ncopies: 2\ntransforms: [rotate: {}, brightness: {}]\n"


def _expand(cli, tmp_path: Path, in_dir: Path, name: str, output: str = "") -> Path:
    recipe = write_recipe(tmp_path / f"{name}.yaml", RECIPE + output)
    out = tmp_path / name
    result = cli("expand", recipe, in_dir, out, "--workers", "1", "-q")
    assert result.exit_code == 0, result.stderr
    return out


def _files(out: Path, folder: str) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / folder).rglob("*.png"))}


def test_fast_and_small_write_the_same_pixels_with_each_writer(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in")
    fast = _expand(cli, tmp_path, in_dir, "fast")
    small = _expand(cli, tmp_path, in_dir, "small", "output: {png: small}\n")
    fast_images, small_images = _files(fast, "images"), _files(small, "images")
    assert sorted(fast_images) == sorted(small_images) and len(fast_images) == 6
    for name, data in fast_images.items():
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(pixels, cv2.imdecode(np.frombuffer(small_images[name], np.uint8), cv2.IMREAD_UNCHANGED))
        assert data == codecs._encode_fast_png(pixels), name  # fpng's bytes
        assert small_images[name] == png.encode_png(pixels, kind="image"), name  # libdeflate's bytes, as before
        assert data != small_images[name]
    assert _files(fast, "masks") == _files(small, "masks")  # masks never go through fpng


def test_grey_images_take_the_libdeflate_writer_even_when_fast(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in", colour=False)
    fast = _expand(cli, tmp_path, in_dir, "fast")
    small = _expand(cli, tmp_path, in_dir, "small", "output: {png: small}\n")
    assert _files(fast, "images") == _files(small, "images")


def test_changing_the_setting_rewrites_the_images_and_keeps_the_masks_bytes(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in")
    out = _expand(cli, tmp_path, in_dir, "out")
    before_images, before_masks = _files(out, "images"), _files(out, "masks")
    recipe = write_recipe(tmp_path / "small.yaml", RECIPE + "output: {png: small}\n")
    result = cli("expand", recipe, in_dir, out, "--workers", "1")
    assert result.exit_code == 0, result.stderr
    after_images = _files(out, "images")
    assert all(after_images[name] != data for name, data in before_images.items())
    assert _files(out, "masks") == before_masks
    assert cli("check", recipe, in_dir, out).exit_code == 0


def test_segaug_json_names_both_writers_and_their_versions(cli, tmp_path):
    out = _expand(cli, tmp_path, make_dataset(tmp_path / "in"), "out")
    writers = json.loads((out / "segaug.json").read_text(encoding="utf-8"))["versions"]["png"]
    assert "libdeflate (deflate 0.9.0)" in writers and "fpng 0.1.0 for 8-bit colour images" in writers


def test_an_unknown_setting_is_refused_by_its_key():
    with pytest.raises(Exception) as refused:
        parse("output: {png: medium}\n", "r.yaml")
    assert str(refused.value) == "r.yaml line 1: output.png: must be one of fast, small, got 'medium'"


def test_without_fpng_a_fast_run_stops_in_one_line_that_says_what_to_do(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fpng", None)  # import fpng now raises ImportError
    in_dir = make_dataset(tmp_path / "in")
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    result = cli("expand", recipe, in_dir, tmp_path / "out", "--workers", "1", "-q")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "fpng" in line]
    assert len(lines) == 1 and "set output.png: small" in lines[0] and "pip install" in lines[0]
    assert not list((tmp_path / "out").rglob("*.png"))
    small = write_recipe(tmp_path / "small.yaml", RECIPE + "output: {png: small}\n")
    assert cli("expand", small, in_dir, tmp_path / "out2", "--workers", "1", "-q").exit_code == 0
