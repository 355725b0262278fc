"""One writer per OUT: the advisory lock itself, held by real processes (locks are per process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segaug_cli.storage import lock

HOLD = """
import sys, time
from segaug_cli.storage import lock
shard = tuple(map(int, sys.argv[2].split("/"))) if len(sys.argv) > 2 else None
with lock.hold(sys.argv[1], shard=shard):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(out: Path, shard: str | None = None) -> subprocess.Popen:
    """A process that holds OUT (or one shard of it) until killed; returns once the lock is held."""
    args = [sys.executable, "-c", HOLD, str(out), *([shard] if shard else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line == "held\n", proc.stderr.read()
    return proc


@pytest.fixture
def holders():
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path, holders):
    holders.append(hold_in_another_process(tmp_path))
    with pytest.raises(lock.OutLocked) as caught, lock.hold(tmp_path):
        pass
    message = str(caught.value)
    assert message.startswith(
        f"{tmp_path}: another segaug run is writing this folder (host {socket.gethostname()}, "
        f"pid {holders[0].pid}, started "
    )
    assert "\n" not in message


def test_a_killed_holder_leaves_no_lock_behind(tmp_path, holders):
    proc = hold_in_another_process(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert lock.holder_of(tmp_path) is None
    with lock.hold(tmp_path):
        assert lock.holder_of(tmp_path).pid == os.getpid()
    assert lock.holder_of(tmp_path) is None


def test_holder_of_names_the_running_process_without_taking_the_lock(tmp_path, holders):
    assert lock.holder_of(tmp_path) is None  # no lock file at all
    holders.append(hold_in_another_process(tmp_path))
    before = (tmp_path / lock.LOCK_FILE).read_bytes()
    assert lock.holder_of(tmp_path).pid == holders[0].pid
    assert (tmp_path / lock.LOCK_FILE).read_bytes() == before


def test_shards_of_one_job_hold_out_together_but_exclude_a_whole_run(tmp_path, holders):
    holders.append(hold_in_another_process(tmp_path, "1/3"))
    holders.append(hold_in_another_process(tmp_path, "2/3"))  # would block if shards excluded each other
    with pytest.raises(lock.OutLocked, match=rf"pid ({holders[0].pid}|{holders[1].pid})"), lock.hold(tmp_path):
        pass
    with pytest.raises(lock.OutLocked), lock.hold(tmp_path, shard=(1, 3)):  # the same shard twice
        pass
    with lock.hold(tmp_path, shard=(3, 3)):
        pass


def test_a_whole_run_excludes_every_shard(tmp_path, holders):
    holders.append(hold_in_another_process(tmp_path))
    with pytest.raises(lock.OutLocked, match=f"pid {holders[0].pid}"), lock.hold(tmp_path, shard=(1, 2)):
        pass


def test_one_process_cannot_hold_out_twice(tmp_path):
    with lock.hold(tmp_path), pytest.raises(lock.OutLocked), lock.hold(tmp_path):
        pass
    with lock.hold(tmp_path):  # released on exit, also after the refusal above
        pass


def test_pool_workers_forked_while_the_lock_is_held_do_not_keep_it(tmp_path):
    with lock.hold(tmp_path):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child sleeps, then exits without cleanup
            time.sleep(5)
            os._exit(0)
    try:
        assert lock.holder_of(tmp_path) is None
        with lock.hold(tmp_path):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_a_lock_file_left_naming_a_dead_process_of_this_host_is_taken_at_once(tmp_path):
    # what a killed run leaves: its record, and no lock (the kernel dropped it with the process)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    stale = f'{{"host": "{socket.gethostname()}", "pid": {dead}, "started": "2026-01-01T00:00:00+00:00"}}\n'
    (tmp_path / lock.LOCK_FILE).write_text(stale)
    assert lock.holder_of(tmp_path) is None
    with lock.hold(tmp_path):
        assert lock.holder_of(tmp_path).pid == os.getpid()
