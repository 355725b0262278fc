"""The report's start-up section."""

from __future__ import annotations

from ..studies.startup import StartupResult
from ..summary import spread


def startup_lines(startup: StartupResult) -> list[str]:
    runs = len(next(iter(startup.times.values())))
    out = [
        "## Start-up",
        "",
        f"Wall time of the whole command, median (min–max) of {runs} interleaved runs:",
        "",
        "| command | ms |",
        "|---|---|",
    ]
    out += [f"| `{name}` | {spread([v * 1000 for v in values], '{:.0f}')} |" for name, values in startup.times.items()]
    return out + ["", "Target: `segaug --help` and `segaug validate` under 300 ms.", ""]
