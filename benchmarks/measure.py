"""Running a command: wall time and its process tree's peak memory and CPU; what a run wrote; where OUT goes."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .dataset import list_pairs
from .sampler import TreeSampler
from .summary import log, mib
from .workloads import ROOT


@dataclass(frozen=True)
class Measurement:
    """One command, launch to exit. Memory in bytes, peaks over the sampled process tree."""

    wall: float  # seconds
    cpu: float  # user + system seconds of the whole tree
    peak_rss: int  # highest sum of RSS over the tree
    peak_pss: int  # highest sum of PSS over the tree
    peak_single: int  # highest RSS of any one process
    processes: int  # most processes seen at once


@dataclass(frozen=True)
class OutputSizes:
    """Bytes and file counts under OUT/images, OUT/masks, and the rest (manifest, sidecar)."""

    images: int
    masks: int
    other: int
    n_images: int
    n_masks: int


def measure(cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None, pss_every: int = 10) -> Measurement:
    """Run ``cmd`` with its process tree sampled every 50 ms (PSS every ``pss_every`` samples).

    Raises:
        RuntimeError: the command exited non-zero (with the end of its stderr).
    """
    wall, s = _run(cmd, cwd, env, pss_every)
    return Measurement(wall, s.cpu_seconds, s.peak_rss, s.peak_pss, s.peak_single, s.max_processes)


def wall_time(cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> float:
    """Wall seconds of ``cmd``, launch to exit, nothing sampled. Raises RuntimeError on a non-zero exit."""
    return _run(cmd, cwd, env, pss_every=None)[0]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None, pss_every: int | None) -> tuple[float, TreeSampler]:
    """Wall seconds and the stopped sampler (None when ``pss_every`` is None) of one command."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid, pss_every=pss_every) if pss_every else None
        if sampler:
            sampler.start()
        _, status = os.waitpid(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{err.read().decode()[-3000:]}")
    return wall, sampler


def output_sizes(out_dir: Path) -> OutputSizes:
    """Bytes and file counts of what a run wrote under ``out_dir``."""
    sizes = {"images": 0, "masks": 0, "other": 0, "n_images": 0, "n_masks": 0}
    for current, _dirs, names in os.walk(out_dir):
        rel = Path(current).relative_to(out_dir).parts
        kind = rel[0] if rel and rel[0] in ("images", "masks") else "other"
        for name in names:
            sizes[kind] += os.path.getsize(os.path.join(current, name))
            if kind != "other":
                sizes[f"n_{kind}"] += 1
    return OutputSizes(**sizes)


def choose_out_root(scratch: Path, where: str, need_bytes: int) -> tuple[Path, str]:
    """The folder every run writes its OUT into, and a line saying what it is.

    tmpfs by default: this benchmark deletes thousands of files between runs, and on a file system
    such as this VM's ext4 (no journal) the inode allocator then skips every inode deleted in the last
    60 s, one by one, in every file creation: up to 8% of a run's CPU, measured with perf, landing
    unevenly on the runs. tmpfs still takes every byte written; it only leaves that out.
    """
    shm = Path("/dev/shm")
    if where == "tmpfs":
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * need_bytes:
            return Path(tempfile.mkdtemp(prefix="segaug-bench-out-", dir=shm)), "tmpfs (`/dev/shm`)"
        log(f"  /dev/shm is missing or has under {mib(2 * need_bytes):.0f} MiB free: OUT goes to disk")
    return scratch, f"disk (the scratch folder's file system{', tmpfs unavailable' if where == 'tmpfs' else ''})"


def run_bytes_estimate(in_dir: Path, copies: int) -> int:
    """About what one run writes: each output pair about the size of its source pair (same codec)."""
    pairs = list_pairs(in_dir)
    return sum(os.path.getsize(image) + os.path.getsize(mask) for image, mask, _ in pairs) * copies * 13 // 10
