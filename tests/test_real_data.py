"""Real third-party datasets from ../shared/data/ beside the clone (skipped when it is absent).

Each set is copied (a few pairs only) into a temporary IN and expanded with a geometric recipe and a
constant border. Then, for every output pair: the mask keeps its source's dtype (and palette, for VOC),
holds only source labels plus ``mask_fill``, and is exactly the source mask warped with the manifest's
matrix; the image keeps its dtype and, where it is stored losslessly, is exactly the source image
warped with that matrix (so 16-bit values are neither clipped nor rescaled).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from conftest import SHARED_DATA, read_manifest, rewarp_mask, write_recipe
from PIL import Image


@dataclass(frozen=True)
class DataSet:
    name: str
    pairs: int  # how many pairs (first in name order) to use
    fill: int  # mask_fill: a label the set does not use, or its own "ignore" label (SOURCE.md)
    lossless_images: bool  # the output image is stored losslessly, so it can be compared exactly
    fill_is_a_label: bool = False


DATASETS = [
    DataSet("voc-sample", 3, 255, False, fill_is_a_label=True),  # JPEG images; 255 is VOC's void
    DataSet("camvid", 5, 255, True),  # labels 0..11 (11 = void): 255 is unused
    DataSet("isbi-membrane", 3, 128, True),  # binary 0/255, both real classes: neither can be the fill
    DataSet("stardist-dsb2018", 2, 255, True),  # uint16 instance ids up to 183 (none is 255)
    DataSet("omnipose-bact-phase", 3, 255, True),  # uint8 ids up to 159; images full-range uint16
]
RECIPE = """\
seed: 2024
copies: 2
interpolation: linear
border: {{mode: constant, image_fill: 0, mask_fill: {fill}}}
transforms:
  - rotate: {{degrees: [15, 30]}}     # with scale <= 1.1 a corner is always uncovered: the fill shows
  - scale: {{range: [0.8, 1.1]}}
  - hflip: {{p: 0.5}}
"""


def read_any(path: Path) -> tuple[np.ndarray, list[int] | None]:
    """Stored values (palette PNGs as indices, with their palette) and the palette, if any."""
    if path.suffix.lower() in (".tif", ".tiff"):
        return tifffile.imread(path), None
    with Image.open(path) as img:
        if img.mode == "P":
            return np.array(img), img.getpalette()
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # BGR for colour images, like segaug's arrays
    assert array is not None, path
    return array, None


def copy_pairs(source: Path, in_dir: Path, count: int) -> list[str]:
    images = sorted(p for p in (source / "images").iterdir() if p.is_file())[:count]
    assert len(images) == count, f"{source} has fewer than {count} images"
    for image in images:
        (mask,) = [m for m in (source / "masks").iterdir() if m.stem == image.stem]
        for folder, file in (("images", image), ("masks", mask)):
            (in_dir / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(file, in_dir / folder / file.name)
    return [image.name for image in images]


@pytest.mark.parametrize("data", DATASETS, ids=[d.name for d in DATASETS])
def test_real_dataset_round_trip(tmp_path, cli, data):
    source = SHARED_DATA / data.name
    if not (source / "images").is_dir():
        pytest.skip(f"{source} is not here")
    in_dir, out = tmp_path / "in", tmp_path / "out"
    names = copy_pairs(source, in_dir, data.pairs)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE.format(fill=data.fill))

    result = cli("expand", recipe, in_dir, out, "--workers", "2", "--quiet")

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rows = read_manifest(out)
    assert len(rows) == 2 * len(names)
    assert {Path(r["source_image"]).name for r in rows} == set(names)
    for row in rows:
        src_mask, src_palette = read_any(in_dir / row["source_mask"])
        out_mask, out_palette = read_any(out / row["mask"])
        what = row["mask"]
        assert out_mask.dtype == src_mask.dtype and out_mask.shape == src_mask.shape, what
        assert out_palette == src_palette, f"{what}: palette not kept"
        labels = set(np.unique(src_mask).tolist())
        assert set(np.unique(out_mask).tolist()) <= labels | {data.fill}, what
        assert data.fill_is_a_label or data.fill not in labels  # the fill is told apart from every label
        np.testing.assert_array_equal(out_mask, rewarp_mask(src_mask, row, data.fill), err_msg=what)
        if not data.fill_is_a_label:
            assert (out_mask == data.fill).any(), f"{what}: the uncovered corners were not filled"

        src_image, _ = read_any(in_dir / row["source_image"])
        out_image, _ = read_any(out / row["image"])
        assert Path(row["image"]).suffix == Path(row["source_image"]).suffix
        assert out_image.dtype == src_image.dtype and out_image.shape == src_image.shape, row["image"]
        if data.lossless_images:
            matrix = np.array([float(x) for x in row["matrix"].split()]).reshape(2, 3)
            h, w = src_image.shape[:2]
            expected = cv2.warpAffine(
                src_image,
                matrix,
                (w, h),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0, 0),
            )
            np.testing.assert_array_equal(out_image, expected, err_msg=row["image"])
        if src_image.dtype == np.uint16 and src_image.max() > 255:
            assert out_image.max() > 255, f"{row['image']}: 16-bit values were squeezed into 8 bits"
