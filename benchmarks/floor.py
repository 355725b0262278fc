"""The floor: a bare pool loop doing only what any augmenter must do, with no bookkeeping at all.

Per output pair: decode the source pair, one ``cv2.warpAffine`` per target, encode both as PNG, write the
bytes. Everything segaug spends above this is its own overhead. It runs as a child process of the
benchmark (``main``), started from a compiled copy of this package (``install``, ``command``) so that it,
like an installed segaug, pays no compilation at start-up.
"""

from __future__ import annotations

import compileall
import math
import multiprocessing
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from .dataset import list_pairs

_WORKER = {}  # per worker process: output folder and PNG params

#: The floor's PNG "params" that mean segaug's own writer (segaug_cli.png.encode_png at its fastest
#: settings for the kind) instead of ``cv2.imencode``: the floor that writes with the same fast encoder.
LIBDEFLATE = "libdeflate"
#: ... and segaug's fast photo writer (fpng, ``output.png: fast``), for 8-bit colour images.
FPNG = "fpng"


def matrix(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A 2x3 matrix of the recipe's families: rotate, scale, shear (p .5), translate, hflip (p .5)."""
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


def _init(out_dir: str, image_params: list[int] | str, mask_params: list[int] | str) -> None:
    cv2.setNumThreads(1)
    _WORKER.update(out=out_dir, image_params=image_params, mask_params=mask_params)


def _write(image: np.ndarray, mask: np.ndarray, stem: str, k: int, rng: np.random.Generator) -> None:
    h, w = image.shape[:2]
    m = matrix(rng, w, h)
    out_image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out_mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    out = _WORKER["out"]
    for folder, array, params in (
        ("images", out_image, _WORKER["image_params"]),
        ("masks", out_mask, _WORKER["mask_params"]),
    ):
        buffer = _encode_png(array, params, folder)
        with open(f"{out}/{folder}/{stem}_aug{k}.png", "wb") as fh:
            fh.write(buffer)


def _encode_png(array: np.ndarray, params: list[int] | str, folder: str) -> bytes:
    if params == FPNG:
        from segaug_cli.codecs import _encode_fast_png  # the benchmarked segaug's photo writer

        return _encode_fast_png(array)
    if params == LIBDEFLATE:
        from segaug_cli.png import encode_png  # the benchmarked segaug's writer

        return encode_png(array, kind="image" if folder == "images" else "mask")
    return cv2.imencode(".png", array, params)[1]


def _per_output(task: tuple) -> int:
    """Per OUTPUT pair: read and decode the pair, warp both, encode and write both."""
    image_path, mask_path, stem, index, k = task
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    _write(image, mask, stem, k, np.random.default_rng([index, k]))
    return 1


def _per_pair(task: tuple) -> int:
    """Decode once per SOURCE pair (as segaug does): then warp, encode and write every copy."""
    image_path, mask_path, stem, index, copies = task
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    for k in range(copies):
        _write(image, mask, stem, k, np.random.default_rng([index, k]))
    return copies


def run(
    in_dir: str,
    out_dir: str,
    copies: int,
    workers: int,
    mode: str,
    image_params: list[int] | str,
    mask_params: list[int] | str,
) -> int:
    """Write ``copies`` warped copies of every pair of ``in_dir`` into ``out_dir/images`` and ``/masks``.

    Args:
        mode: ``output`` decodes the source pair for every output pair; ``pair`` once per source pair.
        workers: 1 runs in this process (as ``segaug --workers 1`` does: the strictest floor); more use a
            forked pool with OpenCV at one thread per worker.
        image_params, mask_params: ``cv2.imencode`` params, empty for OpenCV's default; or ``LIBDEFLATE``
            for segaug's own PNG writer (imported from the segaug_cli on the path: the benchmarked one).

    Returns:
        The output pairs written.
    """
    pairs = list_pairs(in_dir)
    for folder in ("images", "masks"):
        Path(out_dir, folder).mkdir(parents=True, exist_ok=True)
    if mode == "output":
        tasks = [(im, ma, stem, i, k) for i, (im, ma, stem) in enumerate(pairs) for k in range(copies)]
        fn, chunk = _per_output, 4
    else:
        tasks = [(im, ma, stem, i, copies) for i, (im, ma, stem) in enumerate(pairs)]
        fn, chunk = _per_pair, 1
    init = (out_dir, image_params, mask_params)
    if workers == 1:
        _init(*init)
        return sum(fn(t) for t in tasks)
    cv2.setNumThreads(1)  # before forking: workers inherit no OpenCV thread pool
    with multiprocessing.get_context("fork").Pool(workers, _init, init) as pool:
        return sum(pool.imap_unordered(fn, tasks, chunksize=chunk))


def parse_params(text: str) -> list[int] | str:
    """'17,2,19,64' -> [17, 2, 19, 64]; '' or '-' -> []; 'libdeflate' or 'fpng' -> segaug's own writers."""
    if text in (LIBDEFLATE, FPNG):
        return text
    return [int(v) for v in text.strip("-").split(",") if v.strip()] if text else []


def main(argv: list[str]) -> int:
    """The child process: IN OUT COPIES WORKERS MODE IMAGE_PARAMS MASK_PARAMS ('-' for no params)."""
    in_dir, out_dir, copies, workers, mode, image_params, mask_params = argv
    done = run(in_dir, out_dir, int(copies), int(workers), mode, parse_params(image_params), parse_params(mask_params))
    assert done == len(list_pairs(in_dir)) * int(copies)
    return 0


def install(scratch: Path) -> Path:
    """A compiled copy of this package in ``scratch/floor``, for the floor's children; returns that folder.

    A script run as ``__main__`` is compiled on every start (about 20 ms here), an imported module is not.
    """
    folder = scratch / "floor"
    package = Path(__file__).resolve().parent
    shutil.copytree(package, folder / package.name, ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    if not compileall.compile_dir(str(folder), quiet=1):
        raise RuntimeError(f"could not compile the modules under {folder}")
    return folder


def command(
    folder: Path,
    in_dir: Path,
    out_dir: Path,
    copies: int,
    workers: int,
    mode: str,
    image_params: str,
    mask_params: str,
    pinned: bool = False,
) -> list[str]:
    """The command line of one floor run, from the compiled copy ``install`` made.

    ``pinned``: import the benchmarked segaug_cli before OpenCV, which pins OpenCV to the kernels segaug
    runs everywhere (its SSE4.2 ones on x86-64: the same bytes on every CPU) and does nothing else, so
    the floor warps with the kernels segaug warps with.
    """
    pin = "import segaug_cli; " if pinned else ""
    launcher = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); {pin}from benchmarks import floor; "
        "sys.exit(floor.main(sys.argv[1:]))"
    )
    return [
        sys.executable,
        "-c",
        launcher,
        str(in_dir),
        str(out_dir),
        str(copies),
        str(workers),
        mode,
        image_params or "-",
        mask_params or "-",
    ]
