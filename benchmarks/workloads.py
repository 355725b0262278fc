"""What the benchmark runs: the recipe and the sizes of each workload."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

# The recipe segaug runs; the floor draws matrices from the same families (see floor.matrix).
RECIPE = """\
seed: 0
copies: {copies}
keep_original: false
transforms:
  - rotate:    {{degrees: [-15, 15]}}
  - scale:     {{range: [0.9, 1.1]}}
  - shear:     {{degrees: [-5, 5], p: 0.5}}
  - translate: {{fraction: [-0.05, 0.05]}}
  - hflip:     {{p: 0.5}}
  - brightness: {{range: [-0.1, 0.1]}}
  - contrast:   {{range: [0.9, 1.1]}}
"""


def recipe_text(copies: int) -> str:
    """The benchmark recipe with ``copies`` copies per pair."""
    return RECIPE.format(copies=copies)


@dataclass(frozen=True)
class Workload:
    """Source pairs x copies per run, and how often each variant runs."""

    pairs: int
    copies: int
    reps: int

    @property
    def outputs(self) -> int:
        return self.pairs * self.copies


@dataclass(frozen=True)
class MemoryWorkload:
    """Two dataset sizes of small pairs, 10x apart, at the same per-pair cost."""

    small: int
    large: int
    copies: int
    side: tuple[int, int]  # (width, height)
    reps: int


FULL = Workload(pairs=120, copies=18, reps=5)  # 2,160 output pairs per run
# The full run's second throughput study: the same pairs at 4 copies, where the shared decode weighs more
FEW_COPIES = 4
QUICK = Workload(pairs=24, copies=4, reps=3)  # 96 output pairs per run
MEMORY = MemoryWorkload(small=100, large=1000, copies=10, side=(160, 120), reps=3)  # 1,000 vs 10,000 outputs
SCALE_PAIRS = "10000,100000"  # source pairs of the bookkeeping-at-scale study (16x16, one copy)
ONLINE_ITEMS = 240  # items per run of the online study (AugmentedPairs vs Albumentations): a few seconds each
FLAT_PAIRS = "4000,40000"  # source pairs of the flat-folder study: all in one images/ and one masks/ folder
