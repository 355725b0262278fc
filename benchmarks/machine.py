"""The machine and software a run measured on, for the report's Machine section."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .segaug_api import Segaug
from .workloads import ROOT


@dataclass(frozen=True)
class MachineInfo:
    tree: str  # the repository's commit, and whether segaug_cli/ had uncommitted changes
    cores: int
    cpu: str
    python: str
    opencv: str
    numpy: str
    pillow: str
    segaug: str
    zlib: str
    libpng: str
    platform: str


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe(segaug: Segaug) -> MachineInfo:
    """This machine, its libraries, and the benchmarked segaug's version."""
    return MachineInfo(
        tree=_git_tree(),
        cores=usable_cores(),
        cpu=_cpu_model(),
        python=platform.python_version(),
        opencv=cv2.__version__,
        numpy=np.__version__,
        pillow=_pillow(),
        segaug=segaug.version(),
        zlib=_opencv_build("ZLib:"),
        libpng=_opencv_build("PNG:"),
        platform=platform.platform(),
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _opencv_build(key: str) -> str:
    """One line of OpenCV's build information, e.g. the zlib it was built with."""
    lines = cv2.getBuildInformation().splitlines()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith(key)), "?")


def _pillow() -> str:
    try:
        import PIL
    except ImportError:
        return "absent"
    return PIL.__version__


def _git_tree() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "segaug_cli"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "git not found"
    if not head:
        return "not a git tree"
    return f"commit {head}" + (" + uncommitted changes in segaug_cli/" if dirty else "")
