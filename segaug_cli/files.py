"""Image and mask decoding/encoding, and atomic writes. The only module that touches pixels on disk."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import PairError

# Extensions OpenCV's imread understands (compared lower-case).
IMAGE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .jpe .bmp .dib .tif .tiff .webp .jp2 .pbm .pgm .ppm .pnm .pxm .sr .ras .exr .hdr .pic".split()
)
TEMP_SUFFIX = ".segaug-tmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Mask:
    """A label mask: (H, W) uint8/uint16 class indices, and the PNG palette it came with, if any."""

    labels: np.ndarray
    palette: list[int] | None = None


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PairError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def is_palette_png(data: bytes) -> bool:
    """True for an indexed-colour PNG (IHDR colour type 3), whose pixels are palette indices."""
    return data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 25 and data[25] == 3


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode an image as stored: (H, W) grey or (H, W, 3|4) BGR[A], uint8 or uint16."""
    image = _imdecode(data, name)
    if image.dtype not in (np.uint8, np.uint16):
        raise PairError(f"{name}: {image.dtype} images are not supported (uint8 and uint16 are)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise PairError(f"{name}: images with {image.shape[2]} channels are not supported (1, 3 or 4 are)")
    return image


def decode_mask(data: bytes, name: str) -> Mask:
    """Decode a single-channel label mask; palette PNGs give their indices, never their colours."""
    if is_palette_png(data):
        return _decode_palette_png(data, name)
    labels = _imdecode(data, name)
    if labels.ndim == 3 and labels.shape[2] == 1:
        labels = labels[:, :, 0]
    if labels.ndim != 2:
        raise PairError(f"{name}: mask has {labels.shape[2]} channels; a label mask must have one")
    if labels.dtype not in (np.uint8, np.uint16):
        raise PairError(f"{name}: {labels.dtype} masks are not supported (uint8 and uint16 labels are)")
    return Mask(labels)


def decode_pixels(data: bytes, name: str) -> np.ndarray:
    """The stored values of any image or mask file (palette PNGs as indices), for comparisons."""
    return decode_mask(data, name).labels if is_palette_png(data) else _imdecode(data, name)


def _imdecode(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise PairError(f"{name}: file is empty")
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        array = None
    if array is None:
        raise PairError(f"{name}: not a readable image (corrupt, truncated or an unsupported format)")
    return array


def _decode_palette_png(data: bytes, name: str) -> Mask:
    from PIL import Image  # only palette masks need Pillow

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return Mask(np.array(img, dtype=np.uint8), img.getpalette())
    except (OSError, ValueError, SyntaxError) as exc:
        raise PairError(f"{name}: not a readable palette PNG ({exc})") from None


def image_extension(source_name: str, image_format: str) -> str:
    """The output extension: the source's own for ``same``, else the format's."""
    return Path(source_name).suffix if image_format == "same" else f".{image_format}"


def encode_image(image: np.ndarray, extension: str, jpeg_quality: int, png_compression: int | None) -> bytes:
    """Encode an image for ``extension``; PNG uses OpenCV's fast default unless a level is given."""
    ext = extension.lower()
    if ext in (".jpg", ".jpeg", ".jpe") and image.dtype != np.uint8:
        raise PairError(f"a {image.dtype} image cannot be stored as JPEG (8 bits); use image_format png or tif")
    params: list[int] = []
    if ext in (".jpg", ".jpeg", ".jpe"):
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    elif ext == ".png" and png_compression is not None:
        params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression]
    return _imencode(ext, image, params)


def encode_mask(labels: np.ndarray, palette: list[int] | None, mask_format: str,
                png_compression: int | None) -> bytes:
    """Encode a label mask losslessly; a palette mask is written back with its palette."""
    if palette is not None and mask_format == "png":
        from PIL import Image

        img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels).tobytes())
        img.putpalette(palette)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG", compress_level=6 if png_compression is None else png_compression)
        return buffer.getvalue()
    params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression] if png_compression is not None else []
    return _imencode(f".{mask_format}", labels, params if mask_format == "png" else [])


def _imencode(ext: str, array: np.ndarray, params: list[int]) -> bytes:
    try:
        ok, buffer = cv2.imencode(ext, array, params)
    except cv2.error as exc:
        raise PairError(f"cannot encode as {ext}: {str(exc).strip().splitlines()[-1]}") from None
    if not ok:
        raise PairError(f"cannot encode a {array.dtype} image with shape {array.shape} as {ext}")
    return buffer.tobytes()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A crash or kill leaves either the old file or the new one under the final name, never a part.
    Leftover temporary files end in TEMP_SUFFIX and are cleaned up by the next run.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
