"""Running the pairs on a real Dask cluster: a `dask scheduler` and `dask worker` processes on 127.0.0.1,
started here with bounded time and always torn down (tests/services.py).

A cluster run must be a local run by other means: the same bytes, manifest and errors.csv, the same
exit codes, and a refusal in one line, before OUT is touched, of a cluster that could not give them.
Most tests share one two-worker cluster; those that kill, replace or restrict a worker start their own.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    error_lines,
    make_dataset,
    make_noisy_dataset,
    paused_at,
    read_manifest,
    run_segaug,
    start_segaug,
    summary_counts,
    tree_digest,
    wait_until,
    write_png,
    write_recipe,
)

pytest.importorskip("distributed")
from services import dask_cluster, private_mounts_work  # noqa: E402 - needs distributed

RECIPE = """\
seed: 5
copies: 3
transforms:
  - rotate: {degrees: [-25, 25]}
  - scale: {range: [0.8, 1.2]}
  - hflip: {p: 0.5}
  - brightness: {range: [-0.1, 0.1]}
"""
PAIRS = {"a": (48, 64), "b": (40, 40), "city/c": (37, 53), "city/d": (64, 32), "e": (30, 30), "f": (50, 45)}
COPIES = 3
SLOW_PAIRS, SLOW_COPIES = 16, 8  # slow enough to interrupt or to kill a worker mid-run


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """IN, the recipe, and the digest of a local run of them."""
    root = tmp_path_factory.mktemp("job")
    in_dir = make_dataset(root / "in", PAIRS)
    recipe = write_recipe(root / "r.yaml", RECIPE)
    local = run_segaug("expand", recipe, in_dir, root / "local", "--workers", "2")
    assert local.returncode == 0, local.stderr
    return in_dir, recipe, tree_digest(root / "local")


@pytest.fixture(scope="module")
def slow_job(tmp_path_factory):
    """Noisy 256x256 pairs, many copies: a run long enough to interrupt; and a local run's digest."""
    root = tmp_path_factory.mktemp("slow")
    in_dir = root / "in"
    make_noisy_dataset(in_dir, SLOW_PAIRS)
    recipe = write_recipe(root / "r.yaml", RECIPE.replace(f"copies: {COPIES}", f"copies: {SLOW_COPIES}"))
    local = run_segaug("expand", recipe, in_dir, root / "local", "--workers", "2")
    assert local.returncode == 0, local.stderr
    return in_dir, recipe, tree_digest(root / "local")


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------
# The same bytes as a local run
# ---------------------------------------------------------------------------------------------


def test_scheduler_address_gives_the_outputs_and_manifest_of_a_local_run(cluster, job, tmp_path):
    in_dir, recipe, local = job
    result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--scheduler", cluster.address)

    assert result.returncode == 0, result.stderr
    assert summary_counts(result.stderr) == (len(PAIRS) * COPIES, 0, 0, 0)
    assert tree_digest(tmp_path / "out") == local  # images, masks, manifest.csv and segaug.json


def test_scheduler_file_gives_the_outputs_and_manifest_of_a_local_run(cluster, job, tmp_path):
    in_dir, recipe, local = job
    result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--scheduler-file", cluster.scheduler_file)

    assert result.returncode == 0, result.stderr
    assert tree_digest(tmp_path / "out") == local


def test_a_rerun_on_the_cluster_is_incremental_as_a_local_one(cluster, job, tmp_path):
    in_dir, recipe, _ = job
    mine = tmp_path / "in"
    shutil.copytree(in_dir, mine)
    assert run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address).returncode == 0
    again = run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address)
    assert summary_counts(again.stderr) == (0, len(PAIRS) * COPIES, 0, 0)

    write_png(mine / "images" / "b.png", np.full((40, 40, 3), 200, np.uint8))  # one source pair changes
    (mine / "images" / "e.png").unlink()  # and one leaves IN
    (mine / "masks" / "e.png").unlink()
    changed = run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address)
    local = run_segaug("expand", recipe, mine, tmp_path / "local", "--workers", "2")

    assert summary_counts(changed.stderr) == (COPIES, (len(PAIRS) - 2) * COPIES, COPIES, 0)
    assert tree_digest(tmp_path / "out") == tree_digest(tmp_path / "local"), local.stderr


def test_failed_pairs_and_errors_csv_match_a_local_run(cluster, job, tmp_path):
    in_dir, recipe, _ = job
    mine = tmp_path / "in"
    shutil.copytree(in_dir, mine)
    (mine / "images" / "city" / "c.png").write_bytes(b"not a png")
    on_cluster = run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address)
    local = run_segaug("expand", recipe, mine, tmp_path / "local", "--workers", "2")

    assert on_cluster.returncode == local.returncode == 1
    assert error_lines(on_cluster.stderr) == error_lines(local.stderr) != []
    assert summary_counts(on_cluster.stderr) == ((len(PAIRS) - 1) * COPIES, 0, 0, 1)
    assert (tmp_path / "out" / "errors.csv").is_file()
    assert tree_digest(tmp_path / "out") == tree_digest(tmp_path / "local")  # errors.csv included


def test_strict_stops_at_the_first_failure_and_a_rerun_finishes(cluster, job, tmp_path):
    in_dir, recipe, _ = job
    mine = tmp_path / "in"
    shutil.copytree(in_dir, mine)
    (mine / "images" / "a.png").write_bytes(b"not a png")
    strict = run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address, "--strict")

    assert strict.returncode == 1
    assert [line.split(":")[1].strip() for line in error_lines(strict.stderr)] == ["images/a.png"]
    rerun = run_segaug("expand", recipe, mine, tmp_path / "out", "--scheduler", cluster.address)
    local = run_segaug("expand", recipe, mine, tmp_path / "local", "--workers", "2")
    assert rerun.returncode == local.returncode == 1
    assert tree_digest(tmp_path / "out") == tree_digest(tmp_path / "local")


# In a child process: a Dask client leaves its event-loop thread behind, and other tests need this
# process single-threaded (the local pool forks only then).
PROGRESS = """\
import sys
from segaug_cli import engine, executors_dask, recipe
started, finished = [], []

class Progress:
    start, update = started.append, finished.append

options = engine.ExpandOptions(workers=executors_dask.DaskExecutor(sys.argv[4]))
summary = engine.expand(recipe.load(sys.argv[1]), sys.argv[2], sys.argv[3], options, Progress())
print(started, finished, summary.written, summary.failed)
"""


def test_progress_is_reported_once_per_pair(cluster, job, tmp_path):
    in_dir, recipe, local = job
    child = subprocess.run(
        [sys.executable, "-c", PROGRESS, str(recipe), str(in_dir), str(tmp_path / "out"), cluster.address],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert child.returncode == 0, child.stderr
    n = len(PAIRS)
    assert child.stdout.strip() == f"[{n}] {[1] * n} {n * COPIES} 0"
    assert tree_digest(tmp_path / "out") == local


def test_a_dry_run_on_the_cluster_writes_nothing(cluster, job, tmp_path):
    in_dir, recipe, _ = job
    result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--scheduler", cluster.address, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would write") == len(PAIRS) * COPIES
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# Stopping: Ctrl-C, and a worker that dies
# ---------------------------------------------------------------------------------------------


def assert_complete_and_unique(out: Path) -> None:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        images = [row["image"] for row in csv.DictReader(fh)]
    assert len(images) == len(set(images)) == SLOW_PAIRS * SLOW_COPIES


def test_ctrl_c_cancels_the_tasks_exits_130_and_a_rerun_finishes(cluster, slow_job, tmp_path):
    in_dir, recipe, local = slow_job
    out = tmp_path / "out"
    # Paused as the first outcome is recorded, with tasks still out on the cluster: a warm cluster can
    # finish the whole job before a poll for outputs would see some.
    marker = tmp_path / "paused"
    proc = start_segaug("expand", recipe, in_dir, out, "--scheduler", cluster.address, env=paused_at("running", marker))
    wait_until(proc, marker.exists, "running", timeout=60.0)

    os.killpg(proc.pid, signal.SIGINT)  # the client's process group, as a terminal's Ctrl-C
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 130, stderr
    assert "interrupted" in one_line(stderr) and stdout == ""
    after_exit = tree_digest(out)
    time.sleep(0.5)
    assert tree_digest(out) == after_exit, "a cancelled task wrote after the run ended"
    rerun = run_segaug("expand", recipe, in_dir, out, "--scheduler", cluster.address)
    written, unchanged, removed, failed = summary_counts(rerun.stderr)
    assert written > 0 and written + unchanged == SLOW_PAIRS * SLOW_COPIES and (removed, failed) == (0, 0)
    assert tree_digest(out) == local


def journaled_sources(out: Path) -> set[str]:
    """The source images of the rows the run's own journal holds so far."""
    journal = out / ".segaug-journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines() if journal.exists() else []
    return {json.loads(line)["source_image"] for line in lines if line.strip()}


def test_a_worker_killed_mid_run_costs_nothing_but_time(slow_job, tmp_path):
    in_dir, recipe, local = slow_job
    out = tmp_path / "out"
    marker = tmp_path / "taken"
    with dask_cluster(tmp_path / "cluster", workers=0) as own:
        # the doomed worker stops in the first pair it takes, long enough to be killed there
        own.add_worker(name="doomed", env=paused_at("pair", marker, seconds=120))
        own.add_worker(name="survivor")
        proc = start_segaug("expand", recipe, in_dir, out, "--scheduler", own.address)
        wait_until(proc, marker.exists, "the doomed worker to take a pair", timeout=60.0)
        in_flight = f"images/{marker.read_text(encoding='utf-8')}.png"
        assert in_flight not in journaled_sources(out)  # the run itself holds that pair as unfinished
        os.kill(own.workers[0].pid, signal.SIGKILL)  # mid-pair: Dask runs its task again on the survivor
        stdout, stderr = proc.communicate(timeout=120)

    assert proc.returncode == 0, stderr
    assert summary_counts(stderr) == (SLOW_PAIRS * SLOW_COPIES, 0, 0, 0)
    assert_complete_and_unique(out)
    assert sum(row["source_image"] == in_flight for row in read_manifest(out)) == SLOW_COPIES
    assert tree_digest(out) == local


# ---------------------------------------------------------------------------------------------
# Workers that would not give the bytes of a local run
# ---------------------------------------------------------------------------------------------


def test_a_worker_with_another_opencv_is_refused_before_anything_is_written(job, tmp_path):
    in_dir, recipe, _ = job
    patch = tmp_path / "patch"
    patch.mkdir()
    # honestly another version, as far as segaug can tell: the worker's cv2 reports it
    (patch / "sitecustomize.py").write_text("import cv2\ncv2.__version__ = '4.12.0'\n", encoding="utf-8")
    with dask_cluster(tmp_path / "cluster", workers=0) as own:
        own.add_worker(name="good")
        own.add_worker(name="old", env={"PYTHONPATH": f"{patch}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
        result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--scheduler", own.address)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("Error: Dask worker old (tcp://127.0.0.1:"), line
    assert "opencv 4.12.0 where this machine has " in line
    assert not (tmp_path / "out").exists()


def test_a_worker_with_several_threads_gives_the_same_bytes_with_opencv_at_one_thread(job, tmp_path):
    in_dir, recipe, local = job
    with dask_cluster(tmp_path / "cluster", workers=1, nthreads=4) as own:
        result = run_segaug("expand", recipe, in_dir, tmp_path / "out", "--scheduler", own.address)
        asked = subprocess.run(
            [sys.executable, "-c", OPENCV_THREADS, own.address], capture_output=True, text=True, timeout=60
        )  # a child: a client's thread would outlive it here

    assert result.returncode == 0, result.stderr
    assert tree_digest(tmp_path / "out") == local
    assert asked.stdout.strip() == "[1]", asked.stderr


OPENCV_THREADS = """\
import sys, cv2
from distributed import Client
with Client(sys.argv[1], timeout=30) as client:
    print(sorted(set(client.run(cv2.getNumThreads).values())))
"""


needs_namespaces = pytest.mark.skipif(
    not private_mounts_work(), reason="a worker without the shared filesystem needs its own mount namespace"
)


@pytest.fixture
def apart(job, tmp_path):
    """IN and OUT in separate folders, so that a worker can be shown one but not the other."""
    in_dir, recipe, _ = job
    shutil.copytree(in_dir, tmp_path / "data" / "in")
    (tmp_path / "results").mkdir()
    return tmp_path / "data" / "in", tmp_path / "results" / "out", recipe


def run_with_worker_seeing(tmp_path: Path, private: dict[Path, str], in_dir: Path, out: Path, recipe: Path):
    with dask_cluster(tmp_path / "cluster", workers=0) as own:
        own.add_worker(name="good")
        own.add_worker(name="stranger", private=private)
        return run_segaug("expand", recipe, in_dir, out, "--scheduler", own.address)


@needs_namespaces
def test_a_worker_that_cannot_see_in_is_one_error_before_any_pair_runs(apart, tmp_path):
    in_dir, out, recipe = apart
    result = run_with_worker_seeing(tmp_path, {in_dir.parent: "empty"}, in_dir, out, recipe)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("Error: Dask worker stranger (tcp://127.0.0.1:"), line
    assert line.endswith(f"cannot read IN ({in_dir}): No such file or directory")
    assert not out.exists()


@needs_namespaces
def test_a_worker_that_cannot_write_out_is_one_error_before_any_pair_runs(apart, tmp_path):
    in_dir, out, recipe = apart
    result = run_with_worker_seeing(tmp_path, {out.parent: "read-only"}, in_dir, out, recipe)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("Error: Dask worker stranger") and line.endswith(
        f"cannot write OUT ({out}): Read-only file system"
    ), line
    assert list(out.parent.iterdir()) == []  # OUT not made, the probe files gone


@needs_namespaces
def test_a_worker_whose_out_is_not_the_shared_one_is_one_error_before_any_pair_runs(apart, tmp_path):
    in_dir, out, recipe = apart
    result = run_with_worker_seeing(tmp_path, {out.parent: "empty"}, in_dir, out, recipe)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert line.startswith("Error: Dask worker stranger") and line.endswith(
        f"writes OUT ({out}) to a folder this machine does not see: IN and OUT must be on a filesystem "
        "every worker shares"
    ), line
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def test_without_the_dask_extra_the_options_say_what_to_install(cli, job, tmp_path, monkeypatch):
    in_dir, recipe, _ = job
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    for option in (["--scheduler", "tcp://127.0.0.1:8786"], ["--scheduler-file", str(tmp_path / "s.json")]):
        result = cli("expand", recipe, in_dir, tmp_path / "out", *option)
        assert result.exit_code == 2
        assert one_line(result.stderr) == (
            "Error: running on a Dask cluster needs the dask extra: pip install 'segaug[dask]'"
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers is for a local run"),
        (["--scheduler", "tcp://127.0.0.1:1", "--scheduler-file", "s.json"], "give one of them"),
        (["--scheduler-file", "missing.json"], "missing.json: no such scheduler file"),
    ],
)
def test_scheduler_options_misused_are_one_line_exit_2(cli, job, tmp_path, options, message):
    in_dir, recipe, _ = job
    result = cli("expand", recipe, in_dir, tmp_path / "out", *options)

    assert result.exit_code == 2
    assert message in one_line(result.stderr)
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_one_line_exit_2(job, tmp_path):
    in_dir, recipe, _ = job
    from services import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    result = run_segaug(
        "expand",
        recipe,
        in_dir,
        tmp_path / "out",
        "--scheduler",
        address,
        env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"},
        timeout=60,
    )

    assert result.returncode == 2
    assert one_line(result.stderr).startswith(f"Error: cannot reach the Dask scheduler at {address}: ")
    assert not (tmp_path / "out").exists()


def test_only_the_dask_executor_imports_distributed():
    from test_layering import MODULES, internal, roots

    assert [m for m in MODULES if "distributed" in roots(m)] == ["segaug_cli.executors_dask"]
    # the engine does not know which executor runs: the command line chooses the cluster
    assert [m for m in MODULES if "segaug_cli.executors_dask" in internal(m)] == ["segaug_cli.cli.__init__"]
