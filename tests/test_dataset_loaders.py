"""What each dataset recipe writes, read the way the dataset's usual loader reads it.

The conventions below are mmsegmentation's (1.x) dataset classes and configs, written from their
documentation, not from segaug's output: ``BaseSegDataset`` lists every file under
``data_root/img_path`` whose name ends in ``img_suffix`` (or, given an ``ann_file``, each name it
lists plus ``img_suffix``) and finds its segmentation map at the same relative name under
``seg_map_path``, ``img_suffix`` replaced by ``seg_map_suffix``. ``reduce_zero_label`` makes 0 the
ignore index (255) and lowers every other label by one. docs/datasets.md gives the same settings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, expand, read_manifest, write_recipe
from dataset_layouts import ade20k, cityscapes, isic2018, kvasir_seg, potsdam, voc2012
from PIL import Image

DATASETS = REPO / "recipes" / "datasets"
DOCS = (REPO / "docs" / "datasets.md").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Loader:
    type: str
    img_path: str
    seg_map_path: str
    img_suffix: str
    seg_map_suffix: str
    image_name: str  # what the loader's documented layout names an image, relative to data_root
    labels: frozenset[int]  # what a loaded map may hold (after reduce_zero_label)
    seen: frozenset[int]  # what the miniature's loaded maps show between them (dataset_layouts' classes)
    reduce_zero_label: bool = False
    ann_file: str | None = None


def _up_to(n: int) -> frozenset[int]:
    return frozenset(range(n)) | {255}


LOADERS = {
    # CityscapesDataset: leftImg8bit/{split}/{city}/{city}_{seq}_{frame}*_leftImg8bit.png, trainIds 0-18
    "cityscapes": Loader(
        "CityscapesDataset",
        "leftImg8bit/train",
        "gtFine/train",
        "_leftImg8bit.png",
        "_gtFine_labelTrainIds.png",
        r"leftImg8bit/train/(?P<city>[a-z]+)/(?P=city)_\d{6}_\d{6}\w*_leftImg8bit\.png",
        _up_to(19),
        frozenset({0, 10, 13, 255}),  # road, sky, car; the ego vehicle ignored
    ),
    # PascalVOCDataset: JPEGImages/{name}.jpg listed in ImageSets/Segmentation/*.txt, 21 classes
    "voc2012": Loader(
        "PascalVOCDataset",
        "JPEGImages",
        "SegmentationClass",
        ".jpg",
        ".png",
        r"JPEGImages/\d{4}_\d{6}\w*\.jpg",
        _up_to(21),
        frozenset({0, 1, 7, 255}),  # background, aeroplane, car, the void outline
        ann_file="ImageSets/Segmentation/train.txt",
    ),
    # ADE20KDataset: images/training/*.jpg, annotations/training/*.png with 0 "other", reduced to 150 classes
    "ade20k": Loader(
        "ADE20KDataset",
        "images/training",
        "annotations/training",
        ".jpg",
        ".png",
        r"images/training/ADE_train_\d{8}\w*\.jpg",
        _up_to(150),
        frozenset({0, 149, 255}),  # classes 1 and 150 reduced once; "other" ignored
        reduce_zero_label=True,
    ),
    # ISIC 2018 task 1 loaders: ISIC_<n>.jpg with ISIC_<n>_segmentation.png, lesion 1 on background 0
    "isic2018": Loader(
        "BaseSegDataset",
        "ISIC2018_Task1-2_Training_Input",
        "ISIC2018_Task1_Training_GroundTruth",
        ".jpg",
        "_segmentation.png",
        r"ISIC2018_Task1-2_Training_Input/ISIC_\d{7}\w*\.jpg",
        frozenset({0, 1}),
        frozenset({0, 1}),
    ),
    # Kvasir-SEG loaders: images/<id>.jpg with masks/<id>.png of 0 and 1
    "kvasir_seg": Loader(
        "BaseSegDataset",
        "images",
        "masks",
        ".jpg",
        ".png",
        r"images/[a-z0-9]{25}\w*\.jpg",
        frozenset({0, 1}),
        frozenset({0, 1}),
    ),
    # PotsdamDataset, six classes in ISPRS order, with the dataset's own folders and suffixes
    "potsdam": Loader(
        "PotsdamDataset",
        "2_Ortho_RGB",
        "5_Labels_all",
        "_RGB.tif",
        "_label.png",
        r"2_Ortho_RGB/top_potsdam_\d+_\d+\w*_RGB\.tif",
        _up_to(6),
        frozenset({0, 1, 3, 4, 5}),  # impervious, building, tree, car, clutter
    ),
}
BUILDERS = {
    "cityscapes": cityscapes,
    "voc2012": voc2012,
    "ade20k": ade20k,
    "isic2018": isic2018,
    "kvasir_seg": kvasir_seg,
    "potsdam": potsdam,
}


def loaded_pairs(root: Path, loader: Loader) -> list[tuple[str, str]]:
    """(image, seg map) paths relative to ``root``, as the dataset class lists them."""
    images = root / loader.img_path
    if loader.ann_file is not None:
        names = (root / loader.ann_file).read_text(encoding="utf-8").split()
    else:
        found = (Path(d, f).relative_to(images).as_posix() for d, _, fs in os.walk(images) for f in fs)
        names = [n[: -len(loader.img_suffix)] for n in sorted(found) if n.endswith(loader.img_suffix)]
    return [
        (f"{loader.img_path}/{n}{loader.img_suffix}", f"{loader.seg_map_path}/{n}{loader.seg_map_suffix}")
        for n in names
    ]


def loaded_labels(path: Path, loader: Loader) -> set[int]:
    """The labels of a map as the loader reads it (indices of a palette PNG) and reduces it."""
    labels = np.array(Image.open(path)).astype(np.int32)
    if loader.reduce_zero_label:
        labels = np.where(labels == 0, 255, labels - 1)
        labels[labels == 254] = 255
    return set(np.unique(labels).tolist())


def expanded(cli, tmp_path: Path, name: str) -> Path:
    recipe = DATASETS / f"{name}.yaml"
    if name == "potsdam":  # the miniature is smaller than a 512x512 tile
        text = recipe.read_text(encoding="utf-8").replace("[512, 512]", "[16, 16]")
        recipe = write_recipe(tmp_path / "potsdam.yaml", text)
    out = tmp_path / "out"
    result = expand(cli, recipe, BUILDERS[name](tmp_path), out)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_the_usual_loader_reads_every_output_pair_of_the_dataset_recipe(cli, tmp_path, name):
    loader = LOADERS[name]
    out = expanded(cli, tmp_path, name)  # VOC's: OUT lists its own keys in its split file
    pairs = loaded_pairs(out, loader)
    rows = read_manifest(out)
    assert sorted(pairs) == sorted((r["image"], r["mask"]) for r in rows)  # every pair, each with its own map
    seen: set[int] = set()
    for image, seg_map in pairs:
        assert re.fullmatch(loader.image_name, image), image
        assert (out / seg_map).is_file(), seg_map
        seen |= loaded_labels(out / seg_map, loader)
    assert loader.seen <= seen <= loader.labels
    written = {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and len(p.relative_to(out).parts) > 1
    }
    assert written - {loader.ann_file} == {path for pair in pairs for path in pair}  # nothing the loader misses


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_docs_give_the_loader_settings_that_read_out(name):
    loader = LOADERS[name]
    blocks = re.findall(r"```python\n(.*?)```", DOCS, re.S)
    (text,) = [b for b in blocks if f"type='{loader.type}'" in b and f"img_path='{loader.img_path}'" in b]
    assert f"seg_map_path='{loader.seg_map_path}'" in text
    assert f"img_suffix='{loader.img_suffix}'" in text and f"seg_map_suffix='{loader.seg_map_suffix}'" in text
    assert f"reduce_zero_label={loader.reduce_zero_label}" in text or name in ("cityscapes", "voc2012")
    assert (loader.ann_file is None) == (f"ann_file='{loader.ann_file}'" not in text)
    assert re.search(r"data_root='out/\w+'", text)  # the one setting to change
