"""Start-up: wall time of short segaug commands, with the interpreter and OpenCV alone for scale."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ..measure import wall_time
from ..segaug_api import Segaug
from ..summary import log, spread
from ..workloads import ROOT


@dataclass(frozen=True)
class StartupResult:
    """Wall seconds of each command, by the name the report shows, in run order."""

    times: dict[str, tuple[float, ...]]


def run_startup(runs: int, segaug: Segaug) -> StartupResult:
    """Each command ``runs`` times, interleaved, so a slow spell of the machine hits all alike."""
    py = sys.executable
    commands = {
        "segaug --help": segaug.command("--help"),
        "segaug validate recipes/default.yaml": segaug.command("validate", str(ROOT / "recipes/default.yaml")),
        "python -c pass (interpreter alone)": [py, "-c", "pass"],
        "python -c 'import cv2' (for scale)": [py, "-c", "import cv2"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            where = {"cwd": segaug.cwd, "env": segaug.env} if name.startswith("segaug") else {}
            times[name].append(wall_time(cmd, **where))
    log(f"start-up (median of {runs}, min–max):")
    for name, values in times.items():
        log(f"  {name:40s} {spread([v * 1000 for v in values], '{:.0f}')} ms")
    return StartupResult({name: tuple(values) for name, values in times.items()})
