"""The parallel engine's process handling: how workers start, and what the calling process keeps.

Workers fork from the calling process when that is safe; these tests pin down the cases where a
careless fork hangs or a setting leaks, and check the bytes never depend on how workers started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import cv2
import pytest
from conftest import make_dataset, tree_digest, write_recipe

from segaug_cli import engine
from segaug_cli import recipe as recipes

RECIPE = """\
seed: 3
copies: 3
transforms:
  - rotate: {degrees: [-20, 20]}
  - hflip: {p: 0.5}
  - blur: {sigma: [0.5, 1.0]}
"""
PAIRS = {"a": (64, 48), "b": (40, 40), "c": (50, 30), "d": (33, 47)}


@pytest.fixture
def job(tmp_path):
    return make_dataset(tmp_path / "in", PAIRS), write_recipe(tmp_path / "r.yaml", RECIPE)


def _expand(job, out, workers):
    in_dir, recipe = job
    summary = engine.expand(recipes.load(recipe), in_dir, out, workers=workers)
    assert summary.failed == 0 and summary.written == 3 * len(PAIRS)
    return tree_digest(out)


def test_workers_fork_from_a_single_threaded_caller_and_use_a_forkserver_otherwise():
    assert threading.active_count() == 1
    assert engine._pool_context().get_start_method() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert engine._pool_context().get_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()


def test_forkserver_workers_give_the_same_bytes_as_forked_ones(job, tmp_path):
    forked = _expand(job, tmp_path / "forked", workers=2)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # a caller's thread: fork is not safe
    other.start()
    try:
        served = _expand(job, tmp_path / "served", workers=2)
    finally:
        stop.set()
        other.join()
    assert served == forked == _expand(job, tmp_path / "in_process", workers=1)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_callers_opencv_thread_setting_is_restored(job, tmp_path, workers):
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        _expand(job, tmp_path / "out", workers=workers)
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_a_caller_that_used_opencv_threads_can_still_fork_workers(job, tmp_path):
    """A child forked while OpenCV's thread pool exists hangs in its first parallel call; the engine
    ends that pool before forking. Run in a fresh process, under a timeout, since the failure is a hang."""
    in_dir, recipe = job
    script = textwrap.dedent(f"""
        import cv2, numpy as np
        from segaug_cli import engine, recipe
        cv2.setNumThreads(4)
        big = np.random.default_rng(0).random((1500, 1500), dtype=np.float32)
        for _ in range(5):  # parallel OpenCV calls: the pool's threads now exist
            cv2.GaussianBlur(cv2.resize(big, (2500, 2500)), (9, 9), 2)
        summary = engine.expand(recipe.load({str(recipe)!r}), {str(in_dir)!r}, {str(tmp_path / "out")!r}, workers=2)
        assert summary.written == {3 * len(PAIRS)} and summary.failed == 0, summary
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the hung workers too
        child.communicate()
        pytest.fail("expand hung: a worker forked with OpenCV's thread pool alive")
    assert child.returncode == 0, stderr
    assert tree_digest(tmp_path / "out") == _expand(job, tmp_path / "reference", workers=1)
