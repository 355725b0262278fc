"""storage.rows: the books' rows in bounded memory. The journal a run appends to, sorted by image
through spilled runs; what earlier runs recorded (``Previous``), a journal row replacing the
manifest's; and the set of listed paths."""

from __future__ import annotations

import dataclasses

import pytest

from segaug_cli.errors import UsageError
from segaug_cli.manifest import Row, render, to_json
from segaug_cli.storage import books
from segaug_cli.storage import rows as books_rows


def _row(image: str, targets=()) -> Row:
    return Row(
        image,
        image.replace("images/", "masks/"),
        "src.png",
        "src.png",
        "0",
        "1",
        "1 0 0 0 1 0",
        "{}",
        "f" * 64,
        "a" * 64,
        "b" * 64,
        targets,
    )


def test_the_journal_sorts_this_runs_rows_through_spilled_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(books_rows, "SORT_CHUNK", 3)
    (tmp_path / books.JOURNAL).write_text(to_json(_row("images/left_by_a_killed_run.png")) + "\n")
    journal = books_rows.Journal(tmp_path)
    images = [f"images/{name}.png" for name in ("k", "b", "z", "a", "é", "m", "B", "c_10", "c_9", "c")]
    for start in range(0, len(images), 4):  # outcomes arrive a few rows at a time
        journal.add([_row(image, (("depth", f"depth/{image}", "c" * 64),)) for image in images[start : start + 4]])
    journal.close(remove=False)

    with journal.sorted_rows() as rows:
        first, second = [r.image for r in rows()], [r.image for r in rows()]
        assert len(list(tmp_path.iterdir())) == 1  # the sorted runs are anonymous files: only the journal shows
    assert first == second == sorted(images)  # code-point order; the killed run's row is not this run's
    assert journal.names == {"depth"}


def test_a_run_that_wrote_nothing_has_no_rows_even_beside_a_leftover_journal(tmp_path):
    (tmp_path / books.JOURNAL).write_text(to_json(_row("images/old.png")) + "\n")
    journal = books_rows.Journal(tmp_path)
    journal.close(remove=False)
    with journal.sorted_rows() as rows:
        assert list(rows()) == []


def test_more_runs_than_may_be_open_at_once_are_folded_without_losing_order(tmp_path, monkeypatch):
    monkeypatch.setattr(books_rows, "SORT_CHUNK", 2)
    monkeypatch.setattr(books_rows, "MERGE_FAN_IN", 3)
    journal = books_rows.Journal(tmp_path)
    images = [f"images/{i * 7919 % 101:03d}.png" for i in range(41)]  # 21 runs: folded again and again
    journal.add([_row(image) for image in images])
    journal.close(remove=False)
    with journal.sorted_rows() as rows:
        assert [r.image for r in rows()] == sorted(images)


# ---------------------------------------------------------------------------------------------
# Previous: the manifest, updated by a leftover journal
# ---------------------------------------------------------------------------------------------


def _key(row: Row) -> str:
    """The pair key of a row as the planner orders them: the image's name without ``_aug<k>.png``."""
    return row.image.removeprefix("images/").rsplit("_aug", 1)[0]


def _out(tmp_path, manifest: list[Row], journal: list[Row] = ()):
    (tmp_path / books.MANIFEST).write_text(render(manifest), encoding="utf-8")
    if journal:
        (tmp_path / books.JOURNAL).write_text("".join(to_json(r) + "\n" for r in journal), encoding="utf-8")
    return tmp_path


def test_previous_streams_the_manifest_by_key_and_by_image_a_journal_row_replacing_the_manifests(tmp_path, monkeypatch):
    monkeypatch.setattr(books_rows, "SORT_CHUNK", 2)
    manifest = [_row(f"images/{name}.png") for name in ("b_aug0", "b_aug1", "a-x_aug0", "a_aug0")]
    newer = dataclasses.replace(_row("images/b_aug0.png"), seed="9")
    out = _out(tmp_path, manifest, [newer, _row("images/c_aug0.png")])

    with books_rows.Previous(out, _key) as previous:
        by_key = [(r.image, r.seed) for r in previous.by_key()]
        by_image = [(r.image, r.seed) for r in previous.by_image()]

    assert by_key == [  # "a" < "a-x" as keys, though "a-x_aug0" < "a_aug0" as images
        ("images/a_aug0.png", "1"),
        ("images/a-x_aug0.png", "1"),
        ("images/b_aug0.png", "9"),
        ("images/b_aug1.png", "1"),
        ("images/c_aug0.png", "1"),
    ]
    assert by_image == sorted(by_key)


def test_previous_skips_a_journal_line_cut_short_by_a_kill(tmp_path):
    out = _out(tmp_path, [_row("images/a_aug0.png")])
    (out / books.JOURNAL).write_text(to_json(_row("images/b_aug0.png")) + "\n" + '{"image":"images/c_au')
    with books_rows.Previous(out, _key) as previous:
        assert [r.image for r in previous.by_image()] == ["images/a_aug0.png", "images/b_aug0.png"]


def test_previous_blanks_the_fingerprints_of_a_hand_edited_manifest(tmp_path):
    out = _out(tmp_path, [_row("images/a_aug0.png")])
    books.write_sidecar(out, books.WHOLE, {"manifest_sha256": "0" * 64})  # not the manifest's
    with books_rows.Previous(out, _key) as previous:
        assert [r.fingerprint for r in previous.by_image()] == [""]
    with books_rows.Previous(out, _key, distrust_edited=False) as previous:
        assert [r.fingerprint for r in previous.by_image()] == ["f" * 64]


def test_previous_keeps_only_a_shares_rows_and_names_their_targets(tmp_path):
    rows = [_row("images/a_aug0.png", (("depth", "depth/a_aug0.png", "c" * 64),)), _row("images/b_aug0.png")]
    out = _out(tmp_path, rows)
    with books_rows.Previous(out, _key, share=lambda row: row.image.startswith("images/a")) as previous:
        assert [r.image for r in previous.by_key()] == ["images/a_aug0.png"]
    assert previous.names == {"depth"}


def test_previous_refuses_a_manifest_segaug_did_not_write(tmp_path):
    (tmp_path / books.MANIFEST).write_text("name,path\nx,y\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught, books_rows.Previous(tmp_path, _key):
        pass
    assert str(caught.value) == (
        f"{tmp_path / 'manifest.csv'}: not a segaug manifest (unexpected columns ['name', 'path']; expected "
        "image, mask, source_image, source_mask, copy, seed, matrix, params, fingerprint, image_sha256, "
        "mask_sha256); move it away or choose another OUT"
    )


def test_last_of_each_keeps_the_newest_row_of_an_image():
    old, new = _row("images/a.png"), dataclasses.replace(_row("images/a.png"), seed="2")
    assert list(books_rows.last_of_each([old, new, _row("images/b.png")])) == [new, _row("images/b.png")]
    assert list(books_rows.last_of_each([])) == []


def test_a_path_set_holds_what_was_added_until_cleared():
    paths = books_rows.PathSet()
    paths.update(["images/a.png", "masks/a.png", "images/é.png"])
    assert "images/a.png" in paths and "images/é.png" in paths
    assert "images/b.png" not in paths and 3 not in paths
    paths.update(["images/b.png"])
    assert "images/b.png" in paths
    paths.clear()
    assert "images/a.png" not in paths
