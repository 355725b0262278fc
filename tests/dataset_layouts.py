"""Miniatures of public segmentation datasets as they ship: their exact folders and file names, a few
generated pairs each (never downloaded data), and the files that ship beside the pairs.

Each builder writes under ``root`` and returns the folder a user would pass as IN. Pixels are small
and simple (a rectangle of one class on another) so tests can state the labels they expect.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SHAPE = (12, 16)  # (height, width) of every miniature image but Potsdam's
BOX = (slice(3, 9), slice(4, 12))  # the object: rows 3-8, columns 4-11


def _write(path: Path, array: np.ndarray, params: tuple[int, ...] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array, list(params)), path


def _text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _photo(seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def box_mask(inside: int, outside: int = 0, shape: tuple[int, int] = SHAPE, dtype=np.uint8) -> np.ndarray:
    """``outside`` everywhere but the box, which holds ``inside``."""
    mask = np.full(shape, outside, dtype)
    mask[BOX] = inside
    return mask


def voc_palette() -> list[int]:
    """The 256-colour palette of VOC's SegmentationClass PNGs (the devkit's bit-interleaving colormap)."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


def _palette_png(path: Path, indices: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(voc_palette())
    image.save(path)


# --- Pascal VOC 2012 -----------------------------------------------------------------------------------

VOC_ANNOTATED = {"2007_000032": 1, "2007_000033": 15, "2007_000042": 7}  # key -> class in the box
VOC_UNANNOTATED = ("2008_000002", "2008_000003")  # detection-only images: JPEGs without a mask


def voc_mask(label: int) -> np.ndarray:
    """Background 0, the object ``label``, and VOC's 255 "void" outline around it."""
    mask = box_mask(255)
    mask[4:8, 5:11] = label
    return mask


def voc2012(root: Path) -> Path:
    """VOCdevkit/VOC2012: JPEGImages/*.jpg, SegmentationClass/*.png (palette), ImageSets/Segmentation/*.txt."""
    base = root / "VOCdevkit" / "VOC2012"
    for n, (key, label) in enumerate(VOC_ANNOTATED.items()):
        _write(base / "JPEGImages" / f"{key}.jpg", _photo(n))
        _palette_png(base / "SegmentationClass" / f"{key}.png", voc_mask(label))
        _palette_png(base / "SegmentationObject" / f"{key}.png", (voc_mask(label) > 0).astype(np.uint8))
        _text(base / "Annotations" / f"{key}.xml", f"<annotation><filename>{key}.jpg</filename></annotation>\n")
    for n, key in enumerate(VOC_UNANNOTATED):
        _write(base / "JPEGImages" / f"{key}.jpg", _photo(10 + n))
    _text(base / "ImageSets" / "Segmentation" / "train.txt", "2007_000032\n2007_000042\n")
    _text(base / "ImageSets" / "Segmentation" / "val.txt", "2007_000033\n")
    _text(base / "ImageSets" / "Segmentation" / "trainval.txt", "2007_000032\n2007_000033\n2007_000042\n")
    return base


# --- Cityscapes ----------------------------------------------------------------------------------------

CITYSCAPES_FRAMES = {
    "train": ("aachen_000000_000019", "aachen_000001_000019", "bochum_000000_000313"),
    "val": ("frankfurt_000000_000294",),
}


# labelIds -> trainIds, as cityscapesScripts' helpers/labels.py defines them; every other id is 255.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                        26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip


def cityscapes_label_ids() -> np.ndarray:
    """labelIds: road (7) below, sky (23) above, a car (26) in the box, ego vehicle (1) on the last row."""
    mask = np.full(SHAPE, 23, np.uint8)
    mask[6:] = 7
    mask[BOX] = 26
    mask[-1] = 1
    return mask


def cityscapes(root: Path) -> Path:
    """leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png and gtFine/<split>/<city>/<frame>_gtFine_*."""
    base = root / "cityscapes"
    for split, frames in CITYSCAPES_FRAMES.items():
        for n, frame in enumerate(frames):
            city = frame.split("_")[0]
            gt = base / "gtFine" / split / city
            _write(base / "leftImg8bit" / split / city / f"{frame}_leftImg8bit.png", _photo(n))
            ids = cityscapes_label_ids()
            _write(gt / f"{frame}_gtFine_labelIds.png", ids)
            _write(gt / f"{frame}_gtFine_color.png", np.stack([ids * 3, ids * 5, ids * 7], axis=2))
            _write(gt / f"{frame}_gtFine_instanceIds.png", ids.astype(np.uint16) * 1000 + 1)
            _text(
                gt / f"{frame}_gtFine_polygons.json",
                json.dumps({"imgHeight": SHAPE[0], "imgWidth": SHAPE[1], "objects": []}),
            )
    return base


# --- ADE20K (SceneParsing challenge release) -----------------------------------------------------------

ADE_FRAMES = {"training": ("ADE_train_00000001", "ADE_train_00000002"), "validation": ("ADE_val_00000001",)}


def ade20k(root: Path) -> Path:
    """ADEChallengeData2016/images/<split>/*.jpg and annotations/<split>/*.png; 0 is "other", 1-150 classes."""
    base = root / "ADEChallengeData2016"
    for split, frames in ADE_FRAMES.items():
        for n, frame in enumerate(frames):
            _write(base / "images" / split / f"{frame}.jpg", _photo(n))
            mask = box_mask(150, outside=1) if n == 0 else box_mask(0, outside=13)  # 0: "other", no class
            _write(base / "annotations" / split / f"{frame}.png", mask)
    _text(base / "sceneCategories.txt", "ADE_train_00000001 airport_terminal\n")
    _text(base / "objectInfo150.txt", "Idx\tRatio\tTrain\tVal\tName\n1\t0.1576\t11664\t1172\twall\n")
    return base


# --- ISIC 2018, task 1 -----------------------------------------------------------------------------------

ISIC_KEYS = ("ISIC_0000000", "ISIC_0000001", "ISIC_0000003")


def isic2018(root: Path) -> Path:
    """ISIC2018_Task1-2_Training_Input/ISIC_*.jpg and ISIC2018_Task1_Training_GroundTruth/
    ISIC_*_segmentation.png holding 0 and 255, each folder with its LICENSE.txt and ATTRIBUTION.txt."""
    base = root / "ISIC2018"
    images, truth = base / "ISIC2018_Task1-2_Training_Input", base / "ISIC2018_Task1_Training_GroundTruth"
    for n, key in enumerate(ISIC_KEYS):
        _write(images / f"{key}.jpg", _photo(n))
        _write(truth / f"{key}_segmentation.png", box_mask(255))
    for folder in (images, truth):
        _text(folder / "LICENSE.txt", "CC-0\n")
        _text(folder / "ATTRIBUTION.txt", "ISIC Archive\n")
    return base


# --- Kvasir-SEG ------------------------------------------------------------------------------------------

KVASIR_KEYS = ("cju0qkwl35piu0993l0dewei2", "cju0qoxqj9q6s0835b43399p4")


def kvasir_seg(root: Path) -> Path:
    """Kvasir-SEG/images/*.jpg and masks/*.jpg: the masks are JPEGs too, lossy around their edges."""
    base = root / "Kvasir-SEG"
    for n, key in enumerate(KVASIR_KEYS):
        _write(base / "images" / f"{key}.jpg", _photo(n))
        white = np.repeat(box_mask(255)[:, :, None], 3, axis=2)
        _write(base / "masks" / f"{key}.jpg", white, (cv2.IMWRITE_JPEG_QUALITY, 75))
    boxes = {key: {"height": SHAPE[0], "width": SHAPE[1]} for key in KVASIR_KEYS}
    _text(base / "kavsir_bboxes.json", json.dumps(boxes))
    return base


# --- ISPRS Potsdam ---------------------------------------------------------------------------------------

POTSDAM_TILES = ("top_potsdam_2_10", "top_potsdam_2_11")
POTSDAM_SHAPE = (40, 48)
POTSDAM_RGB = {"#ffffff": 0, "#0000ff": 1, "#00ffff": 2, "#00ff00": 3, "#ffff00": 4, "#ff0000": 5}


def potsdam_labels() -> np.ndarray:
    """Class indices: impervious surfaces (0) with a building (1) top left, trees (3) and a car (4)."""
    labels = np.zeros(POTSDAM_SHAPE, np.uint8)
    labels[:16, :16] = 1
    labels[24:, 32:] = 3
    labels[30:34, 4:10] = 4
    labels[20:22, 20:44] = 5  # clutter
    return labels


def potsdam_colours(labels: np.ndarray) -> np.ndarray:
    """The label TIFF's colours, BGR as OpenCV writes them (the file holds RGB)."""
    rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in POTSDAM_RGB], np.uint8)
    return np.ascontiguousarray(rgb[labels][..., ::-1])


def potsdam(root: Path) -> Path:
    """2_Ortho_RGB/top_potsdam_<tile>_RGB.tif (+ .tfw world files), 5_Labels_all/top_potsdam_<tile>_label.tif."""
    base = root / "Potsdam"
    for n, tile in enumerate(POTSDAM_TILES):
        _write(base / "2_Ortho_RGB" / f"{tile}_RGB.tif", _photo(n, POTSDAM_SHAPE))
        _text(base / "2_Ortho_RGB" / f"{tile}_RGB.tfw", "0.05\n0\n0\n-0.05\n366000\n5808000\n")
        _write(base / "5_Labels_all" / f"{tile}_label.tif", potsdam_colours(potsdam_labels()))
    return base
