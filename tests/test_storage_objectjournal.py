"""The write-once journal of an object store's OUT (``storage/objectjournal.py``), on a local folder
and on the session's SeaweedFS: batches written once each, read back in order, one PUT each."""

from __future__ import annotations

import pytest

pytest.importorskip("s3fs")

from conftest import row  # noqa: E402
from services import requests_sent  # noqa: E402

from segaug_cli.storage import objectjournal  # noqa: E402


def test_journal_batches_are_written_once_each_and_read_back_in_order(location):
    journal = objectjournal.ObjectJournal(location, batch_rows=2, batch_seconds=3600)
    journal.add([row(0)])
    journal.add([row(1), row(2)])
    journal.add([row(3), row(4)])
    assert [r.image for r in journal.rows()] == [row(i).image for i in range(5)]
    journal.close(remove=False)  # what a run leaves when it stops before its commit
    names = objectjournal.journal_objects(location)
    assert names == journal.batches and len(names) == 2 and names == sorted(names)  # rows 0-2, then 3-4
    assert [r.image for r in objectjournal.read_previous(location)] == [row(i).image for i in range(5)]


def test_a_later_runs_journal_reads_back_after_an_earlier_one(location):
    first = objectjournal.ObjectJournal(location, batch_rows=1)
    first.add([row(0)])
    second = objectjournal.ObjectJournal(location, batch_rows=1)
    second.add([row(1)])
    assert second.run > first.run
    assert [r.image for r in objectjournal.read_previous(location)] == [row(0).image, row(1).image]
    second.close(remove=True)  # the commit removes every journal object of OUT
    assert objectjournal.journal_objects(location) == []


def test_each_journal_object_is_one_put(out):
    sent = requests_sent(out)
    journal = objectjournal.ObjectJournal(out, batch_rows=3)
    journal.add([row(i) for i in range(7)])  # 7 rows >= 3: one batch of 7
    journal.add([row(7)])
    journal.close(remove=False)
    assert len(sent) == 2 and len(set(sent)) == 2  # two PUTs, each to its own key, none rewritten
