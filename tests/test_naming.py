"""Output names: suffixes taken without path objects, exactly as pathlib gives them."""

from __future__ import annotations

from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from segaug_cli.extensions import suffix

# names built from the characters that make suffixes tricky: dots, slashes, a letter
_NAMES = st.text(alphabet="./a", max_size=12)


@given(_NAMES)
def test_output_suffix_is_the_one_pathlib_gives(rel):
    # output names take suffixes without building path objects (they cost per output file); the
    # output names, and so the manifest, must not change for any name
    assert suffix(rel) == PurePosixPath(rel).suffix


def test_a_missing_path_has_no_suffix():
    assert suffix(None) == ""
