"""The report's flat-folder section: memory per pair when IN's pairs all sit in one folder."""

from __future__ import annotations

from ..studies.flat import PHASES, FlatResult
from .scale import per_size_table


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
        *per_size_table(result, PHASES, "time per pair, larger / smaller"),
    ]
    return out + [""]
