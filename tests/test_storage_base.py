"""What every backend is made of (``storage/base.py``): when a listing vouches for an object, which
URLs nest, a URL without its credentials, a write finished when started, and the errors' kinds."""

from __future__ import annotations

import pytest

from segaug_cli.errors import UsageError
from segaug_cli.storage import base

SHA = "c" * 64


@pytest.mark.parametrize(
    ("entry", "receipt", "vouched"),
    [
        (base.Entry("a.png", 1, '"e1"'), base.Receipt('"e1"', SHA, 1), SHA),
        (base.Entry("a.png", 1, '"e2"'), base.Receipt('"e1"', SHA, 1), None),  # overwritten since
        (base.Entry("a.png", 2, '"e1"'), base.Receipt('"e1"', SHA, 1), None),  # not the size written
        (base.Entry("a.png", 1, '"e1"'), base.Receipt('"e1"', None, 1), None),  # the store verified no SHA-256
        (base.Entry("a.png", 1, '"e1"'), base.Receipt('"e1"', SHA), None),  # an older receipt, without the size
        (base.Entry("a.png", 1, None), base.Receipt('"e1"', SHA, 1), None),  # a local file
        (base.Entry("a.png", 1, '"e1"'), None, None),  # no receipt
    ],
)
def test_an_object_is_vouched_for_only_with_its_receipts_etag_and_size(entry, receipt, vouched):
    assert base.unchanged_since_write(entry, receipt) == vouched


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("s3://b/x", "s3://b/x", True),
        ("s3://b/x", "s3://b/x/y", True),
        ("s3://b/x/y/", "S3://b/./x", True),
        ("s3://key:secret@b/x", "s3://b/x/y", True),
        ("s3://b/x", "s3://b/xy", False),
        ("s3://b/x", "gs://b/x", False),
        ("s3://b/x", "s3://c/x", False),
    ],
)
def test_urls_nest_by_whole_parts_of_their_path(a, b, expected):
    assert base.nested(a, b) is expected and base.nested(b, a) is expected


def test_a_public_url_has_no_credentials():
    assert base.public("s3://key:secret@bucket/p") == "s3://bucket/p"
    assert base.public("s3://bucket/p@x") == "s3://bucket/p@x"
    assert base.public("/local/folder") == "/local/folder"


class Answering(base.Location):
    """A location whose writes finish at once, with this receipt."""

    def write(self, name: str, data: bytes) -> base.Receipt:
        return base.Receipt('"e1"', SHA, len(data))


def test_a_write_finished_when_started_is_done():
    pending = Answering().write_soon("images/a.png", b"x")
    assert isinstance(pending, base.Done) and pending.name == "images/a.png"
    assert pending.result() == base.Receipt('"e1"', SHA, 1)


def test_a_store_error_is_a_usage_error_and_a_lost_condition_a_store_error():
    assert issubclass(base.StorageError, UsageError) and issubclass(base.PreconditionFailed, base.StorageError)
