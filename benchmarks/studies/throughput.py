"""Throughput: segaug against the floor, alternating, at 1 and N workers."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import floor
from ..dataset import list_pairs
from ..measure import Measurement, OutputSizes, measure, output_sizes
from ..segaug_api import Segaug
from ..summary import log, mib
from ..workloads import Workload, recipe_text

# Variant -> its name in the report. The floor's modes: decode per output pair, or once per source pair.
VARIANT_NAMES = {
    "floor": "floor (decode per output pair)",
    "floor-once": "floor (decode once per pair)",
    "floor-pinned": "floor (decode once, OpenCV pinned as segaug pins it)",
    "floor-cvdefault": "floor (decode once, OpenCV default PNG)",  # the floor as it was before segaug's writer
    "segaug": "segaug expand",
}
FLOOR_MODES = {"floor": "output", "floor-once": "pair", "floor-pinned": "pair", "floor-cvdefault": "pair"}


@dataclass(frozen=True)
class FloorSettings:
    """The floor's ``cv2.imencode`` params as "17,2,..." strings ('' for OpenCV's default), and why."""

    image_params: str
    mask_params: str
    how: str


@dataclass(frozen=True)
class Run:
    """One run of one variant: its measurement, what it wrote, and the 1-minute load average at its start."""

    usage: Measurement
    sizes: OutputSizes
    load: float
    outputs: int

    @property
    def rate(self) -> float:
        """Output pairs per wall second."""
        return self.outputs / self.usage.wall

    @property
    def cpu_ms_per_output(self) -> float:
        return self.usage.cpu / self.outputs * 1000


@dataclass(frozen=True)
class ThroughputResult:
    """Every run, by (variant, workers), in repetition order."""

    pairs: int
    copies: int
    reps: int
    workers: tuple[int, ...]
    variants: tuple[str, ...]
    runs: dict[tuple[str, int], tuple[Run, ...]]

    @property
    def outputs(self) -> int:
        return self.pairs * self.copies


@dataclass(frozen=True)
class _Setup:
    """What every run of one throughput study shares."""

    in_dir: Path
    out_root: Path
    recipe: Path
    copies: int
    segaug: Segaug
    floor_folder: Path
    floor: FloorSettings


def variants_for(settings: FloorSettings) -> tuple[str, ...]:
    """The variants to run: the OpenCV-default floor too when the floor's settings are not OpenCV's
    default, and the same-codecs floor with OpenCV pinned as segaug pins it (which splits segaug's time
    above the same-codecs floor into the pin's share and segaug's own work)."""
    variants = ["floor", "floor-once", "floor-pinned", "segaug"]
    if settings.image_params or settings.mask_params:
        variants.insert(3, "floor-cvdefault")
    return tuple(variants)


def run_throughput(
    scratch: Path,
    out_root: Path,
    in_dir: Path,
    work: Workload,
    workers: tuple[int, ...],
    segaug: Segaug,
    floor_folder: Path,
    settings: FloorSettings,
) -> ThroughputResult:
    """Run every variant at every worker count, ``work.reps`` times, reversing the order every other time.

    Args:
        scratch: gets the recipe file.
        out_root: every run writes into a new folder here, deleted after it is counted.
        in_dir: exactly ``work.pairs`` source pairs.
        floor_folder: the compiled copy of this package that ``floor.install`` made.
        settings: the floor's PNG params.

    Raises:
        RuntimeError: a run failed, or wrote other than one image and one mask per output pair.
    """
    recipe = scratch / "bench_recipe.yaml"
    recipe.write_text(recipe_text(work.copies))
    setup = _Setup(in_dir, out_root, recipe, work.copies, segaug, floor_folder, settings)
    n_pairs = len(list_pairs(in_dir))
    variants = variants_for(settings)
    log(
        f"throughput: {n_pairs} pairs x {work.copies} copies = {n_pairs * work.copies} output pairs per run, "
        f"{work.reps} repetitions, workers {list(workers)}, variants {list(variants)}"
    )
    runs: dict[tuple[str, int], list[Run]] = {}
    for rep in range(work.reps):
        order = [(v, w) for w in workers for v in variants]
        if rep % 2:
            order.reverse()  # A B C ... then ... C B A: no variant always runs first or last
        for variant, w in order:
            r = _one_run(setup, variant, w, rep, n_pairs * work.copies)
            runs.setdefault((variant, w), []).append(r)
            log(
                f"  rep {rep + 1}/{work.reps}  {variant:15s} workers={w}  {r.usage.wall:6.2f} s  "
                f"{r.rate:6.1f} pairs/s  CPU {r.cpu_ms_per_output:5.2f} ms/pair  "
                f"peak tree RSS {mib(r.usage.peak_rss):4.0f} MiB  load {r.load:.1f}"
            )
    return ThroughputResult(
        n_pairs, work.copies, work.reps, tuple(workers), variants, {key: tuple(rs) for key, rs in runs.items()}
    )


def _one_run(setup: _Setup, variant: str, workers: int, rep: int, outputs: int) -> Run:
    out_dir = setup.out_root / f"out_{variant}_{workers}_{rep}"
    load = os.getloadavg()[0]
    if variant == "segaug":
        cmd = setup.segaug.command(
            "expand", str(setup.recipe), str(setup.in_dir), str(out_dir), "--workers", str(workers), "--quiet"
        )
        usage = measure(cmd, cwd=setup.segaug.cwd, env=setup.segaug.env)
    else:
        image_params, mask_params = (
            ("", "") if variant == "floor-cvdefault" else (setup.floor.image_params, setup.floor.mask_params)
        )
        cmd = floor.command(
            setup.floor_folder,
            setup.in_dir,
            out_dir,
            setup.copies,
            workers,
            FLOOR_MODES[variant],
            image_params,
            mask_params,
            pinned=variant == "floor-pinned",
        )
        usage = measure(cmd, env=setup.segaug.env)  # a libdeflate floor imports the benchmarked segaug's writer
    sizes = output_sizes(out_dir)
    if sizes.n_images != outputs or sizes.n_masks != outputs:
        raise RuntimeError(
            f"{variant} wrote {sizes.n_images} images and {sizes.n_masks} masks, expected {outputs} of each"
        )
    shutil.rmtree(out_dir)
    os.sync()  # nothing of this run is left to write back during the next one
    return Run(usage, sizes, load, outputs)
