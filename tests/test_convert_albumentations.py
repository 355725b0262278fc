"""segaug convert against the real Albumentations: a converted recipe does what the pipeline does.

Each pipeline is built with ``albumentations``, saved with ``A.save`` (JSON and YAML), converted, and
both are run on the same arrays. Geometry is compared exactly: a degenerate range (``limit=(30, 30)``)
makes both draw the same value, and the masks (and here the images too) must be identical. Where a
transform draws a position or a choice, the sets of outcomes over many draws must be the same.
Photometric ops are compared pixel by pixel where they are deterministic, with the tolerance each
implementation difference explains, and by statistics over many draws where they are random.

segaug's images are BGR in memory (read with OpenCV), Albumentations' RGB: the segaug side gets the
channel-reversed array and its output is reversed back.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network at import

import albumentations as A  # noqa: E402  (after conftest has imported segaug, which pins OpenCV)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from segaug_cli import augment, sampling  # noqa: E402
from segaug_cli import recipe as recipes  # noqa: E402
from segaug_cli.convert import convert_file  # noqa: E402

RNG = np.random.default_rng(1)
IMAGE = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes: a centre off by half a pixel shows
MASK = np.zeros((37, 53), np.uint8)
MASK[5:20, 7:30], MASK[22:35, 10:50], MASK[0:10, 40:53], MASK[30:37, 0:8] = 1, 2, 3, 4


def converted(transform, tmp_path, fmt: str = "json") -> str:
    """The recipe text for a one-transform pipeline, saved in ``fmt`` by A.save."""
    path = tmp_path / f"pipeline.{fmt}"
    A.save(A.Compose([transform]), str(path), data_format=fmt)
    return convert_file(path).text


def segaug_run(text: str, image: np.ndarray, mask: np.ndarray, seed: int = 7):
    """What `segaug expand` renders for one sample: RGB image in, RGB image out."""
    rcp = recipes.parse(text)
    out = augment.render(image[..., ::-1].copy(), mask, sampling.draw_for(rcp.transforms, seed), rcp)
    return out.image[..., ::-1], out.mask


def quiet(transform_class, **kwargs):
    with warnings.catch_warnings():  # ShiftScaleRotate's deprecation notice
        warnings.simplefilter("ignore")
        return transform_class(**kwargs)


# ---------------------------------------------------------------------------------------------
# Geometry: the same drawn values give the same pixels
# ---------------------------------------------------------------------------------------------

EXACT = {
    "hflip": (A.HorizontalFlip, {"p": 1}),
    "vflip": (A.VerticalFlip, {"p": 1}),
    "rotate": (A.Rotate, {"limit": (30, 30), "p": 1}),
    "rotate_reflect": (A.Rotate, {"limit": (-17.5, -17.5), "border_mode": cv2.BORDER_REFLECT_101, "p": 1}),
    "rotate_fills": (A.Rotate, {"limit": (30, 30), "fill": 7, "fill_mask": 255, "p": 1}),
    "rotate_cubic": (A.Rotate, {"limit": (12, 12), "interpolation": cv2.INTER_CUBIC, "p": 1}),
    "affine_rotate_scale_shear": (
        A.Affine,
        {"rotate": (20, 20), "scale": (0.8, 0.8), "keep_ratio": True, "shear": {"x": (10, 10), "y": (0, 0)}, "p": 1},
    ),
    "affine_scale": (A.Affine, {"scale": 1.3, "p": 1}),
    "shift_scale_rotate": (
        A.ShiftScaleRotate,
        {"shift_limit": 0, "scale_limit": (0.1, 0.1), "rotate_limit": (10, 10), "p": 1},
    ),
    "pad": (A.PadIfNeeded, {"min_height": 50, "min_width": 70, "fill": 0, "fill_mask": 255}),
    "pad_multiple": (
        A.PadIfNeeded,
        {"min_height": None, "min_width": None, "pad_height_divisor": 32, "pad_width_divisor": 32},
    ),
    "resize_down": (A.Resize, {"height": 24, "width": 40, "mask_interpolation": cv2.INTER_NEAREST_EXACT}),
    "random_resized_crop_whole": (
        A.RandomResizedCrop,
        {"size": (20, 30), "scale": (1, 1), "ratio": (53 / 37, 53 / 37), "mask_interpolation": 6, "p": 1},
    ),
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("case", sorted(EXACT))
def test_geometry_gives_the_same_mask_and_image(case, fmt, tmp_path):
    cls, kwargs = EXACT[case]
    transform = quiet(cls, **kwargs)
    text = converted(transform, tmp_path, fmt)
    expected = transform(image=IMAGE, mask=MASK)
    image, mask = segaug_run(text, IMAGE, MASK)
    assert mask.shape == expected["mask"].shape
    assert np.array_equal(mask, expected["mask"])  # not one label differs
    # Both resample with cv2.warpAffine and the same matrix; cv2.resize and segaug's warp round the
    # image's linear weights differently (one level at most), masks not at all
    tolerance = 1 if cls in (A.Resize, A.RandomResizedCrop) else 0
    assert np.abs(image.astype(int) - expected["image"].astype(int)).max() <= tolerance


def test_resize_up_matches_with_a_replicated_border(tmp_path):
    # Enlarging, the outermost output pixels sample half a pixel outside the source: cv2.resize repeats
    # the edge, segaug's warp reads the border mode (docs/convert.md says so)
    transform = A.Resize(74, 106, mask_interpolation=cv2.INTER_NEAREST_EXACT)
    text = converted(transform, tmp_path) + "border: {mode: replicate}\n"
    expected = transform(image=IMAGE, mask=MASK)
    image, mask = segaug_run(text, IMAGE, MASK)
    assert np.array_equal(mask, expected["mask"])
    assert np.abs(image.astype(int) - expected["image"].astype(int)).max() <= 1


def test_the_rotation_sign_and_centre_are_albumentations_own():
    # the test above would pass for a sign error only if the mask were symmetric: it is not
    assert not np.array_equal(A.Rotate(limit=(30, 30), p=1)(image=IMAGE, mask=MASK)["mask"], MASK)
    assert not np.array_equal(
        A.Rotate(limit=(30, 30), p=1)(image=IMAGE, mask=MASK)["mask"],
        A.Rotate(limit=(-30, -30), p=1)(image=IMAGE, mask=MASK)["mask"],
    )


def outcomes_of_albumentations(transform, draws: int) -> set[bytes]:
    pipeline = A.Compose([transform], seed=3)
    return {pipeline(image=IMAGE, mask=MASK)["mask"].tobytes() for _ in range(draws)}


def outcomes_of_segaug(text: str, draws: int) -> set[bytes]:
    return {segaug_run(text, IMAGE, MASK, seed)[1].tobytes() for seed in range(draws)}


@pytest.mark.parametrize(
    ("transform", "count"),
    [
        (A.RandomRotate90(p=1), 4),  # np.rot90 by 0..3 quarter turns
        (A.RandomCrop(height=37, width=51, p=1), 3),  # 3 windows across, one down
        (A.RandomCrop(height=35, width=53, p=1), 3),
        # an area and aspect that make a 36 x 53 window: 2 places, each resized to its own size
        (
            A.RandomResizedCrop(
                size=(36, 53), scale=(36 / 37, 36 / 37), ratio=(53 / 36, 53 / 36), mask_interpolation=6, p=1
            ),
            2,
        ),
    ],
    ids=["rot90", "crop_x", "crop_y", "random_resized_crop"],
)
def test_random_positions_give_the_same_set_of_outcomes(transform, count, tmp_path):
    # 80 draws miss one of 4 equally likely outcomes with probability 4 x (3/4)^80 < 1e-9
    text = converted(transform, tmp_path)
    albumentations, segaug = outcomes_of_albumentations(transform, 80), outcomes_of_segaug(text, 80)
    assert len(albumentations) == count
    assert segaug == albumentations


def test_a_flip_before_a_rotation_keeps_the_mask_identical(tmp_path):
    # Albumentations resamples after each transform, segaug once for the chain; a flip is exact in both
    pipeline = A.Compose([A.VerticalFlip(p=1), A.Rotate(limit=(-20, -20), p=1)])
    A.save(pipeline, str(tmp_path / "chain.json"))
    _, mask = segaug_run(convert_file(tmp_path / "chain.json").text, IMAGE, MASK)
    assert np.array_equal(mask, pipeline(image=IMAGE, mask=MASK)["mask"])


def test_a_crop_after_a_rotation_moves_at_most_a_pixel_or_two(tmp_path):
    # What docs/convert.md says of chains: OpenCV's fixed-point warp breaks nearest-neighbour ties of
    # the composed matrix differently from those of each step, on label borders only
    pipeline = A.Compose([A.HorizontalFlip(p=1), A.Rotate(limit=(30, 30), p=1), A.RandomCrop(37, 51)], seed=3)
    A.save(pipeline, str(tmp_path / "chain.json"))
    text = convert_file(tmp_path / "chain.json").text
    albumentations = {pipeline(image=IMAGE, mask=MASK)["mask"].tobytes() for _ in range(80)}
    segaug = outcomes_of_segaug(text, 80)
    assert len(albumentations) == len(segaug) == 3  # the same three windows
    for a in albumentations:
        differing = min(int((np.frombuffer(a, np.uint8) != np.frombuffer(s, np.uint8)).sum()) for s in segaug)
        assert differing <= 2


def test_json_and_yaml_saves_convert_to_the_same_recipe(tmp_path):
    pipeline = A.Compose(
        [A.HorizontalFlip(p=0.5), A.OneOf([A.Rotate(limit=20), A.RandomRotate90()], p=0.7), A.RandomGamma()]
    )
    A.save(pipeline, str(tmp_path / "p.json"))
    A.save(pipeline, str(tmp_path / "p.yaml"), data_format="yaml")
    from_json, from_yaml = convert_file(tmp_path / "p.json").text, convert_file(tmp_path / "p.yaml").text
    assert from_json.replace("p.json", "p.yaml") == from_yaml


# ---------------------------------------------------------------------------------------------
# Photometric ops: deterministic ones pixel by pixel, random ones by their statistics
# ---------------------------------------------------------------------------------------------

# (transform, largest difference in levels, why)
DETERMINISTIC = {
    # Albumentations' lookup tables truncate to the integer below (astype), segaug's round: one level
    "brightness": (A.RandomBrightnessContrast, {"brightness_limit": (0.1, 0.1), "contrast_limit": 0, "p": 1}, 1),
    "gamma": (A.RandomGamma, {"gamma_limit": (150, 150), "p": 1}, 1),
    # whole-number shifts in OpenCV's 8-bit HSV: the same tables, the same conversion back
    "hsv": (
        A.HueSaturationValue,
        {"hue_shift_limit": (10, 10), "sat_shift_limit": (20, 20), "val_shift_limit": (-15, -15), "p": 1},
        0,
    ),
    # the same sigma; Albumentations cuts the kernel at 3.5 sigma, OpenCV at 3 sigma: one level
    "blur": (A.GaussianBlur, {"sigma_limit": (1.5, 1.5), "blur_limit": 0, "p": 1}, 1),
    "clahe": (A.CLAHE, {"clip_limit": (2, 2), "tile_grid_size": (8, 8), "p": 1}, 0),
}


@pytest.mark.parametrize("case", sorted(DETERMINISTIC))
def test_deterministic_photometric_ops_give_the_same_image(case, tmp_path):
    cls, kwargs, tolerance = DETERMINISTIC[case]
    transform = cls(**kwargs)
    expected = transform(image=IMAGE, mask=MASK)
    image, mask = segaug_run(converted(transform, tmp_path), IMAGE, MASK)
    assert np.array_equal(mask, MASK) and np.array_equal(expected["mask"], MASK)  # image only
    diff = np.abs(image.astype(int) - expected["image"].astype(int))
    assert diff.max() <= tolerance
    assert not np.array_equal(image, IMAGE)  # the op did something


def test_jpeg_is_the_same_compression_of_the_same_bytes(tmp_path):
    # Albumentations hands its RGB array to cv2.imencode, which takes it for BGR; segaug encodes true
    # BGR. Given the array segaug holds, Albumentations writes the very same JPEG.
    transform = A.ImageCompression(quality_range=(60, 60), p=1)
    text = converted(transform, tmp_path)
    bgr = np.ascontiguousarray(IMAGE[..., ::-1])
    image, _ = segaug_run(text, bgr[..., ::-1], MASK)
    assert np.array_equal(image[..., ::-1], transform(image=bgr)["image"])


def many(fn, draws: int) -> np.ndarray:
    return np.array([fn(i) for i in range(draws)], dtype=np.float64)


def test_brightness_over_a_range_draws_the_same_shifts(tmp_path):
    grey = np.full((16, 16, 3), 128, np.uint8)  # no clipping: the output is the drawn shift
    transform = A.RandomBrightnessContrast(brightness_limit=(-0.2, 0.2), contrast_limit=0, p=1)
    text = converted(transform, tmp_path)
    pipeline = A.Compose([transform], seed=5)
    a = many(lambda i: pipeline(image=grey)["image"].mean() - 128, 400)
    s = many(lambda i: segaug_run(text, grey, MASK[:16, :16], i)[0].mean() - 128, 400)
    # uniform on +-51 levels: sd 29.4, so a mean of 400 draws is within 1.5 levels (sd) of the truth;
    # 6 levels is 4 sd apart, with the half level of truncation against rounding on top
    assert abs(a.mean() - s.mean()) < 6
    assert abs(a.std() - s.std()) < 4  # the sd of a sample sd of 400 such draws is about 1
    assert a.min() >= -52 and s.min() >= -51.5 and a.max() <= 51 and s.max() <= 51.5


def test_noise_has_the_same_spread(tmp_path):
    grey = np.full((64, 64, 3), 128, np.uint8)  # 128 +- 4 sd of 0.1 x 255 stays mostly inside 0..255
    transform = A.GaussNoise(std_range=(0.1, 0.1), p=1)
    text = converted(transform, tmp_path)
    a = A.Compose([transform], seed=5)(image=grey)["image"].astype(float) - 128
    s = segaug_run(text, grey, MASK[:16, :16].repeat(4, 0).repeat(4, 1), 1)[0].astype(float) - 128
    # 12288 values each: the sd of their sd is 25.5 / sqrt(2 x 12288) = 0.16 level; the mean's 0.23
    assert abs(a.std() - 25.5) < 1 and abs(s.std() - 25.5) < 1
    assert abs(a.mean()) < 1 and abs(s.mean()) < 1
    assert not np.array_equal(s[..., 0], s[..., 1])  # per channel in both
    assert not np.array_equal(a[..., 0], a[..., 1])


def test_gamma_over_a_range_draws_the_same_curves(tmp_path):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    transform = A.RandomGamma(gamma_limit=(70, 130), p=1)
    text = converted(transform, tmp_path)
    pipeline = A.Compose([transform], seed=5)
    a = many(lambda i: pipeline(image=levels)["image"].mean(), 300)
    s = many(lambda i: segaug_run(text, levels, MASK[:16, :16], i)[0].mean(), 300)
    # each draw's image mean depends on gamma only; over 0.7..1.3 it spans about 106..150 (sd ~13), so
    # two means of 300 draws differ by more than 4 levels with probability below 1e-4; truncation adds 0.5
    assert abs(a.mean() - s.mean()) < 4.5
    assert abs(a.std() - s.std()) < 3


def test_one_of_weights_and_p_give_the_same_frequencies(tmp_path):
    transform = A.OneOf([A.HorizontalFlip(p=0.25), A.VerticalFlip(p=0.75)], p=0.8)  # weights 1:3
    text = converted(transform, tmp_path)
    assert yaml.safe_load(text)["transforms"] == [
        {"one_of": {"ops": [{"hflip": {"p": 1.0}}, {"vflip": {"p": 1.0}}], "weights": [0.25, 0.75], "p": 0.8}}
    ]
    flipped = {
        MASK[:, ::-1].tobytes(): "h",
        MASK[::-1].tobytes(): "v",
        MASK.tobytes(): "none",
    }
    pipeline = A.Compose([transform], seed=9)
    a = [flipped[pipeline(image=IMAGE, mask=MASK)["mask"].tobytes()] for _ in range(400)]
    s = [flipped[segaug_run(text, IMAGE, MASK, i)[1].tobytes()] for i in range(400)]
    # expected shares 0.2, 0.6, 0.2; a share of 400 draws has sd <= 0.025: 0.1 is 4 sd
    for outcome, share in (("h", 0.2), ("v", 0.6), ("none", 0.2)):
        assert abs(a.count(outcome) / 400 - share) < 0.1
        assert abs(s.count(outcome) / 400 - share) < 0.1


def test_some_of_applies_n_distinct_members(tmp_path):
    transform = A.SomeOf([A.HorizontalFlip(p=1), A.VerticalFlip(p=1), A.RandomRotate90(p=0)], n=2)
    text = converted(transform, tmp_path)
    assert yaml.safe_load(text)["transforms"] == [
        {
            "some_of": {
                "n": 2,
                "ops": [{"hflip": {"p": 1.0}}, {"vflip": {"p": 1.0}}, {"rot90": {"k": [0, 1, 2, 3], "p": 0.0}}],
                "p": 1.0,
            }
        }
    ]
    # the outcomes: h only, v only, both (= a half turn); never none, since two of three are chosen
    expected = {MASK[:, ::-1].tobytes(), MASK[::-1].tobytes(), MASK[::-1, ::-1].tobytes()}
    assert outcomes_of_albumentations(transform, 80) == expected
    assert outcomes_of_segaug(text, 80) == expected
