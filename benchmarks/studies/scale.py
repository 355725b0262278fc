"""Bookkeeping at scale: the main process's memory and time per pair as the dataset grows, and shards.

Generated 16x16 pairs, one copy each, so the files are cheap and what is measured is segaug's own
bookkeeping: planning, earlier rows, the journal, the commit, the check for stray files. Each command
runs in a wrapper that imports everything first, resets the kernel's peak-RSS mark (``clear_refs``),
runs the command and reports the main process's own peak (``VmHWM``) when it exits: the pool's
workers do not count, and neither does the transient of importing OpenCV, which would hide the growth
of smaller runs. CPU is that of the whole process tree (``RUSAGE_CHILDREN``).

The shards' CPU is also measured on the throughput study's dataset and copies, where the work per
pair is realistic: on tiny pairs, the part every shard repeats (start-up, listing IN) weighs most.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from dataclasses import KW_ONLY, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..segaug_api import Segaug
from ..summary import log
from ..workloads import recipe_text

SIDE = 16
RECIPE = "seed: 0\ncopies: 1\ntransforms:\n  - hflip: {p: 0.5}\n  - brightness: {range: [-0.1, 0.1]}\n"
SHARDS = 3
# Copies per pair where shards are compared with one run on real pairs: a shard's fixed costs (start-up,
# its pool, listing all of IN) are paid per run, so the workload is sized like a CI shard's, long
# enough that the ratio shows what sharding adds per pair; the fixed cost is reported beside it.
SHARD_COPIES = 60
PHASES = ("fresh expand", "no-op rerun", "check", "merge")

# Runs ``segaug`` in this process, then prints its own peak RSS since start-up (KiB) as stderr's last line.
WRAPPER = """
import atexit, sys
from segaug_cli import engine, executors, merging, worker
from segaug_cli.storage import books
from segaug_cli.cli import main
books.versions()  # imports OpenCV, NumPy, Pillow and tifffile


def peak_kib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak so far (imports) is forgotten: VmHWM restarts from the current RSS
atexit.register(lambda: print(f"peak-rss-kib {peak_kib()}", file=sys.stderr))
sys.argv = ["segaug", *sys.argv[1:]]
main()
"""


@dataclass(frozen=True)
class Run:
    wall: float  # seconds, launch to exit
    cpu: float  # user + system seconds of the process and every worker it waited for
    peak_rss: int  # bytes, the main process alone


@dataclass(frozen=True)
class SizedRuns:
    """Runs of some commands at each dataset size: what the scale and flat-folder studies both measure."""

    sizes: tuple[int, ...]  # source pairs
    workers: int
    runs: dict[tuple[str, int], Run]  # (phase, size) -> run

    def bytes_per_pair(self, phase: str) -> float:
        """The main process's peak RSS grown per source pair, from the smallest size to the largest."""
        small, large = self.sizes[0], self.sizes[-1]
        grown = self.runs[phase, large].peak_rss - self.runs[phase, small].peak_rss
        return grown / (large - small)

    def time_per_pair_ratio(self, phase: str) -> float:
        """Wall time per pair of the largest size over that of the smallest (target: at most 1.2)."""
        small, large = self.sizes[0], self.sizes[-1]
        return (self.runs[phase, large].wall / large) / (self.runs[phase, small].wall / small)


@dataclass(frozen=True)
class ScaleResult(SizedRuns):
    _: KW_ONLY
    unsharded_cpu: float  # CPU of one unsharded fresh run of the largest size...
    sharded_cpu: float  # ...and of its 3 shards, one after another, plus merge
    real_pairs: str = ""  # the throughput dataset the next two were measured on
    real_unsharded_cpu: tuple[float, ...] = ()  # per repetition
    real_sharded_cpu: tuple[float, ...] = ()


def make_tiny_pairs(folder: Path, pairs: int, flat: bool = False) -> None:
    """``pairs`` 16x16 image/mask pairs in folders of 1,000 (``flat``: all in ``images/`` and ``masks/``
    themselves, as ADE20K or VOC ship), a few distinct contents (names differ)."""
    rng = np.random.default_rng(0)
    images = [cv2.imencode(".png", rng.integers(0, 256, (SIDE, SIDE, 3), np.uint8))[1].tobytes() for _ in range(8)]
    masks = [cv2.imencode(".png", rng.integers(0, 4, (SIDE, SIDE), np.uint8))[1].tobytes() for _ in range(8)]
    for i in range(pairs):
        sub = "" if flat else f"d{i // 1000:04d}"
        for kind, data in (("images", images[i % 8]), ("masks", masks[i % 8])):
            path = folder / kind / sub / f"p{i:07d}.png"
            if i % 1000 == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def timed(segaug: Segaug, *args: str) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(segaug.python(WRAPPER, *args), cwd=segaug.cwd, env=segaug.env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0 or not last.startswith("peak-rss-kib "):
        raise RuntimeError(f"segaug {' '.join(args[:1])} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, int(last.split()[1]) * 1024)


def run_scale(
    scratch: Path,
    out_root: Path,
    segaug: Segaug,
    sizes: tuple[int, ...],
    workers: int,
    real: tuple[Path, int, str] | None = None,
    reps: int = 2,
) -> ScaleResult:
    """Each size: fresh expand, no-op rerun, check, and 3 shards + merge; then, on ``real`` (pairs folder,
    copies, description), one run against 3 shards + merge, alternating, ``reps`` times."""
    recipe = scratch / "scale_recipe.yaml"
    recipe.write_text(RECIPE)
    runs: dict[tuple[str, int], Run] = {}
    unsharded_cpu = sharded_cpu = 0.0
    for size in sizes:
        in_dir, out, sharded = (
            scratch / f"scale_in_{size}",
            out_root / f"scale_out_{size}",
            out_root / f"scale_sh_{size}",
        )
        make_tiny_pairs(in_dir, size)
        common = (str(recipe), str(in_dir))
        j = ("--workers", str(workers))
        runs["fresh expand", size] = timed(segaug, "expand", *common, str(out), *j, "--quiet")
        runs["no-op rerun", size] = timed(segaug, "expand", *common, str(out), *j, "--quiet")
        runs["check", size] = timed(segaug, "check", *common, str(out), *j, "--quiet")
        shard_cpu = sum(
            timed(segaug, "expand", *common, str(sharded), *j, "--quiet", "--shard", f"{k}/{SHARDS}").cpu
            for k in range(1, SHARDS + 1)
        )
        runs["merge", size] = timed(segaug, "merge", *common, str(sharded), "--quiet")
        unsharded_cpu, sharded_cpu = runs["fresh expand", size].cpu, shard_cpu + runs["merge", size].cpu
        for phase in PHASES:
            r = runs[phase, size]
            log(
                f"  scale {size:7d} pairs  {phase:13s} {r.wall:7.2f} s  cpu {r.cpu:7.2f} s  "
                f"main peak RSS {r.peak_rss / 2**20:6.1f} MiB"
            )
        log(f"  scale {size:7d} pairs  3 shards + merge cpu {sharded_cpu:.2f} s vs one run {unsharded_cpu:.2f} s")
        for folder in (in_dir, out, sharded):
            shutil.rmtree(folder)
    result = ScaleResult(tuple(sizes), workers, runs, unsharded_cpu=unsharded_cpu, sharded_cpu=sharded_cpu)
    if real is None:
        return result
    one, split = shards_against_one_run(scratch, out_root, segaug, real, workers, reps)
    return ScaleResult(
        tuple(sizes),
        workers,
        runs,
        unsharded_cpu=unsharded_cpu,
        sharded_cpu=sharded_cpu,
        real_pairs=real[2],
        real_unsharded_cpu=one,
        real_sharded_cpu=split,
    )


def shards_against_one_run(
    scratch: Path, out_root: Path, segaug: Segaug, real: tuple[Path, int, str], workers: int, reps: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """CPU of one run, and of 3 shards one after another plus merge, on a realistic workload."""
    folder, copies, _ = real
    recipe = scratch / "scale_real_recipe.yaml"
    recipe.write_text(recipe_text(copies))
    common, j = (str(recipe), str(folder)), ("--workers", str(workers), "--quiet")
    one, split = [], []
    for rep in range(reps):
        for variant in ("one", "shards") if rep % 2 == 0 else ("shards", "one"):
            out = out_root / f"scale_real_{variant}"
            if variant == "one":
                one.append(timed(segaug, "expand", *common, str(out), *j).cpu)
            else:
                split.append(
                    sum(
                        timed(segaug, "expand", *common, str(out), *j, "--shard", f"{k}/{SHARDS}").cpu
                        for k in range(1, SHARDS + 1)
                    )
                    + timed(segaug, "merge", *common, str(out)).cpu
                )
            shutil.rmtree(out)
        log(
            f"  scale shards on real pairs, rep {rep + 1}: one run cpu {one[-1]:.2f} s, 3 shards + merge "
            f"{split[-1]:.2f} s ({split[-1] / one[-1]:.3f}x)"
        )
    return tuple(one), tuple(split)
