"""OpenCV pinned to the kernels every x86-64 CPU that runs segaug has, so its results are the same on all.

OpenCV compiles some functions several times, for SSE4.1, AVX2 (with fused multiply-add) and AVX-512,
and picks the widest build the CPU offers. For warps, colour conversions and blurs on float data the
builds round differently: a dataset made on a CPU with AVX2 differed by one level in some pixels from one
made on a CPU without it. NumPy 2 requires x86-64-v2 (SSE4.2) anyway, so segaug keeps OpenCV at that
level everywhere, through OpenCV's own switch, ``OPENCV_CPU_DISABLE``, read once when OpenCV loads.

Measured (benchmarks/README.md, "The cost of the same bytes on every CPU"): about 9 % more CPU per
run, OpenCV's SSE4.2 warps being slower than its AVX2 ones.

``pin`` only sets the variable; it must run before the first ``import cv2`` of the process, which is
why the package's ``__init__`` calls it. ``require_pinned`` refuses to render with an OpenCV that was
loaded before that (a program that imported cv2 before segaug).
"""

from __future__ import annotations

import os
import platform

from .errors import SegaugError

# Every feature OpenCV dispatches to above SSE4.2 (``cv2.getBuildInformation()``: "Dispatched code
# generation", and FMA3, which its AVX2 builds use), with the CPU flags (/proc/cpuinfo) each needs.
DISABLED = {
    "AVX": ("avx",),
    "FP16": ("f16c",),
    "AVX2": ("avx2",),
    "FMA3": ("fma",),
    "AVX512F": ("avx512f",),
    "AVX512-SKX": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
}
_X86 = {"x86_64", "amd64", "i386", "i686"}


def _is_x86() -> bool:
    return platform.machine().lower() in _X86


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where that cannot be read.

    Not NumPy's detection: importing NumPy here would slow every command, ``validate`` included.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return None


def pin() -> None:
    """Add the features this CPU has to ``OPENCV_CPU_DISABLE`` (OpenCV warns about any it lacks)."""
    if not _is_x86():
        return
    flags = _cpu_flags()
    wanted = [name for name, needs in DISABLED.items() if flags is None or flags.issuperset(needs)]
    current = [name for name in os.environ.get("OPENCV_CPU_DISABLE", "").split(",") if name]
    if wanted:
        os.environ["OPENCV_CPU_DISABLE"] = ",".join(dict.fromkeys([*current, *wanted]))


def unpinned_features() -> list[str]:
    """The dispatched OpenCV features above SSE4.2 that this process runs (none once pinned)."""
    if not _is_x86():
        return []
    import cv2

    # ``*NAME`` is a dispatched feature; ``*NAME?`` one this process does not use
    active = [f[1:] for f in cv2.getCPUFeaturesLine().split() if f.startswith("*") and not f.endswith("?")]
    return [f for f in active if f not in ("SSE4.1", "SSE4.2")]


def description() -> str:
    """The kernels that decide output bytes here, as ``segaug.json`` records them: one value for every
    x86-64 CPU; another architecture runs other OpenCV kernels (see docs/guarantees.md)."""
    return "x86-64, OpenCV kernels at SSE4.2" if _is_x86() else platform.machine().lower()


def require_pinned() -> None:
    """Raise when OpenCV runs kernels whose results depend on the CPU (it was loaded before segaug)."""
    unpinned = unpinned_features()
    if unpinned:
        raise SegaugError(
            f"OpenCV was loaded before segaug and runs {'/'.join(unpinned)} kernels, whose results differ "
            f"between CPUs: import segaug_cli before cv2, or set OPENCV_CPU_DISABLE={','.join(unpinned)}"
        )
