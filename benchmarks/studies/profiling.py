"""Profile: where one ``segaug expand --workers 1`` spends its CPU, by cProfile."""

from __future__ import annotations

import pstats
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..dataset import list_pairs
from ..measure import wall_time
from ..segaug_api import PROFILE_CODE, Segaug
from ..summary import log
from ..workloads import recipe_text

# OpenCV calls (cProfile names them without a file) and the group each one's own time goes to.
GROUPS = {"imdecode": "decode (imdecode)", "warpAffine": "warp (warpAffine)", "imencode": "encode (imencode)"}


@dataclass(frozen=True)
class ProfileResult:
    """Own CPU seconds per group, the rest, the total, the top 25 other functions (seconds, name)."""

    groups: dict[str, float]
    other: float
    total: float
    top: tuple[tuple[float, str], ...]
    outputs: int


def run_profile(scratch: Path, in_dir: Path, copies: int, segaug: Segaug) -> ProfileResult:
    """cProfile, timed by CPU time (not wall time: on a shared machine, time lost to other processes would
    be charged to whatever function happened to be running), of one ``segaug expand --workers 1``."""
    recipe = scratch / "profile_recipe.yaml"
    recipe.write_text(recipe_text(copies))
    out_dir, prof = scratch / "profile_out", scratch / "segaug.prof"
    args = ["expand", str(recipe), str(in_dir), str(out_dir), "--workers", "1", "--quiet"]
    wall = wall_time(segaug.python(PROFILE_CODE, str(prof), *args), cwd=segaug.cwd, env=segaug.env)
    outputs = len(list_pairs(in_dir)) * copies
    shutil.rmtree(out_dir)
    stats = pstats.Stats(str(prof))
    result = _summarise(stats, outputs)
    _log(result, stats, wall)
    return result


def _summarise(stats: pstats.Stats, outputs: int) -> ProfileResult:
    groups = dict.fromkeys(GROUPS.values(), 0.0)
    rest = []
    for (file, line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        tag = next((g for fn, g in GROUPS.items() if file == "~" and fn in name), None)
        if tag:
            groups[tag] += tt
        else:
            rest.append((tt, f"{Path(file).name}:{line}({name})" if file != "~" else name))
    rest.sort(reverse=True)
    total = stats.total_tt
    return ProfileResult(groups, total - sum(groups.values()), total, tuple(rest[:25]), outputs)


def _log(result: ProfileResult, stats: pstats.Stats, wall: float) -> None:
    total, outputs = result.total, result.outputs
    log(
        f"profile: segaug expand --workers 1, {outputs} output pairs, {wall:.1f} s wall under cProfile "
        f"(profiled CPU total {total:.1f} s, {total / outputs * 1000:.2f} ms per output pair; "
        "cProfile's own overhead inflates Python-heavy code more than OpenCV calls)"
    )
    for name, tt in result.groups.items():
        log(f"  {name:28s} {tt:7.2f} s  {tt / total:6.1%}  {tt / outputs * 1000:6.2f} ms/pair")
    other = result.other
    log(f"  {'everything else':28s} {other:7.2f} s  {other / total:6.1%}  {other / outputs * 1000:6.2f} ms/pair")
    log("  top costs outside decode/warp/encode (own time):")
    for tt, name in result.top:
        log(f"    {tt:7.3f} s  {tt / outputs * 1000:6.3f} ms/pair  {name}")
    log("  segaug_cli functions by cumulative time (includes what they call):")
    own = sorted(
        (
            (ct, f"{Path(file).parent.name}/{Path(file).name}:{line}({name})", nc)
            for (file, line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items()
            if "segaug_cli" in file
        ),
        reverse=True,
    )
    for ct, name, calls in own[:30]:
        log(f"    {ct:7.3f} s  {ct / outputs * 1000:6.3f} ms/pair  {calls:6d} calls  {name}")
