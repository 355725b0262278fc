"""The lock of an object store's OUT (``storage/objectlock.py``) on the session's SeaweedFS (and, for
what each backend must do alike, on its Azurite too): the conditional create, the lease renewed by
its holder, a killed run's lock taken over once expired (by one successor only), or at once when its
holder provably ran on this host and is gone, and shards that share OUT but exclude a whole run."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
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
    assert re.search(r"\(if it was killed, its lease expires in \d+ s\)", message) and "\n" not in message
    assert objectlock.holder_of(out) is None and out.list(objectlock.FOLDER) == []  # released


@pytest.fixture(params=["s3", "az"])
def store(request) -> storage.Location:
    """A fresh OUT prefix on either store with conditional writes: what the lock needs of both alike."""
    return request.getfixturevalue("out" if request.param == "s3" else "az_out")


def _who(lease: objectlock.Lease) -> tuple:
    import os
    import socket

    return socket.gethostname(), os.getpid(), lease.started


def _killed_runs_lock(out: storage.Location, name: str, expires_in: float) -> None:
    record = objectlock.Record("elsewhere", 4242, "2026-01-01T00:00:00+00:00", time.time() + expires_in)
    out.create(name, record.to_bytes())


def test_a_killed_runs_lock_is_taken_over_once_its_lease_expired(store):
    _killed_runs_lock(store, objectlock.OUT_LOCK, expires_in=30)
    with pytest.raises(lock.OutLocked, match="pid 4242"), objectlock.hold(store):
        pass
    store.remove(objectlock.OUT_LOCK)
    _killed_runs_lock(store, objectlock.OUT_LOCK, expires_in=-1)
    with objectlock.hold(store) as lease:
        holder = objectlock.holder_of(store)
        assert (holder.pid, holder.started) == (_who(lease)[1], lease.started)


def test_two_successors_cannot_both_take_over(store, monkeypatch):
    _killed_runs_lock(store, objectlock.OUT_LOCK, expires_in=-1)
    both_read = threading.Barrier(2, timeout=20)
    backend = type(store)
    read = backend.read_tagged

    waited: set[int] = set()

    def read_then_wait(self, name):  # both successors see the same expired lock before either writes
        answer = read(self, name)
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_read.wait()
        return answer

    monkeypatch.setattr(backend, "read_tagged", read_then_wait)
    outcomes: list[object] = []

    def successor():
        lease = objectlock.Lease(store, objectlock.OUT_LOCK, lease_seconds=60)
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


def test_the_holder_renews_its_lease_and_notices_a_takeover(store):
    with objectlock.hold(store, lease_seconds=0.8) as lease:
        first = objectlock.Record.from_bytes(store.read(objectlock.OUT_LOCK)).expires
        time.sleep(1.2)  # longer than the lease: only renewal keeps it
        with pytest.raises(lock.OutLocked), objectlock.hold(store):
            pass
        assert objectlock.Record.from_bytes(store.read(objectlock.OUT_LOCK)).expires > first
        lease.ensure_held()
        store.write(objectlock.OUT_LOCK, b"{}")  # someone else's write: the next renewal fails its If-Match
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


# ---------------------------------------------------------------------------------------------
# A holder that provably is gone: on this host, its pid runs nothing, or another process
# ---------------------------------------------------------------------------------------------


def _ended_process() -> tuple[int, str]:
    """The pid of a process that ran and has exited, and its identity while it ran."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    identity = objectlock.process_identity(proc.pid)
    proc.communicate(b"", timeout=30)
    return proc.pid, identity


def _lock_of(out: storage.S3Location, host: str, pid: int, process: str = "", expires_in: float = 60) -> None:
    record = objectlock.Record(host, pid, "2026-01-01T00:00:00+00:00", time.time() + expires_in, process)
    out.create(objectlock.OUT_LOCK, record.to_bytes())


@pytest.mark.parametrize("recorded", ["identity", "pid only"])
def test_a_live_lease_of_a_dead_holder_on_this_host_is_taken_over_at_once(out, recorded):
    pid, identity = _ended_process()
    _lock_of(out, socket.gethostname(), pid, identity if recorded == "identity" else "")
    with objectlock.hold(out) as lease:
        assert objectlock.holder_of(out) == lock.Holder(*_who(lease))
        record = objectlock.Record.from_bytes(out.read(objectlock.OUT_LOCK))
        assert record.pid == os.getpid() and record.process == objectlock.process_identity(os.getpid())


@pytest.mark.skipif(not objectlock.process_identity(os.getpid()), reason="needs /proc to tell processes apart")
def test_a_pid_reused_by_another_process_on_this_host_is_taken_over_at_once(out):
    # this very process under the pid the record names, but started at another time: the pid was reused
    machine, _, ticks = objectlock.process_identity(os.getpid()).rpartition(" ")
    _lock_of(out, socket.gethostname(), os.getpid(), f"{machine} {int(ticks) - 1}")
    with objectlock.hold(out) as lease:
        assert objectlock.holder_of(out) == lock.Holder(*_who(lease))


@pytest.mark.parametrize("recorded", ["identity", "pid only"])
def test_a_live_holder_on_this_host_keeps_its_lock(out, recorded):
    identity = objectlock.process_identity(os.getpid()) if recorded == "identity" else ""
    _lock_of(out, socket.gethostname(), os.getpid(), identity)
    with pytest.raises(lock.OutLocked, match=f"pid {os.getpid()}, "), objectlock.hold(out):
        pass
    assert objectlock.Record.from_bytes(out.read(objectlock.OUT_LOCK)).process == identity  # left as it was


def test_a_dead_pid_of_another_host_waits_for_the_lease_and_says_how_long(out):
    pid, identity = _ended_process()  # dead here, which says nothing of a process on another machine
    _lock_of(out, "another-host", pid, identity, expires_in=30)
    with pytest.raises(lock.OutLocked) as caught, objectlock.hold(out):
        pass
    message = str(caught.value)
    assert message.startswith(
        f"{out.url}: another segaug run is writing this folder (host another-host, pid {pid}, started "
        "2026-01-01T00:00:00+00:00); wait for it to finish (if it was killed, its lease expires in "
    )
    assert message.endswith(" s), or give this run another OUT")
    assert 20 <= int(re.search(r"expires in (\d+) s", message).group(1)) <= 30


def test_a_record_of_another_boot_of_this_host_waits_for_the_lease(out):
    pid, identity = _ended_process()
    _lock_of(out, socket.gethostname(), pid, f"another-boot pid:[1] {identity.rpartition(' ')[2] or 1}")
    with pytest.raises(lock.OutLocked, match="its lease expires in"), objectlock.hold(out):
        pass


HOLD = """
import json, sys, time
from segaug_cli import storage
from segaug_cli.storage import objectlock
with objectlock.hold(storage.open_location(sys.argv[1], json.loads(sys.argv[2]))):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_run_killed_holding_the_lock_is_succeeded_at_once_on_its_host(endpoint, out):
    from services import SECRET, s3_options

    options = json.dumps(s3_options(endpoint, secret=SECRET, skip_instance_cache=True))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, out.url, options], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "held\n"
    finally:
        proc.kill()  # SIGKILL: no release, the lock object stays with a full lease ahead
        proc.wait(timeout=30)
    record = objectlock.Record.from_bytes(out.read(objectlock.OUT_LOCK))
    assert record.pid == proc.pid and record.expires > time.time() + 30
    with objectlock.hold(out) as lease:
        assert objectlock.holder_of(out) == lock.Holder(*_who(lease))
