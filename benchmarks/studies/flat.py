"""IN in one flat folder: the main process's memory per pair when every image sits in ``images/`` and
every mask in ``masks/`` (ADE20K, COCO-Stuff, VOC's JPEGImages), where the walk of IN holds a whole
directory at a time: the largest directory is the dataset.

The same tiny pairs, wrapper and peak measure as the scale study (``VmHWM`` of the main process, reset
once everything is imported), for the three commands that walk IN: a fresh expand, a no-op rerun and check.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..segaug_api import Segaug
from ..summary import log
from .scale import RECIPE, Run, SizedRuns, make_tiny_pairs, timed

PHASES = ("fresh expand", "no-op rerun", "check")


@dataclass(frozen=True)
class FlatResult(SizedRuns):
    """The scale study's measures, with every size's pairs all in one folder."""


def run_flat(scratch: Path, out_root: Path, segaug: Segaug, sizes: tuple[int, ...], workers: int) -> FlatResult:
    """Each size: fresh expand, no-op rerun and check of tiny pairs in one images/ and one masks/ folder."""
    recipe = scratch / "flat_recipe.yaml"
    recipe.write_text(RECIPE)
    runs: dict[tuple[str, int], Run] = {}
    for size in sizes:
        in_dir, out = scratch / f"flat_in_{size}", out_root / f"flat_out_{size}"
        make_tiny_pairs(in_dir, size, flat=True)
        common = (str(recipe), str(in_dir), str(out), "--workers", str(workers), "--quiet")
        runs["fresh expand", size] = timed(segaug, "expand", *common)
        runs["no-op rerun", size] = timed(segaug, "expand", *common)
        runs["check", size] = timed(segaug, "check", *common)
        for phase in PHASES:
            r = runs[phase, size]
            log(f"  flat {size:7d} pairs  {phase:13s} {r.wall:7.2f} s  main peak RSS {r.peak_rss / 2**20:6.1f} MiB")
        for folder in (in_dir, out):
            shutil.rmtree(folder)
    return FlatResult(tuple(sizes), workers, runs)
