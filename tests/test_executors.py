"""Executors: how jobs run (this process, a local pool), behind the one protocol the engine drives.

The engine must not know which executor runs its jobs: any object with the protocol's four methods
gives the same bytes, and cancelling stops every worker before it returns.
"""

from __future__ import annotations

import itertools
import multiprocessing
import platform
import subprocess
import sys
import threading
from collections import deque

import pytest
from conftest import make_dataset, tree_digest, write_recipe

from segaug_cli import engine, executors, worker
from segaug_cli import recipe as recipes
from segaug_cli.jobs import Settings
from segaug_cli.pairing import find_pairs

RECIPE = """\
seed: 3
copies: 2
transforms:
  - rotate: {degrees: [-20, 20]}
  - hflip: {p: 0.5}
"""
PAIRS = {"a": (64, 48), "b": (40, 40), "c": (50, 30), "d": (33, 47), "city/e": (20, 30)}


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "in", PAIRS), recipes.load(write_recipe(tmp_path / "r.yaml", RECIPE))


class LastInFirstOut:
    """An executor the engine has never seen: this process, the newest job first."""

    lookahead = 3

    def __init__(self):
        self.queued, self.most_queued, self.cancelled = deque(), 0, False

    def start(self, settings: Settings) -> None:
        worker.init_worker(settings)

    def submit(self, job) -> None:
        self.queued.append(job)
        self.most_queued = max(self.most_queued, len(self.queued))

    def as_completed(self):
        while self.queued:
            yield worker.process_pair(self.queued.pop())

    def cancel(self) -> None:
        self.cancelled = True


def test_any_executor_with_the_protocol_gives_the_bytes_of_the_built_in_ones(dataset, tmp_path):
    in_dir, recipe = dataset
    other = LastInFirstOut()
    summary = engine.expand(recipe, in_dir, tmp_path / "other", engine.ExpandOptions(workers=other))

    assert summary.written == 2 * len(PAIRS) and summary.failed == 0
    assert other.cancelled and other.most_queued == other.lookahead  # bounded look-ahead, then ended
    reference = engine.expand(recipe, in_dir, tmp_path / "in_process", engine.ExpandOptions(workers=1))
    assert reference.written == summary.written
    assert tree_digest(tmp_path / "other") == tree_digest(tmp_path / "in_process")


@pytest.mark.parametrize(
    ("workers", "jobs", "expected"),
    [
        (1, 5, (executors.InProcess, None)),
        (4, 1, (executors.InProcess, None)),
        (2, 5, (executors.LocalPool, 2)),
        (8, 3, (executors.LocalPool, 3)),
    ],
)
def test_a_local_run_uses_a_pool_only_when_two_processes_have_work(workers, jobs, expected):
    chosen = executors.choose(workers, jobs)
    assert (type(chosen), getattr(chosen, "workers", None)) == expected


@pytest.mark.parametrize(
    ("workers", "jobs", "processes"), [(1, 5, 2), (2, 5, 4), (None, 9, 2 * executors.default_workers())]
)
def test_a_run_into_an_object_store_has_twice_the_processes_but_as_many_computing(workers, jobs, processes):
    chosen = executors.choose(workers, jobs, uploads_wait=True)
    assert type(chosen) is executors.LocalPool
    assert (chosen.workers, chosen.processes) == (processes // 2, processes)


def test_one_pair_into_an_object_store_runs_in_this_process():
    assert type(executors.choose(4, 1, uploads_wait=True)) is executors.InProcess


_RENDERS_LOGGED = """
import contextlib, os, sys, time
from segaug_cli import engine, executors, worker
from segaug_cli import recipe as recipes
from segaug_cli.jobs import Settings
from segaug_cli.pairing import find_pairs

in_dir, out, log = sys.argv[1:4]
computing = worker._computing

@contextlib.contextmanager
def logged():  # when each render holds its slot, by process
    with computing():
        start = time.monotonic()
        yield
        time.sleep(0.02)  # as if rendering took longer: overlaps would show
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {start} {time.monotonic()}\\n")

worker._computing = logged  # before the fork: the pool's processes inherit it
recipe = recipes.load(sys.argv[4])
jobs = engine.plan(recipe, find_pairs(in_dir), {})
pool = executors.LocalPool(1, processes_per_worker=2)
with executors.running(pool, jobs, Settings(recipe, in_dir, out)) as outcomes:
    assert all(o.failure is None for o in outcomes)
"""


def test_pool_processes_beyond_the_workers_never_render_at_once(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {f"p{i:02d}": (40, 30) for i in range(12)})
    recipe, log = write_recipe(tmp_path / "r.yaml", RECIPE), tmp_path / "renders"
    args = [str(in_dir), str(tmp_path / "out"), str(log), str(recipe)]
    done = subprocess.run([sys.executable, "-c", _RENDERS_LOGGED, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    renders = sorted(
        (float(start), float(end), pid) for pid, start, end in map(str.split, log.read_text().splitlines())
    )
    assert len(renders) == 12 and len({pid for _, _, pid in renders}) == 2  # both processes rendered
    gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(renders)]
    assert min(gaps) >= 0  # one slot: one render at a time


def test_cancel_ends_every_pool_worker_and_nothing_is_written_after_it(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {f"p{i:02d}": (40, 30) for i in range(12)})
    recipe, out = recipes.load(write_recipe(tmp_path / "r.yaml", RECIPE)), tmp_path / "out"
    jobs = engine.plan(recipe, find_pairs(in_dir), {})
    pool = executors.LocalPool(2)  # 4 jobs ahead: at most 5 of the 12 are ever submitted here
    before = set(multiprocessing.active_children())  # children an earlier test may have left are not ours

    with executors.running(pool, jobs, Settings(recipe, str(in_dir), str(out))) as outcomes:
        first = next(outcomes)

    assert first.failure is None
    assert set(multiprocessing.active_children()) - before == set()  # terminated and joined, not left to finish
    written = tree_digest(out)
    assert 4 <= len(written) <= 5 * 4  # 2 copies x (image, mask): the pair that finished, at most 5
    threading.Event().wait(0.2)
    assert tree_digest(out) == written


def test_workers_fork_from_a_single_threaded_caller_and_use_a_forkserver_otherwise():
    # in a fresh interpreter: this process may hold library threads an earlier test started
    script = """
import threading
from segaug_cli import executors
assert threading.active_count() == 1
assert executors.pool_context().get_start_method() == "fork"
stop = threading.Event()
other = threading.Thread(target=stop.wait, daemon=True)
other.start()
assert executors.pool_context().get_start_method() == "forkserver"
stop.set()
other.join()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


_FAULTS_PER_SAMPLE = """
import resource, sys
import cv2, numpy as np
from segaug_cli import executors

tuned = executors.keep_freed_memory_for_reuse()
cv2.setNumThreads(1)
source = np.random.default_rng(0).integers(0, 255, (360, 480, 3), np.uint8)

def sample(k):  # what a worker does per output: a LUT, a warp, an encode, each a fresh buffer
    m = np.float64([[1, 0.01 * k, 2], [0, 1, 3]])
    warped = cv2.warpAffine(cv2.LUT(source, np.arange(256, dtype=np.uint8)), m, (480, 360))
    return cv2.imencode(".png", warped)[1].tobytes()

for k in range(5):
    sample(k)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for k in range(40):
    sample(k)
print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_pool_worker_reuses_freed_buffers_instead_of_faulting_in_fresh_pages():
    # in a fresh process: the setting is process-wide, and the test process keeps its own;
    # untuned, glibc gave a new process about 340 page faults per sample of this size
    result = subprocess.run([sys.executable, "-c", _FAULTS_PER_SAMPLE], capture_output=True, text=True, check=True)
    tuned, faults = result.stdout.split()

    assert tuned == "True"
    assert float(faults) < 1, result.stdout


def test_a_forkserver_imports_the_runs_storage_backends_once_for_every_worker(tmp_path):
    pytest.importorskip("s3fs")
    recipe = recipes.parse_data({"seed": 0, "copies": 1, "transforms": [{"hflip": {}}]})
    settings = Settings(recipe, str(tmp_path / "in"), "s3://bucket/out")

    writers = ("segaug_cli.png", "fpng")
    assert worker.modules_to_preload(settings) == ("s3fs.core", "segaug_cli.storage.s3", *writers)
    assert worker.modules_to_preload(Settings(recipe, str(tmp_path / "in"), str(tmp_path / "out"))) == writers
    no_fork = "threading.Thread(target=threading.Event().wait, daemon=True).start()"  # so: a forkserver
    held = _modules_a_new_worker_holds(no_fork, ("s3fs.core",), "forkserver", ("s3fs.core", "cv2"))
    assert held == "['cv2', 's3fs.core']"


def test_a_forked_pool_imports_the_png_writers_once_before_its_workers_start(tmp_path):
    """Every worker of a PNG run encodes with them: imported in the parent, each worker inherits them
    instead of spending ~10 ms importing them before its first pair. ``small`` needs no fpng."""
    small = recipes.parse_data({"seed": 0, "copies": 1, "transforms": [{"hflip": {}}], "output": {"png": "small"}})
    assert worker.modules_to_preload(Settings(small, str(tmp_path / "in"), str(tmp_path / "out"))) == (
        "segaug_cli.png",
    )
    preload = ("segaug_cli.png", "fpng", "no_such_module_anywhere")
    held = _modules_a_new_worker_holds('assert "fpng" not in sys.modules', preload, "fork", ("segaug_cli.png", "fpng"))
    assert held == "['fpng', 'segaug_cli.png']"


_WORKER_MODULES = """
import sys, threading
from concurrent.futures import ProcessPoolExecutor
from segaug_cli import executors
{setup}
context = executors.pool_context({preload!r})
assert context.get_start_method() == {method!r}
with ProcessPoolExecutor(1, mp_context=context) as pool:  # what a worker holds before its first task
    print(pool.submit(eval, "sorted(m for m in __import__('sys').modules if m in {modules!r})").result())
"""


def _modules_a_new_worker_holds(setup: str, preload: tuple[str, ...], method: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a worker of ``pool_context(preload)`` holds before its first task, as the
    printed sorted list, in a fresh interpreter that ran ``setup`` first (``method``: the start method
    that setup must lead to)."""
    script = _WORKER_MODULES.format(setup=setup, preload=preload, method=method, modules=modules)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
