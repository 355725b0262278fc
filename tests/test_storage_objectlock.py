"""The lock of an object store's OUT (``storage/objectlock.py``) on the session's SeaweedFS: the
conditional create, the lease renewed by its holder, a killed run's lock taken over once expired (by
one successor only), and shards that share OUT but exclude a whole run."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("s3fs")

from segaug_cli import storage  # noqa: E402
from segaug_cli.storage import lock, objectlock  # noqa: E402


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
