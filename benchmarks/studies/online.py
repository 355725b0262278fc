"""Online augmentation: the items per second ONE DataLoader worker gets from ``segaug_cli.AugmentedPairs``,
beside an Albumentations ``A.Compose`` of comparable ops on the same pairs (when albumentations is installed).

Each side runs in a process of its own, one OpenCV thread, and serves items i = 0..N-1 the way a worker
does: decode pair i // copies, augment, hand back image and mask. Only the loop is timed (not the
interpreter or its imports). segaug's process runs OpenCV pinned to its SSE4.2 kernels, as every segaug
process does; Albumentations runs as its users run it, with every kernel the CPU has. The two alternate
(A B A B ...), so a slow spell of a shared machine hits both alike.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..dataset import list_pairs
from ..segaug_api import Segaug
from ..summary import log, med, spread
from ..workloads import recipe_text

# argv: recipe, IN, items. AugmentedPairs at epoch 1: the draws a training loop gets after the offline run.
SEGAUG_CODE = """\
import json, sys, time
import segaug_cli
import cv2
cv2.setNumThreads(1)
data = segaug_cli.AugmentedPairs(sys.argv[1], sys.argv[2], epoch=1)
items = min(int(sys.argv[3]), len(data))
start, cpu = time.perf_counter(), time.process_time()
for i in range(items):
    image, mask = data[i]
print(json.dumps({"items": items, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""

# argv: JSON [[image, mask], ...], copies, items. The benchmark recipe's ops (workloads.RECIPE) in
# Albumentations' words: one Affine (rotate, scale, shear, translate), a flip, brightness and contrast.
ALBUMENTATIONS_CODE = """\
import json, sys, time
import cv2
import albumentations as A
cv2.setNumThreads(1)
pairs, copies, items = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pipeline = A.Compose(
    [
        A.Affine(
            rotate=(-15, 15), scale=(0.9, 1.1), shear={"x": (-5, 5), "y": (0, 0)},
            translate_percent=(-0.05, 0.05), interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=1.0,
        ),
        A.HorizontalFlip(p=0.5),
        A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=1.0),
    ],
    seed=1,
)
items = min(items, len(pairs) * copies)
start, cpu = time.perf_counter(), time.process_time()
for i in range(items):
    image_path, mask_path = pairs[i // copies]
    image = cv2.imread(image_path, cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(mask_path, cv2.IMREAD_UNCHANGED)
    out = pipeline(image=image, mask=mask)
    image, mask = out["image"], out["mask"]
print(json.dumps({"items": items, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""


@dataclass(frozen=True)
class Rate:
    """One run of one side: items per wall second, and per CPU second of the process (the steadier
    figure on a shared machine, where wall time also counts the time other processes hold the core)."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class OnlineResult:
    """Each repetition's rates, per side; ``albumentations`` is None when it is not installed."""

    items: int
    segaug: tuple[Rate, ...]
    albumentations: tuple[Rate, ...] | None
    albumentations_version: str = ""

    @property
    def ratios(self) -> tuple[float, ...]:
        """segaug's items per CPU second over Albumentations', per repetition (the two ran back to back)."""
        return tuple(a.cpu / b.cpu for a, b in zip(self.segaug, self.albumentations or (), strict=False))

    @property
    def ratio(self) -> float | None:
        """The median of the paired ratios."""
        return med(self.ratios) if self.albumentations else None


def albumentations_installed() -> bool:
    return importlib.util.find_spec("albumentations") is not None


def run_online(scratch: Path, in_dir: Path, copies: int, items: int, reps: int, segaug: Segaug) -> OnlineResult:
    """``reps`` alternating runs of each side over the first ``items`` items of ``in_dir`` x ``copies``."""
    recipe = scratch / "online.yaml"
    recipe.write_text(recipe_text(copies), encoding="utf-8")
    pairs = json.dumps([[image, mask] for image, mask, _ in list_pairs(in_dir)])
    quiet = {"OPENBLAS_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}  # no BLAS threads, no update check
    segaug_env = {**(segaug.env or os.environ), **quiet}
    compared = albumentations_installed()
    ours: list[Rate] = []
    theirs: list[Rate] = []
    for _ in range(reps):
        ours.append(_rate([sys.executable, "-c", SEGAUG_CODE, str(recipe), str(in_dir), str(items)], segaug_env))
        if compared:
            cmd = [sys.executable, "-c", ALBUMENTATIONS_CODE, pairs, str(copies), str(items)]
            theirs.append(_rate(cmd, {**os.environ, **quiet}))
    result = OnlineResult(items, tuple(ours), tuple(theirs) if compared else None, _albumentations_version())
    log(f"online, one worker, {items} items: AugmentedPairs {_rates(ours)}")
    if result.albumentations:
        log(f"  Albumentations {result.albumentations_version} A.Compose {_rates(theirs)}")
        log(f"  segaug / Albumentations per CPU second {spread(result.ratios, '{:.2f}')}x, paired per repetition")
    else:
        log("  Albumentations is not installed: no comparison")
    return result


def _rates(rates: list[Rate]) -> str:
    return f"{spread([r.wall for r in rates])} items/s, {spread([r.cpu for r in rates])} items per CPU second"


def _rate(cmd: list[str], env: dict[str, str]) -> Rate:
    """The rates of one run of a snippet that prints {"items": N, "seconds": S, "cpu": C}."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"online study: {cmd[2][:40]!r}... exited {done.returncode}:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Rate(found["items"] / found["seconds"], found["items"] / found["cpu"])


def _albumentations_version() -> str:
    if not albumentations_installed():
        return ""
    from importlib.metadata import version

    return version("albumentations")
