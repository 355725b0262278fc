"""The report's PNG encoder settings section."""

from __future__ import annotations

from ..studies.png import PngResult, PngTarget, candidates, pretty_params

OPENCV_PNG = (
    "What OpenCV 5.0.0 does: with no params it uses zlib level 1, strategy RLE and the SUB filter on "
    "every row. Passing `IMWRITE_PNG_COMPRESSION` (any level, even 1) also switches the strategy to "
    "DEFAULT and leaves the filter to libpng's adaptive choice among all five filters, unless "
    "`IMWRITE_PNG_STRATEGY` / `IMWRITE_PNG_FILTER` are given too. `STRATEGY` or `FILTER` alone "
    "keep the other defaults (level 1). Order matters: a `COMPRESSION` that comes after `STRATEGY` in the "
    "list resets the strategy to DEFAULT. With strategy RLE or HUFFMAN_ONLY zlib ignores the level "
    "(any level 1-9 gives the same bytes), so those settings need no `COMPRESSION` at all."
)


def png_lines(png: PngResult) -> list[str]:
    h, w = png.shape[:2]
    out = [
        "## PNG encoder settings study",
        "",
        f"{png.n} CamVid-like {w}x{h} outputs, from source pairs spread evenly over the dataset "
        "(compression depends on the scene), each warped once with a recipe-like matrix "
        "(so the black/0 corners segaug produces are included), images and label masks separately, "
        f"{png.rounds[0]} (images) / {png.rounds[1]} (masks) interleaved rounds (every setting once per "
        "sample, in a shuffled order). Times are CPU time "
        "of the encoding thread (`time.thread_time`, so time lost to other processes on a shared machine is "
        "not counted), single-threaded OpenCV: for each sample the fastest of the rounds, averaged over the "
        "samples; the bracketed range is that of the per-round averages, which shows the noise. Bytes: mean per "
        "file. Decode: `cv2.imdecode` of that setting's file, same method. Ratios are to OpenCV's default "
        "(`cv2.imencode('.png', arr)` with no params). C<n> = "
        "`IMWRITE_PNG_COMPRESSION n`. Every row decodes back to the exact input pixels. The study covers "
        "OpenCV's own settings (and Pillow's), the reference: segaug's writers (fpng for colour images, "
        "libdeflate for the rest) are measured where they count, in the throughput floors above.",
        "",
        OPENCV_PNG,
        "",
    ]
    for target in ("images", "masks"):
        out += _target_lines(target, png.targets[target])
    return out


def _target_lines(target: str, data: PngTarget) -> list[str]:
    base = data.table[0]
    c1 = next(r for r in data.table if r.label == "COMPRESSION 1")
    palette = " These are 8-bit single-channel index masks." if target == "masks" else ""
    out = [
        f"### {target.capitalize()}",
        "",
        f"Default: {base.ms:.2f} ms, {base.bytes / 1024:.1f} KiB per {target[:-1]}. "
        f"`COMPRESSION 1` alone: **{c1.time_ratio:.2f}x the default's time**, "
        f"{c1.bytes_ratio:.2f}x its bytes. "
        f"`[C1, STRATEGY_RLE, FILTER_SUB]` gives bytes identical to the default: "
        f"{'yes' if data.explicit_default_identical else 'NO'}.{palette}",
        "",
        "| setting | encode ms (per-round range) | x default time | KiB "
        "| x default bytes (per-sample range) | decode ms |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| {r.label} | {r.ms:.2f} ({r.ms_range[0]:.2f}–{r.ms_range[1]:.2f}) | "
        f"{r.time_ratio:.2f} | {r.bytes / 1024:.1f} | {r.bytes_ratio:.3f} "
        f"({r.bytes_ratio_range[0]:.2f}–{r.bytes_ratio_range[1]:.2f}) | "
        f"{r.decode_ms:.2f} |"
        for r in data.table
    ]
    out += ["", "Settings no slower than the default and at most 10% larger, on the speed/size Pareto front:", ""]
    out += [
        f"- {r.label}: {r.time_ratio:.2f}x the time, {r.bytes_ratio:.3f}x the bytes, decode "
        f"{r.decode_ms:.2f} ms — `{pretty_params(r.params)}`"
        for r in candidates(data.table)
    ] or ["- none: keep the default"]
    return out + [""]
