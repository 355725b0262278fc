"""The input pairs: a generated CamVid-like set by default, or pairs copied from ``--dataset PATH``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SIZE = (480, 360)  # (width, height), CamVid's


@dataclass(frozen=True)
class Dataset:
    """Pairs in ``folder/images`` and ``folder/masks``, and one line saying where they came from."""

    folder: Path
    description: str


def list_pairs(in_dir: str | Path) -> list[tuple[str, str, str]]:
    """(image path, mask path, stem) for every images/X.png with a masks/X.png, sorted."""
    in_dir = Path(in_dir)
    pairs = []
    for image in sorted((in_dir / "images").glob("*.png")):
        mask = in_dir / "masks" / image.name
        if mask.is_file():
            pairs.append((str(image), str(mask), image.stem))
    return pairs


def synthesize(out_dir: Path, count: int, size: tuple[int, int] = SIZE, seed: int = 0) -> None:
    """Write ``count`` CamVid-like pairs: textured RGB photos-to-be and blocky index masks (12 labels, 0..11).

    Deterministic: the same arguments write the same bytes.

    Args:
        out_dir: gets ``images/synth_NNNN.png`` (8-bit BGR) and ``masks/synth_NNNN.png`` (8-bit labels).
        count: pairs to write.
        size: (width, height) of every pair.
        seed: seeds the one generator every pair is drawn from.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    colours = rng.integers(30, 226, size=(12, 3)).astype(np.float32)
    for i in range(count):
        mask = _street_mask(rng, w, h)
        name = f"synth_{i:04d}.png"
        cv2.imwrite(str(out_dir / "images" / name), _photo(rng, mask, colours))
        cv2.imwrite(str(out_dir / "masks" / name), mask)


def _street_mask(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Sky, buildings and road in bands, then cars, trees, poles, signs...: rectangles and ellipses."""
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), np.uint8)  # sky
    horizon, road = int(h * rng.uniform(0.3, 0.45)), int(h * rng.uniform(0.6, 0.75))
    mask[horizon:road] = 1  # buildings
    mask[road:] = 3  # road
    for _ in range(rng.integers(8, 20)):
        label = int(rng.integers(2, 12))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(horizon - 20, h))
        rx, ry = int(rng.integers(4, 70)), int(rng.integers(6, 60))
        if rng.random() < 0.5:
            mask[max(cy - ry, 0) : cy + ry, max(cx - rx, 0) : cx + rx] = label
        else:
            mask[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = label
    return mask


def _photo(rng: np.random.Generator, mask: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """A photo-like 8-bit BGR image of a mask: a smooth texture per class, a lighting gradient, sensor noise."""
    h, w = mask.shape
    xx = np.arange(w)[None, :]
    image = colours[mask].copy()
    for label in np.unique(mask):  # smooth noise, so PNG compresses it about as it does a photo
        noise = cv2.resize(rng.normal(0, 18, (h // 8, w // 8, 3)).astype(np.float32), (w, h))
        image[mask == label] += noise[mask == label]
    image += (xx / w * 25)[..., None]
    image += rng.normal(0, 5, image.shape).astype(np.float32)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    return np.clip(image, 0, 255).astype(np.uint8)


def prepare(scratch: Path, pairs_wanted: int, source: Path | None) -> Dataset:
    """Copy the first N pairs of ``source`` (or generate N pairs) into ``scratch/in``.

    Args:
        scratch: the benchmark's scratch folder.
        pairs_wanted: how many pairs the workloads need.
        source: a folder with ``images/*.png`` and ``masks/*.png`` (``--dataset``), or None to generate.

    Raises:
        ValueError: ``source`` holds no image/mask pair.
    """
    in_dir = scratch / "in"
    if source is None:
        synthesize(in_dir, pairs_wanted)
        return Dataset(
            in_dir,
            f"synthetic (no --dataset given): {pairs_wanted} generated 480x360 textured RGB PNG + blocky 12-label "
            "index-mask PNG pairs",
        )
    found = list_pairs(source)
    if not found:
        raise ValueError(f"{source}: no pairs (images/NAME.png with masks/NAME.png)")
    chosen = found[:pairs_wanted]
    copy_pairs(chosen, in_dir)
    return Dataset(
        in_dir,
        f"the pairs in `{source}` (first {len(chosen)} of {len(found)} pairs: {_describe_pair(chosen[0])}), "
        "copied to a scratch folder",
    )


def _describe_pair(pair: tuple[str, str, str]) -> str:
    """'480x360 RGB PNG + 8-bit index-mask PNG', read from one pair."""
    image = cv2.imread(pair[0], cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(pair[1], cv2.IMREAD_UNCHANGED)
    channels = 1 if image.ndim == 2 else image.shape[2]
    colour = {1: "grey", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}-channel")
    return f"{image.shape[1]}x{image.shape[0]} {colour} PNG + {mask.dtype.itemsize * 8}-bit index-mask PNG"


def copy_pairs(pairs: list[tuple[str, str, str]], out_dir: Path) -> None:
    """Copy (image, mask, stem) pairs into ``out_dir/images`` and ``out_dir/masks``, names unchanged."""
    for folder in ("images", "masks"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    for image, mask, _ in pairs:
        shutil.copyfile(image, out_dir / "images" / Path(image).name)
        shutil.copyfile(mask, out_dir / "masks" / Path(mask).name)


def make_small_dataset(source_dir: Path, out_dir: Path, count: int, side: tuple[int, int]) -> None:
    """``count`` small pairs cycling through the (downscaled) source pairs, for the memory comparison."""
    (out_dir / "images").mkdir(parents=True)
    (out_dir / "masks").mkdir(parents=True)
    encoded = []
    for image, mask, _ in list_pairs(source_dir):
        im = cv2.resize(cv2.imread(image, cv2.IMREAD_UNCHANGED), side, interpolation=cv2.INTER_AREA)
        ma = cv2.resize(cv2.imread(mask, cv2.IMREAD_UNCHANGED), side, interpolation=cv2.INTER_NEAREST)
        encoded.append((cv2.imencode(".png", im)[1].tobytes(), cv2.imencode(".png", ma)[1].tobytes()))
    for i in range(count):
        im, ma = encoded[i % len(encoded)]
        (out_dir / "images" / f"p{i:05d}.png").write_bytes(im)
        (out_dir / "masks" / f"p{i:05d}.png").write_bytes(ma)
