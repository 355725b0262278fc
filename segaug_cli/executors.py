"""Where pair jobs run: in this process, or in a pool of local worker processes.

The engine sees only the ``Executor`` protocol, driven by ``running``: start, submit a bounded number
of jobs ahead, take each outcome as it finishes, cancel whatever is left. Another way to run jobs (a
cluster, say) is one more class here; nothing else changes. This is the only module that imports
multiprocessing.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from . import worker
from .errors import WorkerLost
from .jobs import PairJob, PairOutcome, Settings


class Executor(Protocol):
    """Runs pair jobs and hands back their outcomes as they finish.

    ``running`` drives one: ``start`` once, then ``submit`` and ``as_completed`` interleaved, then
    ``cancel``, always.
    """

    lookahead: int  # jobs kept submitted beyond those finished: enough to keep every worker busy

    def start(self, settings: Settings) -> None:
        """Get ready to run jobs of one run, which all share ``settings``."""

    def submit(self, job: PairJob) -> None:
        """Queue one job."""

    def as_completed(self) -> Iterator[PairOutcome]:
        """Outcomes of the submitted jobs in the order they finish, jobs submitted meanwhile included;
        ends when none is left.

        Raises:
            WorkerLost: a worker died, taking its job with it.
        """

    def cancel(self) -> None:
        """Stop everything now: no job writes anything after this returns."""


@contextlib.contextmanager
def running(executor: Executor, jobs: Iterable[PairJob], settings: Settings) -> Iterator[Iterator[PairOutcome]]:
    """Run ``jobs`` on ``executor``; the block gets their outcomes as they finish.

    Leaving the block, at the end or early (a stop, Ctrl-C, an error), cancels what is left.
    """
    executor.start(settings)
    try:
        queued = iter(jobs)
        for job in itertools.islice(queued, executor.lookahead):
            executor.submit(job)
        yield _refilled(executor, queued)
    finally:
        executor.cancel()


def _refilled(executor: Executor, queued: Iterator[PairJob]) -> Iterator[PairOutcome]:
    """Each finished job makes room for the next, submitted before the outcome is handed on."""
    for outcome in executor.as_completed():
        for job in itertools.islice(queued, 1):
            executor.submit(job)
        yield outcome


def preflight(executor: Executor, settings: Settings) -> None:
    """Let an executor that can check its workers refuse, before OUT is touched, a run it cannot do
    right (a cluster whose workers would write other bytes, say) with a ``SegaugError``. Optional:
    an executor without a ``preflight`` method has nothing to check."""
    check = getattr(executor, "preflight", None)
    if check is not None:
        check(settings)


def choose(workers: int | Executor | None, jobs: int, uploads_wait: bool = False) -> Executor:
    """The executor for a run of ``jobs`` pairs.

    Args:
        workers: local worker processes (None: one per CPU; never more than there are jobs, and one
            runs in this process), or an executor to use as it is.
        uploads_wait: OUT is an object store, where each pair waits for its uploads before its outcome
            can say they are whole: twice the processes then, of which only ``workers`` compute at a
            time, so one renders while another waits (``LocalPool``), one worker included.
    """
    if workers is not None and not isinstance(workers, int):
        return workers
    processes = min(workers or default_workers(), jobs)
    if uploads_wait and jobs > 1:
        return LocalPool(processes, processes_per_worker=2)
    return InProcess() if processes <= 1 else LocalPool(processes)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# This process
# ---------------------------------------------------------------------------------------------


class InProcess:
    """Runs each job in this process, when its outcome is asked for (``--workers 1``)."""

    lookahead = 1

    def __init__(self) -> None:
        self._queued: deque[PairJob] = deque()
        self._stack = contextlib.ExitStack()

    def start(self, settings: Settings) -> None:
        self._stack.enter_context(opencv_single_threaded())  # one core, as one pool worker uses
        worker.init_worker(settings)

    def submit(self, job: PairJob) -> None:
        self._queued.append(job)

    def as_completed(self) -> Iterator[PairOutcome]:
        while self._queued:
            yield worker.process_pair(self._queued.popleft())

    def cancel(self) -> None:
        self._queued.clear()
        self._stack.close()


# ---------------------------------------------------------------------------------------------
# A pool of local processes
# ---------------------------------------------------------------------------------------------


class LocalPool:
    """Worker processes on this machine, one pair per task: a task decodes once and writes every
    copy, far more work than the IPC.

    concurrent.futures rather than multiprocessing.Pool: a Pool waits forever for the task of a
    worker that was killed, and its worker-handler thread spins while results wait to be read.
    """

    def __init__(self, workers: int, processes_per_worker: int = 1):
        self.workers = workers
        self.processes = workers * processes_per_worker
        self.lookahead = 2 * self.processes
        self._stack = contextlib.ExitStack()
        self._context: _RecordingContext | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._running: set[Future] = set()

    def start(self, settings: Settings) -> None:
        self._stack.enter_context(opencv_single_threaded())  # before the fork: see its docstring
        # Forked workers share this process's objects copy-on-write; a frozen heap keeps their garbage
        # collector from touching (and so copying) every inherited object: memory stays flat.
        gc.freeze()
        self._stack.callback(gc.unfreeze)
        self._context = _RecordingContext(pool_context(worker.modules_to_preload(settings)))
        # more processes than workers: a semaphore keeps the computing ones to ``workers`` (worker.init_worker)
        slots = self._context.Semaphore(self.workers) if self.processes > self.workers else None
        self._pool = ProcessPoolExecutor(
            self.processes, mp_context=self._context, initializer=_start_pool_worker, initargs=(settings, slots)
        )

    def submit(self, job: PairJob) -> None:
        self._running.add(self._pool.submit(worker.process_pair, job))

    def as_completed(self) -> Iterator[PairOutcome]:
        while self._running:
            finished, self._running = wait(self._running, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    raise WorkerLost(
                        "a worker process ended abruptly (killed by the system, perhaps for lack of "
                        "memory); the pairs that finished are kept: run again to go on"
                    ) from None
                yield outcome

    def cancel(self) -> None:
        """Stop the workers now, whatever they are doing: a stopped run must not write after its commit."""
        if self._pool is not None:
            # Workers first: a worker that ends politely on shutdown's sentinel makes the pool's manager
            # thread start a replacement (CPython's _adjust_process_count), which could outlive us.
            # Killed workers break the pool instead, and a broken pool starts none.
            self._context.end_processes()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._context.end_processes()
        self._running.clear()
        self._stack.close()


class _RecordingContext:
    """A multiprocessing context that keeps the processes it makes, so that ``cancel`` can end the
    pool's workers through public calls (the executor's own table of them is private before Python
    3.14's ``terminate_workers``)."""

    def __init__(self, context: multiprocessing.context.BaseContext):
        self._context = context
        self._processes: list[multiprocessing.process.BaseProcess] = []

    def Process(self, *args, **kwargs) -> multiprocessing.process.BaseProcess:  # the name contexts use
        process = self._context.Process(*args, **kwargs)
        self._processes.append(process)
        return process

    def __getattr__(self, name: str):  # queues, locks, the start method: the wrapped context's
        return getattr(self._context, name)

    def end_processes(self) -> None:
        """Terminate and join every process this context started, also one started while the others
        were being ended."""
        ended: set[int] = set()
        while started := [p for p in self._processes if p.pid is not None and id(p) not in ended]:
            for process in started:
                process.terminate()
            for process in started:
                process.join()
                ended.add(id(process))


def pool_context(preload: tuple[str, ...] = ()) -> multiprocessing.context.BaseContext:
    """``fork`` where it is safe, else ``forkserver`` (which imports ``preload`` too, once for every
    worker), else ``spawn``.

    A forked worker starts in milliseconds with every module already imported; a forkserver costs a
    fresh interpreter and its imports (about 0.3 s of a core, measured, before the first pair). Fork
    is unsafe only with other threads alive: OpenCV's are ended by ``opencv_single_threaded``;
    another Python thread (a caller's) might hold a lock the child needs, so then a clean forkserver.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.platform == "linux" and threading.active_count() == 1:
        _import_quietly(preload)  # once here, before the fork, rather than in every worker
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, *preload])
        return context
    return multiprocessing.get_context("spawn")


def _import_quietly(modules: tuple[str, ...]) -> None:
    """Import what can be imported, as a forkserver's preload does: a module that is missing is the
    run's to report, in one line, when a worker first needs it."""
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


@contextlib.contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV at one thread in this process while the work runs, its own setting restored after.

    One thread per process, so N workers use N cores. Setting one thread also ends OpenCV's worker
    threads, and that is what makes ``fork`` safe: a child forked while that pool exists hangs in its
    first parallel OpenCV call.
    """
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _start_pool_worker(settings: Settings, cpu_slots=None) -> None:
    """A pool worker's setup: OpenCV at one thread, Ctrl-C left to the parent, freed memory kept."""
    import signal

    import cv2

    cv2.setNumThreads(1)
    # Ctrl-C reaches the whole process group; only the parent handles it, so workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_memory_for_reuse()
    worker.init_worker(settings, cpu_slots)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest: arrays under it come from the heap and are reused
_TRIM_THRESHOLD = 128 << 20


def keep_freed_memory_for_reuse() -> bool:
    """Have glibc's malloc keep freed arrays for the next sample instead of handing them back to the
    kernel; False where malloc is not glibc's (nothing changes there).

    By default a forked worker handed freed image buffers back and faulted fresh zeroed pages in for
    the next output: 2,160 CamVid output pairs at 2 workers took 118,000 page faults, and 21,000 with
    this (about a quarter less kernel time). Only segaug's own processes do this, its pool workers and
    the command line's process (``cli``), never a library caller's; a process's memory still peaks at
    what one pair needs.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
