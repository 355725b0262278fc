#!/usr/bin/env python3
"""segaug against the physical floor: throughput, scaling, memory, start-up and a PNG settings study.

    .venv/bin/python benchmarks/bench.py            # full run (several minutes), writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/bench.py --quick    # under a minute, prints only
    .venv/bin/python benchmarks/bench.py --memory   # only the memory-vs-dataset-size comparison
    .venv/bin/python benchmarks/bench.py --png-study  # only the PNG encoder settings study
    .venv/bin/python benchmarks/bench.py --profile  # cProfile of one `segaug expand --workers 1` run

Every number that compares two things comes from ONE run of this script, with the things compared
measured alternately (A B A B ...) so that a noisy, shared machine slows both alike. See
benchmarks/README.md for what each number means.

Plain Python: stdlib, numpy and OpenCV only (Pillow, if installed, for one row of the PNG study).
"""

from __future__ import annotations

import argparse
import compileall
import io
import math
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CAMVID = ROOT.parent / "shared" / "data" / "camvid"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The recipe segaug runs; the floor draws matrices from the same families (see _floor_matrix).
RECIPE = """\
seed: 0
copies: {copies}
keep_original: false
transforms:
  - rotate:    {{degrees: [-15, 15]}}
  - scale:     {{range: [0.9, 1.1]}}
  - shear:     {{degrees: [-5, 5], p: 0.5}}
  - translate: {{fraction: [-0.05, 0.05]}}
  - hflip:     {{p: 0.5}}
  - brightness: {{range: [-0.1, 0.1]}}
  - contrast:   {{range: [0.9, 1.1]}}
"""

FULL = {"pairs": 120, "copies": 18, "reps": 5}  # 2,160 output pairs per run
QUICK = {"pairs": 24, "copies": 4, "reps": 3}  # 96 output pairs per run
MEMORY = {"small": 100, "large": 1000, "copies": 10, "side": (160, 120), "reps": 3}  # 1,000 vs 10,000 outputs


# =============================================================================================
# Small helpers
# =============================================================================================


def med(values):
    return statistics.median(values)


def spread(values, fmt="{:.1f}"):
    """'median (min–max)' of a list."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def mib(n_bytes):
    return n_bytes / 2**20


def parse_params(text):
    return [int(v) for v in text.split(",") if v.strip()] if text else []


def log(message=""):
    print(message, flush=True)


# How segaug is run: env (PYTHONPATH to a snapshot of segaug_cli/) and cwd, set by snapshot_segaug().
SEGAUG = {"env": None, "cwd": ROOT, "source": "the installed package, live"}


def snapshot_segaug(scratch, source):
    """Benchmark one fixed version of segaug_cli/, whatever others edit in the tree during the run.

    worktree: a copy of segaug_cli/ as it is now; HEAD: as committed (git archive); live: no copy.
    The copy goes first on PYTHONPATH, and segaug runs from the scratch folder (not the repo root), so
    it, not the editable install, is what every segaug process imports.
    """
    if source == "live":
        compile_bytecode(ROOT / "segaug_cli")
        return
    dest = scratch / "src"
    dest.mkdir(parents=True)
    if source == "HEAD":
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        archive = subprocess.run(["git", "archive", "HEAD", "segaug_cli"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        what = f"segaug_cli/ as committed at {head.stdout.strip()} (git HEAD), copied at start"
    else:
        shutil.copytree(ROOT / "segaug_cli", dest / "segaug_cli", ignore=shutil.ignore_patterns("__pycache__"))
        what = "a copy of the working tree's segaug_cli/ taken at start"
    compile_bytecode(dest)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(dest), os.environ.get("PYTHONPATH")])))
    found = subprocess.run(
        [sys.executable, "-c", "import segaug_cli; print(segaug_cli.__file__)"],
        env=env,
        cwd=scratch,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not found.startswith(str(dest)):
        raise RuntimeError(f"the snapshot of segaug_cli is not what gets imported ({found})")
    SEGAUG.update(env=env, cwd=scratch, source=what)


def compile_bytecode(folder):
    """Write the byte code of every module under ``folder``, as ``pip install`` does for a package.

    Without it, where PYTHONDONTWRITEBYTECODE is set (as on the machine of RESULTS.md) every process would
    compile segaug's sources afresh: about 35 ms of start-up that no installed copy pays.
    """
    if not compileall.compile_dir(str(folder), quiet=1):
        raise RuntimeError(f"could not compile the modules under {folder}")


def floor_module(scratch):
    """This script as an importable, compiled module in the scratch folder, for the floor's children:
    a script run as ``__main__`` is compiled on every start (about 20 ms here), a module is not."""
    folder = scratch / "floor"
    folder.mkdir(exist_ok=True)
    shutil.copy2(Path(__file__), folder / "bench.py")
    compile_bytecode(folder)
    FLOOR_MODULE["folder"] = str(folder)


FLOOR_MODULE = {"folder": None}  # where floor_module put the compiled copy


def segaug_png_defaults():
    """segaug's default PNG params for images and masks, as "16,1,..." strings, or None if unknown.

    Read from `segaug_cli.files.png_params(kind, None)` of the benchmarked segaug (the function that
    picks them); a segaug without that function encoded with no params, OpenCV's default.
    """
    code = (
        "try:\n    from segaug_cli.codecs import png_params\n"
        "except ImportError:\n    from segaug_cli.files import png_params\n"
        "print(','.join(map(str, png_params('image', None))))\n"
        "print(','.join(map(str, png_params('mask', None))))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], env=SEGAUG["env"], cwd=SEGAUG["cwd"], capture_output=True, text=True
    )
    lines = found.stdout.splitlines()
    if found.returncode or len(lines) != 2:
        return None
    return lines[0].strip(), lines[1].strip()


def segaug_command():
    exe = Path(sys.executable).with_name("segaug")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "segaug_cli"]


# =============================================================================================
# Dataset
# =============================================================================================


def list_pairs(in_dir):
    """(image path, mask path, stem) for every images/X.png with a masks/X.png, sorted."""
    in_dir = Path(in_dir)
    pairs = []
    for image in sorted((in_dir / "images").glob("*.png")):
        mask = in_dir / "masks" / image.name
        if mask.is_file():
            pairs.append((str(image), str(mask), image.stem))
    return pairs


def synthesize(out_dir, count, size=(480, 360), seed=0):
    """CamVid-like pairs: textured RGB photos-to-be and blocky index masks (12 labels, 0..11)."""
    w, h = size
    rng = np.random.default_rng(seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    colours = rng.integers(30, 226, size=(12, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(count):
        mask = np.zeros((h, w), np.uint8)  # sky
        horizon, road = int(h * rng.uniform(0.3, 0.45)), int(h * rng.uniform(0.6, 0.75))
        mask[horizon:road] = 1  # buildings
        mask[road:] = 3  # road
        for _ in range(rng.integers(8, 20)):  # cars, trees, poles, signs...: rectangles and ellipses
            label = int(rng.integers(2, 12))
            cx, cy = int(rng.integers(0, w)), int(rng.integers(horizon - 20, h))
            rx, ry = int(rng.integers(4, 70)), int(rng.integers(6, 60))
            if rng.random() < 0.5:
                mask[max(cy - ry, 0) : cy + ry, max(cx - rx, 0) : cx + rx] = label
            else:
                mask[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = label
        image = colours[mask].copy()
        for label in np.unique(mask):  # a smooth texture per class, then sensor-like noise
            noise = cv2.resize(rng.normal(0, 18, (h // 8, w // 8, 3)).astype(np.float32), (w, h))
            image[mask == label] += noise[mask == label]
        image += (xx / w * 25)[..., None]  # a lighting gradient
        image += rng.normal(0, 5, image.shape).astype(np.float32)
        image = cv2.GaussianBlur(image, (3, 3), 0)
        name = f"synth_{i:04d}.png"
        cv2.imwrite(str(out_dir / "images" / name), np.clip(image, 0, 255).astype(np.uint8))
        cv2.imwrite(str(out_dir / "masks" / name), mask)


def prepare_dataset(scratch, pairs_wanted, force_synthetic):
    """Copy the first N CamVid pairs (or synthesize N pairs) into scratch/in. Returns (dir, description)."""
    in_dir = scratch / "in"
    source = list_pairs(CAMVID) if CAMVID.is_dir() and not force_synthetic else []
    if source:
        (in_dir / "images").mkdir(parents=True)
        (in_dir / "masks").mkdir(parents=True)
        chosen = source[:pairs_wanted]
        for image, mask, _ in chosen:
            shutil.copyfile(image, in_dir / "images" / Path(image).name)
            shutil.copyfile(mask, in_dir / "masks" / Path(mask).name)
        what = (
            f"CamVid from `{CAMVID.relative_to(ROOT.parent)}` (first {len(chosen)} of {len(source)} pairs: "
            "480x360 RGB PNG + 8-bit index-mask PNG), copied to a scratch folder"
        )
    else:
        synthesize(in_dir, pairs_wanted)
        reason = "--synthetic was given" if force_synthetic else f"{CAMVID} is absent"
        what = (
            f"synthetic ({reason}): {pairs_wanted} generated 480x360 textured RGB PNG + blocky 12-label "
            "index-mask PNG pairs"
        )
    return in_dir, what


def make_small_dataset(source_dir, out_dir, count, side):
    """`count` small pairs cycling through the (downscaled) source pairs, for the memory comparison."""
    (out_dir / "images").mkdir(parents=True)
    (out_dir / "masks").mkdir(parents=True)
    encoded = []
    for image, mask, _ in list_pairs(source_dir):
        im = cv2.resize(cv2.imread(image, cv2.IMREAD_UNCHANGED), side, interpolation=cv2.INTER_AREA)
        ma = cv2.resize(cv2.imread(mask, cv2.IMREAD_UNCHANGED), side, interpolation=cv2.INTER_NEAREST)
        encoded.append((cv2.imencode(".png", im)[1].tobytes(), cv2.imencode(".png", ma)[1].tobytes()))
    for i in range(count):
        im, ma = encoded[i % len(encoded)]
        (out_dir / "images" / f"p{i:05d}.png").write_bytes(im)
        (out_dir / "masks" / f"p{i:05d}.png").write_bytes(ma)


# =============================================================================================
# The floor: a bare pool loop doing only what any tool must do (runs in a child process)
# =============================================================================================

_FLOOR = {}  # per worker: output folder and PNG params


def _floor_matrix(rng, w, h):
    """A matrix of the recipe's families: rotate, scale, shear (p .5), translate, hflip (p .5)."""
    cx, cy = (w - 1) / 2, (h - 1) / 2
    t, s = math.radians(rng.uniform(-15, 15)), rng.uniform(0.9, 1.1)
    sh = math.tan(math.radians(rng.uniform(-5, 5))) if rng.random() < 0.5 else 0.0
    linear = s * np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]]) @ np.array([[1, sh], [0, 1]])
    m = np.zeros((2, 3))
    m[:, :2] = linear
    m[:, 2] = np.array([cx, cy]) - linear @ np.array([cx, cy])
    m[0, 2] += rng.uniform(-0.05, 0.05) * w
    m[1, 2] += rng.uniform(-0.05, 0.05) * h
    if rng.random() < 0.5:
        m[0] = -m[0]
        m[0, 2] += w - 1
    return m


def _floor_init(out_dir, image_params, mask_params):
    cv2.setNumThreads(1)
    _FLOOR.update(out=out_dir, image_params=image_params, mask_params=mask_params)


def _floor_write(image, mask, stem, k, rng):
    h, w = image.shape[:2]
    m = _floor_matrix(rng, w, h)
    out_image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out_mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    out = _FLOOR["out"]
    for folder, array, params in (
        ("images", out_image, _FLOOR["image_params"]),
        ("masks", out_mask, _FLOOR["mask_params"]),
    ):
        ok, buffer = cv2.imencode(".png", array, params)
        with open(f"{out}/{folder}/{stem}_aug{k}.png", "wb") as fh:
            fh.write(buffer)


def _floor_output(task):
    """Floor, per OUTPUT pair: read and decode the pair, warp both, encode and write both."""
    image_path, mask_path, stem, index, k = task
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    _floor_write(image, mask, stem, k, np.random.default_rng([index, k]))
    return 1


def _floor_pair(task):
    """Floor, decode once per SOURCE pair (as segaug does): then warp, encode and write every copy."""
    image_path, mask_path, stem, index, copies = task
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    for k in range(copies):
        _floor_write(image, mask, stem, k, np.random.default_rng([index, k]))
    return copies


def floor_child(in_dir, out_dir, copies, workers, mode, image_params, mask_params):
    """Entry point of the floor's child process (`bench.py --floor-child ...`)."""
    pairs = list_pairs(in_dir)
    for folder in ("images", "masks"):
        Path(out_dir, folder).mkdir(parents=True, exist_ok=True)
    if mode == "output":
        tasks = [(im, ma, stem, i, k) for i, (im, ma, stem) in enumerate(pairs) for k in range(copies)]
        fn, chunk = _floor_output, 4
    else:
        tasks = [(im, ma, stem, i, copies) for i, (im, ma, stem) in enumerate(pairs)]
        fn, chunk = _floor_pair, 1
    init = (out_dir, image_params, mask_params)
    if workers == 1:  # in process, as `segaug --workers 1` does: the strictest floor
        _floor_init(*init)
        done = sum(fn(t) for t in tasks)
    else:
        cv2.setNumThreads(1)  # before forking: workers inherit no OpenCV thread pool
        with multiprocessing.get_context("fork").Pool(workers, _floor_init, init) as pool:
            done = sum(pool.imap_unordered(fn, tasks, chunksize=chunk))
    assert done == len(pairs) * copies


# =============================================================================================
# Running a command: wall time, and peak memory of its whole process tree
# =============================================================================================


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every 50 ms (PSS every 0.5 s), and
    their CPU time (user + system, last value seen per process: a process's final < 50 ms is missed).

    RSS double-counts pages shared between processes (forked workers share the interpreter, numpy and
    OpenCV); PSS splits each shared page among its sharers, so the PSS sum is the tree's real footprint.
    Reading smaps_rollup costs ~1 ms per process, hence the slower PSS cadence.
    """

    def __init__(self, root, interval=0.05, pss_every=10):
        super().__init__(daemon=True)
        self.root, self.interval, self.pss_every = root, interval, pss_every
        self.peak_rss = self.peak_pss = self.peak_single = 0
        self.max_processes = 0
        self._cpu: dict[int, int] = {}  # pid -> utime + stime, clock ticks
        self._halt = threading.Event()
        self._parent: dict[int, int] = {}

    def _tree(self):
        # New descendants have larger pids than the root (no pid wrap-around in a few seconds).
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) >= self.root and int(name) not in self._parent:
                try:
                    stat = Path(f"/proc/{name}/stat").read_bytes()
                    self._parent[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        tree, grew = {self.root}, True
        while grew:
            grew = False
            for pid, ppid in self._parent.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        return tree

    def sample(self, with_pss):
        rss = pss = 0
        tree = self._tree()
        for pid in tree:
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                fields = stat[stat.rindex(b")") + 2 :].split()
                self._cpu[pid] = int(fields[11]) + int(fields[12])
                one = int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE
                rss += one
                self.peak_single = max(self.peak_single, one)
                if with_pss:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
                            break
            except (OSError, ValueError, IndexError):
                pass
        self.peak_rss = max(self.peak_rss, rss)
        if with_pss:
            self.peak_pss = max(self.peak_pss, pss)
        self.max_processes = max(self.max_processes, len(tree))

    @property
    def cpu_seconds(self):
        return sum(self._cpu.values()) / CLK_TCK

    def run(self):
        tick = 0
        while not self._halt.is_set():
            self.sample(with_pss=tick % self.pss_every == 1)  # 1: the tree has usually started by then
            tick += 1
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


def run_measured(cmd, sample_memory=True, segaug=False, pss_every=10):
    """Run cmd; return wall seconds and memory figures. Raises on a non-zero exit."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        where = {"env": SEGAUG["env"], "cwd": SEGAUG["cwd"]} if segaug else {"cwd": ROOT}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, **where)
        sampler = TreeSampler(proc.pid, pss_every=pss_every) if sample_memory else None
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
    result = {"wall": wall}
    if sampler:
        result.update(
            peak_rss=sampler.peak_rss,
            peak_pss=sampler.peak_pss,
            peak_single=sampler.peak_single,
            processes=sampler.max_processes,
            cpu=sampler.cpu_seconds,
        )
    return result


def choose_out_root(scratch, where, need_bytes):
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


def run_bytes_estimate(in_dir, copies):
    """About what one run writes: each output pair about the size of its source pair (same codec)."""
    pairs = list_pairs(in_dir)
    return sum(os.path.getsize(image) + os.path.getsize(mask) for image, mask, _ in pairs) * copies * 13 // 10


def output_bytes(out_dir):
    """Bytes and file counts under OUT/images, OUT/masks, and the rest (manifest, sidecar)."""
    sizes = {"images": 0, "masks": 0, "other": 0, "n_images": 0, "n_masks": 0}
    for current, _dirs, names in os.walk(out_dir):
        rel = Path(current).relative_to(out_dir).parts
        kind = rel[0] if rel and rel[0] in ("images", "masks") else "other"
        for name in names:
            sizes[kind] += os.path.getsize(os.path.join(current, name))
            if kind != "other":
                sizes[f"n_{kind}"] += 1
    return sizes


# =============================================================================================
# Throughput: floor vs segaug, alternating, at 1 and N workers
# =============================================================================================


def variant_command(variant, in_dir, out_dir, recipe, copies, workers, floor_params):
    if variant == "segaug":
        return [
            *segaug_command(),
            "expand",
            str(recipe),
            str(in_dir),
            str(out_dir),
            "--workers",
            str(workers),
            "--quiet",
        ]
    mode = {"floor": "output", "floor-once": "pair", "floor-cvdefault": "pair"}[variant]
    image_params, mask_params = ("", "") if variant == "floor-cvdefault" else floor_params[:2]
    if FLOOR_MODULE["folder"]:
        launcher = ["-c", f"import sys; sys.path.insert(0, {FLOOR_MODULE['folder']!r}); import bench; "
                          "sys.exit(bench.main(sys.argv[1:]))"]
    else:
        launcher = [str(Path(__file__).resolve())]
    return [
        sys.executable,
        *launcher,
        "--floor-child",
        str(in_dir),
        str(out_dir),
        str(copies),
        str(workers),
        mode,
        image_params or "-",
        mask_params or "-",
    ]


def throughput(scratch, out_root, in_dir, copies, reps, worker_counts, floor_params):
    n_pairs = len(list_pairs(in_dir))
    outputs = n_pairs * copies
    recipe = scratch / "bench_recipe.yaml"
    recipe.write_text(RECIPE.format(copies=copies))
    variants = ["floor", "floor-once", "segaug"]
    if any(floor_params[:2]):  # segaug's settings are not OpenCV's default: measure that floor too
        variants.insert(2, "floor-cvdefault")
    runs = {}  # (variant, workers) -> list of per-rep results
    log(
        f"throughput: {n_pairs} pairs x {copies} copies = {outputs} output pairs per run, "
        f"{reps} repetitions, "
        f"workers {worker_counts}, variants {variants}"
    )
    for rep in range(reps):
        order = [(v, w) for w in worker_counts for v in variants]
        if rep % 2:
            order.reverse()  # A B C ... then ... C B A: no variant always runs first or last
        for variant, workers in order:
            out_dir = out_root / f"out_{variant}_{workers}_{rep}"
            load = os.getloadavg()[0]
            cmd = variant_command(variant, in_dir, out_dir, recipe, copies, workers, floor_params)
            r = run_measured(cmd, segaug=variant == "segaug")
            r["load"] = load
            sizes = output_bytes(out_dir)
            if sizes["n_images"] != outputs or sizes["n_masks"] != outputs:
                raise RuntimeError(
                    f"{variant} wrote {sizes['n_images']} images and {sizes['n_masks']} masks, "
                    f"expected {outputs} of each"
                )
            shutil.rmtree(out_dir)
            os.sync()  # nothing of this run is left to write back during the next one
            r.update(sizes, rate=outputs / r["wall"])
            runs.setdefault((variant, workers), []).append(r)
            log(
                f"  rep {rep + 1}/{reps}  {variant:15s} workers={workers}  {r['wall']:6.2f} s  "
                f"{r['rate']:6.1f} pairs/s  CPU {r['cpu'] / outputs * 1000:5.2f} ms/pair  "
                f"peak tree RSS {mib(r['peak_rss']):4.0f} MiB  load {load:.1f}"
            )
    return {
        "pairs": n_pairs,
        "copies": copies,
        "outputs": outputs,
        "reps": reps,
        "workers": worker_counts,
        "variants": variants,
        "runs": runs,
    }


# =============================================================================================
# Memory against dataset size
# =============================================================================================


def memory_study(scratch, out_root, source_dir, workers):
    cfg = MEMORY
    recipe = scratch / "memory_recipe.yaml"
    recipe.write_text(RECIPE.format(copies=cfg["copies"]))
    sets = {}
    for label in ("small", "large"):
        folder = scratch / f"mem_{label}"
        make_small_dataset(source_dir, folder, cfg[label], cfg["side"])
        sets[label] = folder
    outputs = {label: cfg[label] * cfg["copies"] for label in sets}
    log(
        f"memory: {cfg['small']} vs {cfg['large']} pairs ({cfg['side'][0]}x{cfg['side'][1]}) "
        f"x {cfg['copies']} "
        f"copies = {outputs['small']} vs {outputs['large']} output pairs, workers={workers}, "
        f"{cfg['reps']} reps"
    )
    runs = {"small": [], "large": []}
    for rep in range(cfg["reps"]):
        for label in ("small", "large") if rep % 2 == 0 else ("large", "small"):
            out_dir = out_root / f"mem_out_{label}_{rep}"
            r = run_measured(
                [
                    *segaug_command(),
                    "expand",
                    str(recipe),
                    str(sets[label]),
                    str(out_dir),
                    "--workers",
                    str(workers),
                    "--quiet",
                ],
                segaug=True,
                pss_every=2,  # PSS every 0.1 s: a 1,000-pair run lasts about 2 s
            )
            r["rate"] = outputs[label] / r["wall"]
            shutil.rmtree(out_dir)
            os.sync()
            runs[label].append(r)
            log(
                f"  rep {rep + 1}  {outputs[label]:6d} outputs  {r['wall']:6.2f} s  peak tree RSS "
                f"{mib(r['peak_rss']):6.1f} MiB  PSS {mib(r['peak_pss']):6.1f} MiB  "
                f"largest process {mib(r['peak_single']):6.1f} MiB"
            )
    for folder in sets.values():
        shutil.rmtree(folder)
    return {"cfg": cfg, "outputs": outputs, "runs": runs, "workers": workers}


# =============================================================================================
# Start-up
# =============================================================================================


def startup_study(runs):
    py = sys.executable
    commands = {
        "segaug --help": [*segaug_command(), "--help"],
        "segaug validate recipes/default.yaml": [
            *segaug_command(),
            "validate",
            str(ROOT / "recipes/default.yaml"),
        ],
        "python -c pass (interpreter alone)": [py, "-c", "pass"],
        "python -c 'import cv2' (for scale)": [py, "-c", "import cv2"],
    }
    times = {name: [] for name in commands}
    for _ in range(runs):  # interleaved
        for name, cmd in commands.items():
            is_segaug = name.startswith("segaug")
            times[name].append(run_measured(cmd, sample_memory=False, segaug=is_segaug)["wall"])
    log(f"start-up (median of {runs}, min–max):")
    for name, values in times.items():
        log(f"  {name:40s} {spread([v * 1000 for v in values], '{:.0f}')} ms")
    return times


# =============================================================================================
# PNG settings study
# =============================================================================================

C, S, F = cv2.IMWRITE_PNG_COMPRESSION, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_FILTER
STRATEGIES = {
    "DEFAULT": cv2.IMWRITE_PNG_STRATEGY_DEFAULT,
    "FILTERED": cv2.IMWRITE_PNG_STRATEGY_FILTERED,
    "HUFFMAN_ONLY": cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
    "RLE": cv2.IMWRITE_PNG_STRATEGY_RLE,
    "FIXED": cv2.IMWRITE_PNG_STRATEGY_FIXED,
}
FILTERS = {
    "NONE": cv2.IMWRITE_PNG_FILTER_NONE,
    "SUB": cv2.IMWRITE_PNG_FILTER_SUB,
    "UP": cv2.IMWRITE_PNG_FILTER_UP,
    "AVG": cv2.IMWRITE_PNG_FILTER_AVG,
    "PAETH": cv2.IMWRITE_PNG_FILTER_PAETH,
    "FAST_FILTERS": cv2.IMWRITE_PNG_FAST_FILTERS,
    "ALL_FILTERS": cv2.IMWRITE_PNG_ALL_FILTERS,
}


def png_settings():
    """(label, kind, params) rows; kind 'cv2' params are imencode params, 'pil' a Pillow compress_level."""
    rows = [("OpenCV default (no params)", "cv2", [])]
    rows.append(("explicit default: C1 + RLE + SUB", "cv2", [C, 1, S, STRATEGIES["RLE"], F, FILTERS["SUB"]]))
    rows += [(f"COMPRESSION {lvl}", "cv2", [C, lvl]) for lvl in range(10)]
    for lvl in (1, 6):
        rows += [
            (f"C{lvl} + STRATEGY {name}", "cv2", [C, lvl, S, value])
            for name, value in STRATEGIES.items()
            if name != "DEFAULT"
        ]  # C<lvl> alone is already STRATEGY DEFAULT
    rows += [
        (f"STRATEGY {name} (level 1, SUB kept)", "cv2", [S, value])
        for name, value in STRATEGIES.items()
        if name != "RLE"
    ]
    rows += [
        (f"FILTER {name} (level 1, RLE kept)", "cv2", [F, value]) for name, value in FILTERS.items() if name != "SUB"
    ]
    for lvl in (1, 3, 6):
        rows += [
            (f"C{lvl} + DEFAULT strategy + FILTER {name}", "cv2", [C, lvl, F, FILTERS[name]])
            for name in ("NONE", "SUB", "UP")
        ]
    rows += [
        (
            f"STRATEGY HUFFMAN_ONLY + FILTER {name} (level 1)",
            "cv2",
            [S, STRATEGIES["HUFFMAN_ONLY"], F, FILTERS[name]],
        )
        for name in ("NONE", "UP", "AVG", "PAETH")
    ]
    rows.append(("explicit: C1 + RLE + FILTER UP", "cv2", [C, 1, S, STRATEGIES["RLE"], F, FILTERS["UP"]]))
    rows += [("Pillow compress_level 1", "pil", 1), ("Pillow compress_level 6", "pil", 6)]
    return rows


def _encode(kind, params, array):
    if kind == "cv2":
        return cv2.imencode(".png", array, params)[1]
    from PIL import Image

    buffer = io.BytesIO()
    pil = Image.fromarray(array[..., ::-1] if array.ndim == 3 else array)  # BGR -> RGB (a copy, ~1% of the time)
    pil.save(buffer, format="PNG", compress_level=params)
    return buffer.getvalue()


def png_study(in_dir, n_samples, image_rounds=3, mask_rounds=5):
    """Encode time and bytes per setting, for warped CamVid-like images and label masks separately."""
    cv2.setNumThreads(1)
    try:
        import PIL  # noqa: F401

        have_pil = True
    except ImportError:
        have_pil = False
    rows = [r for r in png_settings() if have_pil or r[1] != "pil"]
    samples = {"images": [], "masks": []}
    every = list_pairs(in_dir)
    # Spread evenly over the dataset: compression depends on the scene (CamVid's two sequences differ).
    chosen = sorted({round(k * (len(every) - 1) / max(n_samples - 1, 1)) for k in range(n_samples)})
    for i in chosen:
        image, mask, _ = every[i]
        im, ma = cv2.imread(image, cv2.IMREAD_UNCHANGED), cv2.imread(mask, cv2.IMREAD_UNCHANGED)
        m = _floor_matrix(np.random.default_rng([i, 0]), im.shape[1], im.shape[0])
        samples["images"].append(cv2.warpAffine(im, m, im.shape[1::-1], flags=cv2.INTER_LINEAR))
        samples["masks"].append(cv2.warpAffine(ma, m, ma.shape[1::-1], flags=cv2.INTER_NEAREST))
    shape = samples["images"][0].shape
    log(
        f"PNG study: {len(samples['images'])} warped images {shape[1]}x{shape[0]} and masks, "
        f"{len(rows)} settings, "
        f"{image_rounds} / {mask_rounds} interleaved rounds"
    )
    result = {}
    for target, arrays in samples.items():
        rounds = image_rounds if target == "images" else mask_rounds
        # Fine interleaving: per sample, every setting once (order rotated per sample), so a slow spell of
        # the machine hits all settings alike. One warm-up pass over the first sample is not counted.
        for _label, kind, params in rows:
            _encode(kind, params, arrays[0])
        n = len(arrays)
        enc = {label: [[math.inf] * n for _ in range(rounds)] for label, _, _ in rows}
        dec = {label: [math.inf] * n for label, _, _ in rows}
        sizes, encoded = {label: 0 for label, _, _ in rows}, {label: [] for label, _, _ in rows}
        clock = time.thread_time  # CPU time of this thread: time spent preempted by neighbours is not counted
        for r in range(rounds):
            for i, array in enumerate(arrays):
                order = list(rows)
                random.Random(r * 10_000 + i).shuffle(order)  # no setting always follows the same one
                for label, kind, params in order:
                    start = clock()
                    blob = _encode(kind, params, array)
                    middle = clock()
                    back = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
                    end = clock()
                    enc[label][r][i] = middle - start
                    dec[label][i] = min(dec[label][i], end - middle)
                    if r == 0:
                        assert np.array_equal(back, array), f"{label}: does not decode to the input"
                        sizes[label] += len(blob) / n
                        encoded[label].append(bytes(blob))
        default = rows[0][0]
        per_sample = {  # bytes / the default's bytes, per sample: how much the ratio depends on content
            label: [len(a) / len(b) for a, b in zip(encoded[label], encoded[default], strict=True)] for label in enc
        }
        best = {label: sum(min(enc[label][r][i] for r in range(rounds)) for i in range(n)) / n for label in enc}
        per_round = {label: [sum(enc[label][r]) / n for r in range(rounds)] for label in enc}
        base, base_bytes = best[default], sizes[default]
        table = []
        for label, kind, params in rows:
            table.append(
                {
                    "label": label,
                    "kind": kind,
                    "params": params,
                    "ms": best[label] * 1000,
                    "ms_range": (min(per_round[label]) * 1000, max(per_round[label]) * 1000),
                    "time_ratio": best[label] / base,
                    "bytes": sizes[label],
                    "bytes_ratio": sizes[label] / base_bytes,
                    "bytes_ratio_range": (min(per_sample[label]), max(per_sample[label])),
                    "decode_ms": sum(dec[label]) / n * 1000,
                }
            )
        identical = encoded[rows[0][0]] == encoded[rows[1][0]]
        result[target] = {"table": table, "explicit_default_identical": identical}
        c1 = next(row for row in table if row["label"] == "COMPRESSION 1")
        log(
            f"  {target}: default {base * 1000:.2f} ms, {base_bytes / 1024:.1f} KiB; "
            f"COMPRESSION 1 is {c1['time_ratio']:.2f}x the default's time; "
            f"[C1, RLE, SUB] byte-identical to default: {identical}"
        )
    result["n"] = len(samples["images"])
    result["rounds"] = (image_rounds, mask_rounds)
    result["shape"] = shape
    return result


def candidates(table, max_bytes_ratio=1.10):
    """OpenCV settings no slower than the default and at most 10% larger, on the speed/size Pareto front
    (no other such setting is both faster and smaller), fastest first."""
    fit = [r for r in table if r["kind"] == "cv2" and r["time_ratio"] <= 1.0 and r["bytes_ratio"] <= max_bytes_ratio]
    front = [r for r in fit if not any(o["ms"] < r["ms"] and o["bytes"] < r["bytes"] for o in fit)]
    front = [r for r in front if round(r["bytes"]) != round(table[0]["bytes"])]  # not the default itself
    unique = {}
    for r in sorted(front, key=lambda r: len(r["params"])):
        unique.setdefault(round(r["bytes"]), r)  # byte-identical spellings of one setting: keep the shortest
    return sorted(unique.values(), key=lambda r: r["ms"])


def pretty_params(params):
    names = {C: "IMWRITE_PNG_COMPRESSION", S: "IMWRITE_PNG_STRATEGY", F: "IMWRITE_PNG_FILTER"}
    values = {
        S: {v: f"IMWRITE_PNG_STRATEGY_{k}" for k, v in STRATEGIES.items()},
        F: {v: f"IMWRITE_PNG_FILTER_{k}" for k, v in FILTERS.items()},
    }
    parts = []
    for key, value in zip(params[::2], params[1::2], strict=True):
        parts.append(f"cv2.{names[key]}, " + (f"cv2.{values[key][value]}" if key in values else str(value)))
    return "[" + ", ".join(parts) + "]"


# =============================================================================================
# Profile
# =============================================================================================


def profile_run(scratch, in_dir, copies):
    import pstats

    recipe = scratch / "profile_recipe.yaml"
    recipe.write_text(RECIPE.format(copies=copies))
    out_dir, prof = scratch / "profile_out", scratch / "segaug.prof"
    # cProfile timed by CPU time (process_time), not wall time: on a shared machine, time lost to other
    # processes would otherwise be charged to whatever function happened to be running.
    code = (
        "import cProfile, sys, time\n"
        "from segaug_cli.cli import main\n"
        "profile = cProfile.Profile(time.process_time)\n"
        "profile.enable()\n"
        "try:\n"
        "    main(sys.argv[2:], prog_name='segaug')\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "profile.disable()\n"
        "profile.dump_stats(sys.argv[1])\n"
    )
    args = ["expand", str(recipe), str(in_dir), str(out_dir), "--workers", "1", "--quiet"]
    cmd = [sys.executable, "-c", code, str(prof), *args]
    r = run_measured(cmd, sample_memory=False, segaug=True)
    outputs = len(list_pairs(in_dir)) * copies
    shutil.rmtree(out_dir)
    stats = pstats.Stats(str(prof))
    total = stats.total_tt
    groups = {"decode (imdecode)": 0.0, "warp (warpAffine)": 0.0, "encode (imencode)": 0.0}
    rest = []
    for (file, line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        key = {
            "imdecode": "decode (imdecode)",
            "warpAffine": "warp (warpAffine)",
            "imencode": "encode (imencode)",
        }
        tag = next((g for fn, g in key.items() if file == "~" and fn in name), None)
        if tag:
            groups[tag] += tt
        else:
            rest.append((tt, f"{Path(file).name}:{line}({name})" if file != "~" else name))
    rest.sort(reverse=True)
    log(
        f"profile: segaug expand --workers 1, {outputs} output pairs, {r['wall']:.1f} s wall under cProfile "
        f"(profiled CPU total {total:.1f} s, {total / outputs * 1000:.2f} ms per output pair; "
        "cProfile's own overhead inflates Python-heavy code more than OpenCV calls)"
    )
    for name, tt in groups.items():
        log(f"  {name:28s} {tt:7.2f} s  {tt / total:6.1%}  {tt / outputs * 1000:6.2f} ms/pair")
    other = total - sum(groups.values())
    log(f"  {'everything else':28s} {other:7.2f} s  {other / total:6.1%}  {other / outputs * 1000:6.2f} ms/pair")
    log("  top costs outside decode/warp/encode (own time):")
    for tt, name in rest[:25]:
        log(f"    {tt:7.3f} s  {tt / outputs * 1000:6.3f} ms/pair  {name}")
    log("  segaug_cli functions by cumulative time (includes what they call):")
    own = sorted(
        (
            (ct, f"{Path(file).parent.name}/{Path(file).name}:{line}({name})", nc)
            for (file, line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items()
            if "segaug_cli" in file
        ),
        reverse=True,
    )
    for ct, name, calls in own[:30]:
        log(f"    {ct:7.3f} s  {ct / outputs * 1000:6.3f} ms/pair  {calls:6d} calls  {name}")
    return {"groups": groups, "other": other, "total": total, "top": rest[:25], "outputs": outputs}


# =============================================================================================
# Machine and report
# =============================================================================================


def machine():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    zlib = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in cv2.getBuildInformation().splitlines()
            if ln.strip().startswith("ZLib:")
        ),
        "?",
    )
    png = next(
        (ln.split(":", 1)[1].strip() for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("PNG:")),
        "?",
    )
    try:
        segaug = subprocess.run(
            [*segaug_command(), "--version"],
            capture_output=True,
            text=True,
            env=SEGAUG["env"],
            cwd=SEGAUG["cwd"],
        ).stdout.strip()
    except OSError:
        segaug = "not found"
    try:
        import PIL

        pillow = PIL.__version__
    except ImportError:
        pillow = "absent"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "segaug_cli"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        tree = (
            f"commit {head}" + (" + uncommitted changes in segaug_cli/" if dirty else "") if head else "not a git tree"
        )
    except OSError:
        tree = "git not found"
    return {
        "tree": tree,
        "cores": cores,
        "cpu": model,
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "pillow": pillow,
        "segaug": segaug,
        "zlib": zlib,
        "libpng": png,
        "platform": platform.platform(),
    }


VARIANT_NAMES = {
    "floor": "floor (decode per output pair)",
    "floor-once": "floor (decode once per pair)",
    "floor-cvdefault": "floor (decode once, OpenCV default PNG)",
    "segaug": "segaug expand",
}


def throughput_lines(tp):
    """Markdown tables and derived ratios from the throughput runs."""
    runs, workers = tp["runs"], tp["workers"]
    names = VARIANT_NAMES
    lines = [
        "| variant | workers | pairs/s median (min–max) | CPU ms per output pair | peak tree RSS MiB | "
        "peak tree PSS MiB | largest process MiB | bytes/output pair (image + mask) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in workers:
        for v in tp["variants"]:
            rs = runs[(v, w)]
            per_pair = med([(r["images"] + r["masks"]) / tp["outputs"] for r in rs])
            img = med([r["images"] / tp["outputs"] for r in rs])
            msk = med([r["masks"] / tp["outputs"] for r in rs])
            other = med([r["other"] for r in rs])
            extra = f"; + {other / 1024:.0f} KiB manifest etc. per run" if other else ""
            lines.append(
                f"| {names[v]} | {w} | {spread([r['rate'] for r in rs])} | "
                f"{spread([r['cpu'] / tp['outputs'] * 1000 for r in rs], '{:.2f}')} | "
                f"{spread([mib(r['peak_rss']) for r in rs], '{:.0f}')} | "
                f"{spread([mib(r['peak_pss']) for r in rs], '{:.0f}')} | "
                f"{spread([mib(r['peak_single']) for r in rs], '{:.0f}')} | "
                f"{per_pair / 1024:.1f} KiB ({img / 1024:.1f} + {msk / 1024:.1f}){extra} |"
            )
    ratio_lines = [
        "| ratio (paired per repetition) | workers | median (min–max) | per repetition |",
        "|---|---|---|---|",
    ]
    ratios = {}
    for w in workers:
        for base in [v for v in tp["variants"] if v != "segaug"]:
            rs = [s["rate"] / f["rate"] for s, f in zip(runs[("segaug", w)], runs[(base, w)], strict=True)]
            ratios[(base, w)] = rs
            ratio_lines.append(
                f"| segaug / {names[base]} | {w} | {spread(rs, '{:.2f}')}x | "
                + ", ".join(f"{x:.2f}" for x in rs)
                + " |"
            )
    for w in workers:  # the same by CPU time: insensitive to time lost to other processes' load
        for base in [v for v in tp["variants"] if v != "segaug"]:
            rs = [f["cpu"] / s["cpu"] for s, f in zip(runs[("segaug", w)], runs[(base, w)], strict=True)]
            ratio_lines.append(
                f"| by CPU time: {names[base]} CPU / segaug CPU | {w} | {spread(rs, '{:.2f}')}x | "
                + ", ".join(f"{x:.2f}" for x in rs)
                + " |"
            )
    scaling = {}
    if len(workers) > 1:
        lo, hi = workers[0], workers[-1]
        for v in tp["variants"]:
            rs = [b["rate"] / a["rate"] for a, b in zip(runs[(v, lo)], runs[(v, hi)], strict=True)]
            scaling[v] = rs
            ratio_lines.append(
                f"| scaling {lo} -> {hi} workers, {names[v]} | {lo}->{hi} | {spread(rs, '{:.2f}')}x "
                f"(efficiency {med(rs) / (hi / lo):.0%}) | " + ", ".join(f"{x:.2f}" for x in rs) + " |"
            )
    return lines, ratio_lines, ratios, scaling


def scaling_lines(tp):
    """Split each variant's wall-clock scaling into what the tool controls and what the machine does.

    Per repetition, exactly: scaling = (N / 1) x (utilisation at N / at 1) / (CPU per pair at N / at 1),
    where utilisation = the tree's CPU seconds / (workers x wall seconds). Utilisation is the engine's
    part (start-up, the commit, the last pair's tail, the parent's own work); CPU per pair rising with
    N is the machine's (shared caches and memory bandwidth, a busy host: the same for every variant).
    """
    runs, (lo, hi) = tp["runs"], (tp["workers"][0], tp["workers"][-1])
    out = [
        f"| variant | core utilisation at {lo} / {hi} workers | CPU per output pair, {hi} / {lo} workers | "
        f"scaling at equal CPU per pair ({hi / lo:.0f} x utilisation ratio) | scaling measured |",
        "|---|---|---|---|---|",
    ]
    for v in tp["variants"]:
        a, b = runs[(v, lo)], runs[(v, hi)]
        u_lo = [r["cpu"] / (lo * r["wall"]) for r in a]
        u_hi = [r["cpu"] / (hi * r["wall"]) for r in b]
        cpu = [y["cpu"] / x["cpu"] for x, y in zip(a, b, strict=True)]
        ideal = [hi / lo * uh / ul for ul, uh in zip(u_lo, u_hi, strict=True)]
        measured = [y["rate"] / x["rate"] for x, y in zip(a, b, strict=True)]
        out.append(
            f"| {VARIANT_NAMES[v]} | {spread([u * 100 for u in u_lo], '{:.1f}')}% / "
            f"{spread([u * 100 for u in u_hi], '{:.1f}')}% | "
            f"{spread(cpu, '{:.3f}')}x | {spread(ideal, '{:.2f}')}x | {spread(measured, '{:.2f}')}x |"
        )
    return out


def more_or_less(ms):
    return f"{abs(ms):.2f} ms {'more' if ms >= 0 else 'less'}"


def report(args, info, dataset, tp, mem, startup, png, started, finished, floor_params):
    out = ["# segaug benchmark results", ""]
    out.append(
        f"Generated by `{' '.join(['benchmarks/bench.py', *sys.argv[1:]])}` "
        f"on {time.strftime('%Y-%m-%d %H:%M')}"
        f" in {finished - started:.0f} s. How to reproduce and what each number means: "
        "[README.md](README.md). Ratios are measured in this one run, alternating the variants "
        "(A B C, C B A, ...); absolute pairs/s depend on a shared, noisy machine and are context only."
    )
    out += [
        "",
        "## Machine",
        "",
        f"- {info['cores']} cores usable, CPU `{info['cpu']}`, {info['platform']}",
        f"- Python {info['python']}, OpenCV {info['opencv']} (zlib {info['zlib']}, libpng {info['libpng']}), "
        f"numpy {info['numpy']}, Pillow {info['pillow']}, {info['segaug']}",
        f"- segaug benchmarked: {SEGAUG['source']} (repository: {info['tree']})",
        f"- load average at start / end: {info['load_start']} / {os.getloadavg()[0]:.2f}",
        "",
        f"Dataset: {dataset}.",
        "",
        f"OUT of every run: {info.get('out_where') or 'the scratch folder'}; the input pairs are read from the "
        "scratch folder's disk (from the page cache after the first run). Why tmpfs: "
        "[README.md](README.md#where-the-runs-write).",
        "",
    ]
    if tp:
        image_p, mask_p, floor_how = floor_params
        out += [
            "## Throughput: segaug against the floor",
            "",
            f"{tp['pairs']} source pairs x {tp['copies']} copies = **{tp['outputs']} output pairs per run**, "
            f"{tp['reps']} repetitions of each variant at each worker count. Every run is a fresh process "
            "(start-up included) writing into a new OUT. segaug runs the recipe rotate, scale, "
            "shear (p 0.5), "
            "translate, hflip (p 0.5), brightness, contrast; the floor draws its matrix from the same "
            "families "
            "and does no photometric op.",
            "",
            "- **floor (decode per output pair)** — the issue's floor: per OUTPUT pair, `cv2.imread` image "
            "and mask, one `cv2.warpAffine` each (image INTER_LINEAR, mask INTER_NEAREST), "
            "`cv2.imencode('.png')`"
            " both and write the bytes to a file; a `multiprocessing` pool of the same size (at 1 worker a "
            "plain loop in the process, as `segaug --workers 1` does).",
            "- **floor (decode once per pair)** — the same, but each source pair is decoded once for all its "
            "copies, exactly as segaug does. This is the honest like-for-like floor: segaug/this ratio "
            "is the "
            "cost of everything segaug does beyond decode + warp + encode + write.",
            f"- Floor PNG settings: images `{image_p or 'no params (OpenCV default)'}`, masks "
            f"`{mask_p or 'no params (OpenCV default)'}` — {floor_how}; the recipe sets no "
            "`png_compression`, so segaug uses these defaults. "
            + (
                "The variant **floor (decode once, OpenCV default PNG)** is the decode-once floor encoding "
                "with no params (`cv2.imencode('.png', arr)`, OpenCV's fast default), for issue 6's second "
                "target. "
                if image_p or mask_p
                else ""
            )
            + "Bytes per pair differ a little between segaug and the floor: segaug's brightness/contrast "
            "change the pixels and its random draws are its own.",
            "",
        ]
        lines, ratio_lines, ratios, scaling = throughput_lines(tp)
        loads = [r["load"] for rs in tp["runs"].values() for r in rs]
        out += lines + [
            "",
            *ratio_lines,
            "",
            f"1-minute load average when each run started: {spread(loads)} on {info['cores']} cores "
            "(above the worker count means other processes competed for the CPU: the wall-clock "
            "ratios then carry that noise; the CPU-time ratios much less).",
            "",
        ]
        if len(tp["workers"]) > 1:
            out += [
                "### Where scaling goes",
                "",
                "Per repetition, exactly: scaling = N x (core utilisation at N / at 1) / (CPU per output "
                "pair at N / at 1). Core utilisation = CPU seconds of the whole process tree / (workers x "
                "wall seconds): what the tool controls (start-up, planning, the commit, the last pair's "
                "tail, the parent's own work). CPU per output pair rising with the worker count is the "
                "machine's (shared caches, memory bandwidth, a busy host), and it moves every variant "
                "alike. Medians (min–max) over the repetitions; the tree's CPU misses each process's "
                "last 50 ms at most.",
                "",
                *scaling_lines(tp),
                "",
            ]
        w_lo = tp["workers"][0]
        once, per = (
            med([r["rate"] for r in tp["runs"][("floor-once", w_lo)]]),
            med([r["rate"] for r in tp["runs"][("segaug", w_lo)]]),
        )
        cpu = {
            v: med([r["cpu"] / tp["outputs"] * 1000 for r in tp["runs"][(v, w_lo)]]) for v in ("floor-once", "segaug")
        }
        out.append(
            f"At {w_lo} worker{'s' if w_lo > 1 else ''}, segaug spends about "
            f"{more_or_less(cpu['segaug'] - cpu['floor-once'])} CPU per output pair than the decode-once floor "
            f"(floor {cpu['floor-once']:.2f}, segaug {cpu['segaug']:.2f} ms, medians); by wall time "
            f"{more_or_less(1000 / per - 1000 / once)} (floor {1000 / once:.2f}, segaug {1000 / per:.2f} ms)."
        )
        out += ["", "Issue 6 targets, for reference (speed is never a pass/fail test):", ""]
        for w in tp["workers"]:
            r = med(ratios[("floor-once", w)])
            r2 = med(ratios[("floor", w)])
            out.append(
                f"- segaug >= 0.95x the floor at {w} worker(s): {r:.2f}x the decode-once floor, "
                f"{r2:.2f}x the decode-per-output floor"
            )
        if "floor-cvdefault" in tp["variants"]:

            def per_pair(v, w):
                return med([(r["images"] + r["masks"]) / tp["outputs"] for r in tp["runs"][(v, w)]])

            for w in tp["workers"]:
                out.append(
                    f"- segaug's defaults at least as fast as a floor with OpenCV's default PNG settings, "
                    f"output <= 1.10x, at {w} worker(s): {med(ratios[('floor-cvdefault', w)]):.2f}x its "
                    f"throughput, {per_pair('segaug', w) / per_pair('floor-cvdefault', w):.3f}x its bytes "
                    "per output pair"
                )
        if scaling:
            out.append(
                f"- scaling {tp['workers'][0]} -> {tp['workers'][-1]} workers >= 1.9x: segaug "
                f"{med(scaling['segaug']):.2f}x, decode-once floor {med(scaling['floor-once']):.2f}x"
            )
        out.append("")
    if mem:
        cfg, runs = mem["cfg"], mem["runs"]
        small, large = runs["small"], runs["large"]
        rss_ratio = med([mib(r["peak_rss"]) for r in large]) / med([mib(r["peak_rss"]) for r in small])
        pss_ratio = med([mib(r["peak_pss"]) for r in large]) / med([mib(r["peak_pss"]) for r in small])
        out += [
            "## Memory against dataset size",
            "",
            f"`segaug expand --workers {mem['workers']}` on {cfg['small']} vs {cfg['large']} source pairs "
            f"({cfg['side'][0]}x{cfg['side'][1]}, CamVid pairs downscaled and repeated under new names) x "
            f"{cfg['copies']} copies = {mem['outputs']['small']:,} vs {mem['outputs']['large']:,} "
            "output pairs "
            f"(10x the pairs, the manifest and the work list, at the same per-pair cost); {cfg['reps']} "
            f"repetition{'s, alternating' if cfg['reps'] > 1 else ''}. Peak of the whole process tree, "
            "sampled every 50 ms (RSS) / "
            "0.1 s (PSS). Ratios of the medians.",
            "",
            "| output pairs | peak tree RSS MiB | peak tree PSS MiB | largest process MiB | pairs/s |",
            "|---|---|---|---|---|",
        ]
        for label in ("small", "large"):
            rs = runs[label]
            out.append(
                f"| {mem['outputs'][label]:,} | {spread([mib(r['peak_rss']) for r in rs])} | "
                f"{spread([mib(r['peak_pss']) for r in rs])} | "
                f"{spread([mib(r['peak_single']) for r in rs])} | {spread([r['rate'] for r in rs])} |"
            )
        out += [
            "",
            f"Ratio 10,000 / 1,000 output pairs: **RSS {rss_ratio:.3f}x, PSS {pss_ratio:.3f}x** "
            f"(target: within 1.10x). Growth: "
            f"{med([mib(r['peak_rss']) for r in large]) - med([mib(r['peak_rss']) for r in small]):+.1f} "
            "MiB RSS "
            f"for 9,000 more output pairs.",
            "",
        ]
    if startup:
        out += [
            "## Start-up",
            "",
            "Wall time of the whole command, median (min–max) of "
            f"{len(next(iter(startup.values())))} interleaved runs:",
            "",
            "| command | ms |",
            "|---|---|",
        ]
        out += [f"| `{name}` | {spread([v * 1000 for v in values], '{:.0f}')} |" for name, values in startup.items()]
        out += ["", "Target: `segaug --help` and `segaug validate` under 300 ms.", ""]
    if png:
        out += png_lines(png)
    return "\n".join(out).rstrip() + "\n"


def png_lines(png):
    h, w = png["shape"][:2]
    out = [
        "## PNG encoder settings study",
        "",
        f"{png['n']} CamVid-like {w}x{h} outputs, from source pairs spread evenly over the dataset "
        "(compression depends on the scene), each warped once with a recipe-like matrix "
        "("
        "so the black/0 corners segaug produces are included), images and label masks separately, "
        f"{png['rounds'][0]} (images) / {png['rounds'][1]} (masks) interleaved rounds (every setting once "
        "per "
        "sample, in a shuffled order). "
        "Times are CPU time "
        "of the encoding thread (`time.thread_time`, so time lost to other processes on a shared machine is "
        "not counted), single-threaded OpenCV: for each sample the fastest of the rounds, averaged over the "
        "samples; the bracketed range is that of the per-round averages, which shows the noise. "
        "Bytes: mean per "
        "file. Decode: `cv2.imdecode` of that setting's file, same method. Ratios are to OpenCV's default "
        "(`cv2.imencode('.png', arr)` with no params, what segaug does today). C<n> = "
        "`IMWRITE_PNG_COMPRESSION n`. Every row decodes back to the exact input pixels.",
        "",
        "What OpenCV 5.0.0 does: with no params it uses zlib level 1, strategy RLE and the SUB filter on "
        "every row. Passing `IMWRITE_PNG_COMPRESSION` (any level, even 1) also switches the strategy to "
        "DEFAULT and leaves the filter to libpng's adaptive choice among all five filters, unless "
        "`IMWRITE_PNG_STRATEGY` / `IMWRITE_PNG_FILTER` are given too. `STRATEGY` or `FILTER` alone "
        "keep the other defaults (level 1). Order matters: a `COMPRESSION` that comes after `STRATEGY` in "
        "the "
        "list resets the strategy to DEFAULT. With strategy RLE or HUFFMAN_ONLY zlib ignores the level "
        "(any level 1-9 gives the same bytes), so those settings need no `COMPRESSION` at all.",
        "",
    ]
    for target in ("images", "masks"):
        data = png[target]
        table = data["table"]
        base = table[0]
        c1 = next(r for r in table if r["label"] == "COMPRESSION 1")
        out += [
            f"### {target.capitalize()}",
            "",
            f"Default: {base['ms']:.2f} ms, {base['bytes'] / 1024:.1f} KiB per {target[:-1]}. "
            f"`COMPRESSION 1` alone: **{c1['time_ratio']:.2f}x the default's time**, "
            f"{c1['bytes_ratio']:.2f}x its bytes (issue 6 said ~1.75x for images). "
            f"`[C1, STRATEGY_RLE, FILTER_SUB]` gives bytes identical to the default: "
            f"{'yes' if data['explicit_default_identical'] else 'NO'}."
            + (
                " These are 8-bit single-channel index masks (OpenCV path in segaug); palette PNG masks go "
                "through Pillow in segaug (see the two Pillow rows for its cost)."
                if target == "masks"
                else ""
            ),
            "",
            "| setting | encode ms (per-round range) | x default time | KiB "
            "| x default bytes (per-sample range) | decode ms |",
            "|---|---|---|---|---|---|",
        ]
        for r in table:
            out.append(
                f"| {r['label']} | {r['ms']:.2f} ({r['ms_range'][0]:.2f}–{r['ms_range'][1]:.2f}) | "
                f"{r['time_ratio']:.2f} | {r['bytes'] / 1024:.1f} | {r['bytes_ratio']:.3f} "
                f"({r['bytes_ratio_range'][0]:.2f}–{r['bytes_ratio_range'][1]:.2f}) | "
                f"{r['decode_ms']:.2f} |"
            )
        front = candidates(table)
        out += [
            "",
            "Settings no slower than the default and at most 10% larger, on the speed/size Pareto front:",
            "",
        ]
        out += [
            f"- {r['label']}: {r['time_ratio']:.2f}x the time, {r['bytes_ratio']:.3f}x the bytes, decode "
            f"{r['decode_ms']:.2f} ms — `{pretty_params(r['params'])}`"
            for r in front
        ] or ["- none: keep the default"]
        out.append("")
    return out


# =============================================================================================
# Main
# =============================================================================================


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small workload, throughput + start-up only (< 1 min)")
    p.add_argument("--memory", action="store_true", help="only the memory-vs-dataset-size comparison")
    p.add_argument("--png-study", action="store_true", help="only the PNG encoder settings study")
    p.add_argument("--profile", action="store_true", help="only a cProfile of `segaug expand --workers 1`")
    p.add_argument("--synthetic", action="store_true", help="use a generated dataset even if CamVid is present")
    p.add_argument("--pairs", type=int, help="source pairs per throughput run")
    p.add_argument("--copies", type=int, help="copies per source pair")
    p.add_argument("--reps", type=int, help="repetitions of each variant")
    p.add_argument("--workers", type=str, help="worker counts, comma-separated (default: 1,<all cores>)")
    p.add_argument(
        "--floor-image-params",
        help="imencode params of the floor's images, e.g. 17,2,19,32 (default: segaug's own defaults,\n"
        "read from segaug_cli.files.png_params; none = OpenCV's default when segaug has no such function)",
    )
    p.add_argument("--floor-mask-params", help="the same for the floor's masks")
    p.add_argument(
        "--output",
        type=Path,
        help=f"write the markdown report here (default: {RESULTS.relative_to(ROOT)}"
        " for the full run, nothing otherwise)",
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
    p.add_argument("--floor-child", nargs=7, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.floor_child:
        in_dir, out_dir, copies, workers, mode, image_params, mask_params = args.floor_child
        floor_child(
            in_dir,
            out_dir,
            int(copies),
            int(workers),
            mode,
            parse_params(image_params.strip("-")),
            parse_params(mask_params.strip("-")),
        )
        return 0

    started = time.perf_counter()
    only = args.memory or args.png_study or args.profile
    preset = QUICK if args.quick else FULL
    pairs, copies = args.pairs or preset["pairs"], args.copies or preset["copies"]
    reps = args.reps or preset["reps"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = [int(w) for w in args.workers.split(",")] if args.workers else sorted({1, cores})
    for text in (args.floor_image_params, args.floor_mask_params):
        parse_params(text)  # fail early on a typo

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="segaug-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    tp = mem = startup = png = None
    out_root = out_where = None
    try:
        snapshot_segaug(scratch, args.segaug_from)
        floor_module(scratch)
        info = machine()
        info["load_start"] = f"{os.getloadavg()[0]:.2f}"
        log(
            f"machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}, "
            f"OpenCV {info['opencv']}, "
            f"numpy {info['numpy']}, {info['segaug']}; benchmarking {SEGAUG['source']}"
        )
        if args.floor_image_params is None and args.floor_mask_params is None:
            detected = segaug_png_defaults()
            floor_params = detected or ("", "")
            floor_how = (
                "segaug's own defaults, read from `segaug_cli.files.png_params(kind, None)` of the benchmarked segaug"
                if detected
                else "OpenCV's default: the benchmarked segaug has no `segaug_cli.files.png_params`, "
                "and encoded PNG with no params"
            )
        else:
            floor_params = (args.floor_image_params or "", args.floor_mask_params or "")
            floor_how = "as given by --floor-image-params / --floor-mask-params"
        floor_params = (*floor_params, floor_how)
        log(f"floor PNG params: images [{floor_params[0]}], masks [{floor_params[1]}] ({floor_how})")
        in_dir, dataset = prepare_dataset(scratch, max(pairs, 24), args.synthetic)
        log(f"dataset: {dataset}")
        out_root, out_where = choose_out_root(scratch, args.out_on, run_bytes_estimate(in_dir, copies))
        log(f"OUT of every run: {out_where}")
        info["out_where"] = out_where
        if args.profile:
            profile_run(scratch, in_dir, copies)
        if args.memory or not only and not args.quick:
            mem = memory_study(scratch, out_root, in_dir, workers[-1])
        if not only:
            tp_dir = in_dir
            if len(list_pairs(in_dir)) != pairs:  # the throughput set is exactly `pairs` pairs
                tp_dir = scratch / "tp_in"
                for folder in ("images", "masks"):
                    (tp_dir / folder).mkdir(parents=True)
                for image, mask, _ in list_pairs(in_dir)[:pairs]:
                    shutil.copyfile(image, tp_dir / "images" / Path(image).name)
                    shutil.copyfile(mask, tp_dir / "masks" / Path(mask).name)
            tp = throughput(scratch, out_root, tp_dir, copies, reps, workers, floor_params)
            startup = startup_study(5 if args.quick else 9)
        if args.png_study or not only and not args.quick:
            png = png_study(in_dir, 4 if args.quick else 12)
            for target in ("images", "masks"):
                for r in candidates(png[target]["table"]):
                    log(f"  {target} candidate: {r['label']} {r['time_ratio']:.2f}x time {r['bytes_ratio']:.3f}x bytes")
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        if out_root is not None and out_root != scratch:
            shutil.rmtree(out_root, ignore_errors=True)
    finished = time.perf_counter()
    if tp or mem or startup or png:
        text = report(args, info, dataset, tp, mem, startup, png, started, finished, floor_params)
        log("")
        log(text)
        target = args.output or (RESULTS if not (args.quick or only) else None)
        if target:
            target.write_text(text, encoding="utf-8")
            log(f"written: {target}")
    log(f"total {finished - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
