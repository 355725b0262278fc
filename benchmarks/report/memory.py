"""The report's memory-against-dataset-size section."""

from __future__ import annotations

from ..studies.memory import MemoryResult
from ..summary import med, mib, spread


def memory_lines(mem: MemoryResult) -> list[str]:
    work = mem.workload
    rss = {size: med([mib(r.peak_rss) for r in mem.runs[size]]) for size in mem.runs}
    pss = {size: med([mib(r.peak_pss) for r in mem.runs[size]]) for size in mem.runs}
    out = [
        "## Memory against dataset size",
        "",
        f"`segaug expand --workers {mem.workers}` on {work.small} vs {work.large} source pairs "
        f"({work.side[0]}x{work.side[1]}, the dataset's pairs downscaled and repeated under new names) x "
        f"{work.copies} copies = {mem.outputs('small'):,} vs {mem.outputs('large'):,} output pairs "
        f"(10x the pairs, the manifest and the work list, at the same per-pair cost); {work.reps} "
        f"repetition{'s, alternating' if work.reps > 1 else ''}. Peak of the whole process tree, "
        "sampled every 50 ms (RSS) / 0.1 s (PSS). Ratios of the medians.",
        "",
        "| output pairs | peak tree RSS MiB | peak tree PSS MiB | largest process MiB | pairs/s |",
        "|---|---|---|---|---|",
    ]
    for size in ("small", "large"):
        rs = mem.runs[size]
        out.append(
            f"| {mem.outputs(size):,} | {spread([mib(r.peak_rss) for r in rs])} | "
            f"{spread([mib(r.peak_pss) for r in rs])} | "
            f"{spread([mib(r.peak_single) for r in rs])} | {spread(mem.rates(size))} |"
        )
    return out + [
        "",
        f"Ratio 10,000 / 1,000 output pairs: **RSS {rss['large'] / rss['small']:.3f}x, "
        f"PSS {pss['large'] / pss['small']:.3f}x** (target: within 1.10x). Growth: "
        f"{rss['large'] - rss['small']:+.1f} MiB RSS for 9,000 more output pairs.",
        "",
    ]
