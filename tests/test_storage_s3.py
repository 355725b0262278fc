"""The S3 backend (``storage/s3.py``) against a real S3 API (SeaweedFS on 127.0.0.1, the session's
one): every Location method, on a local folder too, the one paginated listing, the SHA-256 sent at
upload and the receipts that vouch for an object unchanged since, and no secret in what OUT holds."""

from __future__ import annotations

import base64
import functools
import hashlib

import pytest

pytest.importorskip("s3fs")

from conftest import row  # noqa: E402
from services import BUCKET, SECRET, requests_sent, s3_client  # noqa: E402

from segaug_cli import storage  # noqa: E402
from segaug_cli.storage import objectjournal, objectlock  # noqa: E402

client = functools.partial(s3_client, secret=SECRET)


def test_every_location_method_round_trips(location):
    assert location.list() == [] and not location.exists("images/a.png")
    location.write("images/city/a.png", b"\x89PNG a")
    location.write("masks/city/a.png", b"mask")
    location.write("images/city/a.png", b"\x89PNG a, again")  # a rewrite replaces the whole file
    assert location.read("images/city/a.png") == b"\x89PNG a, again"
    assert location.exists("masks/city/a.png")
    assert [(e.name, e.size) for e in location.list()] == [("images/city/a.png", 13), ("masks/city/a.png", 4)]
    assert [e.name for e in location.list("masks")] == ["masks/city/a.png"]
    assert location.list("nothing-here") == []
    location.remove("masks/city/a.png")
    location.remove("masks/city/a.png")  # already gone: no error
    assert not location.exists("masks/city/a.png")
    assert location.join("images", "x.png").endswith("/images/x.png")
    with pytest.raises(FileNotFoundError):
        location.read("masks/city/a.png")


def test_an_s3_write_sends_the_sha256_and_the_listing_vouches_for_it(out):
    receipt = out.write("images/a.png", b"pixels")
    assert receipt.sha256 == hashlib.sha256(b"pixels").hexdigest() and receipt.size == len(b"pixels")
    head = out.fs.call_s3("head_object", Bucket=out.bucket, Key=f"{out.key}/images/a.png", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == receipt.sha256
    [entry] = out.list("images")
    assert (entry.etag, entry.size) == (receipt.etag, receipt.size)  # all the listing says of the object
    assert storage.unchanged_since_write(entry, receipt) == hashlib.sha256(b"pixels").hexdigest()


def test_an_upload_under_way_gives_the_same_receipt(out):
    receipt = out.write_soon("images/a.png", b"pixels").result()
    [entry] = out.list("images")
    assert receipt.size == 6 and storage.unchanged_since_write(entry, receipt) == hashlib.sha256(b"pixels").hexdigest()


def test_an_object_changed_by_someone_else_is_not_vouched_for(endpoint, out):
    receipt = out.write("images/a.png", b"pixels")
    client(endpoint).put_object(Bucket=BUCKET, Key=f"{out.key}/images/a.png", Body=b"edited")
    [entry] = out.list("images")
    assert storage.unchanged_since_write(entry, receipt) is None
    assert storage.unchanged_since_write(entry, None) is None


def test_a_wrong_sha256_is_refused_by_the_store(endpoint, out):
    """What a receipt rests on: the store verifies the SHA-256 sent with the PUT, so a receipt's digest
    is that of the bytes the store holds."""
    from botocore.config import Config

    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    once = client(endpoint, config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(Exception, match="BadDigest"):
        once.put_object(
            Bucket=BUCKET, Key=f"{out.key}/x.png", Body=b"x", ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong
        )
    assert out.list() == []


def test_the_listing_is_one_paginated_call(endpoint, out):
    s3 = client(endpoint)
    for i in range(1005):  # more than one page of 1,000 keys
        s3.put_object(Bucket=BUCKET, Key=f"{out.key}/images/{i:04d}.png", Body=b"")
    sent = requests_sent(out)
    entries = out.list("images")
    assert len(entries) == 1005 and entries[0].name == "images/0000.png"
    assert len(sent) == 2 and all("list-type=2" in url for url in sent)  # two pages, no request per object


def test_no_secret_in_what_segaug_writes_to_out(out):
    with objectlock.hold(out):
        journal = objectjournal.ObjectJournal(out, batch_rows=1)
        journal.add([row(0)])
        out.write("images/a.png", b"x")
        stored = b"".join(out.read(e.name) for e in out.list())
    assert SECRET.encode() not in stored and b"testing" not in stored


def test_bounded_options_set_timeouts_and_leave_checksums_to_segaug_unless_the_user_sets_theirs():
    from segaug_cli.storage.s3 import bounded

    config = bounded({"endpoint_url": "http://x"})["config_kwargs"]
    assert config["connect_timeout"] == 1.0 and config["retries"]["total_max_attempts"] == 2
    assert config["request_checksum_calculation"] == config["response_checksum_validation"] == "when_required"
    mine = bounded({"config_kwargs": {"connect_timeout": 9, "request_checksum_calculation": "when_supported"}})
    assert mine["config_kwargs"]["connect_timeout"] == 9
    assert mine["config_kwargs"]["request_checksum_calculation"] == "when_supported"
