"""Image and mask decoding and encoding: the only module that turns bytes into pixels and back.

Arrays follow OpenCV's conventions everywhere in segaug: (H, W) for one channel, (H, W, C) otherwise,
colour channels in BGR(A) order for C in (3, 4), file order for C > 4 (multispectral).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import PairError
from .extensions import JPEG_EXTENSIONS, TIFF_EXTENSIONS

IMAGE_DTYPES = (np.uint8, np.uint16, np.float32)
MASK_DTYPES = (np.uint8, np.uint16)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EXIF_ORIENTATION = 0x0112
_ROWS_PER_BAND = 256  # channel swaps of large TIFFs work on row bands, so their temporaries stay small

# OpenCV logs decoder complaints ("PNG input buffer is incomplete") straight to stderr, around the one
# line segaug itself gives per unreadable file; keep it silent (this also runs in every pool worker).
if hasattr(cv2, "utils") and hasattr(cv2.utils, "logging"):
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass(frozen=True)
class Mask:
    """A label mask: (H, W) uint8/uint16 class indices, or (H, W, 3) BGR class colours.

    ``palette`` and ``transparency`` are kept from a palette PNG so it can be written back as one.
    """

    labels: np.ndarray
    palette: list[int] | None = None
    transparency: bytes | int | None = None


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PairError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def is_palette_png(data: bytes) -> bool:
    """True for an indexed-colour PNG (IHDR colour type 3), whose pixels are palette indices."""
    return data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) > 25 and data[25] == 3


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode an image as stored (no EXIF rotation: see ``exif_orientation``).

    Returns:
        (H, W) or (H, W, C) uint8, uint16 or float32 array; C in 3, 4 is BGR[A], C > 4 file order.
    """
    image = _decode(data, name)
    if image.dtype not in IMAGE_DTYPES:
        raise PairError(f"{name}: {image.dtype} images are not supported (uint8, uint16 and float32 are)")
    return image


def decode_mask(data: bytes, name: str) -> Mask:
    """Decode a label mask; palette PNGs give their indices, never their colours."""
    if is_palette_png(data):
        return _decode_palette_png(data, name)
    labels = _decode(data, name)
    if labels.dtype not in MASK_DTYPES:
        raise PairError(f"{name}: {labels.dtype} masks are not supported (uint8 and uint16 labels are)")
    if labels.ndim == 3 and labels.shape[2] == 4:
        raise PairError(f"{name}: mask has an alpha channel; a mask holds labels (1 channel) or class colours (3)")
    if labels.ndim == 3 and labels.shape[2] != 3:
        raise PairError(f"{name}: mask has {labels.shape[2]} channels; a mask holds labels (1) or colours (3)")
    return Mask(labels)


def decode_pixels(data: bytes, name: str) -> np.ndarray:
    """The stored values of any image or mask file (palette PNGs as indices), for comparisons."""
    return decode_mask(data, name).labels if is_palette_png(data) else _decode(data, name)


def _decode(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise PairError(f"{name}: file is empty")
    array = _decode_tiff(data, name) if data[:4] in _TIFF_SIGNATURES else None
    if array is None:
        array = _imdecode(data)
    if array is None:
        raise PairError(f"{name}: not a readable image (corrupt, truncated or an unsupported format)")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or min(array.shape[:2]) == 0:
        raise PairError(f"{name}: unsupported image shape {array.shape}")
    return array


def _imdecode(data: bytes) -> np.ndarray | None:
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def _decode_tiff(data: bytes, name: str) -> np.ndarray | None:
    """TIFF through tifffile: OpenCV misreads TIFFs of more than 4 channels (wrong shape, no error).

    Returns None when tifffile cannot decode it (e.g. LZW without imagecodecs): OpenCV then tries.
    """
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            if len(tif.pages) > 1:
                raise PairError(f"{name}: multi-page TIFF stacks are not supported; store one image per file")
            page = tif.pages[0]
            array = page.asarray()
            rgb = page.photometric == tifffile.PHOTOMETRIC.RGB
    except PairError:
        raise
    except Exception:  # tifffile raises many types for what it cannot read; OpenCV gets a try
        return None
    if array.ndim == 3 and array.shape[0] < array.shape[2] and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        array = np.moveaxis(array, 0, -1)
    array = np.ascontiguousarray(array)
    if rgb and array.ndim == 3 and array.shape[2] in (3, 4):
        array = _rgb_to_bgr(array)
    return array


def _rgb_to_bgr(array: np.ndarray) -> np.ndarray:
    """Swap red and blue in place, in bands of rows: OpenCV converts into a buffer of its own, so a
    whole 6000x6000 RGB orthophoto at once costs 108 MB more at a worker's peak (measured); a band,
    a few MB. tifffile hands over an array of its own, so nothing else sees the swap."""
    if array.dtype not in IMAGE_DTYPES or not array.flags.writeable:
        return np.ascontiguousarray(array[..., [2, 1, 0, 3][: array.shape[2]]])
    code = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    for top in range(0, array.shape[0], _ROWS_PER_BAND):
        band = array[top : top + _ROWS_PER_BAND]
        band[...] = cv2.cvtColor(band, code)
    return array


def _decode_palette_png(data: bytes, name: str) -> Mask:
    from PIL import Image  # only palette masks need Pillow

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode != "P":
                raise ValueError(f"mode {img.mode}")
            return Mask(np.array(img, dtype=np.uint8), img.getpalette(), img.info.get("transparency"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # bomb: a huge IHDR
        raise PairError(f"{name}: not a readable palette PNG ({exc})") from None


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of a JPEG, 1 when absent. Reads only the header."""
    if data[:2] != b"\xff\xd8" or b"Exif" not in data[:65536]:
        return 1
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is not worth failing the pair: use the pixels as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def decode_pair(image_bytes: bytes, mask_bytes: bytes, image_name: str, mask_name: str) -> tuple[np.ndarray, Mask]:
    """Decode an image and its mask, the image as the mask was drawn on it (see ``as_annotated``).

    Raises:
        PairError: either file cannot be decoded, or their sizes do not match.
    """
    stored = decode_image(image_bytes, image_name)
    mask = decode_mask(mask_bytes, mask_name)
    return as_annotated(stored, mask, exif_orientation(image_bytes), image_name, mask_name), mask


def decode_annotated_image(image_bytes: bytes, image_name: str, mask: Mask, mask_name: str) -> np.ndarray:
    """``decode_pair`` for a caller that decoded the mask already (to count its classes, say).

    Raises:
        PairError: the image cannot be decoded, or its size does not match the mask's.
    """
    stored = decode_image(image_bytes, image_name)
    return as_annotated(stored, mask, exif_orientation(image_bytes), image_name, mask_name)


def as_annotated(stored: np.ndarray, mask: Mask, orientation: int, image_name: str, mask_name: str) -> np.ndarray:
    """The image as its mask was drawn on: as displayed (EXIF orientation applied), or as stored
    when only the stored size matches the mask. Any other size is a failed pair."""
    displayed = apply_orientation(stored, orientation)
    target = mask.labels.shape[:2]
    if displayed.shape[:2] == target:
        return displayed
    if stored.shape[:2] == target:
        return stored
    if orientation == 1:
        raise PairError(f"{mask_name} is {_size(mask.labels)} but {image_name} is {_size(stored)}")
    raise PairError(
        f"{mask_name} is {_size(mask.labels)} but {image_name} is {_size(displayed)} as displayed "
        f"(EXIF orientation {orientation}) and {_size(stored)} as stored"
    )


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as a viewer displays it, for an EXIF orientation value."""
    transforms = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(transforms[orientation](image))


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


class OutputSettings(Protocol):
    """What encoding reads of a recipe's ``output`` (``recipe.Output``; codecs does not import the recipe)."""

    @property
    def jpeg_quality(self) -> int: ...

    @property
    def png_compression(self) -> int | None: ...

    @property
    def png(self) -> str: ...


def encode_image(image: np.ndarray, extension: str, output: OutputSettings) -> bytes:
    """Encode an image for ``extension``: PNG through segaug's own writer (``png.encode_png``), or an
    8-bit RGB or RGBA image through fpng when ``output.png`` is ``fast``."""
    ext = extension.lower()
    if ext in TIFF_EXTENSIONS:
        return _encode_tiff(image)
    if ext in JPEG_EXTENSIONS and image.dtype != np.uint8:
        raise PairError(f"a {image.dtype} image cannot be stored as JPEG (8 bits); use image_format png or tif")
    if image.dtype == np.float32:
        raise PairError(f"a float32 image cannot be stored as {ext}; use image_format tif")
    if image.ndim == 3 and image.shape[2] > 4:
        raise PairError(f"an image of {image.shape[2]} channels cannot be stored as {ext}; use image_format tif")
    colour8 = image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4)
    if ext == ".png" and output.png == "fast" and colour8:
        return _encode_fast_png(image)
    if ext == ".png":
        return _encode_png(image, "image", output.png_compression)
    params = [cv2.IMWRITE_JPEG_QUALITY, output.jpeg_quality] if ext in JPEG_EXTENSIONS else []
    return _imencode(ext, image, params)


def encode_mask(mask: Mask, labels: np.ndarray, mask_format: str, png_compression: int | None) -> bytes:
    """Encode ``labels`` losslessly, as a palette PNG (the source's PLTE and tRNS) when ``mask`` was one."""
    if mask_format == "tif":
        return _encode_tiff(labels)
    if mask.palette is not None:
        return _encode_png(labels, "mask", png_compression, palette_for(mask.palette, labels), mask.transparency)
    return _encode_png(labels, "mask", png_compression)


ADDED_COLOUR = (255, 255, 255)  # the colour of palette entries added for indices beyond a mask's palette


def palette_for(palette: list[int], labels: np.ndarray) -> list[int]:
    """The palette, extended to cover every index in ``labels``: a fill such as ``mask_fill: 255`` on a
    mask of a 4-entry palette would otherwise be an index beyond its PLTE, which the PNG specification
    forbids (readers draw it black, or refuse the file). Added entries are white (``ADDED_COLOUR``)."""
    entries = len(palette) // 3
    highest = int(labels.max()) if labels.size else 0
    if highest < entries:
        return palette
    return list(palette[: entries * 3]) + list(ADDED_COLOUR) * (highest + 1 - entries)


def _encode_png(
    array: np.ndarray,
    kind: str,
    level: int | None,
    palette: list[int] | None = None,
    transparency: bytes | int | None = None,
) -> bytes:
    """Every PNG segaug writes: its own writer on libdeflate, whose bytes do not depend on the CPU.

    ``level`` None: the fastest settings measured for the kind (``png.FASTEST``).
    """
    png = png_writer()
    try:
        return png.encode_png(array, kind=kind, palette=palette, transparency=transparency, level=level)
    except ValueError as exc:
        raise PairError(f"cannot encode as .png: {exc}") from None


def _encode_fast_png(image: np.ndarray) -> bytes:
    """fpng's single-pass encoder: its bytes are the same on every CPU (SSE4.1 or not, x86 or aarch64;
    docs/guarantees.md), and it writes a photo about three times faster than libdeflate's fastest level."""
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB if image.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    return bytes(fast_png_writer().encode_ndarray(rgb))


def fast_png_writer():
    """fpng's extension module, or ``PngWriterMissing`` where it cannot be imported."""
    try:
        from fpng import fpng_ext
    except ImportError as exc:
        raise PngWriterMissing(
            f"cannot write PNG with fpng (output.png: fast), which cannot be imported here ({exc}); install it "
            "(pip install -c constraints.txt fpng), or set output.png: small to write every PNG with libdeflate"
        ) from None
    return fpng_ext


class PngWriterMissing(OSError):
    """The PNG compressor cannot be loaded: a run stops at its first PNG with this one line.

    An OSError because, like a full disk, it keeps every pair from being written: the worker stops
    the run with one line (exit code 1) rather than failing each pair with the same reason.
    """


def png_writer():
    """The ``png`` module, or ``PngWriterMissing`` (no ``deflate`` wheel for this platform, say).

    There is no fallback to another encoder on purpose: it would write other bytes than every other
    install of the same versions, and ``check`` would then report a correct dataset as altered.
    """
    try:
        from . import png
    except ImportError as exc:
        raise PngWriterMissing(
            f"cannot write PNG: segaug writes it with libdeflate through the 'deflate' package, which cannot "
            f"be imported here ({exc}); install it (pip install -c constraints.txt deflate), building it from "
            "source where no wheel exists for this platform"
        ) from None
    return png


def png_encoder() -> str:
    """Which PNG writers and compressors decide PNG bytes, for segaug.json and the fingerprint: libdeflate
    (masks, and every PNG with output.png: small) and fpng (8-bit colour images with output.png: fast)."""
    try:
        name, package = png_writer().ENCODER
        deflater = f"segaug's writer on {name} ({package})"
    except PngWriterMissing:
        deflater = "segaug's writer, libdeflate missing"
    try:
        import fpng  # its own version, not importlib.metadata's: importing that costs ~10 ms of start-up

        fast = f"fpng {fpng.__version__}"
    except ImportError:
        fast = "fpng missing"
    return f"{deflater}; {fast} for 8-bit colour images when output.png is fast"


def _encode_tiff(array: np.ndarray) -> bytes:
    """Deflate-compressed TIFF through tifffile, which also stores more than 4 channels."""
    import tifffile

    rgb = array.ndim == 3 and array.shape[2] in (3, 4)
    if rgb:
        array = array[..., [2, 1, 0, 3][: array.shape[2]]]  # BGR[A] in memory, RGB[A] in the file
    extra = {"extrasamples": ["unassalpha"]} if rgb and array.shape[2] == 4 else {}
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        np.ascontiguousarray(array),
        photometric="rgb" if rgb else "minisblack",
        planarconfig="contig" if array.ndim == 3 else None,
        compression="zlib",
        metadata=None,
        **extra,
    )
    return buffer.getvalue()


def _imencode(ext: str, array: np.ndarray, params: list[int]) -> bytes:
    try:
        ok, buffer = cv2.imencode(ext, array, params)
    except cv2.error as exc:
        raise PairError(f"cannot encode as {ext}: {str(exc).strip().splitlines()[-1]}") from None
    if not ok:
        raise PairError(f"cannot encode a {array.dtype} image with shape {array.shape} as {ext}")
    return buffer.tobytes()
