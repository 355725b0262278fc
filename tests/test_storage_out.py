"""The ``Out`` interface (``storage/out.py``) itself: what a backend gets without writing it (OUT taken
as it is, every file present, nothing vouched for, the journal file in its books folder) and what it
must write (``NotImplementedError`` until it does)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import row

from segaug_cli.manifest import to_json
from segaug_cli.shards import Shard
from segaug_cli.storage import books, local, out, remote


def test_an_out_by_default_takes_every_file_as_present_and_vouches_for_none(tmp_path):
    plain = out.Out()
    plain.folder = tmp_path
    with plain as entered:
        assert entered is plain
        rels = ["images/a.png", "masks/a.png"]
        assert plain.present(rels) is rels
        jobs = iter([])
        assert plain.with_stored(jobs) is jobs
        assert plain.ensure_held() is None
        assert plain.prepare(("images",), lambda rel: True) is None
        assert plain.clean_up(("images",), lambda rel: True) is None
        assert plain.note_receipts([("images/a.png", '"etag"', "a" * 64, 1)]) is None
        assert plain.publish({"images/a.png"}) is None
        assert plain.fetch(["manifest.csv"]) is None
        assert plain.adopt_receipts(books.WHOLE) is None
    assert plain.books is books.WHOLE
    assert list(tmp_path.iterdir()) == []  # none of them wrote anything


def test_an_outs_journal_is_the_journal_file_of_its_books_in_its_folder(tmp_path):
    plain = out.Out()
    plain.folder, plain.books = tmp_path, books.books_for(Shard(2, 3))
    journal = plain.journal()
    assert journal.path == tmp_path / ".segaug-journal.shard-2-of-3.jsonl"
    journal.add([row(0), row(1)])
    journal.close(remove=False)
    assert journal.path.read_text(encoding="utf-8") == to_json(row(0)) + "\n" + to_json(row(1)) + "\n"


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("holder", ()),
        ("remove", (["images/a.png"],)),
        ("foreign", (set(), ("images",), lambda rel: True)),
        ("names", ()),
        ("drop_books", (Shard(1, 2),)),
    ],
)
def test_what_each_backend_must_write_is_not_implemented(method, args):
    with pytest.raises(NotImplementedError):
        getattr(out.Out(), method)(*args)


def test_both_backends_are_outs(tmp_path: Path):
    assert issubclass(local.LocalOut, out.Out) and issubclass(remote.StoreOut, out.Out)
    assert isinstance(local.LocalOut(tmp_path / "out"), out.Out)
