"""File-name extensions segaug recognises, and the suffix of a POSIX path. Standard library only, so
pairing (and anything else that only looks at names) never loads OpenCV."""

from __future__ import annotations

# Extensions OpenCV's imread understands (compared lower-case).
IMAGE_EXTENSIONS = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".webp",
        ".jp2",
        ".pbm",
        ".pgm",
        ".ppm",
        ".pnm",
        ".pxm",
        ".sr",
        ".ras",
        ".exr",
        ".hdr",
        ".pic",
    ]
)
JPEG_EXTENSIONS = (".jpg", ".jpeg", ".jpe")
TIFF_EXTENSIONS = (".tif", ".tiff")
LOSSLESS_EXTENSIONS = (".png", *TIFF_EXTENSIONS)


def suffix(rel: str | None) -> str:
    """The suffix, as ``PurePosixPath(rel).suffix`` gives it, without building a path object (which
    costs as much per output file as the rest of its naming)."""
    parts = [part for part in (rel or "").split("/") if part not in ("", ".")]  # as pathlib drops them
    name = parts[-1] if parts else ""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""
