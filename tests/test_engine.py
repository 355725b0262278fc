"""The parallel engine's process handling: how workers start, and what the calling process keeps.

Workers fork from the calling process when that is safe; these tests pin down the cases where a
careless fork hangs or a setting leaks, and check the bytes never depend on how workers started.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import cv2
import pytest
from conftest import error_lines, kill_group, make_dataset, read_manifest, tree_digest, write_recipe

from segaug_cli import engine
from segaug_cli import recipe as recipes
from segaug_cli.storage import rows as books_rows

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
    summary = engine.expand(recipes.load(recipe), in_dir, out, engine.ExpandOptions(workers=workers))
    pairs = sum(1 for _ in (in_dir / "images").rglob("*.png"))
    assert summary.failed == 0 and summary.written == 3 * pairs
    return tree_digest(out)


def _run_script(script: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run Python code in a fresh process group; kill the whole group (workers too) if it hangs."""
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        child.communicate()
        pytest.fail("the run hung")
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


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


@pytest.mark.parametrize("workers", [1, 2])
def test_only_pool_workers_change_how_malloc_keeps_freed_memory(job, tmp_path, workers):
    # the setting is process-wide: a library caller's own process (workers=1 runs in it) keeps its own.
    # A fresh interpreter, so that the pool forks (a thread some earlier test left would make it use a
    # forkserver, whose workers do not inherit the patch)
    calls = tmp_path / "calls"
    calls.mkdir()
    in_dir, recipe = job
    script = textwrap.dedent(f"""
        import os, pathlib
        from segaug_cli import engine, executors, recipe
        calls = pathlib.Path({str(calls)!r})
        executors.keep_freed_memory_for_reuse = lambda: (calls / str(os.getpid())).touch()
        options = engine.ExpandOptions(workers={workers})
        summary = engine.expand(recipe.load({str(recipe)!r}), {str(in_dir)!r}, {str(tmp_path / "out")!r}, options)
        assert summary.failed == 0, summary
        print(os.getpid())
    """)
    done = _run_script(script)
    assert done.returncode == 0, done.stderr

    pids = {int(p.name) for p in calls.iterdir()}
    assert int(done.stdout) not in pids
    assert len(pids) == (2 if workers == 2 else 0)


@pytest.mark.parametrize("command", ["expand", "check"])
def test_the_command_lines_own_process_keeps_freed_memory_as_its_workers_do(job, tmp_path, command):
    # with --workers 1 that process renders every pair itself; it is segaug's, not a library caller's
    calls = tmp_path / "calls"
    calls.mkdir()
    in_dir, recipe = job
    out = tmp_path / "out"
    if command == "check":
        _expand(job, out, 1)
    script = textwrap.dedent(f"""
        import os, pathlib
        from segaug_cli import executors
        from segaug_cli.cli import main
        calls = pathlib.Path({str(calls)!r})
        executors.keep_freed_memory_for_reuse = lambda: (calls / str(os.getpid())).touch()
        print(os.getpid())
        main([{command!r}, {str(recipe)!r}, {str(in_dir)!r}, {str(out)!r}, "--workers", "1", "--quiet"])
    """)
    done = _run_script(script)
    assert done.returncode == 0, done.stderr

    assert {int(p.name) for p in calls.iterdir()} == {int(done.stdout)}


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
        options = engine.ExpandOptions(workers=2)
        summary = engine.expand(recipe.load({str(recipe)!r}), {str(in_dir)!r}, {str(tmp_path / "out")!r}, options)
        assert summary.written == {3 * len(PAIRS)} and summary.failed == 0, summary
    """)
    done = _run_script(script)
    assert done.returncode == 0, done.stderr
    assert tree_digest(tmp_path / "out") == _expand(job, tmp_path / "reference", workers=1)


# ---------------------------------------------------------------------------------------------
# Rows stay on disk: a run's manifest is the same however many runs its rows spilled to
# ---------------------------------------------------------------------------------------------


def test_a_manifest_merged_from_many_spilled_runs_matches_one_sorted_in_memory(tmp_path, monkeypatch):
    pairs = {f"p{i}": (20 + i, 24) for i in range(7)} | {"city/q": (30, 30), "p-1": (22, 22)}
    in_dir = make_dataset(tmp_path / "in", pairs)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.replace("copies: 3", "copies: 12"))
    in_memory = engine.expand(recipes.load(recipe), in_dir, tmp_path / "one", engine.ExpandOptions(workers=2))
    monkeypatch.setattr(books_rows, "SORT_CHUNK", 5)  # 108 rows: 22 runs to merge
    spilled = engine.expand(recipes.load(recipe), in_dir, tmp_path / "many", engine.ExpandOptions(workers=2))

    assert in_memory.written == spilled.written == 12 * len(pairs)
    assert tree_digest(tmp_path / "many") == tree_digest(tmp_path / "one")
    lines = (tmp_path / "many" / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert lines == sorted(lines) and len(lines) == 12 * len(pairs)


def test_a_rerun_merges_kept_earlier_rows_with_new_ones_through_spilled_runs(tmp_path, monkeypatch):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"
    engine.expand(recipes.load(recipe), in_dir, out, engine.ExpandOptions(workers=2))
    make_dataset(in_dir, {"b": (41, 39), "a0": (30, 30), "e": (25, 35)}, seed=99)  # one changed, two new
    monkeypatch.setattr(books_rows, "SORT_CHUNK", 2)

    rerun = engine.expand(recipes.load(recipe), in_dir, out, engine.ExpandOptions(workers=2))

    assert (rerun.written, rerun.unchanged) == (9, 9)
    assert tree_digest(out) == _expand((in_dir, recipe), tmp_path / "clean", workers=1)


# ---------------------------------------------------------------------------------------------
# Output names that two pairs would share
# ---------------------------------------------------------------------------------------------


KEEP = RECIPE.replace("copies: 3\n", "copies: 2\nkeep_original: true\n")


def test_a_kept_original_named_like_another_pairs_copy_fails_and_the_other_pair_keeps_its_names(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"x": (30, 40), "x_aug1": (30, 40), "x_aug7": (20, 20), "y": (25, 25)})
    summary = engine.expand(
        recipes.load(write_recipe(tmp_path / "r.yaml", KEEP)), in_dir, tmp_path / "out", engine.ExpandOptions(workers=2)
    )

    assert summary.failures == [
        ("images/x_aug1.png", "images/x_aug1.png: its output names collide with those of images/x.png")
    ]
    assert summary.written == 3 * 3  # x, x_aug7 (x makes no copy 7) and y: original + 2 copies each
    rows = {r["image"]: r for r in read_manifest(tmp_path / "out")}
    assert rows["images/x_aug1.png"]["source_image"] == "images/x.png"  # x's copy 1, not x_aug1's original


def test_a_clash_is_found_across_the_keys_that_sort_between_the_two_pairs(tmp_path):
    # The planner remembers only the keys that begin the current one: x-1, x_a and x_aug lie between
    # x and x_aug1 in key order and must not make it forget x.
    sizes = {"x": (30, 40), "x-1": (20, 20), "x_a": (20, 20), "x_aug": (20, 20), "x_aug1": (30, 40), "xy": (20, 20)}
    in_dir = make_dataset(tmp_path / "in", sizes)
    summary = engine.expand(
        recipes.load(write_recipe(tmp_path / "r.yaml", KEEP)), in_dir, tmp_path / "out", engine.ExpandOptions(workers=1)
    )
    assert summary.failures == [
        ("images/x_aug1.png", "images/x_aug1.png: its output names collide with those of images/x.png")
    ]
    assert summary.written == 5 * 3


def test_names_that_meet_only_in_the_mask_folder_are_a_collision_too(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"x": (30, 40), "x_aug0": (30, 40)})
    image = in_dir / "images" / "x_aug0.png"
    cv2.imwrite(str(image.with_suffix(".jpg")), cv2.imread(str(image)))  # images/x_aug0.jpg: no image clash
    image.unlink()
    summary = engine.expand(
        recipes.load(write_recipe(tmp_path / "r.yaml", KEEP)), in_dir, tmp_path / "out", engine.ExpandOptions(workers=1)
    )

    assert [source for source, _ in summary.failures] == ["images/x_aug0.jpg"]  # masks/x_aug0.png is x's copy 0


def test_without_kept_originals_no_names_meet(tmp_path):
    in_dir = make_dataset(tmp_path / "in", {"x": (30, 40), "x_aug1": (30, 40)})
    summary = engine.expand(recipes.load(write_recipe(tmp_path / "r.yaml", RECIPE)), in_dir, tmp_path / "out")
    assert summary.failures == [] and summary.written == 6


# ---------------------------------------------------------------------------------------------
# A worker that dies
# ---------------------------------------------------------------------------------------------


def test_a_worker_killed_mid_pair_stops_the_run_with_one_line_and_a_rerun_completes_it(job, tmp_path):
    """The system's OOM killer, say: the run must not wait forever for the lost pair."""
    in_dir, recipe = job
    out = tmp_path / "out"
    killed = _run_script(
        textwrap.dedent(f"""
        import os, signal, sys
        from segaug_cli import cli, engine, worker
        real = worker.process_pair
        def dying(job):
            if job.pair.key == "c":
                os.kill(os.getpid(), signal.SIGKILL)
            return real(job)
        dying.__module__, dying.__qualname__ = "segaug_cli.worker", "process_pair"  # what workers look up
        worker.process_pair = engine.process_pair = dying
        cli.main(["expand", {str(recipe)!r}, {str(in_dir)!r}, {str(out)!r}, "--workers", "2"])
    """)
    )

    assert killed.returncode == 1, killed.stderr
    assert "Traceback" not in killed.stderr
    errors = error_lines(killed.stderr)
    assert errors == [
        "error: a worker process ended abruptly (killed by the system, perhaps for lack of memory); "
        "the pairs that finished are kept: run again to go on"
    ]
    assert not any((out / "images").glob("c_aug*"))
    rerun = engine.expand(recipes.load(recipe), in_dir, out, engine.ExpandOptions(workers=2))
    assert rerun.failed == 0 and rerun.fatal is None
    assert tree_digest(out) == _expand(job, tmp_path / "clean", workers=1)
