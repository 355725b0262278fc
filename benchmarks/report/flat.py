"""The report's flat-folder section: memory per pair when IN's pairs all sit in one folder."""

from __future__ import annotations

from ..studies.flat import PHASES, FlatResult


def flat_lines(result: FlatResult) -> list[str]:
    small, large = result.sizes[0], result.sizes[-1]
    out = [
        "## IN in one flat folder",
        "",
        f"The scale study's tiny pairs, {small:,} vs {large:,} of them in one `images/` and one `masks/` "
        f"folder, `--workers {result.workers}`, one run of each command per size. Peak RSS of the main process "
        "alone, after start-up (`VmHWM`, reset once everything is imported). Target: at most 200 bytes per "
        "added pair, as with nested folders: the walk of IN holds its largest directory, here all of it; "
        "and time per pair at most 1.2x from the smaller size to the larger.",
        "",
        "| command | "
        + " | ".join(f"{size:,} pairs: wall s / main peak MiB" for size in result.sizes)
        + " | bytes per added pair | time per pair, larger / smaller |",
        "|---|" + "---|" * (len(result.sizes) + 2),
    ]
    for phase in PHASES:
        cells = [
            f"{result.runs[phase, size].wall:.2f} / {result.runs[phase, size].peak_rss / 2**20:.1f}"
            for size in result.sizes
        ]
        ratio = f"{result.time_per_pair_ratio(phase):.2f}x"
        out.append(f"| {phase} | " + " | ".join(cells) + f" | {result.bytes_per_pair(phase):.0f} | {ratio} |")
    return out + [""]
