"""One writer per OUT: an advisory ``fcntl`` lock on a lock file in OUT.

A run that writes OUT (``expand``, ``merge``) holds ``OUT/.segaug.lock`` exclusively. A shard run
holds it shared, plus its own shard's lock file exclusively, so the N shards of one job may write
one OUT at once (a CI matrix on a shared filesystem) while an unsharded run or a merge cannot start
beside any of them. ``check`` takes no lock: it only asks whether one is held.

POSIX record locks (``fcntl.lockf``) rather than ``flock``: they work on NFS, and they belong to the
process, so pool workers forked while the lock is held do not keep it alive after the run; a run
that is killed loses its lock with its process, and the next run simply takes it. The holder writes
who it is (host, pid, start time) into the lock file, for the error message of the run it turns away.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

LOCK_FILE = ".segaug.lock"
_BUSY = (errno.EACCES, errno.EAGAIN)
_HELD_HERE: set[str] = set()  # record locks never conflict within one process: refuse a second holder here


class OutLocked(UsageError):
    """Another segaug run writes OUT now."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started}"


def shard_lock_file(shard: tuple[int, int]) -> str:
    return f".segaug.shard-{shard[0]}-of-{shard[1]}.lock"


@contextlib.contextmanager
def hold(out_dir: str | Path, shard: tuple[int, int] | None = None) -> Iterator[None]:
    """Hold OUT for one run: exclusively, or for one shard (shared OUT lock + exclusive shard lock).

    Raises:
        OutLocked: another run holds a conflicting lock; its holder is named in the message.
    """
    out_dir = Path(out_dir)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_locked(out_dir / LOCK_FILE, exclusive=shard is None))
        if shard is not None:
            stack.enter_context(_locked(out_dir / shard_lock_file(shard), exclusive=True))
        yield


def holder_of(out_dir: str | Path) -> Holder | None:
    """Who writes OUT now (for shards, one of them), or None: takes no lock and writes nothing."""
    out_dir = Path(out_dir)
    if not _is_locked(out_dir / LOCK_FILE):
        return None
    return _read_holder(out_dir / LOCK_FILE) or _a_shard_holder(out_dir)


def _is_locked(path: Path) -> bool:
    """Whether any process holds a record lock on ``path``: the kernel's answer (F_GETLK)."""
    if str(path) in _HELD_HERE:
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if sys.platform != "linux":  # struct flock's layout differs: probe with a shared lock instead
            return not _try_lock(fd, fcntl.LOCK_SH)
        query = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
        kind: int = struct.unpack("hhqqi", fcntl.fcntl(fd, fcntl.F_GETLK, query))[0]
        return kind != fcntl.F_UNLCK
    finally:
        os.close(fd)  # also releases the probe's own lock, if it took one


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.lockf(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in _BUSY:
            raise
        return False
    return True


def _a_shard_holder(out_dir: Path) -> Holder | None:
    """A shard run holds the OUT lock shared and names itself in its own shard's lock file."""
    for path in sorted(out_dir.glob(".segaug.shard-*-of-*.lock")):
        if _is_locked(path):
            return _read_holder(path)
    return None


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    if str(path) in _HELD_HERE:
        raise OutLocked(_busy_message(path.parent))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        if not _try_lock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH):
            raise OutLocked(_busy_message(path.parent))
        if exclusive:
            _write_holder(fd)
        _HELD_HERE.add(str(path))
        try:
            yield
        finally:
            _HELD_HERE.discard(str(path))
            if exclusive:  # a record left behind would name a run that has ended to the next shard's rival
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the record lock


def _write_holder(fd: int) -> None:
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}).encode() + b"\n"
    os.pwrite(fd, record, 0)  # written before the old record is cut off, so the file is never empty
    os.ftruncate(fd, len(record))


def _holder_once_written(out_dir: Path, wait_s: float = 0.5) -> Holder | None:
    """The holder, waiting a moment for a run that has just taken the lock to write who it is."""
    deadline = time.monotonic() + wait_s
    while (holder := holder_of(out_dir)) is None and _is_locked(out_dir / LOCK_FILE) and time.monotonic() < deadline:
        time.sleep(0.01)
    return holder


def _read_holder(path: Path) -> Holder | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return Holder(str(record["host"]), int(record["pid"]), str(record["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a shard run holds the OUT lock shared and writes no holder; or one just started


def _busy_message(out_dir: Path) -> str:
    holder = _holder_once_written(out_dir)
    who = f" ({holder.describe()})" if holder else ""
    return (
        f"{out_dir}: another segaug run is writing this folder{who}; wait for it to finish, "
        "or give this run another OUT"
    )
