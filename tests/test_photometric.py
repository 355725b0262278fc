"""Intensity ops on images (transforms/photometric.py): dtype-aware, saturating, alpha untouched."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from segaug_cli.transforms import photometric as ph
from segaug_cli.transforms.photometric import brightness, contrast, gamma

DTYPES = [np.uint8, np.uint16]
CHANNELS = [1, 3, 4]


def _image(dtype, channels: int, shape=(9, 13), seed: int = 0, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Random image over [lo, hi] (default the dtype's full range), with 0 and max present."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if hi is None else hi
    size = shape if channels == 1 else (*shape, channels)
    image = rng.integers(lo, top + 1, size=size, dtype=np.int64).astype(dtype)
    if hi is None and lo == 0:
        image.flat[0], image.flat[1] = 0, np.iinfo(dtype).max
    return image


def _colour(image: np.ndarray) -> np.ndarray:
    return image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image


def _full(dtype) -> float:
    return float(np.iinfo(dtype).max)


# ---------------------------------------------------------------------------------------------
# dtype, shape, alpha
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "steps", [[brightness(0.13)], [contrast(1.4)], [gamma(0.6)], [brightness(-0.2), contrast(0.7), gamma(1.8)]]
)
def test_dtype_and_shape_preserved(dtype, channels, steps):
    image = _image(dtype, channels)
    before = image.copy()
    out = ph.apply(image, steps)
    assert out.dtype == image.dtype
    assert out.shape == image.shape
    assert not np.array_equal(out, image)  # the op did something
    assert np.array_equal(image, before)  # the input is not modified in place


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "steps", [[brightness(1.0)], [brightness(-1.0)], [contrast(3.0)], [gamma(0.3)], [contrast(0.0)]]
)
def test_alpha_channel_is_left_untouched(dtype, steps):
    image = _image(dtype, 4, seed=3)
    out = ph.apply(image, steps)
    assert np.array_equal(out[..., 3], image[..., 3])
    assert not np.array_equal(out[..., :3], image[..., :3])


def test_alpha_is_not_part_of_the_contrast_mean():
    # Colour around 40, alpha at 255: contrast 0 collapses colour onto the COLOUR mean.
    image = np.zeros((4, 5, 4), np.uint8)
    image[..., :3] = np.arange(60).reshape(4, 5, 3)  # mean 29.5
    image[..., 3] = 255
    out = ph.apply(image, [contrast(0.0)])
    assert np.unique(out[..., :3]).tolist() == [round(image[..., :3].mean())]
    assert (out[..., 3] == 255).all()


def test_steps_take_no_mask():
    # A photometric op sees intensity levels only; apply() takes an image and its steps, no mask.
    assert list(inspect.signature(ph.apply).parameters) == ["image", "steps"]


def test_non_integer_images_are_refused():
    with pytest.raises(TypeError, match="int32"):
        ph.apply(np.zeros((2, 2, 3), np.int32), [brightness(0.1)])


# ---------------------------------------------------------------------------------------------
# Identity at neutral parameters
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "steps", [[brightness(0.0)], [contrast(1.0)], [gamma(1.0)], [brightness(0.0), contrast(1.0), gamma(1.0)]]
)
def test_neutral_parameters_are_byte_identical(dtype, channels, steps):
    image = _image(dtype, channels, seed=5)
    out = ph.apply(image, steps)
    assert out.dtype == image.dtype
    assert out.tobytes() == image.tobytes()


def test_no_steps_returns_the_image_unchanged():
    image = _image(np.uint16, 3)
    assert ph.apply(image, []).tobytes() == image.tobytes()


# ---------------------------------------------------------------------------------------------
# Saturation, never wrap-around
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_brightness_full_scale_saturates(dtype, channels):
    image = _image(dtype, channels, seed=1)
    top = np.iinfo(dtype).max
    up = ph.apply(image, [brightness(1.0)])
    down = ph.apply(image, [brightness(-1.0)])
    assert (_colour(up) == top).all()
    assert (_colour(down) == 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_brightness_near_the_top_clips_instead_of_wrapping(dtype):
    top = np.iinfo(dtype).max
    image = np.array([[0, 1, top // 2, top - 10, top - 1, top]], dtype)
    up = ph.apply(image, [brightness(0.2)])
    down = ph.apply(image, [brightness(-0.2)])
    step = 0.2 * top
    expected_up = np.minimum(image.astype(np.float64) + step, top)
    expected_down = np.maximum(image.astype(np.float64) - step, 0)
    np.testing.assert_allclose(up.astype(np.float64), expected_up, atol=0.5)
    np.testing.assert_allclose(down.astype(np.float64), expected_down, atol=0.5)
    assert up[0, -1] == top and up[0, -3] == top  # high values stay at the top
    assert down[0, 0] == 0 and down[0, 1] == 0  # low values stay at zero
    assert (np.diff(up.astype(np.int64)) >= 0).all()  # a wrap would break the order


def test_brightness_is_a_fraction_of_the_full_scale():
    u8 = np.array([[0, 100, 200]], np.uint8)
    assert ph.apply(u8, [brightness(0.2)]).tolist() == [[51, 151, 251]]  # + 0.2 * 255
    u16 = np.array([[0, 100, 30000]], np.uint16)
    assert ph.apply(u16, [brightness(0.2)]).tolist() == [[13107, 13207, 43107]]  # + 0.2 * 65535


def test_saturation_happens_after_each_op():
    # +100% saturates every pixel at full scale; -50% then lands every pixel on the same level.
    image = _image(np.uint8, 3, seed=2)
    out = ph.apply(image, [brightness(1.0), brightness(-0.5)])
    assert np.unique(out).tolist() == [round(255 - 127.5)]


# ---------------------------------------------------------------------------------------------
# Contrast about the mean, gamma formula
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [1, 3])
def test_contrast_scales_distance_from_the_image_mean(dtype, channels):
    top = np.iinfo(dtype).max
    lo, hi = int(top * 0.4), int(top * 0.6)  # a factor of 1.5 cannot clip here
    image = _image(dtype, channels, seed=4, lo=lo, hi=hi)
    mean = image.astype(np.float64).mean()
    out = ph.apply(image, [contrast(1.5)])
    expected = mean + (image.astype(np.float64) - mean) * 1.5
    assert np.abs(out.astype(np.float64) - expected).max() <= 0.5 + 1e-6
    assert out.astype(np.float64).mean() == pytest.approx(mean, abs=0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_contrast_zero_gives_the_mean_everywhere(dtype):
    image = _image(dtype, 3, seed=6)
    out = ph.apply(image, [contrast(0.0)])
    assert np.unique(out).tolist() == [int(np.rint(image.astype(np.float64).mean()))]


def test_contrast_clips_at_both_ends():
    image = np.array([[0, 10, 128, 245, 255]], np.uint8)  # mean 127.6
    out = ph.apply(image, [contrast(10.0)])
    assert out.tolist() == [[0, 0, 132, 255, 255]]  # 127.6 + (128 - 127.6) * 10 = 131.6 -> 132


@pytest.mark.parametrize("g", [0.3, 0.8, 1.7, 4.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gamma_matches_float_formula(dtype, g):
    image = _image(dtype, 3, seed=7)
    full = _full(dtype)
    expected = np.rint(full * (image.astype(np.float64) / full) ** g)
    out = ph.apply(image, [gamma(g)])
    assert np.abs(out.astype(np.float64) - expected).max() <= 1
    assert (out == expected).mean() > 0.99  # exact but for float ties in rounding
    # Endpoints are fixed points; mid-grey moves the documented way (below 1 brightens).
    ends = np.array([[0, int(full)]], dtype)
    assert ph.apply(ends, [gamma(g)]).tolist() == ends.tolist()


def test_gamma_spot_values_uint8():
    image = np.array([[0, 64, 128, 255]], np.uint8)
    # 255 * (v / 255) ** 2: 64 -> 16.06, 128 -> 64.25;  ** 0.5: 64 -> 127.75, 128 -> 180.67
    assert ph.apply(image, [gamma(2.0)]).tolist() == [[0, 16, 64, 255]]
    assert ph.apply(image, [gamma(0.5)]).tolist() == [[0, 128, 181, 255]]


# ---------------------------------------------------------------------------------------------
# uint16 on its full scale
# ---------------------------------------------------------------------------------------------


def test_uint16_values_above_255_use_the_full_16_bit_scale():
    image = np.array([[256, 1000, 32768, 60000, 65535]], np.uint16)
    # gamma 2 on the 0..65535 scale: 32768 -> 65535 * 0.50001^2 = 16384.5; a 0..255 scale would clip
    out = ph.apply(image, [gamma(2.0)])
    expected = np.rint(65535 * (image.astype(np.float64) / 65535) ** 2)
    assert out.tolist() == expected.astype(int).tolist()
    assert out[0, 2] in (16384, 16385)
    # brightness +0.1 adds 6553.5, not 25.5; 60000 saturates at 65535 instead of wrapping to ~1017.
    out = ph.apply(image, [brightness(0.1)])
    assert out[0, 0] in (6809, 6810) and out[0, 1] in (7553, 7554)
    assert out[0, 3] == 65535 and out[0, 4] == 65535
    # contrast 0 gives the 16-bit mean (159559 / 5 = 31911.8), not something squeezed into 0..255.
    assert np.unique(ph.apply(image, [contrast(0.0)])).tolist() == [31912]


def test_uint16_image_with_small_values_is_not_treated_as_8_bit():
    image = np.array([[0, 100, 255]], np.uint16)
    out = ph.apply(image, [brightness(0.5)])
    # + 32767.5 (half of 65535), not + 127.5; either neighbour of a .5 tie is a fair rounding
    assert out[0, 0] in (32767, 32768) and out[0, 1] in (32867, 32868) and out[0, 2] in (33022, 33023)


def test_a_read_only_source_reuses_its_histogram_without_changing_results():
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    second = (255 - first).copy()
    steps = [contrast(1.5)]
    expected = [ph.apply(first.copy(), steps), ph.apply(second.copy(), steps)]
    for image in (first, second):
        image.flags.writeable = False
    # alternate, so a histogram remembered for one image would be wrong for the other
    for _ in range(2):
        assert np.array_equal(ph.apply(first, steps), expected[0])
        assert np.array_equal(ph.apply(second, steps), expected[1])
    assert not np.array_equal(expected[0], expected[1])
