"""segaug_cli.png: every kind of array round-trips through OpenCV and Pillow, and the files are
well-formed PNGs (read here by a chunk reader of our own), the same bytes every time."""

from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from segaug_cli import png

FAST = settings(max_examples=40, deadline=None)
SHAPES = st.one_of(
    st.tuples(st.integers(1, 24), st.integers(1, 24)),  # odd and even sizes, 1x1 included
    st.sampled_from([(1, 1), (1, 97), (97, 1), (300, 3), (3, 300)]),  # 1xN, Nx1, tall, wide
)


# ---------------------------------------------------------------------------------------------
# A chunk reader of our own
# ---------------------------------------------------------------------------------------------


def read_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, after checking the signature, each length and each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert len(payload) == length, f"{kind!r} runs past the end of the file"
        assert crc == zlib.crc32(kind + payload), f"bad CRC in {kind!r}"
        chunks.append((kind, payload))
        at += 12 + length
    assert at == len(data)
    return chunks


def check_structure(data: bytes) -> dict:
    """The chunk order a PNG requires, and nothing beyond what segaug writes; returns IHDR's fields."""
    chunks = read_chunks(data)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and len(chunks[0][1]) == 13
    assert kinds[-1] == b"IEND" and chunks[-1][1] == b""
    assert set(kinds) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
    idats = [i for i, k in enumerate(kinds) if k == b"IDAT"]
    assert idats and idats == list(range(idats[0], idats[-1] + 1)), "IDAT chunks must be consecutive"
    sizes = [len(chunks[i][1]) for i in idats]
    assert all(size == png.IDAT_SIZE for size in sizes[:-1]) and 0 < sizes[-1] <= png.IDAT_SIZE
    if b"PLTE" in kinds:
        assert kinds.index(b"PLTE") < idats[0]
    if b"tRNS" in kinds:
        assert b"PLTE" in kinds and kinds.index(b"PLTE") < kinds.index(b"tRNS") < idats[0]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (compression, filtering, interlace) == (0, 0, 0)
    payloads = {k: p for k, p in chunks if k != b"IDAT"}
    return {
        "width": width,
        "height": height,
        "depth": depth,
        "colour": colour,
        "idat": b"".join(chunks[i][1] for i in idats),
        **{k.decode(): p for k, p in payloads.items()},
    }


def filter_types(data: bytes) -> set[int]:
    """The filter-type byte of every row, from the inflated IDAT stream."""
    info = check_structure(data)
    channels = {0: 1, 2: 3, 3: 1, 6: 4}[info["colour"]]
    stride = 1 + info["width"] * channels * info["depth"] // 8
    raw = zlib.decompress(info["idat"])
    assert len(raw) == stride * info["height"]
    return set(raw[::stride])


# ---------------------------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------------------------


def make_array(seed: int, shape: tuple[int, int], channels: int | None, dtype: type, content: str) -> np.ndarray:
    """Noise, a smooth gradient or large flat blocks: what deflate sees from noise, photos and masks."""
    rng = np.random.default_rng(seed)
    full = shape + (() if channels is None else (channels,))
    top = np.iinfo(dtype).max
    if content == "noise":
        return rng.integers(0, top, full, dtype=dtype, endpoint=True)
    if content == "gradient":
        ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * int(rng.integers(1, 300))
        ramp = ramp.reshape(shape + (1,) * (len(full) - 2)) + rng.integers(0, top, full[2:] or (1,))
        return (ramp % (top + 1)).astype(dtype).reshape(full)
    blocks = rng.integers(0, 8, (3, 3) + full[2:]).astype(dtype) * (top // 7)
    rows = np.arange(shape[0]) * 3 // shape[0]
    cols = np.arange(shape[1]) * 3 // shape[1]
    return np.ascontiguousarray(blocks[rows][:, cols])


ARRAYS = st.builds(
    make_array,
    st.integers(0, 2**32 - 1),
    SHAPES,
    st.sampled_from([None, 1, 3, 4]),
    st.sampled_from([np.uint8, np.uint16]),
    st.sampled_from(["noise", "gradient", "blocks"]),
)


def cv2_decode(data: bytes) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    return decoded


def expected_cv2(array: np.ndarray) -> np.ndarray:
    return array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array


def pillow_view(array: np.ndarray) -> tuple[str, np.ndarray]:
    """The mode and pixels Pillow should read back. Pillow keeps 16 bits for grey only: it reads
    16-bit RGB[A] as 8-bit, the high byte of each sample."""
    array = expected_cv2(array)
    if array.ndim == 2:
        return ("L" if array.dtype == np.uint8 else "I;16"), array
    rgb = array[:, :, [2, 1, 0, 3][: array.shape[2]]]
    if array.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    return ("RGB" if array.shape[2] == 3 else "RGBA"), rgb


def pillow_decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------


@FAST
@given(array=ARRAYS, kind=st.sampled_from(sorted(png.FASTEST)), level=st.sampled_from([None, 0, 1, 6, 9]))
def test_every_array_decodes_to_itself_in_opencv_and_pillow(array, kind, level):
    data = png.encode_png(array, kind=kind, level=level)
    info = check_structure(data)
    channels = 1 if array.ndim == 2 else array.shape[2]
    assert (info["width"], info["height"]) == (array.shape[1], array.shape[0])
    assert info["depth"] == 8 * array.dtype.itemsize
    assert info["colour"] == {1: 0, 3: 2, 4: 6}[channels]
    decoded = cv2_decode(data)
    assert decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, expected_cv2(array))
    mode, pixels = pillow_view(array)
    img = pillow_decode(data)
    assert img.mode == mode
    np.testing.assert_array_equal(np.array(img), pixels)


@FAST
@given(array=ARRAYS, filter_name=st.sampled_from(["none", "sub", "up", "avg", "paeth", "adaptive"]))
def test_every_filter_decodes_to_the_array(array, filter_name):
    data = png.build_png(
        array, palette=None, transparency=None, filter_name=filter_name, compress=lambda raw: zlib.compress(raw, 1)
    )
    np.testing.assert_array_equal(cv2_decode(data), expected_cv2(array))
    if filter_name != "adaptive":
        assert filter_types(data) == {["none", "sub", "up", "avg", "paeth"].index(filter_name)}


@st.composite
def palette_masks(draw):
    entries = draw(st.integers(1, 256))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = draw(SHAPES)
    indices = (
        rng.integers(0, entries, shape, dtype=np.uint8)
        if draw(st.booleans())
        else (make_array(seed, shape, None, np.uint8, "blocks").astype(np.uint16) % entries).astype(np.uint8)
    )
    palette = rng.integers(0, 256, 3 * entries).tolist()
    transparency = draw(st.one_of(st.none(), st.integers(0, 255), st.binary(min_size=1, max_size=260)))
    return indices, palette, transparency


def pillow_palette_png(indices: np.ndarray, palette: list[int], transparency) -> bytes:
    """What segaug writes for a palette mask today."""
    img = Image.frombytes("P", (indices.shape[1], indices.shape[0]), indices.tobytes())
    img.putpalette(palette)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", **({} if transparency is None else {"transparency": transparency}))
    return buffer.getvalue()


@FAST
@given(mask=palette_masks(), level=st.sampled_from([None, 1, 9]))
def test_palette_masks_keep_indices_palette_and_transparency(mask, level):
    indices, palette, transparency = mask
    data = png.encode_png(indices, kind="mask", palette=palette, transparency=transparency, level=level)
    info = check_structure(data)
    assert (info["colour"], info["depth"]) == (3, 8)
    assert info["PLTE"] == bytes(palette)
    pillows = check_structure(pillow_palette_png(indices, palette, transparency))
    assert info.get("tRNS") == pillows.get("tRNS"), "tRNS as Pillow writes it"
    img = pillow_decode(data)
    assert img.mode == "P"
    np.testing.assert_array_equal(np.array(img), indices)
    assert img.getpalette() == palette
    assert img.info.get("transparency") == pillow_decode(pillow_palette_png(indices, palette, transparency)).info.get(
        "transparency"
    )
    colours = np.array(palette, np.uint8).reshape(-1, 3)[indices][:, :, ::-1]
    decoded = cv2_decode(data)  # OpenCV expands a palette to colours (and alpha, given tRNS)
    np.testing.assert_array_equal(decoded[:, :, :3], colours)
    if decoded.shape[2] == 4:
        alpha = np.full(256, 255, np.uint8)
        trns = info.get("tRNS", b"")
        alpha[: len(trns)] = np.frombuffer(trns, np.uint8)
        np.testing.assert_array_equal(decoded[:, :, 3], alpha[indices])


# ---------------------------------------------------------------------------------------------
# What is written, and how
# ---------------------------------------------------------------------------------------------


def photo(shape=(120, 160)) -> np.ndarray:
    return make_array(7, shape, 3, np.uint8, "gradient")


def test_no_chunk_beyond_those_opencv_and_pillow_write_today():
    ours = {k for k, _ in read_chunks(png.encode_png(photo()))}
    theirs = {k for k, _ in read_chunks(cv2.imencode(".png", photo())[1].tobytes())}
    assert ours == theirs == {b"IHDR", b"IDAT", b"IEND"}
    indices = make_array(1, (30, 40), None, np.uint8, "blocks") % 4
    ours = [k for k, _ in read_chunks(png.encode_png(indices, palette=[0, 0, 0] * 4, transparency=0))]
    pillows = [k for k, _ in read_chunks(pillow_palette_png(indices, [0, 0, 0] * 4, 0))]
    assert ours == pillows == [b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"]


def test_large_images_split_their_data_into_full_idat_chunks():
    noise = make_array(3, (300, 400), 3, np.uint8, "noise")  # 360 KB that does not compress
    data = png.encode_png(noise)
    sizes = [len(p) for k, p in read_chunks(data) if k == b"IDAT"]
    assert len(sizes) == 6 and sizes[:-1] == [png.IDAT_SIZE] * 5
    np.testing.assert_array_equal(cv2_decode(data), noise)


@pytest.mark.parametrize("kind", sorted(png.FASTEST))
@pytest.mark.parametrize("level", [None, 0, 5, 9])
def test_each_kind_writes_its_measured_filter_at_any_level(kind, level):
    assert filter_types(png.encode_png(photo(), kind=kind, level=level)) == {
        ["none", "sub", "up", "avg", "paeth"].index(png.FASTEST[kind].filter_name)
    }


def test_levels_are_libdeflate_levels():
    array = photo((200, 200))
    idat = {level: check_structure(png.encode_png(array, level=level))["idat"] for level in (0, 1, 9)}
    assert len(idat[0]) > array.size  # level 0 stores
    assert len(idat[9]) < len(idat[1]) < len(idat[0])
    import deflate

    raw = zlib.decompress(idat[9])
    assert idat[9] == deflate.zlib_compress(raw, 9)
    assert check_structure(png.encode_png(array))["idat"] == deflate.zlib_compress(raw, png.FASTEST["image"].level)


def test_the_encoder_is_named_with_its_version():
    from importlib.metadata import version

    name, package = png.ENCODER
    assert (name, package) == ("libdeflate", f"deflate {version('deflate')}")


# ---------------------------------------------------------------------------------------------
# Same bytes every time
# ---------------------------------------------------------------------------------------------

DETERMINISM_SCRIPT = """
import hashlib, sys
import numpy as np
sys.path.insert(0, "tests")
from test_png import determinism_inputs
from segaug_cli import png
for name, (array, options) in determinism_inputs().items():
    print(name, hashlib.sha256(png.encode_png(array, **options)).hexdigest())
"""


def arithmetic(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A textured array from integer arithmetic alone, the same under any numpy (unlike its generators)."""
    index = np.arange(np.prod(shape), dtype=np.uint64)
    return (
        ((index * 2654435761 >> np.uint64(7)) % np.uint64(np.iinfo(dtype).max // 5) + index // 3)
        .astype(dtype)
        .reshape(shape)
    )


def determinism_inputs() -> dict[str, tuple[np.ndarray, dict]]:
    indices = arithmetic((61, 47), np.uint8) // 32
    return {
        "photo": (arithmetic((61, 47, 3), np.uint8), {}),
        "bgra16": (arithmetic((33, 29, 4), np.uint16), {"level": 6}),
        "mask": (indices, {"kind": "mask"}),
        "palette": (indices, {"kind": "mask", "palette": list(range(27)), "transparency": b"\x00\x80"}),
    }


def hashes() -> str:
    return "".join(
        f"{name} {hashlib.sha256(png.encode_png(a, **o)).hexdigest()}\n"
        for name, (a, o) in determinism_inputs().items()
    )


def test_same_bytes_twice_and_in_another_process():
    assert hashes() == hashes()
    run = subprocess.run(
        [sys.executable, "-c", DETERMINISM_SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert run.stdout == hashes()


def test_bytes_are_pinned_for_the_pinned_libdeflate():
    # Changes only with the deflate package (constraints.txt) or a deliberate change of settings: then
    # the outputs of every dataset change too, and so must tests/golden.
    pinned = hashlib.sha256(hashes().encode()).hexdigest()
    assert pinned == "f6822801ca64aa24d38cab6e1608c97a1bba2c4a367b920ee6304d4955984dfa", pinned


# ---------------------------------------------------------------------------------------------
# What a PNG cannot hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: png.encode_png(np.zeros((2, 2), np.float32)), "a PNG holds uint8 or uint16 samples, not float32"),
        (
            lambda: png.encode_png(np.zeros((2, 2, 2), np.uint8)),
            "a PNG holds (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, not (2, 2, 2)",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2, 5), np.uint8)),
            "a PNG holds (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, not (2, 2, 5)",
        ),
        (
            lambda: png.encode_png(np.zeros((0, 2), np.uint8)),
            "a PNG holds (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, not (0, 2)",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2, 3), np.uint8), palette=[0, 0, 0]),
            "palette indices are (H, W) uint8, not (2, 2, 3) uint8",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2), np.uint8), palette=[0, 0]),
            "a palette holds 1 to 256 RGB entries, not 2 values",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2), np.uint8), palette=[0] * 771),
            "a palette holds 1 to 256 RGB entries, not 771 values",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2), np.uint8), palette=[0, 0, 0], transparency=256),
            "a transparent palette index is 0-255, not 256",
        ),
        (
            lambda: png.encode_png(np.zeros((2, 2), np.uint8), transparency=0),
            "transparency is only written with a palette",
        ),
        (lambda: png.encode_png(np.zeros((2, 2), np.uint8), level=10), "a PNG compression level is 0-9, not 10"),
        (lambda: png.encode_png(np.zeros((2, 2), np.uint8), level=True), "a PNG compression level is 0-9, not True"),
        (lambda: png.encode_png(np.zeros((2, 2), np.uint8), kind="photo"), "kind is image or mask, not 'photo'"),
        (
            lambda: png.filter_rows(np.zeros((2, 2), np.uint8), 1, "best"),
            "unknown PNG filter 'best'; known: adaptive, none, sub, up, avg, paeth",
        ),
    ],
)
def test_what_a_png_cannot_hold_is_a_value_error(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == message
