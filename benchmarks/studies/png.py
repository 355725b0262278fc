"""PNG encoder settings: encode time, bytes and decode time per setting, for photos and label masks apart."""

from __future__ import annotations

import io
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..dataset import list_pairs
from ..floor import matrix
from ..summary import log

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
TARGETS = ("images", "masks")


@dataclass(frozen=True)
class Setting:
    """One encoder setting: ``kind`` 'cv2' takes imencode params, 'pil' a Pillow compress_level."""

    label: str
    kind: str
    params: list[int] | int


@dataclass(frozen=True)
class PngRow:
    """One setting's results on one target. Times in ms; ratios to OpenCV's default (the first row)."""

    label: str
    kind: str
    params: list[int] | int
    ms: float  # per sample the fastest round, averaged over samples
    ms_range: tuple[float, float]  # of the per-round averages
    time_ratio: float
    bytes: float  # mean per file
    bytes_ratio: float
    bytes_ratio_range: tuple[float, float]  # over the samples
    decode_ms: float


@dataclass(frozen=True)
class PngTarget:
    """The table of one target, and whether the spelled-out default gave the default's very bytes."""

    table: tuple[PngRow, ...]
    explicit_default_identical: bool


@dataclass(frozen=True)
class PngResult:
    """Both targets' tables, the sample count, rounds (images, masks) and the samples' shape."""

    targets: dict[str, PngTarget]
    n: int
    rounds: tuple[int, int]
    shape: tuple[int, ...]


def settings() -> list[Setting]:
    """Every setting studied; the first is OpenCV's default, the second the same spelled out."""
    rows = [Setting("OpenCV default (no params)", "cv2", [])]
    rows.append(Setting("explicit default: C1 + RLE + SUB", "cv2", [C, 1, S, STRATEGIES["RLE"], F, FILTERS["SUB"]]))
    rows += [Setting(f"COMPRESSION {lvl}", "cv2", [C, lvl]) for lvl in range(10)]
    for lvl in (1, 6):  # C<lvl> alone is already STRATEGY DEFAULT
        rows += [
            Setting(f"C{lvl} + STRATEGY {name}", "cv2", [C, lvl, S, value])
            for name, value in STRATEGIES.items()
            if name != "DEFAULT"
        ]
    rows += [
        Setting(f"STRATEGY {name} (level 1, SUB kept)", "cv2", [S, value])
        for name, value in STRATEGIES.items()
        if name != "RLE"
    ]
    rows += [
        Setting(f"FILTER {name} (level 1, RLE kept)", "cv2", [F, value])
        for name, value in FILTERS.items()
        if name != "SUB"
    ]
    for lvl in (1, 3, 6):
        rows += [
            Setting(f"C{lvl} + DEFAULT strategy + FILTER {name}", "cv2", [C, lvl, F, FILTERS[name]])
            for name in ("NONE", "SUB", "UP")
        ]
    rows += [
        Setting(
            f"STRATEGY HUFFMAN_ONLY + FILTER {name} (level 1)", "cv2", [S, STRATEGIES["HUFFMAN_ONLY"], F, FILTERS[name]]
        )
        for name in ("NONE", "UP", "AVG", "PAETH")
    ]
    rows.append(Setting("explicit: C1 + RLE + FILTER UP", "cv2", [C, 1, S, STRATEGIES["RLE"], F, FILTERS["UP"]]))
    rows += [Setting("Pillow compress_level 1", "pil", 1), Setting("Pillow compress_level 6", "pil", 6)]
    return rows


def _encode(setting: Setting, array: np.ndarray):
    if setting.kind == "cv2":
        return cv2.imencode(".png", array, setting.params)[1]
    from PIL import Image

    buffer = io.BytesIO()
    pil = Image.fromarray(array[..., ::-1] if array.ndim == 3 else array)  # BGR -> RGB (a copy, ~1% of the time)
    pil.save(buffer, format="PNG", compress_level=setting.params)
    return buffer.getvalue()


def _have_pillow() -> bool:
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def _samples(in_dir: Path, n_samples: int) -> dict[str, list[np.ndarray]]:
    """Warped images and masks from source pairs spread evenly over the dataset (compression depends on the
    scene; CamVid's two sequences differ), each warped once with a recipe-like matrix."""
    samples: dict[str, list[np.ndarray]] = {"images": [], "masks": []}
    every = list_pairs(in_dir)
    chosen = sorted({round(k * (len(every) - 1) / max(n_samples - 1, 1)) for k in range(n_samples)})
    for i in chosen:
        image, mask, _ = every[i]
        im, ma = cv2.imread(image, cv2.IMREAD_UNCHANGED), cv2.imread(mask, cv2.IMREAD_UNCHANGED)
        m = matrix(np.random.default_rng([i, 0]), im.shape[1], im.shape[0])
        samples["images"].append(cv2.warpAffine(im, m, im.shape[1::-1], flags=cv2.INTER_LINEAR))
        samples["masks"].append(cv2.warpAffine(ma, m, ma.shape[1::-1], flags=cv2.INTER_NEAREST))
    return samples


def run_png(in_dir: Path, n_samples: int, image_rounds: int = 3, mask_rounds: int = 5) -> PngResult:
    """Encode time and bytes per setting, for warped CamVid-like images and label masks separately.

    Args:
        in_dir: the dataset; ``n_samples`` pairs spread evenly over it are warped once each.
        image_rounds, mask_rounds: interleaved rounds of every setting over every sample, per target.

    Raises:
        AssertionError: a setting does not decode back to the exact input pixels.
    """
    cv2.setNumThreads(1)
    rows = [r for r in settings() if _have_pillow() or r.kind != "pil"]
    samples = _samples(in_dir, n_samples)
    shape = samples["images"][0].shape
    log(
        f"PNG study: {len(samples['images'])} warped images {shape[1]}x{shape[0]} and masks, "
        f"{len(rows)} settings, {image_rounds} / {mask_rounds} interleaved rounds"
    )
    targets = {}
    for target, arrays in samples.items():
        targets[target] = _study_target(rows, arrays, image_rounds if target == "images" else mask_rounds)
        table = targets[target].table
        c1 = next(row for row in table if row.label == "COMPRESSION 1")
        log(
            f"  {target}: default {table[0].ms:.2f} ms, {table[0].bytes / 1024:.1f} KiB; "
            f"COMPRESSION 1 is {c1.time_ratio:.2f}x the default's time; "
            f"[C1, RLE, SUB] byte-identical to default: {targets[target].explicit_default_identical}"
        )
    return PngResult(targets, len(samples["images"]), (image_rounds, mask_rounds), shape)


def _study_target(rows: list[Setting], arrays: list[np.ndarray], rounds: int) -> PngTarget:
    """Fine interleaving: per sample, every setting once (order shuffled per sample and round), so a slow
    spell of the machine hits all settings alike. One warm-up pass over the first sample is not counted."""
    for setting in rows:
        _encode(setting, arrays[0])
    n = len(arrays)
    enc = {s.label: [[math.inf] * n for _ in range(rounds)] for s in rows}
    dec = {s.label: [math.inf] * n for s in rows}
    sizes, encoded = {s.label: 0.0 for s in rows}, {s.label: [] for s in rows}
    clock = time.thread_time  # CPU time of this thread: time spent preempted by neighbours is not counted
    for r in range(rounds):
        for i, array in enumerate(arrays):
            order = list(rows)
            random.Random(r * 10_000 + i).shuffle(order)  # no setting always follows the same one
            for setting in order:
                label = setting.label
                start = clock()
                blob = _encode(setting, array)
                middle = clock()
                back = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
                end = clock()
                enc[label][r][i] = middle - start
                dec[label][i] = min(dec[label][i], end - middle)
                if r == 0:
                    assert np.array_equal(back, array), f"{label}: does not decode to the input"
                    sizes[label] += len(blob) / n
                    encoded[label].append(bytes(blob))
    table = _table(rows, enc, dec, sizes, encoded, rounds, n)
    return PngTarget(table, encoded[rows[0].label] == encoded[rows[1].label])


def _table(rows, enc, dec, sizes, encoded, rounds, n) -> tuple[PngRow, ...]:
    """Per setting: best-of-rounds time, per-round range, bytes and their per-sample ratio range, decode."""
    default = rows[0].label
    per_sample = {  # bytes / the default's bytes, per sample: how much the ratio depends on content
        label: [len(a) / len(b) for a, b in zip(encoded[label], encoded[default], strict=True)] for label in enc
    }
    best = {label: sum(min(enc[label][r][i] for r in range(rounds)) for i in range(n)) / n for label in enc}
    per_round = {label: [sum(enc[label][r]) / n for r in range(rounds)] for label in enc}
    base, base_bytes = best[default], sizes[default]
    return tuple(
        PngRow(
            label=s.label,
            kind=s.kind,
            params=s.params,
            ms=best[s.label] * 1000,
            ms_range=(min(per_round[s.label]) * 1000, max(per_round[s.label]) * 1000),
            time_ratio=best[s.label] / base,
            bytes=sizes[s.label],
            bytes_ratio=sizes[s.label] / base_bytes,
            bytes_ratio_range=(min(per_sample[s.label]), max(per_sample[s.label])),
            decode_ms=sum(dec[s.label]) / n * 1000,
        )
        for s in rows
    )


def candidates(table: tuple[PngRow, ...], max_bytes_ratio: float = 1.10) -> list[PngRow]:
    """OpenCV settings no slower than the default and at most 10% larger, on the speed/size Pareto front
    (no other such setting is both faster and smaller), fastest first."""
    fit = [r for r in table if r.kind == "cv2" and r.time_ratio <= 1.0 and r.bytes_ratio <= max_bytes_ratio]
    front = [r for r in fit if not any(o.ms < r.ms and o.bytes < r.bytes for o in fit)]
    front = [r for r in front if round(r.bytes) != round(table[0].bytes)]  # not the default itself
    unique: dict[int, PngRow] = {}
    for r in sorted(front, key=lambda r: len(r.params)):
        unique.setdefault(round(r.bytes), r)  # byte-identical spellings of one setting: keep the shortest
    return sorted(unique.values(), key=lambda r: r.ms)


def pretty_params(params: list[int]) -> str:
    """imencode params as Python source: ``[cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]``."""
    names = {C: "IMWRITE_PNG_COMPRESSION", S: "IMWRITE_PNG_STRATEGY", F: "IMWRITE_PNG_FILTER"}
    values = {
        S: {v: f"IMWRITE_PNG_STRATEGY_{k}" for k, v in STRATEGIES.items()},
        F: {v: f"IMWRITE_PNG_FILTER_{k}" for k, v in FILTERS.items()},
    }
    parts = []
    for key, value in zip(params[::2], params[1::2], strict=True):
        parts.append(f"cv2.{names[key]}, " + (f"cv2.{values[key][value]}" if key in values else str(value)))
    return "[" + ", ".join(parts) + "]"
