"""`validate RECIPE IN` reads every pair's headers (PNG IHDR, JPEG SOF, TIFF tags; nothing decoded):
sizes that differ, unreadable and truncated files and images over the pixel limit are the pairs that
would fail, exit 1; `--deep` decodes every pair instead."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
import pytest
import tifffile
from conftest import make_dataset, write_png, write_recipe

from segaug_cli import headers
from segaug_cli.errors import PairError

RECIPE = "copies: 2\ntransforms:\n  - hflip: {}\n"


@pytest.fixture
def recipe(tmp_path):
    return write_recipe(tmp_path / "r.yaml", RECIPE)


def validate(cli, recipe, in_dir, *extra):
    return cli("validate", recipe, in_dir, *extra)


def lines_after_the_first(result) -> list[str]:
    return result.stdout.splitlines()[1:]


@pytest.mark.parametrize("deep", [(), ("--deep",)])
def test_a_mask_of_another_size_would_fail(cli, recipe, tmp_path, deep):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 24), "b": (20, 24)})
    write_png(in_dir / "masks/b.png", np.zeros((20, 30), np.uint8))

    result = validate(cli, recipe, in_dir, *deep)

    assert result.exit_code == 1
    assert lines_after_the_first(result) == [
        f"{in_dir}: 2 pair(s) found",
        "would fail: images/b.png: masks/b.png is 30x20 but images/b.png is 24x20",
    ]


@pytest.mark.parametrize("deep", [(), ("--deep",)])
def test_a_truncated_png_would_fail(cli, recipe, tmp_path, deep):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 24), "b": (20, 24)})
    data = (in_dir / "images/a.png").read_bytes()
    (in_dir / "images/a.png").write_bytes(data[: len(data) // 2])

    result = validate(cli, recipe, in_dir, *deep)

    assert result.exit_code == 1
    assert lines_after_the_first(result)[1].startswith("would fail: images/a.png: images/a.png: ")


def test_unreadable_and_truncated_files_are_named_without_decoding(cli, recipe, tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 24), "b": (20, 24), "c": (20, 24), "d": (20, 24)})
    (in_dir / "images/b.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")  # cut inside its header
    ok, jpeg = cv2.imencode(".jpg", np.zeros((20, 24, 3), np.uint8))
    (in_dir / "images/c.png").unlink()
    (in_dir / "images/c.jpg").write_bytes(jpeg.tobytes()[:-40])
    (in_dir / "masks/d.png").write_bytes(b"")

    result = validate(cli, recipe, in_dir)

    assert result.exit_code == 1
    assert lines_after_the_first(result)[1:] == [
        "would fail: images/b.png: images/b.png: not a readable PNG (no complete IHDR header)",
        "would fail: images/c.jpg: images/c.jpg: truncated (the file ends before its image data does)",
        "would fail: images/d.png: masks/d.png: file is empty",
    ]


def test_an_image_over_the_pixel_limit_would_fail(cli, tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (20, 24), "b": (8, 8)})
    path = write_recipe(tmp_path / "r.yaml", RECIPE + "inputs: {max_pixels: 100}\n")

    result = validate(cli, path, in_dir)

    assert result.exit_code == 1
    assert lines_after_the_first(result)[1:] == [
        "would fail: images/a.png: images/a.png: 24x20 is 480 pixels, over the limit of 100 "
        "(inputs.max_pixels in the recipe sets it)"
    ]


def test_a_clean_in_passes(cli, recipe, tmp_path):
    in_dir = make_dataset(tmp_path / "in")
    assert validate(cli, recipe, in_dir).exit_code == 0
    assert validate(cli, recipe, in_dir, "--deep").exit_code == 0


def tiff_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("array", "kwargs", "expected"),
    [
        (np.zeros((30, 40), np.uint16), {}, (40, 30, 1, 16)),
        (np.zeros((30, 40, 5), np.float32), {"planarconfig": "contig"}, (40, 30, 5, 32)),
        (np.zeros((300, 400, 3), np.uint8), {"tile": (64, 64)}, (400, 300, 3, 8)),
    ],
)
def test_tiff_tags_give_size_channels_and_depth(array, kwargs, expected):
    data = tiff_bytes(array, **kwargs)
    header = headers.header_of_bytes(data, "t.tif")
    assert header is not None
    assert (header.width, header.height, header.channels, header.depth) == expected
    with pytest.raises(PairError, match="truncated"):
        headers.header_of_bytes(data[: len(data) - 100], "t.tif")


@pytest.mark.parametrize(("ext", "channels"), [(".png", 3), (".jpg", 3), (".png", 1)])
def test_png_and_jpeg_headers(ext, channels):
    shape = (30, 40, 3) if channels == 3 else (30, 40)
    ok, data = cv2.imencode(ext, np.zeros(shape, np.uint8))
    header = headers.header_of_bytes(data.tobytes(), "x")
    assert header is not None
    assert (header.width, header.height, header.channels, header.depth) == (40, 30, channels, 8)


def test_a_format_it_does_not_read_is_left_to_the_decoder():
    ok, data = cv2.imencode(".bmp", np.zeros((3, 3), np.uint8))
    assert headers.header_of_bytes(data.tobytes(), "x.bmp") is None


def test_two_thousand_pairs_validate_in_well_under_a_few_seconds(cli, recipe, tmp_path):
    in_dir = tmp_path / "in"
    for folder in ("images", "masks"):
        (in_dir / folder).mkdir(parents=True)
    ok, png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))
    for i in range(2000):
        for folder in ("images", "masks"):
            (in_dir / folder / f"p{i:05d}.png").write_bytes(png.tobytes())

    started = time.perf_counter()
    result = validate(cli, recipe, in_dir)
    seconds = time.perf_counter() - started

    assert result.exit_code == 0, result.output
    assert seconds < 3.0  # about 0.3 s measured; 10,000 pairs in about 1.5 s
