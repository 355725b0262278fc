"""A PNG writer: rows filtered with numpy, deflated with libdeflate, no I/O.

OpenCV's PNG encoder runs libpng over zlib, which spends most of its time in zlib's deflate. This
module writes the same kind of file (signature, IHDR, PLTE and tRNS for palette masks, IDAT, IEND,
nothing else) but filters the rows in numpy and compresses them with libdeflate, through the
``deflate`` package. On 480x360 CamVid files that takes half the time of ``cv2.imencode`` at its
defaults for photos, at 0.92x the bytes (benchmarks/png_encoders.py measures it).

Arrays are taken as OpenCV holds them, so this is a drop-in for ``cv2.imencode(".png", array)``:
3 channels are BGR and 4 are BGRA, written to the file as RGB and RGBA.

The bytes are a pure function of the array, the palette, the transparency, the kind, the level
and the libdeflate version (``ENCODER``). That is why the compressor is libdeflate and not ISA-L,
which is faster still: libdeflate's deflate is portable C whose output does not depend on the CPU,
whereas ISA-L hashes with the SSE4.2 CRC instruction where it has one and with a multiplication
elsewhere, so a dataset written on x86-64 would not check byte-identical on an ARM machine.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import deflate
import numpy as np

#: The compressor the bytes depend on, for records of how a file was made: (name, package version).
ENCODER = ("libdeflate", f"deflate {deflate.__version__}")  # not importlib.metadata: ~10 ms to import

SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Bytes of compressed data per IDAT chunk: larger chunks only save 12 bytes a chunk.
IDAT_SIZE = 1 << 16

_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: grey, RGB, RGBA
_PALETTE_COLOUR_TYPE = 3
_FILTER_TYPES = {"none": 0, "sub": 1, "up": 2, "avg": 3, "paeth": 4}


@dataclass(frozen=True)
class Settings:
    """How one kind of file is written: the row filter and libdeflate's level."""

    filter_name: str
    level: int


#: The fastest settings measured per kind (benchmarks/png_encoders.py, 480x360 CamVid, ISBI):
#: photos (colour, grey, 16-bit) at UP and level 1 take 0.50x the time of cv2.imencode's defaults
#: at 0.92x the bytes; label masks at UP and level 2 take 0.78x the time at 0.65x the bytes (level
#: 1 is slower on them, level 2 is 1.5x slower than level 1 on photos: hence one setting per kind).
FASTEST = {"image": Settings("up", 1), "mask": Settings("up", 2)}


def encode_png(
    array: np.ndarray,
    *,
    kind: str = "image",
    palette: list[int] | bytes | None = None,
    transparency: int | bytes | None = None,
    level: int | None = None,
) -> bytes:
    """Encode an OpenCV-layout array as a PNG file.

    Args:
        array: (H, W) or (H, W, 1) grey, (H, W, 3) BGR or (H, W, 4) BGRA; uint8 or uint16.
            With ``palette``: (H, W) uint8 palette indices.
        kind: ``image`` or ``mask``: which of the ``FASTEST`` settings to use (its filter is used
            with an explicit level too).
        palette: flat ``[r, g, b, r, g, b, ...]`` of 1 to 256 entries (what Pillow's
            ``getpalette()`` gives); written as PLTE, and the file is an indexed-colour PNG.
        transparency: with a palette only, as Pillow's ``info["transparency"]`` holds it: the alpha
            of each entry (bytes) or the index of the one fully transparent entry (int); written
            as tRNS, cut to the palette's length as Pillow does.
        level: 0-9, libdeflate's level of the same number (0 stores, 1 is the fastest, 9 the
            smallest of the zlib-like range; libdeflate's 10-12 are not offered). None: the kind's
            ``FASTEST`` level.

    Returns:
        The PNG file's bytes.

    Raises:
        ValueError: an array, kind, palette, transparency or level a PNG cannot hold.
    """
    if kind not in FASTEST:
        raise ValueError(f"kind is image or mask, not {kind!r}")
    settings = FASTEST[kind]
    deflate_level = settings.level if level is None else _checked_level(level)
    return build_png(
        array,
        palette=palette,
        transparency=transparency,
        filter_name=settings.filter_name,
        compress=lambda data: deflate.zlib_compress(data, deflate_level),
    )


def build_png(
    array: np.ndarray,
    *,
    palette: list[int] | bytes | None,
    transparency: int | bytes | None,
    filter_name: str,
    compress: Callable[[bytes], bytes],
) -> bytes:
    """Assemble a PNG from an array with the given row filter and zlib-stream compressor.

    ``encode_png`` is this with the measured choices; the benchmark and tests call it with others.

    Raises:
        ValueError: as ``encode_png``, or an unknown ``filter_name``.
    """
    rows, bpp, colour_type = _rows(array, palette)
    height, width = array.shape[:2]
    bit_depth = 8 * array.dtype.itemsize
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", ihdr)]
    if palette is not None:
        plte = _palette_bytes(palette)
        chunks.append(_chunk(b"PLTE", plte))
        trns = _transparency_bytes(transparency, len(plte) // 3)
        if trns:
            chunks.append(_chunk(b"tRNS", trns))
    elif transparency is not None:
        raise ValueError("transparency is only written with a palette")
    data = compress(filter_rows(rows, bpp, filter_name))
    chunks.extend(_chunk(b"IDAT", data[i : i + IDAT_SIZE]) for i in range(0, len(data), IDAT_SIZE))
    chunks.append(_chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def filter_rows(rows: np.ndarray, bpp: int, filter_name: str) -> np.ndarray:
    """PNG scanlines: each row's filter-type byte, then its filtered bytes.

    Args:
        rows: (H, N) uint8, each row's bytes in file order.
        bpp: bytes per pixel, the distance of the "left" byte the filters refer to.
        filter_name: one of none, sub, up, avg, paeth (the same filter on every row), or adaptive
            (per row, the filter whose bytes, read as signed, sum to the least magnitude: libpng's
            heuristic).

    Returns:
        (H, 1 + N) uint8, ready to deflate.
    """
    if filter_name == "adaptive":
        return _adaptive(rows, bpp)
    if filter_name not in _FILTER_TYPES:
        raise ValueError(f"unknown PNG filter {filter_name!r}; known: adaptive, {', '.join(_FILTER_TYPES)}")
    out = np.empty((rows.shape[0], 1 + rows.shape[1]), dtype=np.uint8)
    out[:, 0] = _FILTER_TYPES[filter_name]
    body = out[:, 1:]
    if filter_name == "none":
        body[...] = rows
    elif filter_name == "sub":  # uint8 arithmetic wraps modulo 256, as PNG filters do
        body[:, :bpp] = rows[:, :bpp]
        np.subtract(rows[:, bpp:], rows[:, :-bpp], out=body[:, bpp:])
    elif filter_name == "up":
        body[:1] = rows[:1]
        np.subtract(rows[1:], rows[:-1], out=body[1:])
    else:
        left, up, up_left = _neighbours(rows, bpp)
        predictor = _average(left, up) if filter_name == "avg" else _paeth(left, up, up_left)
        np.subtract(rows, predictor, out=body)
    return out


def _adaptive(rows: np.ndarray, bpp: int) -> np.ndarray:
    """Per row, the filtered row of least sum of absolute signed bytes."""
    candidates = np.stack([filter_rows(rows, bpp, name) for name in _FILTER_TYPES])
    cost = np.abs(candidates[:, :, 1:].view(np.int8).astype(np.int32)).sum(axis=2)
    best = cost.argmin(axis=0)
    return candidates[best, np.arange(rows.shape[0])]


def _rows(array: np.ndarray, palette: object) -> tuple[np.ndarray, int, int]:
    """The array as (H, N) rows of bytes in the file's order, its bytes per pixel and colour type."""
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"a PNG holds uint8 or uint16 samples, not {array.dtype}")
    channels = 1 if array.ndim == 2 else array.shape[2] if array.ndim == 3 else 0
    if channels not in _COLOUR_TYPES or 0 in array.shape:
        raise ValueError(f"a PNG holds (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays, not {array.shape}")
    if palette is not None and (array.dtype != np.uint8 or channels != 1):
        raise ValueError(f"palette indices are (H, W) uint8, not {array.shape} {array.dtype}")
    if channels >= 3:  # OpenCV's BGR[A] -> the file's RGB[A]; cvtColor is a SIMD pass, numpy's take is not
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB if channels == 3 else cv2.COLOR_BGRA2RGBA)
    if array.dtype == np.uint16:  # PNG samples are big-endian
        array = np.ascontiguousarray(array, dtype=">u2")
    rows = np.ascontiguousarray(array).view(np.uint8).reshape(array.shape[0], -1)
    colour_type = _PALETTE_COLOUR_TYPE if palette is not None else _COLOUR_TYPES[channels]
    return rows, channels * array.dtype.itemsize, colour_type


def _palette_bytes(palette: list[int] | bytes) -> bytes:
    plte = bytes(palette)
    if not 3 <= len(plte) <= 768 or len(plte) % 3:
        raise ValueError(f"a palette holds 1 to 256 RGB entries, not {len(plte)} values")
    return plte


def _transparency_bytes(transparency: int | bytes | None, entries: int) -> bytes:
    """tRNS as Pillow writes it: alpha per entry, an int meaning that one index is transparent."""
    if transparency is None:
        return b""
    if isinstance(transparency, int):
        if not 0 <= transparency <= 255:
            raise ValueError(f"a transparent palette index is 0-255, not {transparency}")
        transparency = b"\xff" * transparency + b"\x00"
    return bytes(transparency)[:entries]


def _neighbours(rows: np.ndarray, bpp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The left, upper and upper-left byte of every byte, zero outside the image."""
    padded = np.zeros((rows.shape[0] + 1, rows.shape[1] + bpp), dtype=np.uint8)
    padded[1:, bpp:] = rows
    return padded[1:, :-bpp], padded[:-1, bpp:], padded[:-1, :-bpp]


def _average(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    return ((left.astype(np.uint16) + up) >> 1).astype(np.uint8)


def _paeth(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """The PNG Paeth predictor: of left, up, upper-left, the nearest to left + up - upper-left."""
    a, b, c = (x.astype(np.int16) for x in (left, up, up_left))
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    return np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))


def _checked_level(level: int) -> int:
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
        raise ValueError(f"a PNG compression level is 0-9, not {level!r}")
    return level


def _chunk(kind: bytes, payload: bytes) -> bytes:
    """Length, type, data and the CRC-32 of type and data (libdeflate's, many times zlib's speed)."""
    crc = deflate.crc32(payload, deflate.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
