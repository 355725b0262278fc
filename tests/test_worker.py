"""Small pieces of the per-pair worker that the end-to-end tests reach only through one dataset."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_FAULTS_PER_SAMPLE = """
import resource, sys
import cv2, numpy as np
from segaug_cli import worker

tuned = worker.keep_freed_memory_for_reuse()
cv2.setNumThreads(1)
source = np.random.default_rng(0).integers(0, 255, (360, 480, 3), np.uint8)

def sample(k):  # what a worker does per output: a LUT, a warp, an encode, each a fresh buffer
    m = np.float64([[1, 0.01 * k, 2], [0, 1, 3]])
    warped = cv2.warpAffine(cv2.LUT(source, np.arange(256, dtype=np.uint8)), m, (480, 360))
    return cv2.imencode(".png", warped)[1].tobytes()

for k in range(5):
    sample(k)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for k in range(40):
    sample(k)
print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_a_pool_worker_reuses_freed_buffers_instead_of_faulting_in_fresh_pages():
    # in a fresh process: the setting is process-wide, and the test process keeps its own;
    # untuned, glibc gave a new process about 340 page faults per sample of this size
    result = subprocess.run([sys.executable, "-c", _FAULTS_PER_SAMPLE], capture_output=True, text=True, check=True)
    tuned, faults = result.stdout.split()

    assert tuned == "True"
    assert float(faults) < 1, result.stdout
