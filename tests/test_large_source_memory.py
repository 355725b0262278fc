"""A 6000x6000 RGB pair (ISPRS Potsdam's size, a colour-coded label TIFF beside it) goes through a tiled
recipe with a worker's peak memory under 600 MB, measured in a subprocess that runs it alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import tifffile
from conftest import REPO, write_recipe

SIDE = 6000
LIMIT_MB = 600
PEAK = """
import sys
from segaug_cli.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
status = open("/proc/self/status").read()
print("peak", int(status.split("VmHWM:")[1].split()[0]) // 1024, "exit", code)
"""


def test_a_potsdam_sized_pair_peaks_under_600_mb(tmp_path):
    images, labels = tmp_path / "in" / "2_Ortho_RGB", tmp_path / "in" / "5_Labels_all"
    images.mkdir(parents=True)
    labels.mkdir()
    rows = np.arange(SIDE, dtype=np.uint32)[:, None]
    classes = ((rows // 700 + np.arange(SIDE, dtype=np.uint32)[None, :] // 900) % 6).astype(np.uint8)
    palette = np.array([[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]], np.uint8)
    tifffile.imwrite(labels / "top_potsdam_2_10_label.tif", palette[classes], photometric="rgb")
    del classes
    image = np.empty((SIDE, SIDE, 3), np.uint8)
    image[...] = (rows % 251).astype(np.uint8)[:, :, None]
    tifffile.imwrite(images / "top_potsdam_2_10_RGB.tif", image, photometric="rgb")  # uncompressed, as shipped
    del image
    text = (REPO / "recipes" / "datasets" / "potsdam.yaml").read_text(encoding="utf-8")
    recipe = write_recipe(
        tmp_path / "r.yaml",
        text.replace("copies: 2", "copies: 0\nkeep_original: true").replace("[512, 512]", "[1500, 1500]"),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK,
            "expand",
            str(recipe),
            str(tmp_path / "in"),
            str(tmp_path / "out"),
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    words = result.stdout.split()
    assert words[:1] == ["peak"] and words[-1] == "0", result.stdout + result.stderr
    assert len(list((tmp_path / "out" / "5_Labels_all").iterdir())) == 16  # the recipe mirrors the dataset
    assert int(words[1]) < LIMIT_MB, f"peak {words[1]} MB"
