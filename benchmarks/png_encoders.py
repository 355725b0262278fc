"""PNG encoders compared per kind of file segaug writes; JPEG and TIFF encoders alongside.

Standalone: run it with the project's venv from the repository root,

    .venv/bin/python benchmarks/png_encoders.py              # the two sweeps, about 2 minutes
    .venv/bin/python benchmarks/png_encoders.py --grid       # every filter x every compressor
    .venv/bin/python benchmarks/png_encoders.py --quick      # 3 files, 5 repetitions: a smoke run

For each kind (photo, label mask, 16-bit grey, palette mask) it encodes the same files with
``cv2.imencode`` at OpenCV's defaults, with segaug's current settings, and with segaug_cli.png's
writer under each candidate compressor and row filter, then decodes every result. Times are thread
CPU time per file: each repetition encodes every file once, round-robin over the candidates so that
machine noise falls on all alike; the table gives the median and the 10th-90th percentile of those
repetitions. KB is the mean size per file. "same" says every output decodes to the source array.

Data: ../shared/data (relative to the repository root) when present: CamVid photos and masks,
omnipose-bact-phase 16-bit phase-contrast images, VOC-style palette masks. Otherwise, or with
--synthetic, generated images of the same sizes. Candidates whose package is not installed
(isal, zlib-ng, simplejpeg, PyTurboJPEG) are left out and named at the end.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from segaug_cli import png  # noqa: E402  (the tree's own writer, not an installed copy)

DATA = ROOT.parent / "shared" / "data"
FILTERS = ("none", "sub", "up", "avg", "paeth", "adaptive")
# segaug's settings at the time of writing (codecs.png_params without a level), copied so that this
# script does not depend on where that function lives.
SEGAUG_PARAMS = {
    "photo": [
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_AVG,
    ],
    "mask": [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP],
    "gray16": [
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_AVG,
    ],
}
MISSING: list[str] = []


@dataclass(frozen=True)
class Sample:
    """One file's array, with its palette and transparency when it is a palette mask."""

    array: np.ndarray
    palette: list[int] | None = None
    transparency: int | bytes | None = None


@dataclass(frozen=True)
class Candidate:
    name: str
    encode: Callable[[Sample], bytes]
    decode: Callable[[bytes], np.ndarray]


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_kinds(count: int, synthetic: bool) -> tuple[dict[str, list[Sample]], str]:
    """Files of each kind: from ../shared/data when present, else generated."""
    camvid = DATA / "camvid"
    if synthetic or not (camvid / "images").is_dir():
        return generated(count), "generated"
    photos = sorted((camvid / "images").glob("*.png"))[:count]
    masks = sorted((camvid / "masks").glob("*.png"))[:count]
    kinds = {
        "photo": [Sample(cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in photos],
        "mask": [Sample(cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in masks],
        "gray16": gray16_files(count),
        "palette": palette_files(count, [s.array for s in masks_of(masks)]),
    }
    return kinds, (
        "shared/data: CamVid photos and masks; 16-bit grey from omnipose-bact-phase, palette masks "
        "from voc-sample where present"
    )


def masks_of(paths: list[Path]) -> list[Sample]:
    return [Sample(cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in paths]


def gray16_files(count: int) -> list[Sample]:
    """Real 16-bit phase-contrast TIFFs when present, else generated."""
    import tifffile

    paths = sorted((DATA / "omnipose-bact-phase" / "images").glob("*.tif*"))[:count]
    arrays = [tifffile.imread(p) for p in paths]
    arrays = [a for a in arrays if a.dtype == np.uint16 and a.ndim == 2]
    return [Sample(a) for a in arrays] or generated(count)["gray16"]


def palette_files(count: int, camvid_masks: list[np.ndarray]) -> list[Sample]:
    """VOC palette masks when present, else CamVid masks with a VOC-like palette."""
    samples = []
    for path in sorted((DATA / "voc-sample" / "masks").glob("*.png"))[:count]:
        with Image.open(path) as img:
            if img.mode == "P":
                samples.append(Sample(np.array(img), img.getpalette(), img.info.get("transparency")))
    return samples or [Sample(m, voc_palette()) for m in camvid_masks]


def voc_palette() -> list[int]:
    """The PASCAL VOC colour map: 256 entries from the bits of each index."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def generated(count: int) -> dict[str, list[Sample]]:
    """Textured 480x360 photos, blocky 12-label masks, noisy 16-bit grey, palette masks."""
    rng = np.random.default_rng(0)
    photos, masks, grays = [], [], []
    for _ in range(count):
        base = cv2.resize(rng.integers(0, 256, (23, 31, 3), dtype=np.uint8), (480, 360), interpolation=cv2.INTER_CUBIC)
        photos.append(Sample(cv2.add(base, rng.integers(0, 12, base.shape, dtype=np.uint8))))
        blocks = rng.integers(0, 12, (9, 12), dtype=np.uint8)
        masks.append(Sample(cv2.resize(blocks, (480, 360), interpolation=cv2.INTER_NEAREST)))
        smooth = cv2.resize(rng.random((12, 16)).astype(np.float32), (384, 300), interpolation=cv2.INTER_CUBIC)
        noise = rng.normal(0, 200, smooth.shape)
        grays.append(Sample(np.clip(smooth * 40000 + 10000 + noise, 0, 65535).astype(np.uint16)))
    palettes = [Sample(m.array, voc_palette()) for m in masks]
    return {"photo": photos, "mask": masks, "gray16": grays, "palette": palettes}


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


def compressors() -> dict[str, Callable[[bytes], bytes]]:
    """zlib-stream compressors by name; those whose package is missing are left out."""
    import deflate

    found: dict[str, Callable[[bytes], bytes]] = {
        "zlib-1": lambda d: zlib.compress(d, 1),
        "zlib-6": lambda d: zlib.compress(d, 6),
    }
    for level in (1, 2, 3, 4, 6):
        found[f"libdeflate-{level}"] = lambda d, lv=level: deflate.zlib_compress(d, lv)
    try:
        from isal import isal_zlib

        for level in (0, 1, 2):
            found[f"isal-{level}"] = lambda d, lv=level: isal_zlib.compress(d, lv)
    except ImportError:
        MISSING.append("isal")
    try:
        from zlib_ng import zlib_ng

        found["zlib-ng-1"] = lambda d: zlib_ng.compress(d, 1)
    except ImportError:
        MISSING.append("zlib-ng")
    return found


def cv2_decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.array(img)


def pillow_palette(sample: Sample, level: int = 1) -> bytes:
    """segaug today: Pillow at compress_level 1, PLTE and tRNS kept."""
    height, width = sample.array.shape
    img = Image.frombytes("P", (width, height), np.ascontiguousarray(sample.array).tobytes())
    img.putpalette(sample.palette)
    options = {"compress_level": level}
    if sample.transparency is not None:
        options["transparency"] = sample.transparency
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def ours(filter_name: str, compress: Callable[[bytes], bytes]) -> Callable[[Sample], bytes]:
    return lambda s: png.build_png(
        s.array, palette=s.palette, transparency=s.transparency, filter_name=filter_name, compress=compress
    )


def png_kind(kind: str) -> str:
    """The writer's kind for a benchmark kind: photos and 16-bit grey are images."""
    return "mask" if kind in ("mask", "palette") else "image"


def candidates(kind: str, grid: bool) -> list[Candidate]:
    """The baselines, then our writer: its chosen filter under every compressor and every filter
    under the chosen compressor (or every pair, with ``grid``)."""
    decode = pillow_decode if kind == "palette" else cv2_decode
    rows = [Candidate("cv2 defaults", lambda s: cv2.imencode(".png", s.array)[1].tobytes(), cv2_decode)]
    if kind == "palette":
        rows.append(Candidate("Pillow level 1 (segaug today)", pillow_palette, pillow_decode))
    else:
        params = SEGAUG_PARAMS[kind if kind in SEGAUG_PARAMS else "photo"]
        rows.append(
            Candidate("cv2 segaug png_params", lambda s: cv2.imencode(".png", s.array, params)[1].tobytes(), cv2_decode)
        )
    rows.append(
        Candidate(
            "ours: encode_png() as shipped",
            lambda s: png.encode_png(s.array, kind=png_kind(kind), palette=s.palette, transparency=s.transparency),
            decode,
        )
    )
    comps = compressors()
    fastest = png.FASTEST[png_kind(kind)]
    chosen = f"libdeflate-{fastest.level}"
    pairs = (
        [(f, c) for f in FILTERS for c in comps]
        if grid
        else ([(fastest.filter_name, c) for c in comps] + [(f, chosen) for f in FILTERS if f != fastest.filter_name])
    )
    rows += [Candidate(f"ours {f} + {c}", ours(f, comps[c]), decode) for f, c in pairs]
    return rows


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------


def per_file_ms(work: Callable[[], object], files: int) -> float:
    start = time.thread_time_ns()
    work()
    return (time.thread_time_ns() - start) / 1e6 / files


def measure(kind: str, samples: list[Sample], rows: list[Candidate], reps: int) -> list[dict]:
    """Round-robin repetitions of every candidate's encode, then of its decode."""
    outputs = {c.name: [c.encode(s) for s in samples] for c in rows}
    enc: dict[str, list[float]] = {c.name: [] for c in rows}
    dec: dict[str, list[float]] = {c.name: [] for c in rows}
    for _ in range(reps):
        for c in rows:
            enc[c.name].append(per_file_ms(lambda c=c: [c.encode(s) for s in samples], len(samples)))
            dec[c.name].append(per_file_ms(lambda c=c: [c.decode(b) for b in outputs[c.name]], len(samples)))
    results = []
    for c in rows:
        same = all(np.array_equal(c.decode(b), s.array) for b, s in zip(outputs[c.name], samples, strict=True))
        kb = statistics.mean(len(b) for b in outputs[c.name]) / 1024
        results.append({"name": c.name, "enc": enc[c.name], "dec": dec[c.name], "kb": kb, "same": same})
    return results


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10) if len(values) > 1 else [values[0]] * 9
    return f"{statistics.median(values):6.2f} [{q[0]:.2f}-{q[-1]:.2f}]"


def table(kind: str, note: str, results: list[dict], lossless: bool = True) -> str:
    """One row per candidate; the ratios are to the first row (OpenCV's defaults, or segaug today)."""
    base = results[0]
    base_ms, base_kb = statistics.median(base["enc"]), base["kb"]
    lines = [
        f"\n### {kind}: {note}\n",
        "| encoder | encode ms median [p10-p90] | x row 1 time | KB | x row 1 bytes | decode ms | same |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ms = statistics.median(r["enc"])
        lines.append(
            f"| {r['name']} | {spread(r['enc'])} | {ms / base_ms:.2f} | {r['kb']:.1f} | "
            f"{r['kb'] / base_kb:.3f} | {spread(r['dec'])} | {same(r['same'], lossless)} |"
        )
    return "\n".join(lines)


def same(identical: bool, lossless: bool) -> str:
    if not lossless:
        return "lossy"
    return "yes" if identical else "NO"


def describe(kind: str, samples: list[Sample]) -> str:
    a = samples[0].array
    return f"{len(samples)} files, {a.shape[1]}x{a.shape[0]} {a.dtype} x{1 if a.ndim == 2 else a.shape[2]}"


# ---------------------------------------------------------------------------------------------
# JPEG and TIFF
# ---------------------------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.PSNR(a, b))


def jpeg_candidates(quality: int) -> list[Candidate]:
    """cv2 at its default 4:2:0 sampling against libjpeg-turbo bindings told the same."""
    rows = [
        Candidate(
            f"cv2.imencode q{quality}",
            lambda s: cv2.imencode(".jpg", s.array, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes(),
            cv2_decode,
        )
    ]
    try:
        import simplejpeg

        rows.append(
            Candidate(
                f"simplejpeg q{quality} 420",
                lambda s: simplejpeg.encode_jpeg(s.array, quality=quality, colorspace="BGR", colorsubsampling="420"),
                lambda b: simplejpeg.decode_jpeg(b, colorspace="BGR"),
            )
        )
    except ImportError:
        MISSING.append("simplejpeg")
    try:
        from turbojpeg import TJSAMP_420, TurboJPEG

        turbo = TurboJPEG()
        rows.append(
            Candidate(
                f"PyTurboJPEG q{quality} 420",
                lambda s: turbo.encode(s.array, quality=quality, jpeg_subsample=TJSAMP_420),
                turbo.decode,
            )
        )
    except (ImportError, OSError, RuntimeError) as exc:
        MISSING.append(f"PyTurboJPEG ({str(exc).splitlines()[0]})")
    return rows


def tiff_candidates() -> list[Candidate]:
    """segaug today (zlib, tifffile's default level) and tifffile's other built-in options."""
    import tifffile

    def writer(**options):
        def encode(s: Sample) -> bytes:
            buffer = io.BytesIO()
            tifffile.imwrite(
                buffer,
                s.array[..., ::-1] if s.array.ndim == 3 else s.array,
                photometric="rgb" if s.array.ndim == 3 else "minisblack",
                metadata=None,
                **options,
            )
            return buffer.getvalue()

        return encode

    def decode(b: bytes) -> np.ndarray:
        a = tifffile.imread(io.BytesIO(b))
        return np.ascontiguousarray(a[..., ::-1]) if a.ndim == 3 else a

    options = {
        "zlib (segaug today)": {"compression": "zlib"},
        "zlib level 1": {"compression": "zlib", "compressionargs": {"level": 1}},
        "zlib level 1 + predictor": {"compression": "zlib", "compressionargs": {"level": 1}, "predictor": True},
        "uncompressed": {},
        "packbits": {"compression": "packbits"},
        "lzw": {"compression": "lzw"},
        "zstd": {"compression": "zstd"},
    }
    rows = []
    probe = Sample(np.zeros((4, 4, 3), np.uint8))
    for name, opts in options.items():
        try:
            writer(**opts)(probe)
        except Exception as exc:  # codecs that need imagecodecs are reported, not measured
            MISSING.append(f"tifffile {name} ({type(exc).__name__})")
            continue
        rows.append(Candidate(f"tifffile {name}", writer(**opts), decode))
    return rows


def lossy_report(samples: list[Sample], rows: list[Candidate], reps: int) -> str:
    results = measure("jpeg", samples, rows, reps)
    lines = [
        table("JPEG", describe("photo", samples), results, lossless=False),
        "",
        "| encoder | PSNR dB vs source | bytes identical to cv2 |",
        "| --- | --- | --- |",
    ]
    first = [rows[0].encode(s) for s in samples]
    for c in rows:
        out = [c.encode(s) for s in samples]
        quality = statistics.mean(psnr(s.array, c.decode(b)) for s, b in zip(samples, out, strict=True))
        lines.append(f"| {c.name} | {quality:.2f} | {'yes' if out == first else 'no'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="files per kind (default 8)")
    parser.add_argument("--reps", type=int, default=15, help="repetitions (default 15)")
    parser.add_argument("--grid", action="store_true", help="every filter with every compressor")
    parser.add_argument("--quick", action="store_true", help="3 files, 5 repetitions")
    parser.add_argument("--synthetic", action="store_true", help="generated images even when data is present")
    parser.add_argument(
        "--kinds",
        default="photo,mask,gray16,palette,jpeg,tiff",
        help="comma-separated subset of photo,mask,gray16,palette,jpeg,tiff",
    )
    args = parser.parse_args()
    files, reps = (3, 5) if args.quick else (args.files, args.reps)
    cv2.setNumThreads(0)
    kinds, source = load_kinds(files, args.synthetic)
    wanted = args.kinds.split(",")
    print(f"# PNG encoders, per file; data: {source}; {reps} repetitions; thread CPU time")
    print(f"OpenCV {cv2.__version__}, numpy {np.__version__}, our writer on {png.ENCODER[0]} ({png.ENCODER[1]})")
    for kind in ("photo", "mask", "gray16", "palette"):
        if kind in wanted:
            print(
                table(kind, describe(kind, kinds[kind]), measure(kind, kinds[kind], candidates(kind, args.grid), reps)),
                flush=True,
            )
    if "jpeg" in wanted:
        print(lossy_report(kinds["photo"], jpeg_candidates(95), reps), flush=True)
    if "tiff" in wanted:
        for kind in ("photo", "mask", "gray16"):
            print(
                table(f"TIFF {kind}", describe(kind, kinds[kind]), measure(kind, kinds[kind], tiff_candidates(), reps)),
                flush=True,
            )
    if MISSING:
        print(f"\nNot measured (not installed or not supported here): {', '.join(sorted(set(MISSING)))}")


if __name__ == "__main__":
    main()
