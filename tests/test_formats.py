"""Formats real datasets use, each round-tripped through `segaug expand`.

Every test checks what a user would check by hand: the dtype and channel count of what comes out,
the palette of palette masks, that a mask holds only its source's labels plus ``mask_fill``, and that
image and mask are still aligned (the image is a function of the label, so its pixels decode back to
the output mask). Runs use ``--workers 1`` (in process) for speed, except the palette test, which
sends palette masks through a real worker pool.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import conftest
import cv2
import numpy as np
import pytest
import tifffile
from conftest import (
    CODE_COLOURS,
    blocky_mask,
    colour_coded,
    decode_labels,
    error_lines,
    make_dataset,
    output_files,
    read_manifest,
    rewarp_mask,
    run_segaug,
    write_png,
    write_recipe,
)
from PIL import Image, ImageOps

GEOMETRIC = """\
  - rotate: {degrees: [15, 30]}
  - scale: {range: [0.85, 1.0]}
  - hflip: {p: 0.5}
"""


def recipe(
    tmp_path: Path,
    *,
    copies: int = 3,
    interpolation: str = "nearest",
    border: str = "",
    output: str = "",
    transforms: str = GEOMETRIC,
    extra: str = "",
) -> Path:
    text = f"seed: 11\ncopies: {copies}\ninterpolation: {interpolation}\n"
    if border:
        text += f"border: {border}\n"
    if output:
        text += f"output: {output}\n"
    return write_recipe(tmp_path / "recipe.yaml", text + extra + f"transforms:\n{transforms}")


expand = functools.partial(conftest.expand, quiet=True)


def unchanged(path: Path) -> np.ndarray:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None, path
    return array


def boundary(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of a label boundary of ``mask``."""
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    return cv2.dilate(edge.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)).astype(bool)


def assert_aligned_blurred(image_bgr: np.ndarray, mask: np.ndarray, radius: int, what: str) -> None:
    """A colour-coded image that went through linear resampling or JPEG: every pixel away from a label
    boundary decodes to the mask's label there."""
    labels, _ = decode_labels(image_bgr)
    stray = (labels != mask) & ~boundary(mask, radius)
    where = np.argwhere(stray)[:3].tolist()
    assert not stray.any(), f"{what}: {int(stray.sum())} misaligned pixels, e.g. {where}"


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map (256 entries, bit-interleaved), as VOC and labelme write it."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def save_palette_png(path: Path, indices: np.ndarray, palette: list[int], **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.frombytes("P", (indices.shape[1], indices.shape[0]), np.ascontiguousarray(indices).tobytes())
    img.putpalette(palette)
    img.save(path, **options)


def open_pil(path: Path) -> tuple[str, list[int] | None, object, np.ndarray]:
    with Image.open(path) as img:
        img.load()
        return img.mode, img.getpalette(), img.info.get("transparency"), np.array(img)


# ---------------------------------------------------------------------------------------------
# Palette PNG masks (VOC): indices, never colours; same palette; void kept
# ---------------------------------------------------------------------------------------------

VOC_INDICES = np.array([0, 5, 9, 15, 255], np.uint8)  # background, bottle, chair, person, void


def voc_pair(shape: tuple[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, colour-coded image): index VOC_INDICES[i] is drawn in code colour i."""
    codes = blocky_mask(np.random.default_rng(seed), shape, 4)
    codes[shape[0] // 3 : shape[0] // 3 + 3] = 4  # a void band, as VOC draws around objects
    return VOC_INDICES[codes], colour_coded(codes)


def test_palette_masks_stay_palette_pngs_of_indices_through_a_worker_pool(tmp_path, cli):
    in_dir, palette = tmp_path / "in", voc_palette()
    sources = {}
    for key, shape in {"2011_a": (40, 56), "2011_b": (48, 48), "sub/2011_c": (36, 50)}.items():
        indices, image = voc_pair(shape, len(sources))
        save_palette_png(in_dir / "masks" / f"{key}.png", indices, palette)
        write_png(in_dir / "images" / f"{key}.png", image)
        sources[f"masks/{key}.png"] = indices
    code_of = np.zeros(256, np.uint8)
    code_of[VOC_INDICES] = np.arange(len(VOC_INDICES))
    # Void (255) is code 4; white, code 7, would be a sixth class: use it as void's fill instead.
    fill_colour = CODE_COLOURS[4][::-1].tolist()
    code_of[255] = 4
    rcp = recipe(tmp_path, border=f"{{mode: constant, image_fill: {fill_colour}, mask_fill: 255}}")
    out = tmp_path / "out"

    result = expand(cli, rcp, in_dir, out, workers=2)

    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert len(rows) == 9
    filled = False
    for row in rows:
        mode, out_palette, _, labels = open_pil(out / row["mask"])
        assert mode == "P", row["mask"]
        assert out_palette == palette, row["mask"]
        source = sources[row["source_mask"]]
        assert set(np.unique(labels)) <= set(np.unique(source)), row["mask"]  # 255 (fill) is a source index
        np.testing.assert_array_equal(labels, rewarp_mask(source, row, 255), err_msg=row["mask"])
        image = unchanged(out / row["image"])
        decoded, dist = decode_labels(image)
        assert dist.max() == 0 and np.array_equal(decoded, code_of[labels]), row["image"]
        filled |= bool(((labels == 255) & ~(rewarp_mask(source, row, 0) == 255)).any())
    assert filled  # the rotation uncovered pixels, and they got the void index


def test_palette_transparency_is_kept(tmp_path, cli):
    in_dir = tmp_path / "in"
    palette = voc_palette()
    alpha = bytes([0, 64, 128, 200, 255, 17])  # a tRNS chunk of 6 entries
    indices = blocky_mask(np.random.default_rng(3), (40, 52), 6)
    save_palette_png(in_dir / "masks" / "t.png", indices, palette, transparency=alpha)
    write_png(in_dir / "images" / "t.png", colour_coded(indices))
    source_mode, _, source_alpha, _ = open_pil(in_dir / "masks" / "t.png")
    assert source_mode == "P" and source_alpha is not None
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, copies=2), in_dir, out)

    assert result.exit_code == 0, result.output
    for row in read_manifest(out):
        mode, out_palette, out_alpha, labels = open_pil(out / row["mask"])
        assert mode == "P" and out_palette == palette
        assert out_alpha == source_alpha, row["mask"]
        assert set(np.unique(labels)) <= set(np.unique(indices)) | {0}


def test_grayscale_index_mask_stays_single_channel_grayscale(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"g": (40, 50)})
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, border="{mask_fill: 9}", copies=2), in_dir, out)

    assert result.exit_code == 0, result.output
    source = unchanged(in_dir / "masks" / "g.png")
    for row in read_manifest(out):
        mode, palette, _, labels = open_pil(out / row["mask"])
        assert mode == "L" and palette is None, row["mask"]
        assert unchanged(out / row["mask"]).shape == source.shape
        assert set(np.unique(labels)) <= set(np.unique(source)) | {9}
        np.testing.assert_array_equal(labels, rewarp_mask(source, row, 9))


# ---------------------------------------------------------------------------------------------
# 16-bit
# ---------------------------------------------------------------------------------------------


def test_uint16_instance_masks_keep_ids_above_255_and_stay_aligned(tmp_path, cli):
    in_dir = tmp_path / "in"
    ids = np.array([0, 256, 300, 4097, 60001], np.uint16)
    fill = 65535
    sources = {}
    for key, shape in {"cells1": (44, 60), "cells2": (50, 38)}.items():
        mask = ids[blocky_mask(np.random.default_rng(len(sources)), shape, 5)]
        write_png(in_dir / "masks" / f"{key}.png", mask)
        write_png(in_dir / "images" / f"{key}.png", mask)  # the image IS the id map: a 16-bit code
        sources[f"masks/{key}.png"] = mask
    rcp = recipe(tmp_path, border=f"{{image_fill: {fill}, mask_fill: {fill}}}")
    out = tmp_path / "out"

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    seen = set()
    for row in read_manifest(out):
        mask, image = unchanged(out / row["mask"]), unchanged(out / row["image"])
        source = sources[row["source_mask"]]
        assert mask.dtype == np.uint16 and mask.ndim == 2, row["mask"]
        assert set(np.unique(mask)) <= set(np.unique(source)) | {fill}
        np.testing.assert_array_equal(mask, rewarp_mask(source, row, fill))
        assert image.dtype == np.uint16
        np.testing.assert_array_equal(image, mask)  # same matrix, both nearest: exact alignment
        seen |= set(np.unique(mask).tolist())
    assert {4097, 60001, fill} <= seen


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_uint16_images_keep_their_dtype_and_are_not_rescaled(tmp_path, cli, ext):
    in_dir = tmp_path / "in"
    h, w = 30, 40
    ramp = (np.arange(h * w, dtype=np.uint32).reshape(h, w) * 65535 // (h * w - 1)).astype(np.uint16)
    image = np.dstack([ramp, 65535 - ramp, np.full_like(ramp, 40000)])  # BGR
    (in_dir / "images").mkdir(parents=True)
    if ext == ".png":
        write_png(in_dir / "images" / "u16.png", image)
    else:
        # RGB in the file
        tifffile.imwrite(in_dir / "images" / "u16.tif", image[..., ::-1], photometric="rgb")
    write_png(in_dir / "masks" / "u16.png", np.zeros((h, w), np.uint8))
    flips = "  - hflip: {}\n  - vflip: {}\n"
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, copies=1, interpolation="linear", transforms=flips), in_dir, out)

    assert result.exit_code == 0, result.output
    written = out / f"images/u16_aug0{ext}"
    got = unchanged(written) if ext == ".png" else tifffile.imread(written)[..., ::-1]
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, image[::-1, ::-1])  # every value, 65535 included, exactly moved
    assert got.max() == 65535


# ---------------------------------------------------------------------------------------------
# TIFF: multispectral and float32
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_six_channel_tiff_keeps_every_channel_warped_by_one_matrix(tmp_path, cli, dtype):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(4), (40, 56), 5)
    # Channel c holds code c of the label: a different one-to-one map per channel, so a channel warped
    # with another matrix (or swapped with another channel) decodes to wrong labels.
    scale = 1 if dtype == np.uint8 else 257
    codes = np.array([[(label * 41 + c * 23 + 7) % 250 + 1 for c in range(6)] for label in range(5)]) * scale
    image = codes[mask].astype(dtype)
    (in_dir / "images").mkdir(parents=True)
    tifffile.imwrite(in_dir / "images" / "ms.tif", image, photometric="minisblack", planarconfig="contig")
    write_png(in_dir / "masks" / "ms.png", mask)
    fill = 9
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, border=f"{{image_fill: 0, mask_fill: {fill}}}"), in_dir, out)

    assert result.exit_code == 0, result.output
    for row in read_manifest(out):
        got = tifffile.imread(out / row["image"])
        labels = unchanged(out / row["mask"])
        assert got.shape == image.shape and got.dtype == image.dtype, row["image"]
        covered = labels != fill
        assert (~covered).any() and covered.mean() > 0.5
        for c in range(6):
            np.testing.assert_array_equal(got[..., c][covered], codes[labels[covered], c], err_msg=f"channel {c}")
            assert (got[..., c][~covered] == 0).all()


def test_float32_tiff_image_stays_float32_and_aligned(tmp_path, cli):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(8), (48, 60), 5)
    rgb = (colour_coded(mask)[..., ::-1] / 255.0).astype(np.float32)
    (in_dir / "images").mkdir(parents=True)
    tifffile.imwrite(in_dir / "images" / "f.tif", rgb, photometric="rgb")
    write_png(in_dir / "masks" / "f.png", mask)
    fill = 7  # code colour 7 is white, so image_fill 1.0 is the fill label's colour
    out = tmp_path / "out"

    rcp = recipe(tmp_path, interpolation="linear", border=f"{{image_fill: 1.0, mask_fill: {fill}}}")

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    for row in read_manifest(out):
        assert row["image"].endswith(".tif")
        got = tifffile.imread(out / row["image"])
        assert got.dtype == np.float32 and got.shape == rgb.shape, row["image"]
        assert got.min() >= 0 and got.max() <= 1
        assert len(np.unique(got)) > 8  # resampled linearly in floating point, not quantised
        bgr = np.rint(got[..., ::-1] * 255).astype(np.uint8)
        assert_aligned_blurred(bgr, unchanged(out / row["mask"]), 1, row["image"])


# ---------------------------------------------------------------------------------------------
# JPEG EXIF orientation
# ---------------------------------------------------------------------------------------------

DISPLAYED = (48, 64)  # height, width as a viewer shows the image; stored rotated: 64 high, 48 wide


def save_rotated_jpeg(path: Path, displayed_bgr: np.ndarray) -> None:
    """Store ``displayed_bgr`` as a JPEG whose pixels are turned 90 degrees counter-clockwise and whose
    EXIF orientation (6) tells viewers to turn them clockwise again."""
    stored = np.rot90(displayed_bgr, 1)
    exif = Image.Exif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(stored[..., ::-1])).save(path, quality=100, subsampling=0, exif=exif)


def exif_orientation_of(path: Path):
    with Image.open(path) as img:
        return img.getexif().get(0x0112)


def test_exif_rotated_jpeg_is_used_as_displayed_and_written_without_the_tag(tmp_path, cli):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(12), DISPLAYED, 5)  # drawn on the displayed image
    save_rotated_jpeg(in_dir / "images" / "photo.jpg", colour_coded(mask))
    write_png(in_dir / "masks" / "photo.png", mask)
    # The premise: a viewer (Pillow's exif_transpose) shows the image the mask was drawn on.
    with Image.open(in_dir / "images" / "photo.jpg") as img:
        shown = np.array(ImageOps.exif_transpose(img))[..., ::-1]
    assert shown.shape[:2] == DISPLAYED
    assert_aligned_blurred(shown, mask, 1, "source as displayed")
    out = tmp_path / "out"
    rcp = recipe(
        tmp_path,
        interpolation="linear",
        border="{image_fill: 255, mask_fill: 7}",
        output="{jpeg_quality: 100}",
        extra="keep_original: true\n",
    )

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert [r["copy"] for r in rows] == ["original", "0", "1", "2"]
    for row in rows:
        image, labels = unchanged(out / row["image"]), unchanged(out / row["mask"])
        assert image.shape == (*DISPLAYED, 3), row["image"]
        assert exif_orientation_of(out / row["image"]) in (None, 1), row["image"]
        assert_aligned_blurred(image, labels, 3, row["image"])
        np.testing.assert_array_equal(labels, rewarp_mask(mask, row, 7))


def test_mask_of_the_stored_size_uses_the_stored_pixels(tmp_path, cli):
    in_dir = tmp_path / "in"
    stored_shape = DISPLAYED[::-1]
    mask = blocky_mask(np.random.default_rng(13), stored_shape, 5)  # drawn on the pixels as stored
    save_rotated_jpeg(in_dir / "images" / "photo.jpg", np.rot90(colour_coded(mask), -1))
    write_png(in_dir / "masks" / "photo.png", mask)
    out = tmp_path / "out"

    result = expand(
        cli,
        recipe(
            tmp_path, interpolation="linear", border="{image_fill: 255, mask_fill: 7}", output="{jpeg_quality: 100}"
        ),
        in_dir,
        out,
    )

    assert result.exit_code == 0, result.output
    for row in read_manifest(out):
        image, labels = unchanged(out / row["image"]), unchanged(out / row["mask"])
        assert image.shape == (*stored_shape, 3)
        assert exif_orientation_of(out / row["image"]) in (None, 1)
        assert_aligned_blurred(image, labels, 3, row["image"])


def test_mask_matching_neither_size_fails_the_pair_giving_both_sizes(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"good": (30, 30)})
    save_rotated_jpeg(in_dir / "images" / "photo.jpg", colour_coded(np.zeros(DISPLAYED, np.uint8)))
    write_png(in_dir / "masks" / "photo.png", np.zeros((30, 50), np.uint8))
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, copies=1), in_dir, out)

    assert result.exit_code == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    for fragment in ("images/photo.jpg", "masks/photo.png", "50x30", "64x48", "48x64"):
        assert fragment in errors[0]
    assert output_files(out, "images") == ["images/good_aug0.png"]


# ---------------------------------------------------------------------------------------------
# Colour masks, alpha, grey-as-RGB
# ---------------------------------------------------------------------------------------------


def test_colour_coded_rgb_masks_keep_exact_colours_and_fill_with_an_rgb_colour(tmp_path, cli):
    in_dir = tmp_path / "in"
    labels = blocky_mask(np.random.default_rng(21), (44, 58), 6)
    colours = colour_coded(labels)  # BGR class colours, as a 3-channel PNG
    write_png(in_dir / "masks" / "street.png", colours)
    write_png(in_dir / "images" / "street.png", colours)
    fill_rgb = [255, 128, 0]  # no class colour; its BGR reversal (0, 128, 255) is none either
    fill_bgr = tuple(fill_rgb[::-1])
    out = tmp_path / "out"

    rcp = recipe(tmp_path, border=f"{{image_fill: {fill_rgb}, mask_fill: {fill_rgb}}}")

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    source_colours = {tuple(c) for c in colours.reshape(-1, 3).tolist()}
    for row in read_manifest(out):
        mask, image = unchanged(out / row["mask"]), unchanged(out / row["image"])
        assert mask.shape == colours.shape and mask.dtype == np.uint8
        found = {tuple(c) for c in mask.reshape(-1, 3).tolist()}
        assert found <= source_colours | {fill_bgr}, row["mask"]
        assert fill_bgr in found  # the rotation uncovered corners: filled with the colour as given, in RGB
        np.testing.assert_array_equal(mask, rewarp_mask(colours, row, fill_bgr))
        np.testing.assert_array_equal(image, mask)  # same matrix; image fill is the same colour


def test_alpha_channel_is_kept_and_photometric_ops_leave_it_alone(tmp_path, cli):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(30), (40, 50), 4)
    alpha = np.tile(np.linspace(10, 250, 50).astype(np.uint8), (40, 1))
    image = np.dstack([colour_coded(mask) // 2 + 40, alpha])  # BGRA
    write_png(in_dir / "images" / "a.png", image)
    write_png(in_dir / "masks" / "a.png", mask)
    tone = "  - brightness: {range: [0.15, 0.15]}\n  - contrast: {range: [1.3, 1.3]}\n  - gamma: {range: [0.7, 0.7]}\n"
    out = tmp_path / "tone"

    result = expand(cli, recipe(tmp_path, copies=1, transforms=tone), in_dir, out)

    assert result.exit_code == 0, result.output
    toned = unchanged(out / "images/a_aug0.png")
    assert toned.shape == image.shape and toned.dtype == np.uint8
    np.testing.assert_array_equal(toned[..., 3], alpha)
    assert not np.array_equal(toned[..., :3], image[..., :3])  # the colour channels did change

    moved = tmp_path / "moved"
    result = expand(cli, recipe(tmp_path, copies=2, transforms=GEOMETRIC + tone), in_dir, moved)

    assert result.exit_code == 0, result.output
    for row in read_manifest(moved):
        got = unchanged(moved / row["image"])
        assert got.shape == image.shape
        np.testing.assert_array_equal(got[..., 3], rewarp_mask(alpha, row, 0))  # alpha moved, not toned


def test_grayscale_image_stored_as_rgb(tmp_path, cli):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(31), (40, 50), 5)
    grey = (mask * 50 + 20).astype(np.uint8)
    write_png(in_dir / "images" / "g.png", np.dstack([grey] * 3))
    write_png(in_dir / "masks" / "g.png", mask)
    out = tmp_path / "out"
    transforms = GEOMETRIC + "  - brightness: {range: [0.05, 0.05]}\n  - contrast: {range: [1.1, 1.1]}\n"

    result = expand(cli, recipe(tmp_path, border="{mask_fill: 6}", transforms=transforms), in_dir, out)

    assert result.exit_code == 0, result.output
    for row in read_manifest(out):
        image, labels = unchanged(out / row["image"]), unchanged(out / row["mask"])
        assert image.shape == (40, 50, 3)
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
        covered = labels != 6
        grey_of = {}
        for label, value in zip(labels[covered].tolist(), image[..., 0][covered].tolist(), strict=True):
            assert grey_of.setdefault(label, value) == value, f"label {label}: two grey values"  # aligned
        assert len(set(grey_of.values())) == len(grey_of)


# ---------------------------------------------------------------------------------------------
# Names and folders
# ---------------------------------------------------------------------------------------------


def test_file_names_with_spaces_and_non_ascii_characters(tmp_path, cli):
    keys = {"café au lait": (30, 40), "naïve/日本 語": (36, 30), 'a,b"c': (20, 24)}
    in_dir = make_dataset(tmp_path / "in", keys)
    out = tmp_path / "out"
    rcp = recipe(tmp_path, copies=2)

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    expected = sorted(f"images/{k}_aug{c}.png" for k in keys for c in range(2))
    assert sorted(r["image"] for r in rows) == expected
    assert sorted(r["image"] for r in rows) == output_files(out, "images")
    for row in rows:
        assert (in_dir / row["source_image"]).is_file()
        labels, _ = decode_labels(unchanged(out / row["image"]))
        np.testing.assert_array_equal(labels, unchanged(out / row["mask"]))
    check = cli("check", rcp, in_dir, out, "--workers", "1")
    assert check.exit_code == 0, check.output


def test_upper_case_extensions_are_images(tmp_path, cli):
    in_dir = tmp_path / "in"
    mask = blocky_mask(np.random.default_rng(40), (32, 40), 4)
    write_png(in_dir / "images" / "A.PNG", colour_coded(mask))
    write_png(in_dir / "masks" / "A.PNG", mask)
    ok, jpeg = cv2.imencode(".jpg", colour_coded(mask))
    assert ok
    (in_dir / "images" / "B.JPG").write_bytes(jpeg.tobytes())
    write_png(in_dir / "masks" / "B.png", mask)
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, copies=1), in_dir, out)

    assert result.exit_code == 0, result.output
    assert "ignored" not in result.stderr
    images = output_files(out, "images")
    assert [Path(p).stem for p in images] == ["A_aug0", "B_aug0"]
    a, b = (out / p for p in images)
    assert a.suffix.lower() == ".png" and a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b.suffix.lower() == ".jpg" and b.read_bytes()[:2] == b"\xff\xd8"
    assert output_files(out, "masks") == ["masks/A_aug0.png", "masks/B_aug0.png"]
    assert unchanged(a).shape == (32, 40, 3) and unchanged(b).shape == (32, 40, 3)


def test_symlinked_folders_are_followed(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", {"plain": (24, 30)})
    elsewhere = make_dataset(tmp_path / "elsewhere", {"far": (30, 26)})
    (in_dir / "images" / "linked").symlink_to(elsewhere / "images", target_is_directory=True)
    (in_dir / "masks" / "linked").symlink_to(elsewhere / "masks", target_is_directory=True)
    out = tmp_path / "out"

    result = expand(cli, recipe(tmp_path, copies=1), in_dir, out)

    assert result.exit_code == 0, result.output
    assert output_files(out, "images") == ["images/linked/far_aug0.png", "images/plain_aug0.png"]
    row = next(r for r in read_manifest(out) if r["image"] == "images/linked/far_aug0.png")
    assert (row["source_image"], row["source_mask"]) == ("images/linked/far.png", "masks/linked/far.png")
    labels, _ = decode_labels(unchanged(out / row["image"]))
    np.testing.assert_array_equal(labels, unchanged(out / row["mask"]))
    assert not (elsewhere / "images" / "linked").exists()  # nothing was written through the link


def test_a_symlink_loop_does_not_hang(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"a": (24, 30), "deep/b": (20, 20)})
    (in_dir / "images" / "deep" / "up").symlink_to(in_dir / "images", target_is_directory=True)
    (in_dir / "masks" / "loop").symlink_to(in_dir / "masks", target_is_directory=True)
    rcp = recipe(tmp_path, copies=1)
    out = tmp_path / "out"

    done = run_segaug("expand", rcp, in_dir, out, "--workers", "1", timeout=60)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "warning" not in done.stderr  # the loop made no phantom (orphan) masks either
    # A folder reached again through the loop is not walked again: no phantom pairs.
    assert output_files(out, "images") == ["images/a_aug0.png", "images/deep/b_aug0.png"]
    assert output_files(out, "masks") == ["masks/a_aug0.png", "masks/deep/b_aug0.png"]


# ---------------------------------------------------------------------------------------------
# TIFF output formats
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_dtype", [np.uint8, np.uint16])
def test_tif_image_and_mask_formats_round_trip(tmp_path, cli, mask_dtype):
    in_dir = tmp_path / "in"
    codes = blocky_mask(np.random.default_rng(50), (36, 44), 5)
    lut = (
        np.array([0, 3, 90, 200, 250], mask_dtype)
        if mask_dtype == np.uint8
        else np.array([0, 3, 900, 2000, 50000], mask_dtype)
    )
    mask = lut[codes]
    write_png(in_dir / "images" / "t.png", colour_coded(codes))
    write_png(in_dir / "masks" / "t.png", mask)
    fill = 7
    rcp = recipe(
        tmp_path, border=f"{{image_fill: 255, mask_fill: {fill}}}", output="{image_format: tif, mask_format: tif}"
    )
    out = tmp_path / "out"

    result = expand(cli, rcp, in_dir, out)

    assert result.exit_code == 0, result.output
    rows = read_manifest(out)
    assert len(rows) == 3
    code_of = {int(v): i for i, v in enumerate(lut)} | {fill: 7}
    for row in rows:
        assert row["image"].endswith(".tif") and row["mask"].endswith(".tif")
        image = tifffile.imread(io.BytesIO((out / row["image"]).read_bytes()))
        got = tifffile.imread(out / row["mask"])
        assert image.shape == (36, 44, 3) and image.dtype == np.uint8
        assert got.shape == mask.shape and got.dtype == mask_dtype
        assert set(np.unique(got)) <= set(np.unique(mask)) | {fill}
        np.testing.assert_array_equal(got, rewarp_mask(mask, row, fill))
        labels, dist = decode_labels(image[..., ::-1])  # RGB in the file
        assert dist.max() == 0
        np.testing.assert_array_equal(labels, np.vectorize(code_of.get)(got).astype(np.uint8))
