"""An expand killed (SIGKILL) or interrupted (Ctrl-C) mid-run leaves no partial file under a final name,
and the next expand finishes the job with exactly the bytes of an uninterrupted run.

The runs are real subprocesses in their own session, so a signal can go to the whole process group
(parent and pool workers), as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import cv2
import pytest
from conftest import (
    kill_group,
    make_noisy_dataset,
    run_segaug,
    start_segaug,
    summary_counts,
    tree_digest,
    wait_for_outputs,
    write_recipe,
)

PAIRS = 16
COPIES = 8
RECIPE = f"""\
copies: {COPIES}
transforms:
  - rotate: {{degrees: [-30, 30]}}
  - scale: {{range: [0.8, 1.2]}}
  - hflip: {{p: 0.5}}
  - brightness: {{range: [-0.1, 0.1]}}
"""
PNG_END = b"IEND\xaeB`\x82"


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """IN with a few dozen noisy 256x256 pairs (slow enough to interrupt), the recipe, and the digest of
    an uninterrupted run."""
    root = tmp_path_factory.mktemp("interrupt")
    in_dir = root / "in"
    make_noisy_dataset(in_dir, PAIRS)
    recipe = write_recipe(root / "r.yaml", RECIPE)
    clean = run_segaug("expand", recipe, in_dir, root / "clean", "--workers", "2")
    assert clean.returncode == 0, clean.stderr
    assert summary_counts(clean.stderr) == (PAIRS * COPIES, 0, 0, 0)
    return in_dir, recipe, tree_digest(root / "clean")


def assert_no_partial_file(out: Path) -> None:
    """Every file under a final name is whole: a complete PNG that decodes."""
    finals = [p for folder in ("images", "masks") for p in (out / folder).rglob("*.png")]
    assert finals
    for path in finals:
        assert path.read_bytes().endswith(PNG_END), f"{path} is cut short"
        assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None, path


def finish(recipe: Path, in_dir: Path, out: Path) -> None:
    rerun = run_segaug("expand", recipe, in_dir, out, "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    written, unchanged, removed, failed = summary_counts(rerun.stderr)
    assert (written + unchanged, removed, failed) == (PAIRS * COPIES, 0, 0)
    assert written > 0  # the first run really was cut short
    assert not list(out.rglob("*.segaug-tmp"))


def test_sigkill_then_rerun_matches_a_clean_run(job, tmp_path):
    in_dir, recipe, clean = job
    out = tmp_path / "out"
    proc = start_segaug("expand", recipe, in_dir, out, "--workers", "2")
    wait_for_outputs(proc, out, 3 * COPIES)

    kill_group(proc)  # the parent and every pool worker, mid-write
    proc.communicate(timeout=10)

    assert proc.returncode == -signal.SIGKILL
    assert_no_partial_file(out)
    finish(recipe, in_dir, out)
    assert tree_digest(out) == clean


def test_ctrl_c_exits_130_with_one_line_then_rerun_matches_a_clean_run(job, tmp_path):
    in_dir, recipe, clean = job
    out = tmp_path / "out"
    proc = start_segaug("expand", recipe, in_dir, out, "--workers", "2")
    wait_for_outputs(proc, out, 3 * COPIES)

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    stdout, stderr = proc.communicate(timeout=10)

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], stderr
    assert stdout == ""
    assert_no_partial_file(out)
    finish(recipe, in_dir, out)
    assert tree_digest(out) == clean
