"""Matrix builders, composition order and the single warp of each target (transforms/geometric.py).

Convention under test (docs/guarantees.md, "Geometry"): 3x3 source -> output matrices in (x, y, 1) pixel
coordinates, x right and y down, about pixel centres ((W-1)/2, (H-1)/2); what cv2.warpAffine takes
without WARP_INVERSE_MAP.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segaug_cli.transforms import geometric as g

SHAPES = [(5, 7), (6, 8), (7, 4), (1, 1), (2, 3), (31, 32)]  # (H, W): odd, even and mixed
INTERPOLATIONS = sorted(g.INTERPOLATION_FLAGS)
BORDERS = sorted(g.BORDER_FLAGS)


def _apply(m: np.ndarray, x: float, y: float) -> tuple[float, float]:
    """Where the source point (x, y) lands in the output."""
    out = m @ np.array([x, y, 1.0])
    return float(out[0]), float(out[1])


def _ramp(shape: tuple[int, int], dtype=np.uint16) -> np.ndarray:
    """A mask whose every pixel holds a distinct value (so any misplaced pixel shows)."""
    h, w = shape
    return (np.arange(h * w).reshape(h, w) + 300).astype(dtype)


def _image(shape: tuple[int, int], channels: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    size = shape if channels == 1 else (*shape, channels)
    return rng.integers(0, top + 1, size=size, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Builders vs hand-computed matrices
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder",
    [
        lambda s: g.identity(),
        lambda s: g.rotate(17, s),
        lambda s: g.scale(1.3, s),
        lambda s: g.shear(8, s),
        lambda s: g.translate(0.1, -0.2, s),
        g.hflip,
        g.vflip,
    ],
)
def test_builders_return_3x3_float64_affine(builder):
    m = builder((6, 9))
    assert m.shape == (3, 3)
    assert m.dtype == np.float64
    assert m[2].tolist() == [0.0, 0.0, 1.0]


def test_identity():
    assert np.array_equal(g.identity(), np.eye(3))


@pytest.mark.parametrize("shape", [(5, 7), (6, 8)])
def test_hflip_and_vflip_matrices(shape):
    h, w = shape
    assert np.array_equal(g.hflip(shape), [[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]])
    assert np.array_equal(g.vflip(shape), [[1, 0, 0], [0, -1, h - 1], [0, 0, 1]])


def test_rotate_90_matrix_by_hand():
    # (H, W) = (5, 7): centre (3, 2). Counter-clockwise on screen with y down:
    # x' = cx + (y - cy) = y + 1, y' = cy - (x - cx) = 5 - x.
    np.testing.assert_allclose(g.rotate(90, (5, 7)), [[0, 1, 1], [-1, 0, 5], [0, 0, 1]], atol=1e-12)


@pytest.mark.parametrize("degrees", [-170, -30, 0, 12.5, 45, 200])
@pytest.mark.parametrize("shape", [(5, 7), (6, 8)])
def test_rotate_general_formula(degrees, shape):
    h, w = shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    expected = [[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy], [0, 0, 1]]
    np.testing.assert_allclose(g.rotate(degrees, shape), expected, atol=1e-12)


def test_scale_about_the_pixel_centre():
    # (H, W) = (6, 8): centre (3.5, 2.5); x' = 2 (x - 3.5) + 3.5.
    np.testing.assert_allclose(g.scale(2, (6, 8)), [[2, 0, -3.5], [0, 2, -2.5], [0, 0, 1]], atol=1e-12)
    h, w = 6, 8
    cx, cy = (w - 1) / 2, (h - 1) / 2
    assert _apply(g.scale(0.37, (h, w)), cx, cy) == pytest.approx((cx, cy))


def test_shear_is_x_shear_about_the_centre_row():
    # tan(45 deg) = 1: x' = x + (y - cy), y' = y; (H, W) = (5, 9) so cy = 2.
    np.testing.assert_allclose(g.shear(45, (5, 9)), [[1, 1, -2], [0, 1, 0], [0, 0, 1]], atol=1e-12)
    m = g.shear(30, (5, 9))
    assert _apply(m, 3, 2) == pytest.approx((3, 2))  # the centre row does not move
    assert _apply(m, 3, 4) == pytest.approx((3 + 2 * math.tan(math.radians(30)), 4))


def test_translate_is_fraction_of_width_and_of_height():
    np.testing.assert_array_equal(g.translate(0.1, -0.2, (50, 40)), [[1, 0, 4], [0, 1, -10], [0, 0, 1]])


# ---------------------------------------------------------------------------------------------
# Flips are exact: column x -> W-1-x, row y -> H-1-y
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("border", BORDERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_hflip_and_vflip_masks_exactly(shape, border):
    mask = _ramp(shape)
    assert np.array_equal(g.warp_mask(mask, g.hflip(shape), border, 0), np.fliplr(mask))
    assert np.array_equal(g.warp_mask(mask, g.vflip(shape), border, 0), np.flipud(mask))
    small = (mask % 251).astype(np.uint8)
    assert np.array_equal(g.warp_mask(small, g.hflip(shape), border, 255), np.fliplr(small))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4, 6])
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("shape", [(5, 7), (6, 8), (9, 9)])
def test_hflip_and_vflip_images_exactly_with_any_interpolation(shape, interpolation, channels, dtype):
    image = _image(shape, channels, dtype)
    fill = (7,)
    flipped = g.warp_image(image, g.hflip(shape), interpolation, "constant", fill)
    assert np.array_equal(flipped, np.fliplr(image))
    flipped = g.warp_image(image, g.vflip(shape), interpolation, "constant", fill)
    assert np.array_equal(flipped, np.flipud(image))


# ---------------------------------------------------------------------------------------------
# Rotation direction and centre
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 7), (6, 8), (11, 11)])
def test_rotated_point_lands_where_geometry_says(shape):
    h, w = shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # A point r to the right of the centre, turned 30 degrees counter-clockwise on screen, rises
    # (y decreases, since y points down) and moves left.
    r, t = 10.0, math.radians(30)
    expected = (cx + r * math.cos(t), cy - r * math.sin(t))
    assert _apply(g.rotate(30, shape), cx + r, cy) == pytest.approx(expected)
    # A quarter turn counter-clockwise: right of centre -> above it; above -> left; centre fixed.
    assert _apply(g.rotate(90, shape), cx + 2, cy) == pytest.approx((cx, cy - 2))
    assert _apply(g.rotate(90, shape), cx, cy - 2) == pytest.approx((cx - 2, cy))
    assert _apply(g.rotate(37, shape), cx, cy) == pytest.approx((cx, cy))


def test_rotated_marker_pixel_moves_counter_clockwise_on_screen():
    # Pixel space, through the real warp: a marker right of centre ends up above the centre.
    mask = np.zeros((11, 11), np.uint8)
    mask[5, 8] = 1  # row 5 (centre row), column 8 (3 px right of centre column 5)
    out = g.warp_mask(mask, g.rotate(90, mask.shape), "constant", 0)
    assert np.argwhere(out).tolist() == [[2, 5]]  # row 2: 3 px above centre, column 5


@pytest.mark.parametrize("degrees", [-135, -30, 0, 7.5, 90, 180])
@pytest.mark.parametrize("shape", [(5, 7), (6, 8), (33, 20)])
def test_rotate_agrees_with_cv2_get_rotation_matrix_2d(degrees, shape):
    h, w = shape
    expected = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    np.testing.assert_allclose(g.rotate(degrees, shape)[:2], expected, atol=1e-9)


@pytest.mark.parametrize("n", [6, 7])
def test_rotate_90_on_square_equals_np_rot90(n):
    # np.rot90(a, k=1) turns the array counter-clockwise as displayed (row 0 on top).
    mask = _ramp((n, n))
    assert np.array_equal(g.warp_mask(mask, g.rotate(90, mask.shape), "constant", 0), np.rot90(mask, 1))
    assert np.array_equal(g.warp_mask(mask, g.rotate(-90, mask.shape), "constant", 0), np.rot90(mask, -1))
    image = _image((n, n), 3)
    for interpolation in INTERPOLATIONS:
        out = g.warp_image(image, g.rotate(90, image.shape[:2]), interpolation, "constant", (0, 0, 0, 0))
        assert np.array_equal(out, np.rot90(image, 1)), interpolation


@pytest.mark.parametrize("shape", [(5, 7), (6, 8)])
def test_rotate_180_on_any_shape_equals_both_flips(shape):
    mask = _ramp(shape)
    assert np.array_equal(g.warp_mask(mask, g.rotate(180, shape), "constant", 0), np.rot90(mask, 2))


# ---------------------------------------------------------------------------------------------
# Composition order
# ---------------------------------------------------------------------------------------------


def test_compose_is_apply_first_then_second():
    shape = (6, 8)
    a, b = g.translate(0.25, 0, shape), g.scale(2, shape)
    np.testing.assert_allclose(g.compose([a, b]), b @ a)
    x, y = 1.0, 3.0
    assert _apply(g.compose([a, b]), x, y) == pytest.approx(_apply(b, *_apply(a, x, y)))
    assert _apply(g.compose([a, b]), x, y) != pytest.approx(_apply(a, *_apply(b, x, y)))  # order matters here
    assert np.array_equal(g.compose([]), np.eye(3))
    assert np.array_equal(g.compose([a]), a)


@pytest.mark.parametrize("n", [6, 7])
def test_compose_warps_once_like_warping_in_sequence(n):
    shape = (n, n)
    mask = _ramp(shape)
    ops = [g.hflip(shape), g.rotate(90, shape), g.vflip(shape), g.translate(2 / n, -1 / n, shape)]
    step_by_step = mask
    for m in ops:
        step_by_step = g.warp_mask(step_by_step, m, "constant", 1)
    assert np.array_equal(g.warp_mask(mask, g.compose(ops), "constant", 1), step_by_step)
    # The same ops in the other order give another image, so the comparison above is discriminating.
    assert not np.array_equal(g.warp_mask(mask, g.compose(ops[::-1]), "constant", 1), step_by_step)


def test_hflip_then_rot90_is_a_transpose():
    # Flip left-right, then turn counter-clockwise: (r, c) -> (c, r) in array indices.
    mask = _ramp((7, 7))
    m = g.compose([g.hflip(mask.shape), g.rotate(90, mask.shape)])
    assert np.array_equal(g.warp_mask(mask, m, "constant", 0), mask.T)


_OPS = st.one_of(
    st.tuples(st.just("rotate"), st.floats(-360, 360)),
    st.tuples(st.just("scale"), st.floats(0.2, 5)),  # well-conditioned enough for atol 1e-6
    st.tuples(st.just("shear"), st.floats(-80, 80)),
    st.tuples(st.just("translate"), st.tuples(st.floats(-1, 1), st.floats(-1, 1))),
    st.tuples(st.just("hflip"), st.none()),
    st.tuples(st.just("vflip"), st.none()),
)


def _build(name, value, shape, inverse=False):
    """An op's matrix, or its inverse built with the same builder."""
    if name == "rotate":
        return g.rotate(-value if inverse else value, shape)
    if name == "scale":
        return g.scale(1 / value if inverse else value, shape)
    if name == "shear":
        return g.shear(-value if inverse else value, shape)
    if name == "translate":
        x, y = value
        return g.translate(-x, -y, shape) if inverse else g.translate(x, y, shape)
    return g.hflip(shape) if name == "hflip" else g.vflip(shape)  # flips are their own inverse


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(_OPS, min_size=1, max_size=6), h=st.integers(1, 500), w=st.integers(1, 500))
def test_compose_with_inverse_is_identity(ops, h, w):
    shape = (h, w)
    forward = [_build(name, value, shape) for name, value in ops]
    backward = [_build(name, value, shape, inverse=True) for name, value in reversed(ops)]
    m = g.compose(forward)
    np.testing.assert_allclose(g.compose([m, np.linalg.inv(m)]), np.eye(3), atol=1e-6)
    np.testing.assert_allclose(g.compose(forward + backward), np.eye(3), atol=1e-6)
    # compose is a product in order: forward ops then their inverses in reverse order undo it,
    # and composing one op after another equals composing the list.
    np.testing.assert_allclose(g.compose([g.compose(forward[:1]), g.compose(forward[1:])]), m, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# warp_mask: no interpolation, exact fill, border modes shared with the image
# ---------------------------------------------------------------------------------------------


def test_warp_mask_has_no_interpolation_parameter():
    params = list(inspect.signature(g.warp_mask).parameters)
    assert not [p for p in params if "interp" in p.lower() or "flag" in p.lower()], params
    assert params[:2] == ["mask", "m"]


def test_warp_mask_never_blends_labels_at_half_pixel_shifts():
    mask = np.zeros((8, 9), np.uint8)
    mask[:, 4:] = 10
    mask[5:, :] = 200
    shape = mask.shape
    m = g.compose([g.translate(0.5 / 9, 0.5 / 8, shape), g.rotate(13, shape), g.scale(1.37, shape)])
    out = g.warp_mask(mask, m, "replicate", 0)
    assert set(np.unique(out)) <= {0, 10, 200}


@pytest.mark.parametrize(("dtype", "fill"), [(np.uint8, 0), (np.uint8, 255), (np.uint16, 300), (np.uint16, 65535)])
@pytest.mark.parametrize("shape", [(5, 8), (6, 7)])
def test_warp_mask_constant_border_fills_exactly_fill(shape, dtype, fill):
    h, w = shape
    mask = (_ramp(shape) % 250 + 1).astype(dtype)  # no pixel equals fill
    k = 2
    out = g.warp_mask(mask, g.translate(k / w, 0, shape), "constant", fill)  # shift right by 2 columns
    expected = np.full_like(mask, fill)
    expected[:, k:] = mask[:, :-k]
    assert out.dtype == mask.dtype
    assert np.array_equal(out, expected)
    # Enlarging around the centre after a quarter turn of a non-square image uncovers a border too.
    out = g.warp_mask(mask, g.compose([g.rotate(90, shape), g.scale(0.5, shape)]), "constant", fill)
    assert (out == fill).sum() > 0
    assert set(np.unique(out)) <= set(np.unique(mask)) | {fill}


@pytest.mark.parametrize(("border", "numpy_mode"), [("reflect", "reflect"), ("replicate", "edge")])
@pytest.mark.parametrize("shape", [(5, 8), (6, 7)])
def test_border_modes_apply_to_mask_and_image_alike(shape, border, numpy_mode):
    h, w = shape
    k = 2  # shift right by 2 columns and down by 1 row: the uncovered strip comes from the border mode
    m = g.translate(k / w, 1 / h, shape)
    mask = _ramp(shape)
    expected = np.pad(mask, ((1, 0), (k, 0)), mode=numpy_mode)[:h, :w]
    assert np.array_equal(g.warp_mask(mask, m, border, 0), expected)
    image = _image(shape, 3)
    expected_image = np.pad(image, ((1, 0), (k, 0), (0, 0)), mode=numpy_mode)[:h, :w]
    assert np.array_equal(g.warp_image(image, m, "linear", border, (0, 0, 0, 0)), expected_image)


def test_warp_image_constant_border_uses_fill_per_channel():
    image = np.full((4, 6, 3), 50, np.uint8)
    out = g.warp_image(image, g.translate(2 / 6, 0, image.shape[:2]), "linear", "constant", (1, 2, 3, 0))
    assert out[:, :2].reshape(-1, 3).tolist() == [[1, 2, 3]] * 8
    assert (out[:, 2:] == 50).all()


_THIN_WARPS = """
import numpy as np
from segaug_cli.transforms import geometric as g
for shape in [(9, 1), (1, 9), (1, 1)]:
    h, w = shape
    image = (np.arange(h * w).reshape(shape) * 20 + 5).astype(np.uint8)
    # One whole pixel along the long axis (reflected in), a fraction across the thin one (where
    # every position reads the same single row/column).
    dx, dy = (1, 0.3) if h == 1 and w > 1 else (0.3, 1 if h > 1 else 0.3)
    m = g.translate(dx / w, dy / h, shape)
    pad = ((0, 0), (1, 0)) if h == 1 and w > 1 else (((1, 0), (0, 0)) if h > 1 else ((0, 0), (0, 0)))
    expected = np.pad(image, pad, mode="reflect")[:h, :w]
    for interpolation in sorted(g.INTERPOLATION_FLAGS):
        out = g.warp_image(image, m, interpolation, "reflect", (0,))
        assert np.array_equal(out, expected), (shape, interpolation, out.tolist(), expected.tolist())
        colour = np.dstack([image] * 3)
        out = g.warp_image(colour, m, interpolation, "reflect", (0,))
        assert np.array_equal(out, np.dstack([expected] * 3))
    assert np.array_equal(g.warp_mask(image, m, "reflect", 0), expected)
print("ok")
"""


def test_one_pixel_thin_images_warp_with_reflect_border_without_hanging():
    # OpenCV's cubic warp with BORDER_REFLECT_101 loops forever when an axis has length 1
    # (opencv/opencv#29867); run in a subprocess so a regression fails instead of hanging the suite.
    result = subprocess.run([sys.executable, "-c", _THIN_WARPS], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
