"""segaug_cli.cpu: OpenCV pinned to the kernels every x86-64 CPU has, and refused when it is not."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
from conftest import REPO

from segaug_cli import cpu
from segaug_cli.errors import UsageError
from segaug_cli.executors_dask import _refuse_unpinned_opencv

x86_only = pytest.mark.skipif(platform.machine() != "x86_64", reason="the pin applies to x86-64 only")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_CPU_DISABLE"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


@x86_only
def test_importing_segaug_first_pins_opencv():
    result = _python("import segaug_cli, cv2; from segaug_cli import cpu; print(cpu.unpinned_features())")
    assert result.stdout.strip() == "[]", result.stderr
    assert "OPENCV" not in result.stderr  # no warning about a feature this CPU lacks


@x86_only
def test_rendering_refuses_an_opencv_loaded_before_segaug():
    if not {"avx", "avx2"} <= (cpu._cpu_flags() or set()):
        pytest.skip("this CPU has no AVX2 kernels for OpenCV to run unpinned")
    result = _python("import cv2\nimport segaug_cli.augment")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert "OpenCV was loaded before segaug and runs" in last and "import segaug_cli before cv2" in last


def test_the_pin_keeps_a_users_own_disabled_features(monkeypatch):
    monkeypatch.setenv("OPENCV_CPU_DISABLE", "SSE4.2")
    monkeypatch.setattr(cpu, "_cpu_flags", lambda: {"avx", "avx2", "fma"})
    monkeypatch.setattr(cpu, "_is_x86", lambda: True)
    cpu.pin()
    assert os.environ["OPENCV_CPU_DISABLE"] == "SSE4.2,AVX,AVX2,FMA3"


def test_the_pin_names_no_feature_the_cpu_lacks(monkeypatch):
    """OpenCV prints a warning for each disabled feature the CPU does not have."""
    monkeypatch.delenv("OPENCV_CPU_DISABLE", raising=False)
    monkeypatch.setattr(cpu, "_cpu_flags", lambda: {"sse4_2", "avx"})
    monkeypatch.setattr(cpu, "_is_x86", lambda: True)
    cpu.pin()
    assert os.environ["OPENCV_CPU_DISABLE"] == "AVX"


def test_a_dask_worker_running_unpinned_kernels_is_refused_by_name():
    workers = {"tcp://127.0.0.1:1": "w1 (tcp://127.0.0.1:1)", "tcp://127.0.0.1:2": "w2 (tcp://127.0.0.1:2)"}
    _refuse_unpinned_opencv({"tcp://127.0.0.1:1": []}, workers)
    with pytest.raises(UsageError) as refused:
        _refuse_unpinned_opencv({"tcp://127.0.0.1:1": [], "tcp://127.0.0.1:2": ["AVX2", "AVX512-SKX"]}, workers)
    assert str(refused.value).startswith("Dask worker w2 (tcp://127.0.0.1:2) loaded OpenCV before segaug")
    assert "OPENCV_CPU_DISABLE=AVX2,AVX512-SKX" in str(refused.value)
