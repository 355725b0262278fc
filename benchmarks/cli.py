"""segaug against the physical floor: throughput, scaling, memory, start-up and a PNG settings study.

    python -m benchmarks                  # full run (several minutes), writes benchmarks/RESULTS.md
    python -m benchmarks --quick          # under a minute, prints only
    python -m benchmarks --memory         # only the memory-vs-dataset-size comparison
    python -m benchmarks --png-study      # only the PNG encoder settings study
    python -m benchmarks --flat           # only memory per pair with IN in one flat folder
    python -m benchmarks --profile        # cProfile of one `segaug expand --workers 1` run
    python -m benchmarks --dask           # Dask on a local cluster vs the local pool, same workload
    python -m benchmarks --online         # AugmentedPairs per DataLoader worker, beside Albumentations
    python -m benchmarks --dataset DIR    # DIR/images/*.png + DIR/masks/*.png instead of generated pairs

Every number that compares two things comes from ONE run, with the things compared measured alternately
(A B A B ...) so that a noisy, shared machine slows both alike. See benchmarks/README.md for what each
number means.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import floor, segaug_api
from .dataset import Dataset, copy_pairs, list_pairs, prepare
from .machine import MachineInfo, describe, usable_cores
from .measure import choose_out_root, run_bytes_estimate
from .report import Results, render
from .segaug_api import Segaug
from .studies.dask import run_dask
from .studies.flat import run_flat
from .studies.memory import run_memory
from .studies.online import run_online
from .studies.png import candidates, run_png
from .studies.profiling import run_profile
from .studies.scale import SHARD_COPIES, run_scale
from .studies.startup import run_startup
from .studies.stores import run_stores
from .studies.throughput import FloorSettings, run_throughput
from .summary import log
from .workloads import FEW_COPIES, FLAT_PAIRS, FULL, MEMORY, ONLINE_ITEMS, QUICK, RESULTS, ROOT, SCALE_PAIRS, Workload


def parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="small workload, throughput + start-up only (< 1 min)")
    p.add_argument("--memory", action="store_true", help="only the memory-vs-dataset-size comparison")
    p.add_argument("--png-study", action="store_true", help="only the PNG encoder settings study")
    p.add_argument(
        "--scale",
        action="store_true",
        help="only bookkeeping at scale: memory and time per pair\n"
        "against dataset size, and 3 shards + merge against one run",
    )
    p.add_argument(
        "--scale-pairs",
        type=str,
        default=None,
        help=f"source pairs of the scale study, comma-separated (default: {SCALE_PAIRS})",
    )
    p.add_argument(
        "--flat",
        action="store_true",
        help="only memory per pair with IN's pairs in one flat folder\n"
        f"({FLAT_PAIRS} pairs: fresh expand, no-op rerun, check)",
    )
    p.add_argument("--profile", action="store_true", help="only a cProfile of `segaug expand --workers 1`")
    p.add_argument("--dask", action="store_true", help="only Dask (a local scheduler and workers) vs the local pool")
    p.add_argument(
        "--stores",
        action="store_true",
        help="only real object stores (SeaweedFS, Azurite) vs local disk, with and without 20 ms per request",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="only items/s of AugmentedPairs in one process (a DataLoader worker),\n"
        "beside an Albumentations A.Compose of the same ops when it is installed",
    )
    p.add_argument(
        "--dataset",
        type=Path,
        help="a folder of images/NAME.png + masks/NAME.png pairs to use\n"
        "(default: CamVid-like pairs generated in the scratch folder)",
    )
    p.add_argument("--pairs", type=int, help="source pairs per throughput run")
    p.add_argument("--copies", type=int, help="copies per source pair")
    p.add_argument("--reps", type=int, help="repetitions of each variant")
    p.add_argument("--workers", type=str, help="worker counts, comma-separated (default: 1,<all cores>)")
    p.add_argument(
        "--floor-image-params",
        help="imencode params of the floor's images, e.g. 17,2,19,32, or libdeflate or fpng for segaug's own\n"
        "PNG writer (default: segaug's own defaults, read from the benchmarked segaug; none = OpenCV's\n"
        "default when segaug cannot say)",
    )
    p.add_argument("--floor-mask-params", help="the same for the floor's masks")
    p.add_argument(
        "--output",
        type=Path,
        help=f"write the markdown report here (default: "
        f"{RESULTS.relative_to(ROOT)} for the full run, nothing otherwise)",
    )
    p.add_argument(
        "--out-on",
        choices=("tmpfs", "disk"),
        default="tmpfs",
        help="where every run writes OUT: /dev/shm (default; disk when it is missing or too small)\n"
        "or the scratch folder's disk (see README: the disk adds its own noise)",
    )
    p.add_argument("--scratch", type=Path, help="scratch folder (default: a new temporary folder, removed after)")
    p.add_argument(
        "--segaug-from",
        choices=("worktree", "HEAD", "live"),
        default="worktree",
        help="which segaug_cli/ to run: a copy of the working tree taken at start (default), the\n"
        "committed HEAD, or the live tree (edits made during the run then take effect)",
    )
    return p


def usage_error(args: argparse.Namespace) -> str | None:
    """The one-line message for an option the run cannot use, checked before anything starts."""
    if args.dataset is not None and not args.dataset.is_dir():
        return f"--dataset {args.dataset}: no such folder"
    if args.dataset is not None and not list_pairs(args.dataset):
        return f"--dataset {args.dataset}: no pairs (images/NAME.png with masks/NAME.png)"
    for name in ("floor_image_params", "floor_mask_params"):
        try:
            floor.parse_params(getattr(args, name) or "")
        except ValueError:
            return f"--{name.replace('_', '-')} {getattr(args, name)}: not comma-separated integers"
    return None


def floor_settings(args: argparse.Namespace, segaug: Segaug) -> FloorSettings:
    """The floor's PNG params: as given on the command line, else segaug's own defaults."""
    if args.floor_image_params is not None or args.floor_mask_params is not None:
        return FloorSettings(
            args.floor_image_params or "",
            args.floor_mask_params or "",
            "as given by --floor-image-params / --floor-mask-params",
        )
    detected = segaug.png_defaults()
    if detected:
        return FloorSettings(
            *detected,
            "segaug's own defaults, read from the benchmarked segaug "
            "(`fpng`: its photo writer, fpng; `libdeflate`: its own writer, `segaug_cli.png.encode_png` "
            "at `png.FASTEST`)",
        )
    return FloorSettings(
        "",
        "",
        "OpenCV's default: the benchmarked segaug has no `segaug_cli.codecs.png_params`, "
        "and encoded PNG with no params",
    )


def exact_pairs(scratch: Path, in_dir: Path, pairs: int) -> Path:
    """A folder of exactly ``pairs`` pairs: ``in_dir`` itself, or its first ``pairs`` copied aside."""
    if len(list_pairs(in_dir)) == pairs:
        return in_dir
    copy_pairs(list_pairs(in_dir)[:pairs], scratch / "tp_in")
    return scratch / "tp_in"


@dataclass(frozen=True)
class Setup:
    """What every study of one run shares."""

    work: Workload
    workers: tuple[int, ...]
    segaug: Segaug
    floor_folder: Path
    floor: FloorSettings
    machine: MachineInfo
    load_start: float
    dataset: Dataset
    out_root: Path
    out_where: str


def main(argv: list[str] | None = None, prog: str = "python -m benchmarks") -> int:
    """Run the studies the options ask for, print the report, and write it where it belongs.

    Returns:
        0, or 2 for an unusable option (one line on stderr, nothing run).
    """
    argv = sys.argv[1:] if argv is None else argv
    args = parser(prog).parse_args(argv)
    problem = usage_error(args)
    if problem:
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="segaug-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        setup = set_up(args, scratch)
        try:
            studies = run_studies(args, scratch, setup)
        finally:
            if setup.out_root != scratch:
                shutil.rmtree(setup.out_root, ignore_errors=True)
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    finished = time.perf_counter()
    if any(studies):
        tp, mem, startup, png, scale, online, flat = studies
        results = Results(
            command=" ".join([prog, *argv]),
            date=time.strftime("%Y-%m-%d %H:%M"),
            seconds=finished - started,
            machine=setup.machine,
            segaug_source=setup.segaug.source,
            load_start=setup.load_start,
            load_end=os.getloadavg()[0],
            dataset=setup.dataset.description,
            out_where=setup.out_where,
            floor=setup.floor,
            throughput=tp if isinstance(tp, tuple) else (tp,) if tp else (),
            memory=mem,
            startup=startup,
            png=png,
            scale=scale,
            online=online,
            flat=flat,
        )
        publish(render(results), args)
    log(f"total {finished - started:.0f} s")
    return 0


def set_up(args: argparse.Namespace, scratch: Path) -> Setup:
    """The segaug snapshot, the floor's compiled copy, the machine, the dataset, and OUT's root."""
    preset = QUICK if args.quick else FULL
    work = Workload(args.pairs or preset.pairs, args.copies or preset.copies, args.reps or preset.reps)
    default_workers = sorted({1, usable_cores()})
    workers = tuple(int(w) for w in args.workers.split(",")) if args.workers else tuple(default_workers)
    segaug = segaug_api.snapshot(scratch, args.segaug_from)
    floor_folder = floor.install(scratch)
    info = describe(segaug)
    load_start = os.getloadavg()[0]
    log(
        f"machine: {info.cores} cores, {info.cpu}; Python {info.python}, OpenCV {info.opencv}, "
        f"numpy {info.numpy}, {info.segaug}; benchmarking {segaug.source}"
    )
    settings = floor_settings(args, segaug)
    log(f"floor PNG params: images [{settings.image_params}], masks [{settings.mask_params}] ({settings.how})")
    dataset = prepare(scratch, max(work.pairs, 24), args.dataset)
    log(f"dataset: {dataset.description}")
    out_root, out_where = choose_out_root(scratch, args.out_on, run_bytes_estimate(dataset.folder, work.copies))
    log(f"OUT of every run: {out_where}")
    return Setup(work, workers, segaug, floor_folder, settings, info, load_start, dataset, out_root, out_where)


def run_studies(args: argparse.Namespace, scratch: Path, s: Setup) -> tuple:
    """(throughput, memory, startup, png, scale, online, flat) results, None for each study not asked for
    (throughput: one result, or the full run's two, at its copies and at ``FEW_COPIES``); --profile only logs."""
    only = only_some(args)
    tp = mem = startup = png = scale = online = flat = None
    if args.profile:
        run_profile(scratch, s.dataset.folder, s.work.copies, s.segaug)
    if args.memory or not only and not args.quick:
        mem = run_memory(scratch, s.out_root, s.dataset.folder, s.workers[-1], s.segaug, MEMORY)
    if not only:
        tp_dir = exact_pairs(scratch, s.dataset.folder, s.work.pairs)
        tp = run_throughput(scratch, s.out_root, tp_dir, s.work, s.workers, s.segaug, s.floor_folder, s.floor)
        if not args.quick and args.copies is None:  # the full run: also at few copies, where decoding weighs more
            few = Workload(s.work.pairs, FEW_COPIES, s.work.reps)
            tp = (tp, run_throughput(scratch, s.out_root, tp_dir, few, s.workers, s.segaug, s.floor_folder, s.floor))
        startup = run_startup(5 if args.quick else 9, s.segaug)
    if args.dask or not only and not args.quick:  # logged, not in the report's tables
        run_dask(
            scratch, s.out_root, exact_pairs(scratch, s.dataset.folder, s.work.pairs), s.work, s.workers[-1], s.segaug
        )
    if args.stores or not only and not args.quick:  # logged, not in the report's tables
        run_stores(scratch, exact_pairs(scratch, s.dataset.folder, s.work.pairs), s.work, s.workers[-1], s.segaug)
    if args.png_study or not only and not args.quick:
        png = run_png(s.dataset.folder, 4 if args.quick else 12)
        for target in ("images", "masks"):
            for r in candidates(png.targets[target].table):
                log(f"  {target} candidate: {r.label} {r.time_ratio:.2f}x time {r.bytes_ratio:.3f}x bytes")
    if args.scale or not only and not args.quick:
        sizes = tuple(int(n) for n in (args.scale_pairs or SCALE_PAIRS).split(","))
        real_dir = exact_pairs(scratch, s.dataset.folder, s.work.pairs)
        copies = max(s.work.copies, SHARD_COPIES)
        real = (real_dir, copies, f"{s.work.pairs} pairs of the throughput dataset x {copies} copies")
        scale = run_scale(scratch, s.out_root, s.segaug, sizes, s.workers[-1], real, reps=2 if args.scale else 3)
    if args.online or not only:
        items = min(ONLINE_ITEMS, s.work.outputs)
        online = run_online(
            scratch, exact_pairs(scratch, s.dataset.folder, s.work.pairs), s.work.copies, items, s.work.reps, s.segaug
        )
    if args.flat or not only and not args.quick:
        sizes = tuple(int(n) for n in FLAT_PAIRS.split(","))
        flat = run_flat(scratch, s.out_root, s.segaug, sizes, s.workers[-1])
    return tp, mem, startup, png, scale, online, flat


def only_some(args: argparse.Namespace) -> bool:
    """True when the command line asked for some studies only, not the full run."""
    return bool(
        args.memory or args.png_study or args.profile or args.dask or args.scale or args.stores or args.online
        or args.flat
    )  # fmt: skip


def publish(text: str, args: argparse.Namespace) -> None:
    """Print the report, and write it to --output, else to RESULTS.md after a full run."""
    log("")
    log(text)
    only = only_some(args)
    target = args.output or (RESULTS if not (args.quick or only) else None)
    if target:
        target.write_text(text, encoding="utf-8")
        log(f"written: {target}")
