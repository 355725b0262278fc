"""Dask against the local pool on this machine: the same workload, `--scheduler` vs `--workers N`.

The benchmark starts a scheduler and N single-threaded worker processes (no nanny) on 127.0.0.1,
running the benchmarked segaug, as a user's cluster would already be running; one untimed run warms
the workers' imports. Then each repetition runs `segaug expand --workers N` and `segaug expand
--scheduler ADDRESS` once each, alternating which goes first, every run into a new OUT. The ratio is
paired per repetition: local wall time / Dask wall time, i.e. Dask's throughput as a fraction of the
pool's (target: at least 0.85x at 2 workers). Wall time only: the workers' CPU is outside the
command's process tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..measure import wall_time
from ..segaug_api import Segaug
from ..summary import log, med, spread
from ..workloads import Workload, recipe_text

START_TIMEOUT = 60.0
TARGET = 0.85


@dataclass(frozen=True)
class DaskResult:
    workers: int
    outputs: int  # output pairs per run
    local: tuple[float, ...]  # wall seconds per repetition
    dask: tuple[float, ...]
    ratios: tuple[float, ...]  # Dask throughput / local pool throughput, per repetition

    @property
    def median_ratio(self) -> float:
        return med(self.ratios)


def run_dask(scratch: Path, out_root: Path, in_dir: Path, work: Workload, workers: int, segaug: Segaug) -> DaskResult:
    """``work`` on ``workers`` local pool processes and on a local Dask cluster of as many workers."""
    recipe = scratch / "dask_recipe.yaml"
    recipe.write_text(recipe_text(work.copies), encoding="utf-8")
    local, dask, ratios = [], [], []
    with local_cluster(scratch / "dask_cluster", workers, segaug) as address:
        variants = {"local": ["--workers", str(workers)], "dask": ["--scheduler", address]}
        _timed(segaug, recipe, in_dir, out_root / "dask_warmup", variants["dask"])  # workers import cv2 etc.
        for rep in range(work.reps):
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            times = {name: _timed(segaug, recipe, in_dir, out_root / f"dask_{name}", variants[name]) for name in order}
            local.append(times["local"])
            dask.append(times["dask"])
            ratios.append(times["local"] / times["dask"])
    result = DaskResult(workers, work.outputs, tuple(local), tuple(dask), tuple(ratios))
    log(f"dask vs local pool, {workers} workers, {work.outputs} output pairs x {work.reps} (median, min–max):")
    log(f"  local pool  {spread([work.outputs / t for t in local])} pairs/s")
    log(f"  dask        {spread([work.outputs / t for t in dask])} pairs/s")
    verdict = "meets" if result.median_ratio >= TARGET else "misses"
    log(f"  dask / local throughput {spread(ratios, '{:.2f}')}x ({verdict} the {TARGET}x target)")
    return result


def _timed(segaug: Segaug, recipe: Path, in_dir: Path, out: Path, options: list[str]) -> float:
    try:
        return wall_time(
            segaug.command("expand", str(recipe), str(in_dir), str(out), "--quiet", *options),
            cwd=segaug.cwd,
            env=segaug.env,
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
        os.sync()  # no run pays for another's writeback


@contextlib.contextmanager
def local_cluster(folder: Path, workers: int, segaug: Segaug) -> Iterator[str]:
    """A scheduler and ``workers`` single-threaded worker processes on 127.0.0.1 running the benchmarked
    segaug; yields the scheduler's address; always ends them."""
    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        _start(
            folder,
            "scheduler",
            segaug,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
            "--scheduler-file",
            str(folder / "scheduler.json"),
        )
    ]
    try:
        _wait(lambda: json.loads((folder / "scheduler.json").read_text() or "{}"), procs[0])
        for i in range(workers):
            procs.append(
                _start(
                    folder,
                    f"worker{i}",
                    segaug,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--local-directory",
                    str(folder / f"w{i}"),
                )
            )
        _wait_for_workers(address, workers, segaug)
        yield address
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _start(folder: Path, name: str, segaug: Segaug, *args: str) -> subprocess.Popen:
    dask = Path(sys.executable).with_name("dask")
    return subprocess.Popen(
        [str(dask), *args],
        stdout=(folder / f"{name}.log").open("ab"),
        stderr=subprocess.STDOUT,
        cwd=segaug.cwd,
        env=segaug.env,
        start_new_session=True,
    )


def _wait(ready, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ValueError, OSError):
            if ready():
                return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:2]} ended with exit {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{proc.args[:2]} not ready after {START_TIMEOUT} s")


def _wait_for_workers(address: str, count: int, segaug: Segaug) -> None:
    code = (
        "import sys; from distributed import Client\n"
        "with Client(sys.argv[1], timeout=60) as c: c.wait_for_workers(int(sys.argv[2]), timeout=60)\n"
    )
    subprocess.run(
        segaug.python(code, address, str(count)), env=segaug.env, cwd=segaug.cwd, check=True, timeout=START_TIMEOUT + 10
    )
