"""The report's bookkeeping-at-scale section: memory and time per pair against dataset size, and shards."""

from __future__ import annotations

from ..studies.scale import PHASES, SHARDS, ScaleResult, SizedRuns
from ..summary import spread


def scale_lines(result: ScaleResult) -> list[str]:
    small, large = result.sizes[0], result.sizes[-1]
    out = [
        "## Bookkeeping at scale",
        "",
        f"Generated 16x16 pairs x 1 copy, `--workers {result.workers}`; {small:,} vs {large:,} source pairs, one "
        "run of each command per size. Peak RSS of the main process alone, after start-up (`VmHWM`, reset "
        "once everything is imported); CPU of the "
        "whole process tree. Targets: main-process peak RSS grows by at most 200 bytes per source pair; time "
        f"per pair at {large:,} within 1.2x of that at {small:,} (no-op rerun, check); {SHARDS} shards one "
        "after another plus merge within 1.05x the CPU of one run.",
        "",
        *per_size_table(result, PHASES, "time per pair, ratio"),
    ]
    ratio = result.sharded_cpu / result.unsharded_cpu if result.unsharded_cpu else float("nan")
    out += [
        "",
        f"{SHARDS} shards one after another plus merge, {large:,} tiny pairs: CPU {result.sharded_cpu:.1f} s "
        f"against {result.unsharded_cpu:.1f} s for one unsharded run: **{ratio:.3f}x** (every shard starts "
        "up and lists all of IN, and merge lists it again, which weighs most when the pairs cost nothing).",
    ]
    if result.real_unsharded_cpu:
        ratios = [s / o for s, o in zip(result.real_sharded_cpu, result.real_unsharded_cpu, strict=True)]
        paired = spread(ratios, "{:.3f}")
        extra = [s - o for s, o in zip(result.real_sharded_cpu, result.real_unsharded_cpu, strict=True)]
        fixed = sorted(extra)[len(extra) // 2] / SHARDS  # SHARDS - 1 more expands, and merge
        out.append(
            f"On {result.real_pairs}: one run {spread(list(result.real_unsharded_cpu))} s of CPU, {SHARDS} shards "
            f"plus merge {spread(list(result.real_sharded_cpu))} s: **{paired}x** (paired per repetition); "
            f"what the {SHARDS - 1} extra runs and merge add is their fixed cost, about {fixed:.2f} s of CPU each."
        )
    return out + [""]


def per_size_table(result: SizedRuns, phases: tuple[str, ...], ratio_header: str) -> list[str]:
    """A row per command: wall time and main-process peak at each size, bytes per added pair, time ratio."""
    out = [
        "| command | "
        + " | ".join(f"{size:,} pairs: wall s / main peak MiB" for size in result.sizes)
        + f" | bytes per added pair | {ratio_header} |",
        "|---|" + "---|" * (len(result.sizes) + 2),
    ]
    for phase in phases:
        cells = [
            f"{result.runs[phase, size].wall:.2f} / {result.runs[phase, size].peak_rss / 2**20:.1f}"
            for size in result.sizes
        ]
        out.append(
            f"| {phase} | "
            + " | ".join(cells)
            + f" | {result.bytes_per_pair(phase):.0f} | {result.time_per_pair_ratio(phase):.2f}x |"
        )
    return out
