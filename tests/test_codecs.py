"""codecs: what a file's bytes decode to and what an array encodes to, pair by pair, with no disk or
recipe involved: palette PNGs give indices and are written back as palette PNGs, masks round-trip
losslessly, EXIF orientation is applied only where the mask was drawn on the displayed image, and
each refusal is one line naming the file."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from segaug_cli import codecs
from segaug_cli.errors import PairError
from segaug_cli.recipe import Output

LABELS = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [0, 0, 5, 5]], np.uint8)
PALETTE = [0, 0, 0, 200, 10, 10, 10, 200, 10, 10, 10, 200, 50, 50, 50, 90, 90, 90] + [0] * (256 * 3 - 18)


def palette_png(labels: np.ndarray, palette: list[int] = PALETTE) -> bytes:
    image = Image.fromarray(labels, mode="P")
    image.putpalette(palette)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png(array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", array)
    assert ok
    return encoded.tobytes()


def jpeg_with_orientation(image: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


def test_a_palette_png_is_recognised_by_its_header_alone():
    assert codecs.is_palette_png(palette_png(LABELS))
    assert not codecs.is_palette_png(png(LABELS))
    assert not codecs.is_palette_png(b"\x89PNG\r\n\x1a\n")  # a header cut short
    assert not codecs.is_palette_png(b"")


def test_a_palette_mask_decodes_to_its_indices_and_keeps_its_palette():
    mask = codecs.decode_mask(palette_png(LABELS), "m.png")
    assert mask.labels.dtype == np.uint8 and np.array_equal(mask.labels, LABELS)
    assert mask.palette is not None and mask.palette[:18] == PALETTE[:18]


def test_a_palette_mask_is_written_back_as_a_palette_png_with_the_same_indices():
    mask = codecs.decode_mask(palette_png(LABELS), "m.png")
    shifted = np.roll(mask.labels, 1, axis=1)
    encoded = codecs.encode_mask(mask, shifted, "png", None)
    assert codecs.is_palette_png(encoded)
    again = codecs.decode_mask(encoded, "out.png")
    assert np.array_equal(again.labels, shifted)
    assert again.palette is not None and again.palette[:18] == PALETTE[:18]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("mask_format", ["png", "tif"])
def test_a_grey_mask_round_trips_losslessly(dtype, mask_format):
    labels = (np.arange(5 * 7).reshape(5, 7) * 997 % (256 if dtype == np.uint8 else 65536)).astype(dtype)
    encoded = codecs.encode_mask(codecs.Mask(labels), labels, mask_format, None)
    decoded = codecs.decode_mask(encoded, f"m.{mask_format}")
    assert decoded.labels.dtype == dtype and np.array_equal(decoded.labels, labels)
    assert decoded.palette is None


def test_decode_pixels_gives_a_palette_pngs_indices_not_its_colours():
    assert np.array_equal(codecs.decode_pixels(palette_png(LABELS), "m.png"), LABELS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "m.png: file is empty"),
        (b"not an image at all", "m.png: not a readable image (corrupt, truncated or an unsupported format)"),
    ],
)
def test_an_undecodable_mask_is_one_line_naming_the_file(data, message):
    with pytest.raises(PairError) as exc:
        codecs.decode_mask(data, "m.png")
    assert str(exc.value) == message


def test_a_mask_with_an_alpha_channel_is_refused():
    with pytest.raises(PairError) as exc:
        codecs.decode_mask(png(np.zeros((3, 4, 4), np.uint8)), "m.png")
    assert str(exc.value) == "m.png: mask has an alpha channel; a mask holds labels (1 channel) or class colours (3)"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_shows_the_image_as_a_viewer_does(orientation):
    image = np.arange(2 * 3).reshape(2, 3)
    expected = {
        1: image,
        2: np.fliplr(image),
        3: np.rot90(image, 2),
        4: np.flipud(image),
        5: image.T,
        6: np.rot90(image, -1),
        7: np.rot90(image, 2).T,
        8: np.rot90(image, 1),
    }[orientation]
    shown = codecs.apply_orientation(image, orientation)
    assert np.array_equal(shown, expected) and shown.flags.c_contiguous


def test_exif_orientation_is_read_from_a_jpeg_and_is_1_without_one():
    image = np.zeros((4, 6, 3), np.uint8)
    assert codecs.exif_orientation(jpeg_with_orientation(image, 6)) == 6
    assert codecs.exif_orientation(png(image)) == 1
    assert codecs.exif_orientation(b"\xff\xd8 a JPEG whose Exif block is broken") == 1


def test_a_rotated_jpeg_is_turned_to_match_its_mask_drawn_as_displayed():
    stored = np.zeros((4, 6, 3), np.uint8)
    stored[0, 0] = 255  # a marker in the stored top-left corner
    mask = np.zeros((6, 4), np.uint8)  # drawn on the image as displayed: portrait
    image, decoded = codecs.decode_pair(jpeg_with_orientation(stored, 6), png(mask), "a.jpg", "a.png")
    assert image.shape[:2] == (6, 4) and np.array_equal(decoded.labels, mask)
    assert image[0, 3].mean() > 128  # orientation 6 turns it clockwise: top-left goes to top-right


def test_a_mask_drawn_on_the_stored_pixels_keeps_the_image_as_stored():
    stored = np.zeros((4, 6, 3), np.uint8)
    image, _ = codecs.decode_pair(jpeg_with_orientation(stored, 6), png(np.zeros((4, 6), np.uint8)), "a.jpg", "a.png")
    assert image.shape[:2] == (4, 6)


def test_sizes_that_match_neither_way_fail_the_pair_with_both_sizes():
    stored = np.zeros((4, 6, 3), np.uint8)
    with pytest.raises(PairError) as exc:
        codecs.decode_pair(jpeg_with_orientation(stored, 6), png(np.zeros((5, 5), np.uint8)), "a.jpg", "a.png")
    assert str(exc.value) == "a.png is 5x5 but a.jpg is 4x6 as displayed (EXIF orientation 6) and 6x4 as stored"
    with pytest.raises(PairError) as exc:
        codecs.decode_pair(png(stored), png(np.zeros((5, 5), np.uint8)), "a.png", "m.png")
    assert str(exc.value) == "m.png is 5x5 but a.png is 6x4"


@pytest.mark.parametrize(
    ("image", "extension", "message"),
    [
        (
            np.zeros((2, 2), np.uint16),
            ".jpg",
            "a uint16 image cannot be stored as JPEG (8 bits); use image_format png or tif",
        ),
        (np.zeros((2, 2), np.float32), ".png", "a float32 image cannot be stored as .png; use image_format tif"),
        (
            np.zeros((2, 2, 5), np.uint8),
            ".png",
            "an image of 5 channels cannot be stored as .png; use image_format tif",
        ),
    ],
)
def test_an_image_a_format_cannot_hold_is_refused_with_the_format_to_use(image, extension, message):
    with pytest.raises(PairError) as exc:
        codecs.encode_image(image, extension, Output(jpeg_quality=90))
    assert str(exc.value) == message


@pytest.mark.parametrize("writer", ["fast", "small"])
def test_an_image_encoded_as_png_decodes_to_the_same_pixels(writer):
    image = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 7 % 256).astype(np.uint8)
    encoded = codecs.encode_image(image, ".PNG", Output(jpeg_quality=90, png=writer))
    assert np.array_equal(codecs.decode_image(encoded, "x.png"), image)


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(PairError) as exc:
        codecs.read_bytes(tmp_path / "gone.png")
    assert str(exc.value) == f"{tmp_path / 'gone.png'}: cannot be read (No such file or directory)"
