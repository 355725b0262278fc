"""A sample's fingerprint: the sha256 of everything that decides its bytes.

A rerun trusts an output whose recorded fingerprint equals the one it computes now, and rewrites
any other, so whatever changes an output's bytes must change its fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import json

from . import codecs
from .recipe import Recipe

# Bump when the same inputs would give different outputs or rows. 2: every PNG is written by segaug's
# own writer on libdeflate instead of OpenCV's encoder (same pixels, other bytes). 3: matrices, drawn
# values and tone tables computed with arithmetic that is the same on every CPU, and OpenCV pinned to
# its SSE4.2 kernels (transforms.exact, segaug_cli.cpu): some pixels and matrix digits moved. 4: 8-bit
# colour PNG images written with fpng by default (output.png: fast; same pixels, other bytes).
FORMAT_VERSION = 4


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(recipe: Recipe, key: str, copy: int | None, source_hashes: tuple[str, ...]) -> str:
    """sha256 of the format, the PNG compressor and its version, the recipe's content (for copies), the
    pair key, the copy and the sources.

    Args:
        copy: the copy index, or None for a kept original (which only the recipe's labels and tiles touch).
        source_hashes: sha256 of the image, the mask, then each target file.
    """
    content = _sample_content(recipe) if copy is not None else _original_content(recipe)
    payload = json.dumps([FORMAT_VERSION, _png_encoder(), content, key, copy, *source_hashes], separators=(",", ":"))
    return sha256(payload.encode())


@functools.lru_cache(maxsize=4)
def _sample_content(recipe: Recipe) -> str:
    """The recipe's canonical content, computed once per worker rather than once per sample."""
    return recipe.sample_content()


@functools.cache
def _png_encoder() -> str:
    """The PNG compressor and its version: a new libdeflate may compress the same rows to other bytes."""
    return codecs.png_encoder()


@functools.lru_cache(maxsize=4)
def _original_content(recipe: Recipe) -> str:
    """ "original" for a kept original copied as is; the label map and tiles when they re-encode it."""
    return recipe.original_content()
