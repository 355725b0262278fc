"""The storage layer against a real S3 API (moto's server on 127.0.0.1, the session's one) and on local
folders: every Location method, the one paginated listing, SHA-256 checked at upload and read back,
the conditional-write lock with its lease, the write-once journal, and the errors (storage options:
tests/test_storage_options.py)."""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

import boto3  # noqa: E402
import requests  # noqa: E402
from conftest import row  # noqa: E402
from services import BUCKET, SECRET, free_port, requests_sent, s3_client, s3_options  # noqa: E402

from segaug_cli import storage  # noqa: E402
from segaug_cli.storage import lock, objectjournal, objectlock  # noqa: E402

client = functools.partial(s3_client, secret=SECRET)
options = functools.partial(s3_options, secret=SECRET, skip_instance_cache=True)


# ---------------------------------------------------------------------------------------------
# Location round trips
# ---------------------------------------------------------------------------------------------


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


def test_a_local_path_and_a_file_url_are_local_folders(tmp_path):
    assert isinstance(storage.open_location(tmp_path), storage.LocalLocation)
    assert storage.open_location(f"file://{tmp_path}").url == str(tmp_path)
    assert not storage.is_url(tmp_path) and storage.is_url("s3://b/p") and not storage.is_url("file:///x")


def test_a_local_write_is_todays_atomic_write(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(storage.atomic, "atomic_write", lambda path, data: calls.append((path, data)))
    storage.open_location(tmp_path).write("images/a.png", b"x")
    assert calls == [(str(tmp_path / "images" / "a.png"), b"x")]


def test_an_s3_write_sends_the_sha256_and_the_listing_vouches_for_it(out):
    receipt = out.write("images/a.png", b"pixels")
    assert receipt.sha256 == hashlib.sha256(b"pixels").hexdigest()
    head = out.fs.call_s3("head_object", Bucket=out.bucket, Key=f"{out.key}/images/a.png", ChecksumMode="ENABLED")
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == receipt.sha256
    [entry] = out.list("images")
    assert entry.sha256_at_upload and entry.etag == receipt.etag
    assert storage.unchanged_since_write(entry, receipt) == hashlib.sha256(b"pixels").hexdigest()


def test_an_object_changed_by_someone_else_is_not_vouched_for(endpoint, out):
    receipt = out.write("images/a.png", b"pixels")
    client(endpoint).put_object(Bucket=BUCKET, Key=f"{out.key}/images/a.png", Body=b"edited")
    [entry] = out.list("images")
    assert storage.unchanged_since_write(entry, receipt) is None
    assert storage.unchanged_since_write(entry, None) is None


def test_an_object_uploaded_without_a_sha256_is_not_vouched_for(endpoint, out):
    answer = client(endpoint).put_object(Bucket=BUCKET, Key=f"{out.key}/x.png", Body=b"x", ChecksumAlgorithm="CRC32")
    [entry] = out.list()
    assert not entry.sha256_at_upload
    assert (
        storage.unchanged_since_write(entry, storage.Receipt(answer["ETag"], hashlib.sha256(b"x").hexdigest())) is None
    )


def test_the_listing_is_one_paginated_call(endpoint, out):
    s3 = client(endpoint)
    for i in range(1005):  # more than one page of 1,000 keys
        s3.put_object(Bucket=BUCKET, Key=f"{out.key}/images/{i:04d}.png", Body=b"")
    sent = requests_sent(out)
    entries = out.list("images")
    assert len(entries) == 1005 and entries[0].name == "images/0000.png"
    assert len(sent) == 2 and all("list-type=2" in url for url in sent)  # two pages, no request per object


# ---------------------------------------------------------------------------------------------
# The journal: objects written once each
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The lock: conditional create, lease, takeover
# ---------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_the_holder_named(out):
    with objectlock.hold(out) as lease:
        assert objectlock.holder_of(out) == lock.Holder(*_who(lease))
        with pytest.raises(lock.OutLocked) as caught, objectlock.hold(out):
            pass
    message = str(caught.value)
    assert message.startswith(f"{out.url}: another segaug run is writing this folder (host ")
    assert "lease until" in message and "\n" not in message
    assert objectlock.holder_of(out) is None and out.list(objectlock.FOLDER) == []  # released


def _who(lease: objectlock.Lease) -> tuple:
    import os
    import socket

    return socket.gethostname(), os.getpid(), lease.started


def _killed_runs_lock(out: storage.S3Location, name: str, expires_in: float) -> None:
    record = objectlock.Record("elsewhere", 4242, "2026-01-01T00:00:00+00:00", time.time() + expires_in)
    out.create(name, record.to_bytes())


def test_a_killed_runs_lock_is_taken_over_once_its_lease_expired(out):
    _killed_runs_lock(out, objectlock.OUT_LOCK, expires_in=30)
    with pytest.raises(lock.OutLocked, match="pid 4242"), objectlock.hold(out):
        pass
    out.remove(objectlock.OUT_LOCK)
    _killed_runs_lock(out, objectlock.OUT_LOCK, expires_in=-1)
    with objectlock.hold(out) as lease:
        assert objectlock.holder_of(out).pid == _who(lease)[1]


def test_two_successors_cannot_both_take_over(out, monkeypatch):
    _killed_runs_lock(out, objectlock.OUT_LOCK, expires_in=-1)
    both_read = threading.Barrier(2, timeout=20)
    read = storage.S3Location.read_tagged

    waited: set[int] = set()

    def read_then_wait(self, name):  # both successors see the same expired lock before either writes
        answer = read(self, name)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_read.wait()
        return answer

    monkeypatch.setattr(storage.S3Location, "read_tagged", read_then_wait)
    outcomes: list[object] = []

    def successor():
        lease = objectlock.Lease(out, objectlock.OUT_LOCK, lease_seconds=60)
        try:
            outcomes.append(lease.acquire())
        except lock.OutLocked as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=successor) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    monkeypatch.undo()
    winners = [o for o in outcomes if isinstance(o, objectlock.Lease)]
    assert len(winners) == 1 and len(outcomes) == 2
    assert "another segaug run is writing this folder" in str(next(o for o in outcomes if o not in winners))
    winners[0].release()


def test_the_holder_renews_its_lease_and_notices_a_takeover(out):
    with objectlock.hold(out, lease_seconds=0.8) as lease:
        first = objectlock.Record.from_bytes(out.read(objectlock.OUT_LOCK)).expires
        time.sleep(1.2)  # longer than the lease: only renewal keeps it
        with pytest.raises(lock.OutLocked), objectlock.hold(out):
            pass
        assert objectlock.Record.from_bytes(out.read(objectlock.OUT_LOCK)).expires > first
        lease.ensure_held()
        out.write(objectlock.OUT_LOCK, b"{}")  # someone else's write: the next renewal fails its If-Match
        deadline = time.monotonic() + 5
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(lock.OutLocked, match="lost its lock"):
            lease.ensure_held()


def test_shards_share_out_but_exclude_a_whole_run(out):
    with objectlock.hold(out, shard=(1, 2)), objectlock.hold(out, shard=(2, 2)):
        with pytest.raises(lock.OutLocked), objectlock.hold(out):
            pass
        with pytest.raises(lock.OutLocked), objectlock.hold(out, shard=(1, 2)):
            pass
        assert objectlock.holder_of(out) is not None
    with objectlock.hold(out), pytest.raises(lock.OutLocked), objectlock.hold(out, shard=(1, 2)):
        pass
    assert out.list(objectlock.FOLDER) == []


def test_a_local_out_keeps_the_fcntl_lock(tmp_path):
    with storage.open_out(tmp_path, {}, hold=True) as out:  # a local OUT holds no lease: its lock is fcntl's
        assert not hasattr(out, "lease") and lock.holder_of(tmp_path) is not None
        assert out.holder().pid == _who_pid()


def _who_pid() -> int:
    import os

    return os.getpid()


# ---------------------------------------------------------------------------------------------
# Errors: one line each, no secret
# ---------------------------------------------------------------------------------------------


def one_line_without_secret(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and SECRET not in text and SECRET not in repr(exc.args)
    assert exc.__cause__ is None and exc.__suppress_context__  # nothing of the backend's error is chained
    return text


def test_a_missing_bucket(endpoint):
    loc = storage.open_location("s3://no-such-bucket/out", options(endpoint))
    for action in (loc.list, lambda: loc.write("a.png", b"x"), lambda: loc.read("a.png")):
        with pytest.raises(storage.StorageError) as caught:
            action()
        assert one_line_without_secret(caught.value).endswith(": the bucket does not exist")


def test_access_denied(endpoint, caplog):
    iam = boto3.client(
        "iam", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]  # a real user with no policy at all
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10)  # moto checks IAM from now on
    try:
        caplog.set_level(logging.DEBUG)
        loc = storage.open_location(
            f"s3://{BUCKET}/denied",
            {
                "endpoint_url": endpoint,
                "key": key["AccessKeyId"],
                "secret": key["SecretAccessKey"],
                "client_kwargs": {"region_name": "us-east-1"},
                "skip_instance_cache": True,
            },
        )
        with pytest.raises(storage.StorageError) as caught:
            loc.write("a.png", b"x")
        assert (
            str(caught.value) == f"s3://{BUCKET}/denied/a.png: access denied (check the credentials and the "
            "bucket's policy)"
        )
        stranger = storage.open_location(f"s3://{BUCKET}/denied", options(endpoint))  # an unknown access key
        with pytest.raises(storage.StorageError, match="access denied") as caught:
            stranger.list()
        one_line_without_secret(caught.value)
        assert key["SecretAccessKey"] not in caplog.text and SECRET not in caplog.text
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_a_closed_port_is_a_network_failure_after_the_backends_retries(caplog):
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{free_port()}"
    loc = storage.open_location(
        f"s3://{BUCKET}/x", options(closed, config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2})
    )
    started = time.monotonic()
    with pytest.raises(storage.StorageError) as caught:
        loc.list()
    assert one_line_without_secret(caught.value) == (
        f"s3://{BUCKET}/x: cannot reach the store (connection refused, after the backend's retries)"
    )
    assert time.monotonic() - started < 30
    assert SECRET not in caplog.text


def test_no_secret_in_what_segaug_writes_to_out(out):
    with objectlock.hold(out):
        journal = objectjournal.ObjectJournal(out, batch_rows=1)
        journal.add([row(0)])
        out.write("images/a.png", b"x")
        stored = b"".join(out.read(e.name) for e in out.list())
    assert SECRET.encode() not in stored and b"testing" not in stored


@pytest.mark.parametrize(("url", "extra"), [("s3://b/x", "s3"), ("gs://b/x", "gcs"), ("az://c/x", "azure")])
def test_a_missing_extra_is_one_line(url, extra):
    code = (
        "import sys; sys.modules['s3fs'] = sys.modules['gcsfs'] = sys.modules['adlfs'] = None\n"
        "from segaug_cli import storage\n"
        f"try:\n    storage.open_location({url!r})\nexcept storage.StorageError as e:\n    print(e)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    scheme = url.split(":")[0]
    assert result.stdout == f"install segaug[{extra}] to read {scheme}:// URLs\n", result.stderr


def test_fsspec_is_imported_only_for_a_url():
    code = (
        "import sys; from segaug_cli import storage; from segaug_cli.storage import objectlock, objectjournal; "
        "storage.open_location('.'); print('fsspec' in sys.modules, 's3fs' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout == "False False\n", result.stderr
