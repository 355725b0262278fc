"""labels: label maps, reduce_zero_label, colour tables and thresholds on arrays; the spec's errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from dataset_layouts import CITYSCAPES_TRAIN_IDS
from hypothesis import given, settings
from hypothesis import strategies as st

from segaug_cli.errors import PairError
from segaug_cli.labels import (
    LabelsError,
    LabelSpec,
    colors_to_labels,
    map_labels,
    parse_labels,
    reduce_zero_label,
    relabel,
    threshold_mask,
)

POTSDAM = {"#ffffff": 0, "#0000ff": 1, "#00ffff": 2, "#00ff00": 3, "#ffff00": 4, "#ff0000": 5}


# --- map -----------------------------------------------------------------------------------------------


def test_map_listed_labels_map_and_the_rest_take_default():
    mask = np.array([[7, 8, 0], [33, 34, 255]], np.uint8)
    out = map_labels(mask, CITYSCAPES_TRAIN_IDS, 255)
    assert out.labels.tolist() == [[0, 1, 255], [18, 255, 255]]
    assert out.labels.dtype == np.uint8
    assert out.unlisted == 3  # 0, 34 and 255 are not in the table


def test_map_default_keep_leaves_unlisted_labels_as_they_are():
    mask = np.array([[1, 2, 3]], np.uint8)
    out = map_labels(mask, {1: 10}, None)
    assert (out.labels.tolist(), out.unlisted) == ([[10, 2, 3]], 2)


def test_map_on_uint16_gives_uint8_when_every_output_fits():
    mask = np.array([[1000, 7], [65535, 0]], np.uint16)
    out = map_labels(mask, {1000: 3, 7: 0}, 255)
    assert out.labels.tolist() == [[3, 0], [255, 255]]
    assert out.labels.dtype == np.uint8
    assert out.unlisted == 2


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_map_to_labels_above_255_gives_uint16(dtype):
    out = map_labels(np.array([[1, 2]], dtype), {1: 300}, 0)
    assert out.labels.tolist() == [[300, 0]]
    assert out.labels.dtype == np.uint16


def test_keep_on_uint16_keeps_large_labels():
    out = map_labels(np.array([[5, 40000]], np.uint16), {5: 1}, None)
    assert out.labels.tolist() == [[1, 40000]] and out.labels.dtype == np.uint16


def test_a_map_key_beyond_uint8_is_never_met_by_an_8_bit_mask():
    out = map_labels(np.array([[1, 2]], np.uint8), {1: 0, 300: 1}, 255)
    assert out.labels.tolist() == [[0, 255]] and out.unlisted == 1


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([np.uint8, np.uint16]),
    st.dictionaries(st.integers(0, 300), st.integers(0, 300), max_size=8),
    st.one_of(st.none(), st.integers(0, 300)),
    st.lists(st.integers(0, 300), min_size=1, max_size=30),
)
def test_map_equals_a_dictionary_lookup_per_pixel(dtype, table, default, values):
    mask = np.array(values, np.int64) % (256 if dtype == np.uint8 else 65536)
    mask = mask.astype(dtype).reshape(1, -1)
    out = map_labels(mask, table, default)
    expected = [table.get(v, v if default is None else default) for v in mask.ravel().tolist()]
    assert out.labels.ravel().tolist() == expected
    assert out.unlisted == sum(v not in table for v in mask.ravel().tolist())


def test_map_needs_a_label_mask():
    with pytest.raises(PairError) as info:
        map_labels(np.zeros((2, 2, 3), np.uint8), {1: 0})
    assert str(info.value) == (
        "labels.map needs a label mask (one channel, uint8 or uint16), got 3 channels, "
        "uint8; a colour-coded mask takes labels.colors"
    )


def test_the_source_mask_is_not_changed():
    mask = np.array([[7, 8]], np.uint8)
    map_labels(mask, CITYSCAPES_TRAIN_IDS, 255)
    reduce_zero_label(mask)
    assert mask.tolist() == [[7, 8]]


# --- reduce_zero_label ------------------------------------------------------------------------------------


def test_reduce_zero_label_as_mmsegmentation():
    mask = np.array([[0, 1, 2, 150, 254, 255]], np.uint8)
    assert reduce_zero_label(mask).tolist() == [[255, 0, 1, 149, 253, 255]]


def test_reduce_zero_label_matches_mmsegmentation_steps_on_every_uint8_value():
    mask = np.arange(256, dtype=np.uint8).reshape(16, 16)
    gt = mask.copy()  # mmseg LoadAnnotations: gt[gt == 0] = 255; gt = gt - 1; gt[gt == 254] = 255
    gt[gt == 0] = 255
    gt = gt - 1
    gt[gt == 254] = 255
    assert np.array_equal(reduce_zero_label(mask), gt)


def test_reduce_zero_label_on_uint16():
    out = reduce_zero_label(np.array([[0, 1, 1000]], np.uint16))
    assert out.tolist() == [[255, 0, 999]] and out.dtype == np.uint16


# --- colours ----------------------------------------------------------------------------------------------


def bgr(*rgbs: tuple[int, int, int]) -> np.ndarray:
    """One row of pixels given in RGB, stored BGR as OpenCV decodes them."""
    return np.array([[rgb[::-1] for rgb in rgbs]], np.uint8)


def test_colours_are_written_rgb_and_read_from_bgr_arrays():
    spec = parse_labels({"colors": POTSDAM})
    image = bgr((255, 255, 255), (0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 0, 0))
    out = relabel(image, spec)
    assert out.labels.tolist() == [[0, 1, 2, 3, 4, 5]] and out.labels.dtype == np.uint8
    assert out.unlisted == 0


def test_unlisted_colours_take_default_and_are_counted():
    out = colors_to_labels(bgr((0, 0, 255), (0, 0, 0), (1, 0, 255), (0, 0, 0)), {(0, 0, 255): 1}, 255)
    assert out.labels.tolist() == [[1, 255, 255, 255]]
    assert out.unlisted == 3


def test_colours_read_from_a_png_as_opencv_decodes_it(tmp_path):
    rgb = np.array([[[0, 0, 255], [255, 0, 0]]], np.uint8)  # blue then red, in RGB
    cv2.imwrite(str(tmp_path / "m.png"), rgb[..., ::-1])  # cv2 wants BGR
    decoded = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    out = relabel(decoded, parse_labels({"colors": {"#0000ff": 1, "#ff0000": 5}}))
    assert out.labels.tolist() == [[1, 5]]


def test_colour_labels_above_255_give_uint16():
    out = colors_to_labels(bgr((1, 2, 3), (9, 9, 9)), {(1, 2, 3): 1000}, 0)
    assert out.labels.tolist() == [[1000, 0]] and out.labels.dtype == np.uint16


def test_colours_of_a_tall_mask_cross_the_row_bands():
    image = np.zeros((700, 3, 3), np.uint8)
    image[::2] = (255, 0, 0)  # BGR blue on even rows
    out = colors_to_labels(image, {(0, 0, 255): 1}, 0)
    assert out.labels[:, 0].tolist() == [1, 0] * 350 and out.unlisted == 350 * 3


@pytest.mark.parametrize(
    ("array", "got"),
    [
        (np.zeros((2, 2), np.uint8), "one channel, uint8"),
        (np.zeros((2, 2, 3), np.uint16), "3 channels, uint16"),
        (np.zeros((2, 2, 4), np.uint8), "4 channels, uint8"),
    ],
)
def test_colours_need_an_8_bit_colour_mask(array, got):
    with pytest.raises(PairError) as info:
        colors_to_labels(array, {(0, 0, 0): 0})
    assert str(info.value) == (
        f"labels.colors needs an 8-bit colour mask (3 channels), got {got}; a label mask takes labels.map"
    )


# --- threshold --------------------------------------------------------------------------------------------


def test_threshold_splits_at_the_value():
    out = threshold_mask(np.array([[0, 127, 128, 255]], np.uint8), 128)
    assert out.tolist() == [[0, 0, 1, 1]] and out.dtype == np.uint8


def test_threshold_converts_a_colour_jpeg_mask_to_grey_first(tmp_path):
    mask = np.zeros((16, 16, 3), np.uint8)
    mask[4:12, 4:12] = 255
    cv2.imwrite(str(tmp_path / "m.jpg"), mask, [cv2.IMWRITE_JPEG_QUALITY, 60])
    lossy = cv2.imread(str(tmp_path / "m.jpg"), cv2.IMREAD_UNCHANGED)
    assert len(np.unique(lossy)) > 2  # JPEG invented values: why thresholds exist
    out = relabel(lossy, parse_labels({"threshold": 128}))
    assert out.labels.tolist() == (mask[..., 0] // 255).tolist()


# --- parsing ----------------------------------------------------------------------------------------------


def test_parse_map_with_defaults():
    assert parse_labels({"map": {8: 1, 7: 0}}) == LabelSpec(table=((7, 0), (8, 1)), default=255)
    assert parse_labels({"map": {7: 0}, "default": "keep"}) == LabelSpec(table=((7, 0),), default=None)
    assert parse_labels({"map": {7: 0}, "default": 0}).default == 0


def test_parse_colours_accepts_hex_and_rgb_lists():
    spec = parse_labels({"colors": {"#FF0000": 5, (0, 0, 255): 1, "#00ff00": 3}, "default": 9})
    assert spec == LabelSpec(colors=(((0, 0, 255), 1), ((0, 255, 0), 3), ((255, 0, 0), 5)), default=9)


def test_parse_other_conversions():
    assert parse_labels(None) is None
    assert parse_labels({"reduce_zero_label": True}) == LabelSpec(reduce_zero_label=True)
    assert parse_labels({"reduce_zero_label": False}) is None  # as mmsegmentation configs write it
    assert parse_labels({"threshold": 128}) == LabelSpec(threshold=128)
    assert parse_labels({"map": {1: 0}, "reduce_zero_label": False}).table == ((1, 0),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"map": {-1: 0}}, "labels.map.-1: -1 is not a label (a whole number from 0 to 65535)"),
        ({"map": {65536: 0}}, "labels.map.65536: 65536 is not a label (a whole number from 0 to 65535)"),
        ({"map": {"7": 0}}, "labels.map.7: '7' is not a label (a whole number from 0 to 65535)"),
        ({"map": {1.5: 0}}, "labels.map.1.5: 1.5 is not a label (a whole number from 0 to 65535)"),
        ({"map": {True: 0}}, "labels.map.True: True is not a label (a whole number from 0 to 65535)"),
        ({"map": {7: 70000}}, "labels.map.7: maps to 70000, which is not a label (0 to 65535)"),
        ({"map": {7: None}}, "labels.map.7: maps to None, which is not a label (0 to 65535)"),
        ({"map": {}}, "labels.map: must be a mapping of label to label, e.g. {7: 0, 8: 1}, got {}"),
        ({"map": [7, 0]}, "labels.map: must be a mapping of label to label, e.g. {7: 0, 8: 1}, got [7, 0]"),
        ({"map": {7: 0}, "default": "ignore"}, "labels.default: must be a label from 0 to 65535 or keep, got 'ignore'"),
        ({"map": {7: 0}, "default": -1}, "labels.default: must be a label from 0 to 65535 or keep, got -1"),
        (
            {"colors": {"#fff": 0}},
            "labels.colors.#fff: '#fff' is not a colour; write #rrggbb (six hex digits, "
            "quoted in YAML, where # starts a comment) or [R, G, B]",
        ),
        (
            {"colors": {"ffffff": 0}},
            "labels.colors.ffffff: 'ffffff' is not a colour; write #rrggbb (six hex digits, "
            "quoted in YAML, where # starts a comment) or [R, G, B]",
        ),
        (
            {"colors": {"#gggggg": 0}},
            "labels.colors.#gggggg: '#gggggg' is not a colour; write #rrggbb (six hex "
            "digits, quoted in YAML, where # starts a comment) or [R, G, B]",
        ),
        (
            {"colors": {(256, 0, 0): 0}},
            "labels.colors.(256, 0, 0): (256, 0, 0) is not a colour; write #rrggbb or "
            "[R, G, B] with each of R, G, B from 0 to 255",
        ),
        (
            {"colors": {7: 0}},
            "labels.colors.7: 7 is not a colour; write #rrggbb or [R, G, B] with each of R, G, B from 0 to 255",
        ),
        (
            {"colors": {"#FFFFFF": 0, "#ffffff": 1}},
            "labels.colors.#ffffff: the colour #ffffff is given twice (also as '#FFFFFF')",
        ),
        (
            {"colors": {"#0000ff": 1, (0, 0, 255): 2}},
            "labels.colors.(0, 0, 255): the colour #0000ff is given twice (also as '#0000ff')",
        ),
        ({"colors": {"#0000ff": -1}}, "labels.colors.#0000ff: maps to -1, which is not a label (0 to 65535)"),
        (
            {"colors": {"#0000ff": 1}, "default": "keep"},
            "labels.default: must be a label from 0 to 65535 (keep applies to map only: a colour has no label "
            "to keep), got 'keep'",
        ),
        (
            {"map": {7: 0}, "colors": {"#ffffff": 0}},
            "labels.colors: cannot be combined with labels.map; use one conversion per recipe",
        ),
        (
            {"map": {7: 0}, "reduce_zero_label": True},
            "labels.reduce_zero_label: cannot be combined with labels.map; use one conversion per recipe",
        ),
        (
            {"colors": {"#ffffff": 0}, "threshold": 128},
            "labels.threshold: cannot be combined with labels.colors; use one conversion per recipe",
        ),
        ({"threshold": 128, "default": 0}, "labels.default: applies to map and colors only"),
        ({"reduce_zero_label": True, "default": 0}, "labels.default: applies to map and colors only"),
        ({"reduce_zero_label": "yes"}, "labels.reduce_zero_label: must be true or false, got 'yes'"),
        ({"threshold": 0}, "labels.threshold: must be a whole number from 1 to 65535 (pixels >= it become 1), got 0"),
        (
            {"threshold": 0.5},
            "labels.threshold: must be a whole number from 1 to 65535 (pixels >= it become 1), got 0.5",
        ),
        ({"default": 255}, "labels: needs one of map, reduce_zero_label, colors, threshold"),
        ({}, "labels: needs one of map, reduce_zero_label, colors, threshold"),
        (
            {"mapping": {7: 0}},
            "labels.mapping: unknown key; expected one of map, default, reduce_zero_label, colors, threshold",
        ),
        ([7, 0], "labels: must be a mapping with one of map, reduce_zero_label, colors, threshold, got [7, 0]"),
    ],
)
def test_spec_errors_are_one_line_and_name_the_key(raw, message):
    with pytest.raises(LabelsError) as info:
        parse_labels(raw)
    assert str(info.value) == message
    assert "\n" not in message


def test_spec_errors_carry_the_key_path_for_the_recipe_line():
    with pytest.raises(LabelsError) as info:
        parse_labels({"map": {7: 0, 300000: 1}})
    assert (info.value.keys, info.value.message) == (
        ("map", 300000),
        "300000 is not a label (a whole number from 0 to 65535)",
    )


# --- fingerprint text -------------------------------------------------------------------------------------


def test_text_is_stable_and_changes_with_the_spec():
    text = parse_labels({"map": {8: 1, 7: 0}}).text()
    assert text == '{"default":255,"map":[[7,0],[8,1]]}'
    assert parse_labels({"map": {7: 0, 8: 1}}).text() == text  # key order does not matter
    others = [
        parse_labels({"map": {7: 0, 8: 2}}),
        parse_labels({"map": {7: 0, 8: 1}, "default": 0}),
        parse_labels({"map": {7: 0, 8: 1}, "default": "keep"}),
        parse_labels({"reduce_zero_label": True}),
        parse_labels({"threshold": 128}),
        parse_labels({"threshold": 127}),
        parse_labels({"colors": {"#ffffff": 0}}),
        parse_labels({"colors": {"#ffffff": 1}}),
    ]
    texts = [text] + [spec.text() for spec in others]
    assert len(set(texts)) == len(texts)
    assert parse_labels({"map": {7: 0}, "default": "keep"}).text() == '{"default":"keep","map":[[7,0]]}'
    assert parse_labels({"colors": {(255, 0, 0): 5}}).text() == '{"colors":[["#ff0000",5]],"default":255}'
    assert parse_labels({"reduce_zero_label": True}).text() == '{"reduce_zero_label":true}'
    assert parse_labels({"threshold": 128}).text() == '{"threshold":128}'
