"""Real object stores against local disk, and what 20 ms of latency per request costs.

For each store (SeaweedFS's S3 gateway, Azurite's blob service; both started here on 127.0.0.1 by the
test suite's own service starters, and left out with a line when they cannot start), the same
workload runs as `segaug expand --workers N` from IN to OUT:

- ``disk``: local folders;
- ``store``: IN and OUT in the store;
- ``proxy``: the same through a proxy on 127.0.0.1 that forwards each request at once;
- ``proxy+20ms``: through the same proxy holding every request 20 ms (a store far away).

The latency ratio compares the two proxied variants, so the proxy's own cost (it runs in this
process, on the same cores) is on both sides of it.

Variants alternate within each repetition, every run into a new OUT. Per variant: the wall time and
the CPU of segaug's process tree (``measure``), and the CPU the store's server spent meanwhile, read
from ``/proc`` (on a machine of few cores the server shares them with segaug). The ratios are paired
per repetition: store / disk throughput, store+20ms / store throughput (target: at least 0.8x), and
segaug's CPU per output pair on the store / on disk (target: at most 1.2x).
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..measure import Measurement, measure
from ..segaug_api import Segaug
from ..summary import log, med, spread
from ..workloads import ROOT, Workload, recipe_text

DELAY_S = 0.020
LATENCY_TARGET, CPU_TARGET = 0.8, 1.2
VARIANTS = ("disk", "store", "proxy", f"proxy+{DELAY_S * 1000:.0f}ms")


@dataclass
class StoreRuns:
    """Every run of one store's study, by variant, in repetition order."""

    store: str
    outputs: int
    runs: dict[str, list[Measurement]] = field(default_factory=dict)
    server_cpu: dict[str, list[float]] = field(default_factory=dict)

    def ratios(self, a: str, b: str, of: Callable[[Measurement], float]) -> list[float]:
        return [of(x) / of(y) for x, y in zip(self.runs[a], self.runs[b], strict=True)]


@dataclass(frozen=True)
class _Store:
    """A running store as segaug reaches it: IN's and OUT's URL prefixes, the options, the env."""

    name: str
    url_of: Callable[[str], str]  # prefix -> URL
    options: Callable[[str], list[str]]  # endpoint -> --storage-option arguments
    endpoint: str
    env: dict[str, str]
    server_pid: int


def run_stores(scratch: Path, in_dir: Path, work: Workload, workers: int, segaug: Segaug) -> list[StoreRuns]:
    """The study on every store that starts here; an empty list when none does."""
    sys.path.insert(0, str(ROOT / "tests"))  # the suite's service starters and proxy
    recipe = scratch / "stores_recipe.yaml"
    recipe.write_text(recipe_text(work.copies), encoding="utf-8")
    found = []
    for name, started in (("SeaweedFS", _seaweedfs), ("Azurite", _azurite)):
        try:
            with started(scratch / name, in_dir) as store:
                found.append(_study(store, recipe, in_dir, scratch / "stores_out", work, workers, segaug))
        except (ImportError, OSError, RuntimeError) as exc:
            log(f"{name} study skipped: it could not start here ({type(exc).__name__}: {exc})")
    return found


def _study(store: _Store, recipe: Path, in_dir: Path, out_root: Path, work: Workload, workers: int, segaug: Segaug):
    from proxy import Proxy

    result = StoreRuns(store.name, work.outputs)
    env = {**(segaug.env or os.environ), **store.env}
    args = ["--quiet", "--workers", str(workers)]
    with Proxy(store.endpoint) as near, Proxy(store.endpoint, delay_s=DELAY_S) as far:
        fresh = lambda: store.url_of(f"out-{uuid.uuid4().hex[:8]}")  # noqa: E731 - every run a new OUT
        variants = {
            "disk": lambda: (str(in_dir), str(out_root / uuid.uuid4().hex[:8]), []),
            "store": lambda: (store.url_of("raw"), fresh(), store.options(store.endpoint)),
            "proxy": lambda: (store.url_of("raw"), fresh(), store.options(near.url)),
            VARIANTS[3]: lambda: (store.url_of("raw"), fresh(), store.options(far.url)),
        }
        _warm_up(segaug, env, recipe, variants["store"](), args)
        for rep in range(work.reps):
            for name in VARIANTS if rep % 2 == 0 else reversed(VARIANTS):
                source, out, options = variants[name]()
                before = _cpu_seconds(store.server_pid)
                run = measure(segaug.command("expand", str(recipe), source, out, *args, *options), segaug.cwd, env)
                result.server_cpu.setdefault(name, []).append(_cpu_seconds(store.server_pid) - before)
                result.runs.setdefault(name, []).append(run)
    _log(result, workers)
    return result


def _warm_up(segaug: Segaug, env: dict, recipe: Path, where: tuple[str, str, list[str]], args: list[str]) -> None:
    source, out, options = where
    measure(segaug.command("expand", str(recipe), source, out, *args, *options), segaug.cwd, env)


def _cpu_seconds(pid: int) -> float:
    """user + system CPU of one process so far (``/proc/PID/stat``, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log(r: StoreRuns, workers: int) -> None:
    log(f"{r.store}: {workers} workers, {r.outputs} output pairs per run (median, min-max over repetitions):")
    for name in VARIANTS:
        rates = [r.outputs / m.wall for m in r.runs[name]]
        cpu = [m.cpu / r.outputs * 1e3 for m in r.runs[name]]
        server = [s / r.outputs * 1e3 for s in r.server_cpu[name]] if name != "disk" else []
        extra = f", the server {spread(server, '{:.2f}')} ms" if server else ""
        log(f"  {name:12s} {spread(rates)} pairs/s; CPU per output pair: segaug {spread(cpu, '{:.2f}')} ms{extra}")
    wall = lambda m: 1 / m.wall  # noqa: E731 - throughput
    cpu = lambda m: m.cpu  # noqa: E731
    latency = r.ratios(VARIANTS[3], "proxy", wall)
    verdict = lambda ok: "meets" if ok else "misses"  # noqa: E731
    log(f"  store / disk throughput {spread(r.ratios('store', 'disk', wall), '{:.2f}')}x")
    log(
        f"  with {DELAY_S * 1000:.0f} ms per request / without {spread(latency, '{:.2f}')}x "
        f"({verdict(med(latency) >= LATENCY_TARGET)} the {LATENCY_TARGET}x target)"
    )
    cpu_ratio = r.ratios("store", "disk", cpu)
    log(
        f"  segaug's CPU on the store / on disk {spread(cpu_ratio, '{:.2f}')}x "
        f"({verdict(med(cpu_ratio) <= CPU_TARGET)} the {CPU_TARGET}x target)"
    )
    shares = [s / (s + m.cpu) for s, m in zip(r.server_cpu["store"], r.runs["store"], strict=True)]
    log(f"  the server's share of all CPU in a store run {spread([100 * s for s in shares], '{:.0f}')} %")


@contextlib.contextmanager
def _seaweedfs(folder: Path, in_dir: Path) -> Iterator[_Store]:
    from services import BUCKET, SECRET, s3_bucket, seaweedfs

    with seaweedfs(folder) as store:
        s3_bucket(store.url, BUCKET, SECRET, {"raw": in_dir})
        yield _Store(
            "SeaweedFS",
            lambda prefix: f"s3://{BUCKET}/{prefix}",
            lambda endpoint: ["--storage-option", f"endpoint_url={endpoint}"],
            store.url,
            {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"},
            store.proc.pid,
        )


@contextlib.contextmanager
def _azurite(folder: Path, in_dir: Path) -> Iterator[_Store]:
    from services import AZURITE, azure_container, azurite_server

    if not Path(AZURITE).exists():
        raise OSError("Azurite is not installed: make azurite")
    with azurite_server(folder, debug=False) as azurite:
        container = "bench"
        azure_container(azurite.connection_string, container, {"raw": in_dir})
        yield _Store(
            "Azurite",
            lambda prefix: f"az://{container}/{prefix}",
            lambda endpoint: [
                "--storage-option",
                f"connection_string={replace(azurite, endpoint=endpoint).connection_string}",
            ],
            azurite.endpoint,
            {},
            azurite.proc.pid,
        )
