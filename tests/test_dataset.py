"""``AugmentedPairs``: IN's pairs x copies for a training loop. Epoch 0 is the offline run to the pixel,
other epochs draw anew and reproducibly, and the dataset crosses into DataLoader workers (fork, spawn,
forkserver) without segaug importing torch."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REPO, SAMPLE, make_dataset, read_manifest, write_recipe

from segaug_cli import AugmentedPairs, Recipe, SegaugError, read_pair, sampling
from segaug_cli.cli import main
from segaug_cli.codecs import decode_pixels

DEFAULT = REPO / "recipes" / "default.yaml"
# the keys of sample_data/, in the order expand walks them (code-point order of the key)
KEYS = (
    "aerial/north/tile_00",
    "aerial/north/tile_01",
    "aerial/south/tile_00",
    "aerial/south/tile_01",
    "micro/cells_000",
    "micro/cells_001",
    "micro/cells_002",
    "micro/cells_003",
    "street/frame_000",
    "street/frame_001",
    "street/frame_002",
    "street/frame_003",
)


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """The decoded (image, mask) of every output of `segaug expand recipes/default.yaml sample_data`."""
    out = tmp_path_factory.mktemp("offline") / "out"
    result = CliRunner().invoke(main, ["expand", str(DEFAULT), str(SAMPLE), str(out), "-j", "1", "-q"])
    assert result.exit_code == 0, result.output
    arrays = {}
    for row in read_manifest(out):
        key = row["source_image"].removeprefix("images/").rsplit(".", 1)[0]
        image, mask = (decode_pixels((out / row[c]).read_bytes(), row[c]) for c in ("image", "mask"))
        arrays[key, int(row["copy"])] = (image, mask)
    return arrays


def same_items(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_items_are_pairs_times_copies_in_key_order():
    data = AugmentedPairs(DEFAULT, SAMPLE)
    assert len(data) == 12 * 4 and data.keys == KEYS and data.epoch == 0
    assert [data.locate(i) for i in (0, 3, 4, 47, -1)] == [
        (KEYS[0], 0),
        (KEYS[0], 3),
        (KEYS[1], 0),
        (KEYS[11], 3),
        (KEYS[11], 3),
    ]
    with pytest.raises(IndexError, match="^index 48 out of range for 48 items$"):
        data[48]
    image, mask = data[0]
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8 and mask.shape == (256, 256)


def test_epoch_0_is_the_offline_run_pixel_for_pixel(offline):
    data = AugmentedPairs(Recipe.load(DEFAULT), SAMPLE, epoch=0)
    assert {data.locate(i) for i in range(len(data))} == set(offline)
    for i in range(len(data)):
        assert same_items(data[i], offline[data.locate(i)]), data.locate(i)


def test_every_other_epoch_draws_anew_and_the_same_each_time(offline):
    first, again = AugmentedPairs(DEFAULT, SAMPLE, epoch=1), AugmentedPairs(DEFAULT, SAMPLE, epoch=1)
    differs = 0
    for i in range(len(first)):
        sample = first.sample(i)
        item = (sample.image, sample.mask)
        assert same_items(item, again[i])  # reproducible
        assert sample.epoch == 1 and sample.seed != sampling.sample_seed(0, sample.key, sample.copy)
        differs += not same_items(item, offline[first.locate(i)])
    assert differs == len(first)  # every copy of epoch 1 is another image than epoch 0's
    second = AugmentedPairs(DEFAULT, SAMPLE, epoch=2)
    assert not same_items(second[5], first[5])
    second.set_epoch(1)
    assert same_items(second[5], first[5])


def test_a_recipe_with_targets_gives_them_after_the_mask(tmp_path: Path):
    import cv2

    in_dir = make_dataset(tmp_path / "in")
    for image in sorted((in_dir / "images").rglob("*.png")):
        edge = in_dir / "edges" / image.relative_to(in_dir / "images")
        edge.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(edge), (cv2.imread(str(image), cv2.IMREAD_GRAYSCALE) > 128).astype(np.uint8))
    targets = [{"name": "edges"}]
    recipe = Recipe.from_dict({"copies": 2, "targets": targets, "transforms": [{"rotate": {"degrees": 20}}]})
    data = AugmentedPairs(recipe, in_dir)
    image, mask, edges = data[1]
    sample = data.sample(1)
    assert list(sample.targets) == ["edges"] and np.array_equal(sample.targets["edges"], edges)
    assert edges.shape == mask.shape and set(np.unique(edges)) <= {0, 1}


def test_a_recipe_with_labels_relabels_each_mask_once_as_expand_does(tmp_path: Path):
    recipe = write_recipe(
        tmp_path / "labels.yaml",
        "copies: 2\ninputs: {images: images/street, masks: masks/street}\nlabels: {reduce_zero_label: true}\n"
        "transforms: [{rotate: {degrees: [-10, 10]}}]\n",
    )
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["expand", str(recipe), str(SAMPLE), str(out), "-j", "1", "-q"]).exit_code == 0
    rows = {
        (r["source_image"].removeprefix("images/street/").rsplit(".", 1)[0], int(r["copy"])): r
        for r in read_manifest(out)
    }
    data = AugmentedPairs(recipe, SAMPLE)
    assert len(data) == len(rows) == 8
    for i in range(len(data)):
        row = rows[data.locate(i)]
        expected = tuple(decode_pixels((out / row[c]).read_bytes(), row[c]) for c in ("image", "mask"))
        assert same_items(data[i], expected), data.locate(i)
        image, mask = read_pair(SAMPLE / row["source_image"], SAMPLE / row["source_mask"])
        sample = data.recipe.sample(image, mask, key=data.locate(i)[0], copy=data.locate(i)[1], written_as=row["image"])
        assert same_items((sample.image, sample.mask), expected)


def test_it_pickles_and_serves_the_same_items():
    data = AugmentedPairs(DEFAULT, SAMPLE, epoch=3)
    copied = pickle.loads(pickle.dumps(data))
    assert (len(copied), copied.epoch, copied.recipe) == (len(data), 3, data.recipe)
    assert same_items(copied[7], data[7])


def test_mistakes_are_one_line(tmp_path: Path):
    with pytest.raises(SegaugError, match=r"no such folder"):
        AugmentedPairs(DEFAULT, tmp_path / "nowhere")
    in_dir = make_dataset(tmp_path / "in")
    (in_dir / "images" / "extra.png").write_bytes((in_dir / "images" / "a.png").read_bytes())
    with pytest.raises(SegaugError, match=r"^images/extra\.png: no mask found for this image$"):
        AugmentedPairs(DEFAULT, in_dir)
    tiles = write_recipe(tmp_path / "tiles.yaml", "tiles: {size: [16, 16]}\n")
    with pytest.raises(SegaugError, match="^AugmentedPairs does not serve recipes with tiles"):
        AugmentedPairs(tiles, SAMPLE)
    with pytest.raises(SegaugError, match="^epoch must be a whole number from 0, got -1$"):
        AugmentedPairs(DEFAULT, SAMPLE, epoch=-1)


def test_it_imports_no_torch():
    code = (
        "import sys, segaug_cli\n"
        f"data = segaug_cli.AugmentedPairs({str(DEFAULT)!r}, {str(SAMPLE)!r})\n"
        "image, mask = data[0]\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_a_dataloader_with_two_workers_serves_the_offline_run(context: str, offline):
    torch = pytest.importorskip("torch", reason="torch is not installed (make install-optional installs it)")
    from torch.utils.data import DataLoader, Subset

    data = AugmentedPairs(DEFAULT, SAMPLE)
    # spawn and forkserver start each worker afresh (torch imported anew): a few items show the dataset travels
    indices = range(len(data)) if context == "fork" else (0, 13, 30, 47)
    loader = DataLoader(Subset(data, indices), batch_size=None, num_workers=2, multiprocessing_context=context)
    served = list(loader)
    assert len(served) == len(indices)
    for i, (image, mask) in zip(indices, served, strict=True):
        assert isinstance(image, torch.Tensor)
        assert same_items((image.numpy(), mask.numpy()), offline[data.locate(i)])
