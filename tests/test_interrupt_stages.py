"""Ctrl-C at every stage of expand — while planning, in the pool, while an outcome is being recorded,
at --workers 1, during the commit — exits 130 with one line, leaves no half-written file under a
final name, and a rerun completes to the bytes of an uninterrupted run. The run pauses at a named point
(a test hook), where SIGINT is sent to its whole process group, as a terminal's Ctrl-C does."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import make_dataset, paused_at, run_segaug, start_segaug, tree_digest, wait_until, write_recipe

RECIPE = "seed: 2\ncopies: 3\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - brightness: {range: [-0.1, 0.1]}\n"
PAIRS = {"a": (40, 48), "b": (36, 36), "city/c": (30, 44), "d": (33, 21)}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    in_dir = make_dataset(root / "in", PAIRS)
    recipe = write_recipe(root / "r.yaml", RECIPE)
    clean = run_segaug("expand", recipe, in_dir, root / "clean", "--workers", "1")
    assert clean.returncode == 0, clean.stderr
    return in_dir, recipe, tree_digest(root / "clean")


def interrupt_at(point: str, workers: int, recipe: Path, in_dir: Path, out: Path, tmp_path: Path):
    marker = tmp_path / "paused"
    proc = start_segaug("expand", recipe, in_dir, out, "--workers", workers, env=paused_at(point, marker))
    wait_until(proc, marker.exists, point, timeout=30)
    os.killpg(proc.pid, signal.SIGINT)
    return proc.communicate(timeout=30)[1], proc.returncode


@pytest.mark.parametrize(
    ("point", "workers"),
    [
        ("planning", 2),
        ("recording", 1),  # an outcome in hand, its rows not yet in the journal
        ("recording", 2),
        ("running", 1),
        ("running", 2),
        ("commit", 2),
    ],
)
def test_ctrl_c_at_each_stage_exits_130_and_a_rerun_finishes(job, tmp_path, point, workers):
    in_dir, recipe, clean = job
    out = tmp_path / "out"

    stderr, code = interrupt_at(point, workers, recipe, in_dir, out, tmp_path)

    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1 and "interrupted" in stderr, stderr
    if point == "planning":
        assert not out.exists()  # nothing is written before the plan is whole
    if point == "commit":  # the commit finished before the run stopped: OUT is whole already
        assert tree_digest(out) == clean
    rerun = run_segaug("expand", recipe, in_dir, out, "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert tree_digest(out) == clean


def test_ctrl_c_during_check_exits_130_with_one_line(job, tmp_path):
    in_dir, recipe, _ = job
    out = tmp_path / "out"
    assert run_segaug("expand", recipe, in_dir, out, "--workers", "1").returncode == 0
    marker = tmp_path / "paused"
    proc = start_segaug("check", recipe, in_dir, out, env=paused_at("checking", marker))
    wait_until(proc, marker.exists, "checking", timeout=30)
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert (proc.returncode, stdout, stderr) == (130, "", "segaug: interrupted\n")
