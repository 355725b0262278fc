"""Pair jobs on an existing Dask distributed cluster, behind the ``Executor`` protocol of executors.py.

The only module that imports ``distributed``, and only when a cluster is asked for, so segaug runs
without the dask extra. Before any job is submitted, ``preflight`` asks every worker for the versions
that decide output bytes and for what it sees of IN and OUT, and refuses with one line naming the
worker: a worker with another OpenCV would silently write other bytes, and one that does not share
the filesystem would fail every pair. A worker that dies mid-task is Dask's to handle: it runs the
task again elsewhere, and since a pair's bytes are a function of its inputs and every file is written
atomically, a second execution writes exactly what the first did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from . import cpu, storage, worker
from .errors import UsageError, WorkerLost
from .jobs import Mode, PairJob, PairOutcome, Settings
from .storage import books

INSTALL = "pip install 'segaug[dask]'"
PROBE_PREFIX = ".segaug-probe-"
NO_WORKER_GRACE = 60.0  # seconds a run waits for a worker to (re)join before it gives up
CANCEL_GRACE = 300.0  # seconds ``cancel`` waits for tasks already running to end (one pair each)
_POLL = 1.0  # seconds between looks at the cluster while waiting


def import_distributed():
    """The ``distributed`` package, or a UsageError saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(f"running on a Dask cluster needs the dask extra: {INSTALL}") from None
    return distributed


class DaskExecutor:
    """Runs one pair per task on a Dask cluster whose workers see IN and OUT on a shared filesystem.

    Args:
        address: the scheduler, e.g. ``tcp://host:8786``; or
        scheduler_file: the JSON file ``dask scheduler --scheduler-file`` (or dask-jobqueue) writes.
        timeout: seconds to wait for the scheduler (None: Dask's ``distributed.comm.timeouts.connect``).
    """

    def __init__(self, address: str | None = None, scheduler_file: str | None = None, timeout: float | None = None):
        if (address is None) == (scheduler_file is None):
            raise UsageError("give the Dask scheduler either as --scheduler or as --scheduler-file, not both")
        self._distributed = import_distributed()
        self.address, self.scheduler_file, self.timeout = address, scheduler_file, timeout
        self.lookahead = 0
        self._client = None
        self._checked: Settings | None = None
        self._settings_future = None
        self._token = ""
        self._futures: set = set()
        self._done: queue.Queue = queue.Queue()

    # -- the Executor protocol ---------------------------------------------------------------------

    def preflight(self, settings: Settings) -> None:
        """Connect, then refuse (UsageError, nothing submitted) a cluster that would not give the bytes
        of a local run: a worker with other library versions, or one that cannot read IN or write OUT.
        """
        settings = _absolute(settings)
        if self._checked == settings:
            return
        self._connect()
        try:
            workers = _names(self._ask_workers())
            _refuse_other_versions(self._client.run(worker_versions), workers)
            _refuse_unpinned_opencv(self._client.run(cpu.unpinned_features), workers)
            _refuse_unshared_folders(self._client, settings, workers)
        except BaseException:
            self._close()
            raise
        self._checked = settings

    def start(self, settings: Settings) -> None:
        settings = _absolute(settings)
        self.preflight(settings)
        threads = sum(self._client.nthreads().values())
        self.lookahead = max(8, 4 * threads)  # a finished task's thread must find the next one queued
        self._token = uuid.uuid4().hex
        # sent once to every worker; each task refers to it, so a job carries only its pair
        self._settings_future = self._client.scatter(settings, broadcast=True, hash=False)

    def submit(self, job: PairJob) -> None:
        future = self._client.submit(
            run_pair, self._token, self._settings_future, job, pure=False, key=f"segaug-pair-{uuid.uuid4().hex}"
        )
        self._futures.add(future)
        future.add_done_callback(self._done.put)  # called in another thread: a queue hands it over

    def as_completed(self) -> Iterator[PairOutcome]:
        while self._futures:
            future = self._next_finished()
            if future in self._futures:
                self._futures.discard(future)
                yield self._outcome(future)

    def cancel(self) -> None:
        """Cancel what is queued and wait until no task of this run is still running: Dask cannot stop a
        running task, and a stopped run must not write after its commit."""
        if self._client is None:
            return
        try:
            if self._futures:
                self._client.cancel(list(self._futures))
                self._wait_until_idle()
        finally:
            self._futures.clear()
            self._close()

    # -- helpers -----------------------------------------------------------------------------------

    def _connect(self) -> None:
        if self._client is not None:
            return
        where = self.address or self.scheduler_file
        if self.scheduler_file is not None and not os.path.isfile(self.scheduler_file):
            raise UsageError(f"{self.scheduler_file}: no such scheduler file")
        kwargs = {} if self.timeout is None else {"timeout": self.timeout}
        try:
            self._client = self._distributed.Client(
                self.address, scheduler_file=self.scheduler_file, set_as_default=False, **kwargs
            )
        except (OSError, ValueError, TypeError, asyncio.TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {where}: {_first_line(exc)}") from None
        if not self._client.nthreads():
            self._close()
            raise UsageError(f"the Dask scheduler at {where} has no workers: start some with `dask worker`")

    def _ask_workers(self) -> dict[str, str]:
        """Every worker's name; a worker that cannot even run segaug's functions is refused here."""
        try:
            return self._client.run(_worker_name)
        except Exception as exc:
            raise UsageError(
                f"a Dask worker cannot run segaug ({_first_line(exc)}): install segaug with the "
                f"dask extra on every worker, in the versions of this machine ({INSTALL})"
            ) from None

    def _close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
            self._checked = None

    def _next_finished(self):
        """The next future to finish, waiting as long as it takes while the cluster has workers."""
        lonely_since = None
        while True:
            try:
                return self._done.get(timeout=_POLL)
            except queue.Empty:
                pass
            if self._client.nthreads():
                lonely_since = None
            elif lonely_since is None:
                lonely_since = time.monotonic()
            elif time.monotonic() - lonely_since > NO_WORKER_GRACE:
                raise WorkerLost(
                    f"no Dask worker left for {NO_WORKER_GRACE:.0f} s; the pairs that finished are "
                    "kept: start workers and run again to go on"
                )

    def _outcome(self, future) -> PairOutcome:
        try:
            return future.result()
        except self._distributed.KilledWorker:
            raise WorkerLost(
                "Dask workers died running the same pair again and again (killed by the system, "
                "perhaps for lack of memory); the pairs that finished are kept: run again to go on"
            ) from None
        except Exception as exc:  # the cluster failed (scheduler gone, a worker without segaug): not a pair's fault
            raise WorkerLost(
                f"the Dask cluster failed: {_first_line(exc)}; the pairs that finished are kept: run again to go on"
            ) from None

    def _wait_until_idle(self) -> None:
        deadline = time.monotonic() + CANCEL_GRACE
        while time.monotonic() < deadline:
            try:
                busy = sum(self._client.run(running_tasks, self._token).values())
            except Exception:  # the cluster is gone: nothing of ours runs there any more
                return
            if not busy:
                return
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# On the client: the checks before anything is submitted
# ---------------------------------------------------------------------------------------------


def _absolute(settings: Settings) -> Settings:
    """IN and OUT as absolute paths (a worker's current folder is not this process's), URLs as they are;
    storage options without what looks like a secret: workers take credentials from their own
    environment (``AWS_ACCESS_KEY_ID``..., ``~/.aws``, an instance role), and nothing secret crosses
    the scheduler."""

    return replace(
        settings,
        in_dir=storage.absolute(settings.in_dir),
        out_dir=storage.absolute(settings.out_dir),
        storage_options=storage.without_secrets(settings.storage_options),
    )


def _names(names_by_address: dict[str, str]) -> dict[str, str]:
    """How each worker is named in messages: its name and address."""
    return {
        address: f"{name} ({address})" if name and name != address else address
        for address, name in names_by_address.items()
    }


def _refuse_other_versions(reported: dict[str, dict[str, str]], workers: dict[str, str]) -> None:
    ours = worker_versions()
    for address in sorted(reported):
        theirs = reported[address]
        differences = [
            f"{name} {theirs.get(name, 'missing')} where this machine has {ours[name]}"
            for name in sorted(ours)
            if theirs.get(name) != ours[name]
        ]
        if differences:
            raise UsageError(
                f"Dask worker {workers.get(address, address)} has {'; '.join(differences)}: it "
                f"would write other bytes; install the same versions on every worker "
                f"(pip install -c constraints.txt 'segaug[dask]')"
            )


def _refuse_unpinned_opencv(reported: dict[str, list[str]], workers: dict[str, str]) -> None:
    """A worker that loaded OpenCV before segaug runs kernels whose bytes depend on its CPU."""
    for address in sorted(reported):
        if reported[address]:
            raise UsageError(
                f"Dask worker {workers.get(address, address)} loaded OpenCV before segaug and runs its "
                f"{'/'.join(reported[address])} kernels, whose bytes depend on the CPU: restart it with "
                f"OPENCV_CPU_DISABLE={','.join(reported[address])} or without importing cv2 before segaug_cli"
            )


def _refuse_unshared_folders(client, settings: Settings, workers: dict[str, str]) -> None:
    """Every worker must list IN as this machine does and, to expand, create a file in OUT (or in the
    folder that will hold it) that this machine then sees. With IN or OUT in an object store, every
    worker must reach the store itself instead (its backend installed, its own credentials)."""
    urls = storage.network_places((settings.in_dir, settings.out_dir))
    if urls:
        problems = client.run(probe_store, urls, settings.storage_options)
        for address in sorted(problems):
            if problems[address]:
                raise UsageError(f"Dask worker {workers.get(address, address)}: {problems[address]}")
        return
    in_names = sorted(os.listdir(settings.in_dir))
    writable = _existing_folder(Path(settings.out_dir)) if settings.mode is Mode.EXPAND else None
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}-"
    try:
        problems = client.run(
            probe_folders, settings.in_dir, in_names, settings.out_dir, str(writable) if writable else None, probe
        )
        for address in sorted(problems):
            if problems[address]:
                raise UsageError(f"Dask worker {workers.get(address, address)} {problems[address]}")
        if writable is not None:
            _refuse_unseen_probes(writable, probe, problems, settings.out_dir, workers)
    finally:
        if writable is not None:
            client.run(remove_probes, str(writable), probe)
            remove_probes(str(writable), probe)


def _refuse_unseen_probes(folder: Path, probe: str, addresses, out_dir: str, workers: dict[str, str]) -> None:
    seen = {entry.name for entry in folder.iterdir() if entry.name.startswith(probe)}
    for address in sorted(addresses):
        if probe + _safe(address) not in seen:
            raise UsageError(
                f"Dask worker {workers.get(address, address)} writes OUT ({out_dir}) to a folder "
                "this machine does not see: IN and OUT must be on a filesystem every worker shares"
            )


def _existing_folder(path: Path) -> Path:
    """OUT, or the nearest folder above it that exists (OUT is made only once the checks pass)."""
    while not path.is_dir() and path.parent != path:
        path = path.parent
    return path


def _safe(address: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in address)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# On the workers: functions the client sends by name (segaug must be installed there)
# ---------------------------------------------------------------------------------------------


def worker_versions() -> dict[str, str]:
    """What segaug.json records (``books.versions``), plus the PNG writer's libdeflate binding."""
    import deflate

    return {**books.versions(), "deflate": deflate.__version__}


def _worker_name(dask_worker=None) -> str:
    return str(dask_worker.name) if dask_worker is not None else ""


def probe_store(urls: list[str], storage_options: dict) -> str:
    """On a worker: one listing of a name under each URL that nothing has, which fails as the run
    would (no backend, no credentials, no bucket, no route); "" when the store answers."""
    try:
        for url in urls:
            storage.open_location(url, storage_options).list(PROBE_PREFIX.strip("."))
    except storage.StorageError as exc:
        return str(exc)
    return ""


def probe_folders(
    in_dir: str, in_names: list[str], out_dir: str, writable: str | None, probe: str, dask_worker=None
) -> str | None:
    """What is wrong with this worker's view of IN and OUT, as the end of a sentence; None if nothing."""
    try:
        seen = sorted(os.listdir(in_dir))
    except OSError as exc:
        return f"cannot read IN ({in_dir}): {exc.strerror}"
    if seen != in_names:
        return (
            f"sees other files in IN ({in_dir}) than this machine: IN and OUT must be on a filesystem "
            "every worker shares"
        )
    if writable is None:
        return None
    address = dask_worker.address if dask_worker is not None else ""
    try:
        os.close(os.open(os.path.join(writable, probe + _safe(address)), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError as exc:
        return f"cannot write OUT ({out_dir}): {exc.strerror}"
    return None


def remove_probes(folder: str, probe: str) -> None:
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(probe):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))


_ACTIVE: Counter[str] = Counter()  # tasks running in this worker process, by run token
_ACTIVE_LOCK = threading.Lock()
_SINGLE_THREADED = threading.Event()


def run_pair(token: str, settings: Settings, job: PairJob) -> PairOutcome:
    """One Dask task: one pair, counted as running so that a cancelling client can wait for it."""
    _opencv_one_thread_per_task()
    with _ACTIVE_LOCK:
        _ACTIVE[token] += 1
    try:
        return worker.process_pair_with(settings, job)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE[token] -= 1
            if not _ACTIVE[token]:
                del _ACTIVE[token]


def running_tasks(token: str) -> int:
    with _ACTIVE_LOCK:
        return _ACTIVE.get(token, 0)


def _opencv_one_thread_per_task() -> None:
    """A worker runs ``--nthreads`` tasks at once, so OpenCV gets one thread each (a process-wide
    setting): threads x OpenCV threads would otherwise oversubscribe the cores."""
    if not _SINGLE_THREADED.is_set():
        import cv2

        cv2.setNumThreads(1)
        _SINGLE_THREADED.set()
