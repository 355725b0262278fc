"""OUT in an object store (``storage/remote.py``: ``StoreOut``, its receipts and mirrored journal),
run on a local folder as its ``Location``: the books brought into a local folder at opening, only the
changed ones sent back by ``publish``, the receipts file's name and bytes, a killed run's journal
objects read back, and no request for a journal that sent nothing."""

from __future__ import annotations

from pathlib import Path

from conftest import row

from segaug_cli.manifest import to_json
from segaug_cli.shards import Shard
from segaug_cli.storage import LocalLocation, Receipt, books, objectjournal, remote

SHA_A, SHA_B = "a" * 64, "b" * 64


class Recording(LocalLocation):
    """A local folder that records each request a store would answer: listings, writes, removals."""

    def __init__(self, root: Path):
        super().__init__(str(root))
        self.requests: list[tuple[str, str]] = []

    def list(self, prefix: str = ""):
        self.requests.append(("list", prefix))
        return super().list(prefix)

    def write(self, name: str, data: bytes) -> None:
        self.requests.append(("write", name))
        super().write(name, data)

    def remove(self, name: str) -> None:
        self.requests.append(("remove", name))
        super().remove(name)


def stored_out(root: Path) -> Recording:
    """An OUT a run left: its books, two outputs (one segaug's, one not), and the receipt of its own."""
    for name, data in {
        "manifest.csv": b"image,mask\n",
        "segaug.json": b"{}",
        "images/a.png": b"a",
        "images/stray.png": b"?",
        ".segaug-objects.csv": f'images/a.png,"""e1""",{SHA_A},1\n'.encode(),  # as segaug writes it
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return Recording(root)


def test_the_receipts_are_named_beside_their_manifest():
    assert remote.receipts_name(books.WHOLE) == ".segaug-objects.csv"
    assert remote.receipts_name(books.books_for(Shard(2, 3))) == ".segaug-objects.shard-2-of-3.csv"
    assert remote.book_names(books.books_for(Shard(2, 3))) == (
        "manifest.shard-2-of-3.csv",
        "segaug.shard-2-of-3.json",
        "errors.shard-2-of-3.csv",
    )


def test_receipts_are_read_by_path_and_an_empty_sha256_or_size_is_none():
    data = (
        f'images/a.png,"""e1""",{SHA_A},7\nmasks/a.png,e2,,3\n,e3,{SHA_B},1\n'  # a line without a path: none
        f"images/old.png,e4,{SHA_B}\nmasks/old.png,e5,{SHA_B},\n"  # an older segaug's line: no size
    ).encode()
    assert remote.parse_receipts(data) == {
        "images/a.png": Receipt('"e1"', SHA_A, 7),
        "masks/a.png": Receipt("e2", None, 3),
        "images/old.png": Receipt("e4", SHA_B),
        "masks/old.png": Receipt("e5", SHA_B),
    }


def test_opening_lists_once_and_brings_the_books_into_a_local_folder(tmp_path):
    location = stored_out(tmp_path / "out")
    with remote.StoreOut(location) as out:
        assert location.requests == [("list", "")]  # one listing, nothing written
        assert sorted(p.name for p in out.folder.iterdir()) == ["manifest.csv", "segaug.json"]
        assert (out.folder / "manifest.csv").read_bytes() == b"image,mask\n"
        assert out.names() == (".segaug-objects.csv", "images/a.png", "images/stray.png", "manifest.csv", "segaug.json")
        assert out.receipts == {"images/a.png": Receipt('"e1"', SHA_A, 1)}
        assert out.foreign({"images/a.png"}, ("images", "masks"), lambda rel: True) == ["images/stray.png"]
        assert out.present(["images/a.png", "images/b.png"]) == ["images/a.png"]
        assert out.exists() and out.holder() is None
        folder = out.folder
    assert not folder.exists()  # the local folder goes with the context


def test_publish_sends_only_the_changed_books_then_the_receipts_of_known_outputs(tmp_path):
    location = stored_out(tmp_path / "out")
    with remote.StoreOut(location) as out:
        (out.folder / "manifest.csv").write_bytes(b"image,mask\nimages/b.png,masks/b.png\n")
        (out.folder / "segaug.json").unlink()
        out.note_receipts([("images/b.png", '"e2"', SHA_B, 5), ("images/gone.png", '"e3"', SHA_B, 6)])
        location.requests.clear()
        out.publish({"images/a.png", "images/b.png"})
    assert location.requests == [("write", "manifest.csv"), ("remove", "segaug.json"), ("write", ".segaug-objects.csv")]
    assert (tmp_path / "out" / "manifest.csv").read_bytes() == b"image,mask\nimages/b.png,masks/b.png\n"
    assert (tmp_path / "out" / ".segaug-objects.csv").read_text() == (
        f'images/a.png,"""e1""",{SHA_A},1\nimages/b.png,"""e2""",{SHA_B},5\n'
    )


def test_a_publish_that_changed_nothing_sends_nothing(tmp_path):
    location = stored_out(tmp_path / "out")
    with remote.StoreOut(location) as out:
        location.requests.clear()
        out.publish({"images/a.png"})
    assert location.requests == []


def test_a_killed_runs_journal_objects_are_its_journal_and_go_at_the_commit(tmp_path):
    location = Recording(tmp_path / "out")
    killed = objectjournal.ObjectJournal(location, batch_rows=1, folder=".segaug-journal")
    killed.add([row(0)])
    killed.add([row(1)])
    with remote.StoreOut(location) as out:
        assert (out.folder / ".segaug-journal.jsonl").read_text() == to_json(row(0)) + "\n" + to_json(row(1)) + "\n"
        journal = out.journal()
        journal.close(remove=True)
    assert objectjournal.journal_objects(location, ".segaug-journal") == []


def test_a_journal_that_sent_nothing_asks_the_store_nothing_at_the_commit(tmp_path):
    location = Recording(tmp_path / "out")
    journal = remote.MirroredJournal(tmp_path / "books", books.WHOLE, location)
    journal.add([])
    journal.close(remove=True)
    assert location.requests == []
