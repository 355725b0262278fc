"""pairing.find_pairs: images and masks pair by relative path without extension; nothing is dropped."""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
from conftest import make_dataset
from hypothesis import example, given, settings
from hypothesis import strategies as st

from segaug_cli import listing, storage
from segaug_cli.errors import UsageError
from segaug_cli.pairing import NO_MASK, Layout, Listed, Pair, Pairing, PairScan, find_pairs


def touch(root: Path, *rels: str) -> Path:
    """Empty files: pairing looks at names only, never at pixels."""
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


def keys(pairing: Pairing) -> list[str]:
    return [p.key for p in pairing.pairs]


def test_generated_dataset(tmp_path):
    pairing = find_pairs(make_dataset(tmp_path / "in"))
    assert pairing == Pairing(
        pairs=(
            Pair("a", "images/a.png", "masks/a.png"),
            Pair("b", "images/b.png", "masks/b.png"),
            Pair("city/c", "images/city/c.png", "masks/city/c.png"),
        ),
        orphan_masks=(),
        ignored=(),
    )


def test_nested_folders_are_walked(tmp_path):
    touch(tmp_path, "images/x/y/z/deep.png", "masks/x/y/z/deep.png", "images/top.png", "masks/top.png")
    assert find_pairs(tmp_path).pairs == (
        Pair("top", "images/top.png", "masks/top.png"),
        Pair("x/y/z/deep", "images/x/y/z/deep.png", "masks/x/y/z/deep.png"),
    )


def test_keys_are_sorted_by_code_point(tmp_path):
    names = ["b", "B", "a", "a-1", "a/z", "Z", "_u", "\u00e9"]
    touch(tmp_path, *[f"images/{n}.png" for n in names], *[f"masks/{n}.png" for n in names])
    # Code points: 'B' 0x42 < 'Z' 0x5A < '_' 0x5F < 'a' 0x61; '-' 0x2D < '/' 0x2F; 'é' 0xE9 last.
    assert keys(find_pairs(tmp_path)) == ["B", "Z", "_u", "a", "a-1", "a/z", "b", "\u00e9"]


@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "PNG", "JPG", "Tif"])
def test_any_opencv_image_extension_pairs(tmp_path, ext):
    touch(tmp_path, f"images/a.{ext}", "masks/a.png")
    assert find_pairs(tmp_path) == Pairing((Pair("a", f"images/a.{ext}", "masks/a.png"),), (), ())


@pytest.mark.parametrize("ext", ["tif", "PNG", "bmp"])
def test_mask_extension_is_free_too(tmp_path, ext):
    touch(tmp_path, "images/a.png", f"masks/a.{ext}")
    assert find_pairs(tmp_path).pairs == (Pair("a", "images/a.png", f"masks/a.{ext}"),)


def test_jpg_image_pairs_with_png_mask(tmp_path):
    touch(tmp_path, "images/city/a.jpg", "masks/city/a.png")
    assert find_pairs(tmp_path).pairs == (Pair("city/a", "images/city/a.jpg", "masks/city/a.png"),)


def test_same_stem_in_other_folder_does_not_pair(tmp_path):
    touch(tmp_path, "images/city/a.jpg", "masks/a.png")
    pairing = find_pairs(tmp_path)
    assert pairing.pairs == (Pair("city/a", "images/city/a.jpg", None, "no mask found for this image"),)
    assert pairing.orphan_masks == ("masks/a.png",)


def test_mask_suffix(tmp_path):
    touch(
        tmp_path,
        "images/a.png",
        "masks/a_mask.png",
        "images/city/b.jpg",
        "masks/city/b_mask.png",
        "images/c.png",
        "masks/c.png",
        "masks/_mask.png",
    )
    pairing = find_pairs(tmp_path, mask_suffix="_mask")
    assert pairing.pairs == (
        Pair("a", "images/a.png", "masks/a_mask.png"),
        Pair("c", "images/c.png", None, "no mask found for this image"),
        Pair("city/b", "images/city/b.jpg", "masks/city/b_mask.png"),
    )
    # A mask without the suffix, or that is nothing but the suffix, belongs to no image: reported.
    assert pairing.orphan_masks == ("masks/_mask.png", "masks/c.png")


def test_without_suffix_a_suffixed_mask_is_an_orphan(tmp_path):
    touch(tmp_path, "images/a.png", "masks/a_mask.png")
    pairing = find_pairs(tmp_path)
    assert pairing.pairs == (Pair("a", "images/a.png", None, "no mask found for this image"),)
    assert pairing.orphan_masks == ("masks/a_mask.png",)


def test_renamed_folders(tmp_path):
    touch(tmp_path, "img/a.png", "lbl/a.png", "images/b.png", "masks/b.png")
    pairing = find_pairs(tmp_path, images="img", masks="lbl")
    assert pairing == Pairing((Pair("a", "img/a.png", "lbl/a.png"),), (), ())


def test_renamed_nested_folders_keep_keys_relative_to_them(tmp_path):
    touch(tmp_path, "images/aerial/t/1.png", "masks/aerial/t/1.png", "images/street/2.png", "masks/street/2.png")
    pairing = find_pairs(tmp_path, images="images/aerial", masks="masks/aerial")
    assert pairing.pairs == (Pair("t/1", "images/aerial/t/1.png", "masks/aerial/t/1.png"),)


def test_image_without_mask_is_a_failed_pair_not_dropped(tmp_path):
    touch(tmp_path, "images/a.png", "masks/a.png", "images/b.png")
    assert find_pairs(tmp_path).pairs == (
        Pair("a", "images/a.png", "masks/a.png"),
        Pair("b", "images/b.png", None, "no mask found for this image"),
    )


def test_mask_without_image_is_an_orphan(tmp_path):
    touch(tmp_path, "images/a.png", "masks/a.png", "masks/z.png", "masks/sub/y.png")
    assert find_pairs(tmp_path) == Pairing(
        (Pair("a", "images/a.png", "masks/a.png"),), ("masks/sub/y.png", "masks/z.png"), ()
    )


def test_two_images_with_one_stem_is_a_problem(tmp_path):
    touch(tmp_path, "images/a.png", "images/a.jpg", "masks/a.png")
    pairing = find_pairs(tmp_path)
    assert pairing.pairs == (
        Pair("a", "images/a.jpg", None, "several images share the name 'a': images/a.jpg, images/a.png"),
    )
    assert pairing.orphan_masks == ()


def test_two_masks_for_one_image_is_a_problem(tmp_path):
    touch(tmp_path, "images/a.png", "masks/a.png", "masks/a.tif")
    assert find_pairs(tmp_path).pairs == (
        Pair("a", "images/a.png", None, "several masks match this image: masks/a.png, masks/a.tif"),
    )


def test_non_image_files_are_ignored_and_listed(tmp_path):
    touch(
        tmp_path, "images/a.png", "masks/a.png", "images/notes.txt", "masks/Thumbs.db", "images/a.json", "masks/README"
    )
    pairing = find_pairs(tmp_path)
    assert pairing.pairs == (Pair("a", "images/a.png", "masks/a.png"),)
    assert pairing.orphan_masks == ()
    assert pairing.ignored == ("images/a.json", "images/notes.txt", "masks/README", "masks/Thumbs.db")


def test_hidden_files_and_folders_are_skipped(tmp_path):
    touch(
        tmp_path,
        "images/a.png",
        "masks/a.png",
        "images/.DS_Store",
        "masks/.DS_Store",
        "images/._a.png",
        "images/.cache/b.png",
        "masks/.git/c.png",
        "masks/.d.png",
    )
    assert find_pairs(tmp_path) == Pairing((Pair("a", "images/a.png", "masks/a.png"),), (), ())


@pytest.mark.parametrize(
    ("missing", "kwargs", "folder", "role"),
    [
        ("images", {}, "images", "images"),
        ("masks", {}, "masks", "masks"),
        ("img", {"images": "img"}, "img", "images"),
        ("lbl", {"masks": "lbl"}, "lbl", "masks"),
    ],
)
def test_missing_folder_is_a_usage_error(tmp_path, missing, kwargs, folder, role):
    touch(tmp_path, "images/a.png", "masks/a.png", "img/a.png", "lbl/a.png")
    for path in sorted((tmp_path / missing).rglob("*"), reverse=True):
        path.unlink()
    (tmp_path / missing).rmdir()
    with pytest.raises(UsageError) as info:
        find_pairs(tmp_path, **kwargs)
    assert str(info.value) == (f"{tmp_path / folder}: no such folder (set inputs.{role} in the recipe to rename it)")


def test_a_file_where_the_folder_should_be(tmp_path):
    touch(tmp_path, "images", "masks/a.png")
    with pytest.raises(UsageError) as info:
        find_pairs(tmp_path)
    assert str(info.value) == (f"{tmp_path / 'images'}: no such folder (set inputs.images in the recipe to rename it)")


@pytest.fixture
def fail_after_10s():
    def stop(signum, frame):
        raise TimeoutError("find_pairs did not finish in 10 s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_symlink_loop_does_not_hang(tmp_path, fail_after_10s):
    touch(tmp_path, "images/a.png", "images/sub/b.png", "masks/a.png", "masks/sub/b.png")
    os.symlink("..", tmp_path / "images/sub/loop")  # images/sub/loop -> images
    os.symlink(".", tmp_path / "masks/self")  # masks/self -> masks
    assert find_pairs(tmp_path) == Pairing(
        (Pair("a", "images/a.png", "masks/a.png"), Pair("sub/b", "images/sub/b.png", "masks/sub/b.png")), (), ()
    )


def test_symlinked_folder_is_followed(tmp_path):
    touch(tmp_path, "elsewhere/c.png", "in/images/a.png", "in/masks/a.png", "in/masks/ext/c.png")
    os.symlink(tmp_path / "elsewhere", tmp_path / "in/images/ext")
    assert keys(find_pairs(tmp_path / "in")) == ["a", "ext/c"]


def test_relative_in_dir(tmp_path, monkeypatch):
    touch(tmp_path, "in/images/a.png", "in/masks/a.png")
    monkeypatch.chdir(tmp_path)
    assert find_pairs("in").pairs == (Pair("a", "images/a.png", "masks/a.png"),)


def test_images_and_masks_may_share_a_folder_told_apart_by_the_suffix(tmp_path):
    for name in ("a.png", "a_mask.png", "sub/b.jpg", "sub/b_mask.png"):
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_bytes(b"x")
    found = find_pairs(tmp_path, "data", "data", "_mask")
    assert [(p.key, p.image, p.mask, p.problem) for p in found.pairs] == [
        ("a", "data/a.png", "data/a_mask.png", None),
        ("sub/b", "data/sub/b.jpg", "data/sub/b_mask.png", None),
    ]
    assert found.orphan_masks == ()


def test_a_masks_folder_inside_the_images_folder_is_not_walked_as_images(tmp_path):
    for name in ("a.png", "masks/a.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = find_pairs(tmp_path, ".", "masks", "")
    assert [(p.key, p.mask) for p in found.pairs] == [("a", "masks/a.png")]


# Names whose order as keys differs from their order as file names or paths: '-' (0x2D) and '.' (0x2E)
# sort before '/' (0x2F), digits before letters, '_' after them, 'é' after everything ASCII. A suffix
# made of the same characters makes one name a prefix of another's (a_mask.png and a0_mask.png, a0.png
# and a00.png for suffix '0'). No 'p', so no folder is named like a file (x.png).
_PART = st.text(alphabet="a0-._Zé", min_size=1, max_size=4).filter(lambda part: not part.startswith("."))
_STEM = st.lists(_PART, min_size=1, max_size=3).map("/".join)


@dataclass(frozen=True)
class _Names:
    """Images and masks by key, named ``images/{key}{image_suffix}.png`` and ``masks/{key}{mask_suffix}.png``."""

    images: frozenset[str]
    masks: frozenset[str]
    mask_suffix: str = ""
    image_suffix: str = ""

    def files(self) -> list[str]:
        return [self.image(key) for key in self.images] + [self.mask(key) for key in self.masks]

    def image(self, key: str) -> str:
        return f"images/{key}{self.image_suffix}.png"

    def mask(self, key: str) -> str:
        return f"masks/{key}{self.mask_suffix}.png"

    def expected(self) -> tuple[tuple[Pair, ...], tuple[str, ...]]:
        """The pairs in code-point order of their keys, as if every key were listed and sorted; the orphans."""
        pairs = tuple(
            Pair(key, self.image(key), self.mask(key))
            if key in self.masks
            else Pair(key, self.image(key), None, NO_MASK)
            for key in sorted(self.images)
        )
        return pairs, tuple(sorted(self.mask(key) for key in self.masks - self.images))


def _names(most: int) -> st.SearchStrategy[_Names]:
    return st.builds(
        _Names,
        st.frozensets(_STEM, min_size=1, max_size=most),
        st.frozensets(_STEM, min_size=1, max_size=most),
        st.sampled_from(["", "_mask", "0", "-", "_"]),
        st.sampled_from(["", "_img"]),
    )


# Keys that begin other keys: the walk of masks must meet a_mask before a0_mask, though a0_mask.png
# sorts first as a path ('0' before '_').
_PREFIXES = _Names(frozenset({"a", "a0", "a/b"}), frozenset({"a", "a0", "a/b"}), "_mask")


def _assert_walks_in_key_order(source: Path | Listed, names: _Names) -> None:
    layout = Layout(mask_suffix=names.mask_suffix, image_suffix=names.image_suffix)
    pairs, orphans = names.expected()
    found = find_pairs(source, mask_suffix=names.mask_suffix, image_suffix=names.image_suffix)
    assert found.pairs == pairs
    assert found.orphan_masks == orphans
    scan = PairScan(source, layout)
    assert tuple(scan) == tuple(scan) == pairs  # each iteration walks IN again


@settings(max_examples=60, deadline=None)
@example(names=_PREFIXES, run=4096)
@given(names=_names(12), run=st.sampled_from([1, 2, 3, 4096]))
def test_the_streamed_walk_finds_what_a_sort_of_every_key_finds(names, run):
    """A folder, walked one directory at a time (its larger directories in sorted runs of ``run``
    entries, merged), and the same files as an object store lists them (in path order) both give the
    pairs in key order."""
    with tempfile.TemporaryDirectory() as tmp:
        root = touch(Path(tmp), *names.files())
        with mock.patch.object(listing, "_RUN", run):
            _assert_walks_in_key_order(root, names)
        entries = storage.open_location(root).list()
        assert [e.name for e in entries] == sorted(names.files())  # the storage layer's order: by path
        _assert_walks_in_key_order(Listed(tmp, tuple(e.name for e in entries), lambda rel: b""), names)


@settings(max_examples=8, deadline=None)
@example(names=_PREFIXES)
@given(names=_names(5))
def test_a_bucket_prefix_walks_in_key_order_as_a_folder_does(endpoint, names):
    """The same on a real S3 API: a fresh prefix of the session's bucket per example, read through
    ``storage.source_of`` as every command reads IN."""
    pytest.importorskip("s3fs")
    from services import BUCKET, SECRET, s3_options

    url = f"s3://{BUCKET}/walk-{uuid.uuid4().hex}"
    options = s3_options(endpoint, secret=SECRET)  # one s3fs instance for every example: each lists a new prefix
    location = storage.open_location(url, options)
    for rel in names.files():
        location.write(rel, b"")
    source = storage.source_of(url, options)
    assert isinstance(source, Listed)
    _assert_walks_in_key_order(source, names)
