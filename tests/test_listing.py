"""listing: the walk of a folder holds one directory at a time, and a large one compactly: IN in one flat
folder (ADE20K, VOC's JPEGImages) costs a few dozen bytes per pair while it is walked, not a few hundred."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

from segaug_cli.pairing import Layout, PairScan

SMALL, LARGE = 1_000, 12_000
# Bytes of peak traced memory per added pair while a flat IN is walked: about 115 at these sizes (packed
# runs take some 64 a pair, names like ADE20K's and their keys, images and masks; the last run, up to
# 4,096 records not yet packed, weighs more at 12,000 pairs than at 1,000); a list of (key, name) tuples
# of str took about 400.
MOST_PER_PAIR = 150


def flat_in(root: Path, pairs: int) -> Path:
    """``pairs`` empty image/mask files named as ADE20K's, all in ``images/`` and in ``masks/``: the walk
    reads names only."""
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
        for i in range(pairs):
            os.close(os.open(root / folder / f"ADE_{i:08d}.png", os.O_CREAT | os.O_WRONLY, 0o644))
    return root


def walk_peak(in_dir: Path) -> tuple[int, int]:
    """(pairs walked, peak bytes traced while walking them), holding no pair after it is seen."""
    scan = PairScan(in_dir, Layout())
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        walked = sum(1 for pair in scan if pair.mask is not None)
        return walked, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_flat_folder_is_walked_in_a_few_dozen_bytes_per_pair(tmp_path):
    small_walked, small_peak = walk_peak(flat_in(tmp_path / "small", SMALL))
    large_walked, large_peak = walk_peak(flat_in(tmp_path / "large", LARGE))
    assert (small_walked, large_walked) == (SMALL, LARGE)
    per_pair = (large_peak - small_peak) / (LARGE - SMALL)
    assert 0 < per_pair <= MOST_PER_PAIR, f"{per_pair:.0f} bytes per pair"
