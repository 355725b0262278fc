"""One sample, arrays in and out (augment.py): alignment, label safety, and the manifest's matrix.

The strong alignment test uses colour-coded images (colour = function of label): whatever the
geometry does, decoding the output image's colours must give back the output mask.
"""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from conftest import CODE_COLOURS, blocky_mask, colour_coded, decode_labels, make_dataset, write_recipe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segaug_cli import recipe as recipes
from segaug_cli import sampling
from segaug_cli.augment import augment
from segaug_cli.manifest import format_matrix
from segaug_cli.transforms import geometric

SIZES = [(31, 47), (40, 64), (33, 33), (48, 36)]  # (H, W): odd, even, square, portrait
SEEDS = range(8)
ALL_GEOMETRIC = """
  - rotate:    {degrees: [-30, 30]}
  - scale:     {range: [0.8, 1.2]}
  - shear:     {degrees: [-10, 10]}
  - translate: {fraction: [-0.1, 0.1]}
  - hflip:     {p: 0.5}
  - vflip:     {p: 0.5}
"""


def _recipe(
    transforms: str, interpolation: str = "linear", mode: str = "constant", mask_fill: int = 0, image_fill: str = "0"
):
    return recipes.parse(
        f"interpolation: {interpolation}\n"
        f"border: {{mode: {mode}, image_fill: {image_fill}, mask_fill: {mask_fill}}}\n"
        f"transforms:\n{transforms}"
    )


def _rgb_fill_of(label: int) -> str:
    """The recipe image_fill (RGB order) whose colour codes ``label`` (CODE_COLOURS is BGR)."""
    return json.dumps(CODE_COLOURS[label][::-1].tolist())


def _pair(shape, seed, labels=6):
    mask = blocky_mask(np.random.default_rng([seed, *shape]), shape, labels)
    return colour_coded(mask), mask


def _seed(i: int) -> int:
    return sampling.sample_seed(0, "k", i)


def _applied(draws, name) -> bool:
    return any(d.name == name and d.applied for d in draws)


def _parse_matrix(text: str) -> np.ndarray:
    return np.array([float(t) for t in text.split()], np.float64).reshape(2, 3)


def _boundary(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of a label boundary (a pixel with a differing 8-neighbour)."""
    kernel = np.ones((3, 3), np.uint8)
    edge = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
    return cv2.dilate(edge.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)).astype(bool)


# ---------------------------------------------------------------------------------------------
# Alignment, the strong way: colour-coded images
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate"])
@pytest.mark.parametrize("shape", SIZES)
def test_nearest_colour_coded_image_decodes_to_output_mask_exactly(shape, mode):
    fill = 6  # not a source label (those are 0..5), and a colour that is not symmetric in RGB/BGR
    rcp = _recipe(ALL_GEOMETRIC, "nearest", mode, mask_fill=fill, image_fill=_rgb_fill_of(fill))
    flips, filled = set(), 0
    for i in SEEDS:
        image, mask = _pair(shape, i)
        draws = sampling.draw_for(rcp.transforms, _seed(i))
        out_image, out_mask, matrix = augment(image, mask, draws, rcp)
        labels, dist = decode_labels(out_image)
        assert dist.max() == 0, f"seed {i}: nearest resampling produced a colour that is no code colour"
        mismatches = np.count_nonzero(labels != out_mask)
        assert mismatches == 0, f"seed {i}: {mismatches} pixels whose colour disagrees with the mask"
        assert not np.allclose(matrix, np.eye(3))
        flips |= {name for name in ("hflip", "vflip") if _applied(draws, name)}
        outside = _outside(matrix, shape)
        if outside is not None:
            assert (out_mask == fill).any() == (mode == "constant" and outside), f"seed {i}"
        filled += bool((out_mask == fill).any())
    assert flips == {"hflip", "vflip"}  # the seeds exercised both flips
    assert filled >= (len(SEEDS) // 2 if mode == "constant" else 0)  # ...and the border fill


def _outside(matrix: np.ndarray, shape) -> bool | None:
    """Whether some output pixel samples outside the source (None: too close to call at a pixel edge)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    src = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)]).T @ np.linalg.inv(matrix).T
    # nearest-neighbour reads the pixel whose centre is closest: outside beyond half a pixel
    margin = np.maximum(
        np.maximum(-0.5 - src[:, 0], src[:, 0] - (w - 0.5)), np.maximum(-0.5 - src[:, 1], src[:, 1] - (h - 0.5))
    ).max()
    return None if abs(margin) < 1e-3 else bool(margin > 0)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("shape", SIZES)
def test_linear_colour_coded_image_mismatches_only_at_blended_boundaries(shape, mode):
    fill = 5
    rcp = _recipe(ALL_GEOMETRIC, "linear", mode, mask_fill=fill, image_fill=_rgb_fill_of(fill))
    blended_somewhere = False
    for i in SEEDS:
        image, mask = _pair(shape, i)
        out_image, out_mask, _ = augment(image, mask, sampling.draw_for(rcp.transforms, _seed(i)), rcp)
        labels, dist = decode_labels(out_image)
        clean = dist < 10
        # A pixel whose colour is (nearly) a code colour names the mask's label there.
        assert np.array_equal(labels[clean], out_mask[clean]), f"seed {i}"
        # Every mismatch is a blend across a class boundary of the output mask.
        mismatch = labels != out_mask
        stray = mismatch & ~_boundary(out_mask, radius=2)
        where = np.argwhere(stray)[:5].tolist()
        assert not stray.any(), f"seed {i}: mismatches away from boundaries at {where}"
        assert mismatch.mean() < 0.1
        blended_somewhere |= bool((~clean).any())
    assert blended_somewhere  # linear really interpolated the image (nearest would never blend)


# ---------------------------------------------------------------------------------------------
# Property test: random recipes, random masks
# ---------------------------------------------------------------------------------------------


def _range(lo: float, hi: float):
    return st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(lambda t: [min(t), max(t)])


_P = st.sampled_from([0.0, 0.3, 0.5, 1.0])
_GEOMETRIC_OPS = [
    st.builds(lambda r, p: {"rotate": {"degrees": r, "p": p}}, _range(-360, 360), _P),
    st.builds(lambda r, p: {"scale": {"range": r, "p": p}}, _range(0.2, 5), _P),
    st.builds(lambda r, p: {"shear": {"degrees": r, "p": p}}, _range(-80, 80), _P),
    st.builds(lambda r, p: {"translate": {"fraction": r, "p": p}}, _range(-1, 1), _P),
    st.builds(lambda p: {"hflip": {"p": p}}, _P),
    st.builds(lambda p: {"vflip": {"p": p}}, _P),
]
_PHOTOMETRIC_OPS = [
    st.builds(lambda r, p: {"brightness": {"range": r, "p": p}}, _range(-1, 1), _P),
    st.builds(lambda r, p: {"contrast": {"range": r, "p": p}}, _range(0, 10), _P),
    st.builds(lambda r, p: {"gamma": {"range": r, "p": p}}, _range(0.1, 10), _P),
]


@st.composite
def _cases(draw, ops):
    transforms = draw(st.lists(st.one_of(ops), max_size=7))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    top = int(np.iinfo(dtype).max)
    labels = draw(st.lists(st.integers(0, top), min_size=1, max_size=5, unique=True))
    mask_fill = draw(st.integers(0, top))
    data = {
        "interpolation": draw(st.sampled_from(recipes.INTERPOLATIONS)),
        "border": {
            "mode": draw(st.sampled_from(recipes.BORDER_MODES)),
            "mask_fill": mask_fill,
            "image_fill": draw(st.integers(0, 65535)),
        },
        "transforms": transforms,
    }
    rcp = recipes.parse(json.dumps(data))  # JSON is YAML
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.choice(np.array(labels, dtype), size=(h, w))
    image_dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([1, 3, 4]))
    size = (h, w) if channels == 1 else (h, w, channels)
    image = rng.integers(0, np.iinfo(image_dtype).max, size=size, endpoint=True).astype(image_dtype)
    seed = draw(st.integers(0, 2**64 - 1))
    return rcp, image, mask, seed


_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(case=_cases(_GEOMETRIC_OPS + _PHOTOMETRIC_OPS))
def test_random_recipes_never_invent_labels(case):
    rcp, image, mask, seed = case
    draws = sampling.draw_for(rcp.transforms, seed)
    out_image, out_mask, matrix = augment(image, mask, draws, rcp)
    assert out_mask.dtype == mask.dtype and out_mask.shape == mask.shape
    assert out_image.dtype == image.dtype and out_image.shape == image.shape
    allowed = set(np.unique(mask).tolist())
    if rcp.border.mode == "constant":
        allowed.add(rcp.border.mask_fill)
    assert set(np.unique(out_mask).tolist()) <= allowed
    if not any(d.applied and d.kind == "geometric" for d in draws):
        assert np.array_equal(matrix, np.eye(3))
        assert out_mask.tobytes() == mask.tobytes()


@_SETTINGS
@given(case=_cases(_PHOTOMETRIC_OPS))
def test_photometric_only_recipes_leave_masks_byte_identical(case):
    rcp, image, mask, seed = case
    out_image, out_mask, matrix = augment(image, mask, sampling.draw_for(rcp.transforms, seed), rcp)
    assert out_mask.dtype == mask.dtype
    assert out_mask.tobytes() == mask.tobytes()
    assert np.array_equal(matrix, np.eye(3))
    assert out_image.dtype == image.dtype and out_image.shape == image.shape


# ---------------------------------------------------------------------------------------------
# Photometric ops never touch the mask
# ---------------------------------------------------------------------------------------------

PHOTOMETRIC = """
  - brightness: {range: [0.15, 0.3]}
  - contrast:   {range: [1.3, 1.6]}
  - gamma:      {range: [0.5, 0.7]}
"""


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_photometric_ops_change_the_image_and_not_the_mask(dtype):
    rcp = _recipe(PHOTOMETRIC, mask_fill=255)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 200, size=(30, 41, 3), dtype=np.uint8)
    mask = blocky_mask(rng, (30, 41), 5).astype(dtype) * (300 if dtype == np.uint16 else 1)
    for i in SEEDS:
        out_image, out_mask, _ = augment(image, mask, sampling.draw_for(rcp.transforms, _seed(i)), rcp)
        assert out_mask.tobytes() == mask.tobytes()
        assert not np.array_equal(out_image, image)


def test_adding_photometric_ops_leaves_the_warped_mask_unchanged():
    # Same geometric draws (photometric ops come after them in the recipe), with and without
    # intensity changes: the masks are byte-identical, the images are not.
    geometric_only = _recipe(ALL_GEOMETRIC, mask_fill=255)
    with_photometric = _recipe(ALL_GEOMETRIC + PHOTOMETRIC, mask_fill=255)
    for i in SEEDS:
        image, mask = _pair((37, 50), i)
        seed = _seed(i)
        draws_a = sampling.draw_for(geometric_only.transforms, seed)
        draws_b = sampling.draw_for(with_photometric.transforms, seed)
        img_a, mask_a, m_a = augment(image, mask, draws_a, geometric_only)
        img_b, mask_b, m_b = augment(image, mask, draws_b, with_photometric)
        assert np.array_equal(m_a, m_b)
        assert mask_a.tobytes() == mask_b.tobytes()
        assert not np.array_equal(img_a, img_b)


# ---------------------------------------------------------------------------------------------
# The manifest's matrix reproduces the mask
# ---------------------------------------------------------------------------------------------


def test_format_matrix_of_identity_and_flips():
    assert format_matrix(np.eye(3)) == "1 0 0 0 1 0"
    assert format_matrix(geometric.hflip((5, 8))) == "-1 0 7 0 1 0"
    assert format_matrix(geometric.vflip((5, 8))) == "1 0 0 0 -1 4"


@pytest.mark.parametrize("shape", [(31, 47), (40, 64)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_manifest_matrix_reproduces_augment_mask(shape, dtype):
    fill = 255 if dtype == np.uint8 else 65535
    rcp = _recipe(ALL_GEOMETRIC, "cubic", "constant", mask_fill=fill)
    flips = set()
    for i in range(12):
        image, mask = _pair(shape, i)
        mask = mask.astype(dtype) * (1 if dtype == np.uint8 else 1000)
        draws = sampling.draw_for(rcp.transforms, _seed(i))
        _, out_mask, matrix = augment(image, mask, draws, rcp)
        text = format_matrix(matrix)
        m = _parse_matrix(text)
        assert np.array_equal(m, matrix[:2])  # the text round-trips exactly
        h, w = shape
        again = cv2.warpAffine(
            mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
        )
        assert np.array_equal(again, out_mask), f"seed {i}: {text}"
        flips |= {name for name in ("hflip", "vflip") if _applied(draws, name)}
    assert flips == {"hflip", "vflip"}


@pytest.mark.parametrize("flips", ["  - hflip\n", "  - vflip\n", "  - hflip\n  - vflip\n"])
def test_manifest_matrix_of_pure_flips_reproduces_numpy_flips(flips):
    rcp = _recipe(flips)
    image, mask = _pair((9, 14), 0)
    _, out_mask, matrix = augment(image, mask, sampling.draw_for(rcp.transforms, 1), rcp)
    expected = mask
    if "hflip" in flips:
        expected = np.fliplr(expected)
    if "vflip" in flips:
        expected = np.flipud(expected)
    assert np.array_equal(out_mask, expected)
    again = cv2.warpAffine(
        mask,
        _parse_matrix(format_matrix(matrix)),
        (14, 9),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    assert np.array_equal(again, expected)


def test_expand_manifest_matrix_reproduces_every_output_mask(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in")
    out_dir = tmp_path / "out"
    fill = 6
    recipe_path = write_recipe(
        tmp_path / "r.yaml",
        (
            "seed: 3\ncopies: 4\ninterpolation: nearest\n"
            f"border: {{mode: constant, image_fill: {_rgb_fill_of(fill)}, mask_fill: {fill}}}\n"
            f"transforms:\n{ALL_GEOMETRIC}"
        ),
    )
    result = cli("expand", recipe_path, in_dir, out_dir, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    with open(out_dir / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 4
    assert len({r["matrix"] for r in rows}) == len(rows)
    for row in rows:
        src = cv2.imread(str(in_dir / row["source_mask"]), cv2.IMREAD_UNCHANGED)
        out_mask = cv2.imread(str(out_dir / row["mask"]), cv2.IMREAD_UNCHANGED)
        out_image = cv2.imread(str(out_dir / row["image"]), cv2.IMREAD_UNCHANGED)
        h, w = src.shape
        m = _parse_matrix(row["matrix"])
        again = cv2.warpAffine(
            src, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
        )
        assert out_mask.dtype == src.dtype
        assert np.array_equal(again, out_mask), row["mask"]
        # ...and the written image is aligned with the written mask, border included.
        labels, dist = decode_labels(out_image)
        assert dist.max() == 0 and np.array_equal(labels, out_mask), row["image"]
