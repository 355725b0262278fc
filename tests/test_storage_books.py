"""storage.books: the names of OUT's bookkeeping files (a whole run's, a shard's), the commit of
manifest, ``segaug.json`` and ``errors.csv`` (each whole, none rewritten when unchanged), and the
sidecar as older segaugs wrote it."""

from __future__ import annotations

import hashlib
import json

from segaug_cli.fingerprint import FORMAT_VERSION
from segaug_cli.manifest import Row
from segaug_cli.shards import Shard
from segaug_cli.storage import books


def row(image: str) -> Row:
    return Row(image, image.replace("images/", "masks/"), "images/s.png", "masks/s.png", "0", "1",
               "1 0 0 0 1 0", "{}", "f" * 64, "a" * 64, "b" * 64)  # fmt: skip


HEADER = "image,mask,source_image,source_mask,copy,seed,matrix,params,fingerprint,image_sha256,mask_sha256\n"


def test_a_shards_books_are_named_after_it_and_a_whole_runs_are_the_plain_names():
    assert (
        books.books_for(None)
        == books.WHOLE
        == books.Books("manifest.csv", "segaug.json", "errors.csv", ".segaug-journal.jsonl")
    )
    assert books.books_for(Shard(2, 4)) == books.Books(
        "manifest.shard-2-of-4.csv",
        "segaug.shard-2-of-4.json",
        "errors.shard-2-of-4.csv",
        ".segaug-journal.shard-2-of-4.jsonl",
    )
    assert books.journal_folder(books.WHOLE) == ".segaug-journal"
    assert books.journal_folder(books.books_for(Shard(2, 4))) == ".segaug-journal.shard-2-of-4"


def test_commit_writes_the_manifest_its_sidecar_and_the_errors(tmp_path):
    rows = [row("images/a_aug0.png"), row("images/b_aug0.png")]
    books.commit(tmp_path, lambda: iter(rows), [], [("images/z.png", "z"), ("images/c.png", "c")], about={"x": 1})

    manifest = (tmp_path / "manifest.csv").read_bytes()
    assert manifest.decode() == HEADER + "".join(
        f"{r.image},{r.mask},images/s.png,masks/s.png,0,1,1 0 0 0 1 0,{{}},{'f' * 64},{'a' * 64},{'b' * 64}\n"
        for r in rows
    )
    assert json.loads((tmp_path / "segaug.json").read_text()) == {
        "format": FORMAT_VERSION,
        "versions": books.versions(),
        "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
        "x": 1,
    }
    assert (tmp_path / "errors.csv").read_text() == "source_image,reason\nimages/c.png,c\nimages/z.png,z\n"
    assert books.manifest_vouched_for(tmp_path) and not books.manifest_edited(tmp_path)


def test_a_commit_of_the_same_books_writes_nothing_and_one_without_failures_removes_errors(tmp_path):
    rows = [row("images/a_aug0.png")]
    books.commit(tmp_path, lambda: iter(rows), [], [("images/z.png", "z")])
    before = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}

    books.commit(tmp_path, lambda: iter(rows), [], [("images/z.png", "z")])
    assert {p.name: p.stat().st_ino for p in tmp_path.iterdir()} == before  # not one file replaced

    books.commit(tmp_path, lambda: iter(rows), [], [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv", "segaug.json"]


def test_a_hand_edited_manifest_is_told_from_the_one_segaug_wrote(tmp_path):
    assert not books.manifest_edited(tmp_path) and not books.manifest_vouched_for(tmp_path)  # no books
    books.commit(tmp_path, lambda: iter([row("images/a_aug0.png")]), [], [])
    with open(tmp_path / "manifest.csv", "a") as fh:
        fh.write("\n")
    assert books.manifest_edited(tmp_path) and not books.manifest_vouched_for(tmp_path)


def test_a_sidecar_without_the_png_version_names_the_encoder_older_segaugs_used(tmp_path):
    versions = {"segaug": "0.9", "opencv": "4.9.0"}
    (tmp_path / "segaug.json").write_text(json.dumps({"format": 1, "versions": versions}))

    assert books.read_sidecar(tmp_path) == {
        "format": 1,
        "versions": {"segaug": "0.9", "opencv": "4.9.0", "png": "OpenCV 4.9.0's encoder (libpng and zlib, format 1)"},
    }
    assert books.read_versions(tmp_path) == {
        "segaug": "0.9",
        "opencv": "4.9.0",
        "png": "OpenCV 4.9.0's encoder (libpng and zlib, format 1)",
    }


def test_a_sidecar_that_is_absent_or_not_a_json_object_reads_as_none(tmp_path):
    shard = books.books_for(Shard(1, 2))
    assert books.read_sidecar(tmp_path, shard) is None and books.read_versions(tmp_path) is None
    for text in ("[1, 2]", "{not json", ""):
        (tmp_path / "segaug.shard-1-of-2.json").write_text(text)
        assert books.read_sidecar(tmp_path, shard) is None
    (tmp_path / "segaug.shard-1-of-2.json").write_text('{"format": 3, "versions": {"png": "ours"}}')
    assert books.read_sidecar(tmp_path, shard) == {"format": 3, "versions": {"png": "ours"}}


def test_sha256_of_a_file_or_none(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert books.sha256_of(tmp_path / "f") == hashlib.sha256(b"abc").hexdigest()
    assert books.sha256_of(tmp_path / "missing") is None
