"""One writer per OUT in an object store: lock objects created with a conditional write, held by a lease.

An object store has no ``fcntl``. Any store with conditional writes (``base.ConditionalLocation``:
S3 and S3-compatible stores, Azure Blob Storage) holds the lock the same way. A run takes OUT by
creating ``OUT/.segaug-lock/out.json`` with ``If-None-Match: *``: of two runs, the store lets exactly
one create it. The object names its holder (host, pid, start) and a lease expiry; the holder rewrites
it every ``lease / 4`` seconds with ``If-Match: <its ETag>``, pushing the expiry on. A killed run
stops renewing, and once its lease has expired (at most ``LEASE_SECONDS`` after the kill) the next
run takes the lock over, again with ``If-Match`` on the ETag it read: of two successors, exactly one
wins. Expiry compares the holder's clock with the successor's, so the machines' clocks must agree to
well within the lease.

A successor on the holder's own machine need not wait: it can see that the holder is gone. The
record also names the holder's process as the kernel knows it (``process``: boot id, PID namespace,
start time in clock ticks, from ``/proc``). When the record's host is this host, its boot and PID
namespace are this process's, and its pid now runs no process, or a process with another start time
(the pid was reused), the lease is taken over at once, through the same ``If-Match`` replace. Without
``/proc`` (or from a record that lacks ``process``) only a pid that runs nothing at all counts as
gone: a pid reused by an unrelated process then keeps the lock until the lease expires.

Shards: a shard run creates ``.segaug-lock/shard-K-of-N.json`` and then checks that no whole-OUT
lock is live; a whole-OUT run creates ``out.json`` and then checks that no shard lock is live. Each
creates before it checks, so of a shard run and a whole-OUT run starting together at least one sees
the other and steps back (both may, and both then say so). A run that lost its lease (paused longer
than the lease, and taken over) learns it at its next renewal; ``Lease.ensure_held`` raises then,
and the engine calls it before the commit.

Local folders keep ``lock.py``'s ``fcntl`` lock (``local.LocalOut``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .base import ConditionalLocation, Location, PreconditionFailed, StorageError
from .lock import Holder, OutLocked

FOLDER = ".segaug-lock"
OUT_LOCK = f"{FOLDER}/out.json"
LEASE_SECONDS = 60.0  # a killed run's successor waits at most this long; the holder renews every quarter of it


def shard_lock(shard: tuple[int, int]) -> str:
    return f"{FOLDER}/shard-{shard[0]}-of-{shard[1]}.json"


@dataclass(frozen=True)
class Record:
    """What a lock object holds: who holds it, and until when (seconds since the epoch, UTC)."""

    host: str
    pid: int
    started: str
    expires: float
    process: str = ""  # the holder as this host's kernel knows it (``process_identity``); "" unknown

    def live(self, now: float) -> bool:
        return now < self.expires and not self.holder_gone()

    def holder_gone(self) -> bool:
        """Whether the holder provably no longer runs: it ran on this host, and its pid runs nothing now,
        or (where the record says which process it was) runs another process."""
        if self.host != socket.gethostname():
            return False
        if self.process:
            if self.process.rsplit(" ", 1)[0] != _machine():
                return False  # another boot or PID namespace: its pids mean nothing here
            return process_identity(self.pid) != self.process
        return not _runs(self.pid)

    def holder(self) -> Holder:
        return Holder(self.host, self.pid, self.started)

    def to_bytes(self) -> bytes:
        return (
            json.dumps(
                {
                    "host": self.host,
                    "pid": self.pid,
                    "started": self.started,
                    "expires": self.expires,
                    "process": self.process,
                },
                sort_keys=True,
            )
            + "\n"
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Record | None:
        try:
            fields = json.loads(data)
            return cls(
                str(fields["host"]),
                int(fields["pid"]),
                str(fields["started"]),
                float(fields["expires"]),
                str(fields.get("process", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not a lock segaug wrote: treated as expired, and taken over conditionally


class Lease:
    """One lock object held by this process, renewed by a background thread until released."""

    def __init__(self, out: ConditionalLocation, name: str, lease_seconds: float = LEASE_SECONDS):
        self.out, self.name, self.lease_seconds = out, name, lease_seconds
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.etag: str | None = None
        self.lost = False
        self._process = process_identity(os.getpid())
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _record(self) -> bytes:
        expires = time.time() + self.lease_seconds
        return Record(socket.gethostname(), os.getpid(), self.started, expires, self._process).to_bytes()

    def acquire(self) -> Lease:
        """Create the lock object, or take over one whose lease expired.

        Raises:
            OutLocked: a live holder has it, or another successor took it over first.
        """
        try:
            self.etag = self.out.create(self.name, self._record()).etag
        except PreconditionFailed:
            self._take_over()
        self._renewer = threading.Thread(target=self._renew_until_released, name="segaug-lease", daemon=True)
        self._renewer.start()
        return self

    def _take_over(self) -> None:
        current = self.out.read_tagged(self.name)
        if current is None:  # released between our create and our read: create again, once
            try:
                self.etag = self.out.create(self.name, self._record()).etag
                return
            except PreconditionFailed:
                current = self.out.read_tagged(self.name)
        if current is None:
            raise OutLocked(busy_message(self.out, None))
        record = Record.from_bytes(current[0])
        if record is not None and record.live(time.time()):
            raise OutLocked(busy_message(self.out, record))
        try:
            self.etag = self.out.replace(self.name, self._record(), current[1]).etag
        except PreconditionFailed:  # another successor took it over first
            raise OutLocked(busy_message(self.out, _live_record(self.out, self.name))) from None

    def _renew_until_released(self) -> None:
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                self.etag = self.out.replace(self.name, self._record(), self.etag or "").etag
            except PreconditionFailed:
                self.lost = True  # taken over: this run must not commit
                return
            except StorageError:
                continue  # the store is unreachable now; the lease still runs, try again next time

    def ensure_held(self) -> None:
        """Raise if another run took this lock over (this run stalled past its lease).

        Raises:
            OutLocked: the lease was lost; nothing more may be written to OUT.
        """
        if self.lost:
            raise OutLocked(
                f"{self.out.label}: this run lost its lock on OUT (it was paused longer than the "
                f"{self.lease_seconds:g} s lease and another run took over); stopping without a commit"
            )

    def release(self) -> None:
        """Delete the lock object. A store out of reach keeps it, and its lease lapses by itself: the
        command ends with what it had to say (the error that stopped it, most likely), not this."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.etag is not None and not self.lost:
            with contextlib.suppress(StorageError):
                self.out.remove_if(self.name, self.etag)


@contextlib.contextmanager
def hold(out: Location, shard: tuple[int, int] | None = None, lease_seconds: float = LEASE_SECONDS) -> Iterator[Lease]:
    """Hold OUT for one run: wholly, or one shard of it. Yields the lease.

    Raises:
        OutLocked: another run holds a conflicting lock; its holder is named in the message.
        StorageError: OUT is in a store without conditional writes (only S3, S3-compatible stores and
            Azure Blob Storage have them here).
    """
    if not isinstance(out, ConditionalLocation):
        raise StorageError(
            f"{out.label}: writing OUT needs conditional writes, which segaug uses on s3:// and az:// only"
        )
    with contextlib.ExitStack() as stack:
        mine = Lease(out, OUT_LOCK if shard is None else shard_lock(shard), lease_seconds).acquire()
        stack.callback(mine.release)
        other = _live_shard(out) if shard is None else _live_record(out, OUT_LOCK)
        if other is not None:
            raise OutLocked(busy_message(out, other))
        yield mine


def holder_of(out: Location) -> Holder | None:
    """Who writes OUT now (for shards, one of them), or None: reads the lock objects, writes nothing."""
    if not isinstance(out, ConditionalLocation):
        return None
    record = _live_record(out, OUT_LOCK) or _live_shard(out)
    return record.holder() if record else None


def _live_record(out: ConditionalLocation, name: str) -> Record | None:
    current = out.read_tagged(name)
    record = Record.from_bytes(current[0]) if current else None
    return record if record is not None and record.live(time.time()) else None


def _live_shard(out: ConditionalLocation) -> Record | None:
    for entry in out.list(FOLDER):
        if entry.name.startswith(f"{FOLDER}/shard-") and (record := _live_record(out, entry.name)):
            return record
    return None


def busy_message(out: Location, record: Record | None) -> str:
    """Who holds OUT, and how long a successor waits should that holder have been killed elsewhere."""
    busy = f"{out.label}: another segaug run is writing this folder"
    if record is None:
        return f"{busy}; wait for it to finish, or give this run another OUT"
    wait = math.ceil(max(0.0, record.expires - time.time()))
    return (
        f"{busy} ({record.holder().describe()}); wait for it to "
        f"finish (if it was killed, its lease expires in {wait} s), or give this run another OUT"
    )


def process_identity(pid: int) -> str:
    """A process as this host's kernel knows it: boot id, PID namespace and the process's start time
    (clock ticks since boot), which no later process with the same pid shares; "" where there is no
    ``/proc`` or no such process."""
    machine = _machine()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return f"{machine} {fields[19]}" if machine and len(fields) > 19 else ""


def _machine() -> str:
    """This boot of this host, and this process's PID namespace: where a pid names one process."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
        return f"{boot} {os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def _runs(pid: int) -> bool:
    """Whether a process with this pid exists here (one of another user counts)."""
    if pid <= 0:
        return False  # no process has it (and kill() would read it as a process group)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
