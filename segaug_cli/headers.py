"""Image headers read without decoding: size, channels and bit depth of a PNG (IHDR), a JPEG (SOF) and
a TIFF (the first IFD's tags), and whether the file ends where its format says (truncated or not).

Standard library only: ``validate`` reads every pair's header this way, and the worker checks an
image's size against the recipe's pixel limit before any decoder allocates it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import PairError

HEAD = 64  # bytes read from the start of a file: a PNG's IHDR; JPEG segments and TIFF tags are read where they are
TAIL = 16  # bytes read from its end: a PNG's IEND chunk, a JPEG's end-of-image marker
_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8: the integer tags read here


@dataclass(frozen=True)
class Header:
    """What a file's header says: ``width`` x ``height`` pixels of ``channels`` samples of ``depth`` bits."""

    kind: str  # "png", "jpeg" or "tiff"
    width: int
    height: int
    channels: int
    depth: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


class _Bytes:
    """Random access to a file's bytes: held whole, or read from an open file on demand."""

    def __init__(self, data: bytes | None = None, fh=None):
        self.data, self.fh = data, fh
        self.length = len(data) if data is not None else fh.seek(0, 2)

    def read_at(self, offset: int, size: int) -> bytes:
        if self.data is not None:
            return self.data[offset : offset + size]
        self.fh.seek(offset)
        return bytes(self.fh.read(size))


def read_header(source: _Bytes, name: str, whole: bool = True) -> Header | None:
    """The header of a file.

    Args:
        whole: also refuse a file that ends before its format says it does (truncated).
    Returns:
        None for a format this module does not read (the decoder then has the last word).
    Raises:
        PairError: a PNG, JPEG or TIFF whose header is cut short or broken, or (``whole``) which ends early.
    """
    if source.length == 0:
        raise PairError(f"{name}: file is empty")
    head = source.read_at(0, HEAD)
    tail = source.read_at(max(0, source.length - TAIL), TAIL) if whole else None
    if head.startswith(_PNG):
        return _png(head, tail, name)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(source, tail, name)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(source, name, whole)
    return None


def header_of_file(path: str | Path, name: str) -> Header | None:
    """``read_header`` of a local file, reading only its header (and last bytes)."""
    try:
        with open(path, "rb") as fh:
            return read_header(_Bytes(fh=fh), name)
    except OSError as exc:
        raise PairError(f"{name}: cannot be read ({exc.strerror or exc})") from None


def header_of_bytes(data: bytes, name: str, whole: bool = True) -> Header | None:
    """``read_header`` of a file held whole."""
    return read_header(_Bytes(data), name, whole)


def size_of(data: bytes, name: str) -> Header | None:
    """The header of a file held whole, or None where it cannot be read (the decoder says why)."""
    try:
        return header_of_bytes(data, name, whole=False)
    except PairError:
        return None


def check_pixels(header: Header | None, limit: int, name: str) -> None:
    """Refuse an image of more than ``limit`` pixels, before any decoder allocates it.

    Raises:
        PairError: the size and the limit, and the recipe key that sets it.
    """
    if header is not None and header.pixels > limit:
        raise PairError(
            f"{name}: {header.size} is {header.pixels:,} pixels, over the limit of {limit:,} "
            "(inputs.max_pixels in the recipe sets it)"
        )


def limited(read: Callable[[str], bytes], limit: int) -> Callable[[str], bytes]:
    """``read``, each file's size then checked against ``limit`` (``check_pixels``) before any decoder
    sees it; a header this module cannot read is left to the decoder."""

    def checked(name: str) -> bytes:
        data = read(name)
        check_pixels(size_of(data, name), limit, name)
        return data

    return checked


def _truncated(name: str) -> PairError:
    return PairError(f"{name}: truncated (the file ends before its image data does)")


def _png(head: bytes, tail: bytes | None, name: str) -> Header:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise PairError(f"{name}: not a readable PNG (no complete IHDR header)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if width == 0 or height == 0 or colour not in _PNG_CHANNELS:
        raise PairError(f"{name}: not a readable PNG (IHDR: {width}x{height}, colour type {colour})")
    if tail is not None and not tail.endswith(_PNG_END):
        raise _truncated(name)
    return Header("png", width, height, _PNG_CHANNELS[colour], depth)


def _jpeg(source: _Bytes, tail: bytes | None, name: str) -> Header:
    """Walk the segments from the start of image to the first frame header (SOF), reading 10 bytes each."""
    at = 2
    while at + 4 <= source.length:
        segment = source.read_at(at, 10)
        if segment[0] != 0xFF:
            raise PairError(f"{name}: not a readable JPEG (no marker at byte {at})")
        if segment[1] == 0xFF:  # fill byte
            at += 1
            continue
        if segment[1] in _JPEG_SOF and len(segment) == 10:
            depth, height, width, channels = struct.unpack(">BHHB", segment[4:10])
            if width == 0 or height == 0:
                raise PairError(f"{name}: not a readable JPEG (SOF: {width}x{height})")
            if tail is not None and b"\xff\xd9" not in tail:
                raise _truncated(name)
            return Header("jpeg", width, height, channels, depth)
        at += 2 + struct.unpack(">H", segment[2:4])[0]
    raise PairError(f"{name}: not a readable JPEG (no frame header)")


def _tiff(source: _Bytes, name: str, whole: bool) -> Header:
    head = source.read_at(0, 8)
    order = "<" if head[:2] == b"II" else ">"
    try:
        (first,) = struct.unpack(order + "I", head[4:8])
        (count,) = struct.unpack(order + "H", source.read_at(first, 2))
        entries = source.read_at(first + 2, 12 * count)
        tags = {}
        for i in range(count):
            entry = entries[12 * i : 12 * i + 12]
            tag, kind, n = struct.unpack(order + "HHI", entry[:8])
            tags[tag] = _tiff_values(source, order, kind, n, entry[8:12])
    except struct.error:
        raise PairError(f"{name}: not a readable TIFF (its header is cut short)") from None
    if 256 not in tags or 257 not in tags:
        raise PairError(f"{name}: not a readable TIFF (no ImageWidth or ImageLength tag)")
    offsets, counts = tags.get(273) or tags.get(324) or [], tags.get(279) or tags.get(325) or []
    if whole and any(o + c > source.length for o, c in zip(offsets, counts, strict=False)):
        raise _truncated(name)
    channels = (tags.get(277) or [1])[0]
    depth = (tags.get(258) or [1])[0]
    return Header("tiff", tags[256][0], tags[257][0], channels, depth)


def _tiff_values(source: _Bytes, order: str, kind: int, n: int, field: bytes) -> list[int]:
    """An IFD entry's integers (empty for a type this module does not read), inline or at their offset."""
    if kind not in _TIFF_TYPES or n > 1 << 20:
        return []
    code, size = _TIFF_TYPES[kind]
    raw = field[: n * size] if n * size <= 4 else source.read_at(struct.unpack(order + "I", field)[0], n * size)
    return list(struct.unpack(order + code * n, raw))  # struct.error when cut short
