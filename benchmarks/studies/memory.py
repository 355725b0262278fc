"""Memory against dataset size: 10x the pairs at the same per-pair cost."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..dataset import make_small_dataset
from ..measure import Measurement, measure
from ..segaug_api import Segaug
from ..summary import log, mib
from ..workloads import MemoryWorkload, recipe_text

SIZES = ("small", "large")


@dataclass(frozen=True)
class MemoryResult:
    """segaug's runs on the small and the large dataset, by size label, in repetition order."""

    workload: MemoryWorkload
    workers: int
    runs: dict[str, tuple[Measurement, ...]]

    def outputs(self, size: str) -> int:
        """Output pairs of one run on the ``small`` or ``large`` set."""
        return getattr(self.workload, size) * self.workload.copies

    def rates(self, size: str) -> list[float]:
        return [self.outputs(size) / r.wall for r in self.runs[size]]


def run_memory(
    scratch: Path, out_root: Path, source_dir: Path, workers: int, segaug: Segaug, work: MemoryWorkload
) -> MemoryResult:
    """``segaug expand`` on ``work.small`` vs ``work.large`` downscaled pairs, alternating the two sizes."""
    recipe = scratch / "memory_recipe.yaml"
    recipe.write_text(recipe_text(work.copies))
    sets = {}
    for size in SIZES:
        sets[size] = scratch / f"mem_{size}"
        make_small_dataset(source_dir, sets[size], getattr(work, size), work.side)
    outputs = {size: getattr(work, size) * work.copies for size in SIZES}
    log(
        f"memory: {work.small} vs {work.large} pairs ({work.side[0]}x{work.side[1]}) x {work.copies} "
        f"copies = {outputs['small']} vs {outputs['large']} output pairs, workers={workers}, {work.reps} reps"
    )
    runs: dict[str, list[Measurement]] = {size: [] for size in SIZES}
    for rep in range(work.reps):
        for size in SIZES if rep % 2 == 0 else SIZES[::-1]:
            out_dir = out_root / f"mem_out_{size}_{rep}"
            cmd = segaug.command(
                "expand", str(recipe), str(sets[size]), str(out_dir), "--workers", str(workers), "--quiet"
            )
            # PSS every 0.1 s: a 1,000-pair run lasts about 2 s
            r = measure(cmd, cwd=segaug.cwd, env=segaug.env, pss_every=2)
            shutil.rmtree(out_dir)
            os.sync()
            runs[size].append(r)
            log(
                f"  rep {rep + 1}  {outputs[size]:6d} outputs  {r.wall:6.2f} s  peak tree RSS "
                f"{mib(r.peak_rss):6.1f} MiB  PSS {mib(r.peak_pss):6.1f} MiB  "
                f"largest process {mib(r.peak_single):6.1f} MiB"
            )
    for folder in sets.values():
        shutil.rmtree(folder)
    return MemoryResult(work, workers, {size: tuple(rs) for size, rs in runs.items()})
