"""A sample's fingerprint: the sha256 of everything that decides its bytes.

A rerun trusts an output whose recorded fingerprint equals the one it computes now, and rewrites
any other, so whatever changes an output's bytes must change its fingerprint.
"""

from __future__ import annotations

import functools
import hashlib
import json

from .recipe import Recipe

FORMAT_VERSION = 1  # bump when the same inputs would give different outputs or rows


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(recipe: Recipe, key: str, copy: int | None, source_hashes: tuple[str, ...]) -> str:
    """sha256 of the format, the recipe's content (for copies), the pair key, the copy and the sources.

    Args:
        copy: the copy index, or None for a kept original (which only the recipe's labels and tiles touch).
        source_hashes: sha256 of the image, the mask, then each target file.
    """
    content = _sample_content(recipe) if copy is not None else _original_content(recipe)
    payload = json.dumps([FORMAT_VERSION, content, key, copy, *source_hashes], separators=(",", ":"))
    return sha256(payload.encode())


@functools.lru_cache(maxsize=4)
def _sample_content(recipe: Recipe) -> str:
    """The recipe's canonical content, computed once per worker rather than once per sample."""
    return recipe.sample_content()


@functools.lru_cache(maxsize=4)
def _original_content(recipe: Recipe) -> str:
    """"original" for a kept original copied as is; the label map and tiles when they re-encode it."""
    return recipe.original_content()
