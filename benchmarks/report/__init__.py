"""The Markdown report (RESULTS.md) of one benchmark run: result dataclasses in, text out, one module per section."""

from __future__ import annotations

from dataclasses import dataclass

from ..machine import MachineInfo
from ..studies.flat import FlatResult
from ..studies.memory import MemoryResult
from ..studies.online import OnlineResult
from ..studies.png import PngResult
from ..studies.scale import ScaleResult
from ..studies.startup import StartupResult
from ..studies.throughput import FloorSettings, ThroughputResult
from .flat import flat_lines
from .header import header_lines
from .memory import memory_lines
from .online import online_lines
from .png import png_lines
from .scale import scale_lines
from .startup import startup_lines
from .throughput import throughput_section


@dataclass(frozen=True)
class Results:
    """Everything one run measured, and the context the report states with it."""

    command: str  # as the user typed it, e.g. "benchmarks/bench.py --quick"
    date: str  # "YYYY-MM-DD HH:MM" at the end of the run
    seconds: float  # the whole run
    machine: MachineInfo
    segaug_source: str  # which segaug_cli/ ran (Segaug.source)
    load_start: float
    load_end: float
    dataset: str
    out_where: str
    floor: FloorSettings | None = None
    throughput: tuple[ThroughputResult, ...] = ()  # one study per copies-per-pair workload
    memory: MemoryResult | None = None
    startup: StartupResult | None = None
    png: PngResult | None = None
    scale: ScaleResult | None = None
    online: OnlineResult | None = None
    flat: FlatResult | None = None


def render(results: Results) -> str:
    """The whole report: header and machine, then a section per study that ran."""
    out = header_lines(results)
    for i, tp in enumerate(results.throughput):
        heading = "Throughput: segaug against the floor" + (f", {tp.copies} copies per pair" if i else "")
        out += throughput_section(tp, results.floor, results.machine.cores, heading)
    if results.memory:
        out += memory_lines(results.memory)
    if results.startup:
        out += startup_lines(results.startup)
    if results.png:
        out += png_lines(results.png)
    if results.scale:
        out += scale_lines(results.scale)
    if results.online:
        out += online_lines(results.online)
    if results.flat:
        out += flat_lines(results.flat)
    return "\n".join(out).rstrip() + "\n"
