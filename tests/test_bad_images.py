"""Bad images, named: an image over the pixel limit fails its pair with its size and the limit, read
from its header before anything is decoded (the limit set by inputs.max_pixels, Pillow's by default);
a palette mask whose fill index lies beyond its palette gets its palette extended, so every output is
a valid PNG."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset, read_manifest, write_recipe
from PIL import Image

from segaug_cli import codecs, recipe
from segaug_cli.recipe.model import MAX_PIXELS

RECIPE = "seed: 5\ncopies: 2\ntransforms:\n  - rotate: {degrees: [-30, 30]}\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose IHDR says width x height (its data is one row: any decoder that tried would fail)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_the_default_limit_is_pillows():
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS == recipe.parse("{}", "r.yaml").inputs.max_pixels


def test_a_huge_image_fails_its_pair_with_its_size_and_the_limit(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (16, 16), "b": (16, 16)})
    (in_dir / "images/b.png").write_bytes(huge_png(60000, 60000))
    path = write_recipe(tmp_path / "r.yaml", RECIPE)

    result = cli("expand", path, in_dir, tmp_path / "out", "-j", "1")

    assert result.exit_code == 1
    assert (
        "error: images/b.png: 60000x60000 is 3,600,000,000 pixels, over the limit of 89,478,485 "
        "(inputs.max_pixels in the recipe sets it)"
    ) in result.stderr.splitlines()
    assert {row["source_image"] for row in read_manifest(tmp_path / "out")} == {"images/a.png"}


def test_the_limit_is_set_in_the_recipe_and_applies_to_masks(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (10, 10), "b": (16, 16)})
    path = write_recipe(tmp_path / "r.yaml", RECIPE + "inputs: {max_pixels: 100}\n")

    result = cli("expand", path, in_dir, tmp_path / "out", "-j", "1")

    assert result.exit_code == 1
    assert "error: images/b.png: 16x16 is 256 pixels, over the limit of 100" in result.stderr
    assert {row["source_image"] for row in read_manifest(tmp_path / "out")} == {"images/a.png"}
    (in_dir / "masks/a.png").write_bytes(huge_png(11, 10))
    again = cli("expand", path, in_dir, tmp_path / "out", "-j", "1")
    assert "error: images/a.png: masks/a.png: 11x10 is 110 pixels, over the limit of 100" in again.stderr


@pytest.mark.parametrize("value", [0, -1, "many", 65536 * 65536 + 1])
def test_a_bad_limit_is_a_recipe_error(value):
    with pytest.raises(recipe.RecipeError, match=r"inputs\.max_pixels: must be a whole number"):
        recipe.parse(f"inputs: {{max_pixels: {value}}}\n", "r.yaml")


def plte_entries(data: bytes) -> int:
    """The number of entries of a PNG's PLTE chunk, read from its bytes."""
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"PLTE":
            return length // 3
        at += 12 + length
    raise AssertionError("no PLTE")


def palette_mask(path: Path, entries: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, entries, shape, dtype=np.uint8), mode="P")
    img.putpalette([v for i in range(entries) for v in (40 * i, 0, 255 - 40 * i)])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def test_a_fill_beyond_a_small_palette_extends_it_with_white(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (32, 40)})
    palette_mask(in_dir / "masks/a.png", 4, (32, 40))
    path = write_recipe(tmp_path / "r.yaml", RECIPE + "border: {mode: constant, mask_fill: 255}\n")

    result = cli("expand", path, in_dir, tmp_path / "out", "-j", "1", "-q")

    assert result.exit_code == 0, result.output
    for k in range(2):
        data = (tmp_path / f"out/masks/a_aug{k}.png").read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            indices = np.array(img)
            palette = img.getpalette()
        assert indices.max() == 255  # the rotation's corners
        assert plte_entries(data) == 256
        assert palette[:12] == [v for i in range(4) for v in (40 * i, 0, 255 - 40 * i)]
        assert palette[255 * 3 :] == list(codecs.ADDED_COLOUR) == [255, 255, 255]


def test_palette_outputs_pass_pngcheck(cli, tmp_path):
    """pngcheck (CI installs it) checks every chunk, CRC and the zlib stream of the written palette
    masks. It does not compare indices with the palette's length (a 4-entry PLTE holding index 255
    passes it), which is why the test above reads PLTE itself."""
    if shutil.which("pngcheck") is None:
        pytest.skip("pngcheck is not installed (apt-get install pngcheck; .ci/run does)")
    in_dir = make_dataset(tmp_path / "in", {"a": (32, 40)})
    palette_mask(in_dir / "masks/a.png", 4, (32, 40))
    path = write_recipe(tmp_path / "r.yaml", RECIPE + "border: {mode: constant, mask_fill: 255}\n")
    assert cli("expand", path, in_dir, tmp_path / "out", "-j", "1", "-q").exit_code == 0

    masks = sorted(str(p) for p in (tmp_path / "out/masks").glob("*.png"))
    checked = subprocess.run(["pngcheck", *masks], capture_output=True, text=True)

    assert len(masks) == 2
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("OK: ") == 2 and "8-bit palette" in checked.stdout


def test_a_palette_that_covers_every_index_is_kept_as_it_is():
    palette = [1, 2, 3] * 4
    assert codecs.palette_for(palette, np.array([[0, 3]], np.uint8)) is palette
    assert codecs.palette_for(palette, np.array([[0, 5]], np.uint8)) == palette + [255, 255, 255] * 2
