"""tiles: the window grid, shifted or padded last row/column, skipping empty windows, keys and views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segaug_cli.errors import PairError
from segaug_cli.tiles import (
    TilesError,
    TileSpec,
    Window,
    cut,
    grid,
    labelled_share,
    parse_tiles,
    tiles,
    window_keys,
)


def spec(size, stride=None, **kwargs) -> TileSpec:
    return parse_tiles({"size": size, "stride": stride or size, **kwargs})


def corners(windows) -> list[tuple[int, int]]:
    return [(w.top, w.left) for w in windows]


# --- grid ----------------------------------------------------------------------------------------------


def test_exact_grid():
    assert grid((4, 6), spec([2, 3])) == (
        Window(0, 0, 2, 3),
        Window(0, 3, 2, 3),
        Window(2, 0, 2, 3),
        Window(2, 3, 2, 3),
    )


def test_last_row_and_column_shift_to_end_at_the_border():
    # 10 rows, tiles of 4 every 4: 0, 4, then 6 (ends at 10) rather than a partial tile at 8.
    assert corners(grid((10, 7), spec([4, 4]))) == [(0, 0), (0, 3), (4, 0), (4, 3), (6, 0), (6, 3)]


def test_overlapping_stride():
    assert corners(grid((5, 4), spec([4, 4], [1, 2]))) == [(0, 0), (1, 0)]


def test_stride_longer_than_the_tile_leaves_gaps_but_still_reaches_the_border():
    assert corners(grid((2, 10), spec([2, 2], [2, 5]))) == [(0, 0), (0, 5), (0, 8)]


def test_pad_runs_the_last_row_and_column_past_the_border():
    assert grid((10, 7), spec([4, 4], partial="pad")) == tuple(
        Window(top, left, 4, 4) for top in (0, 4, 8) for left in (0, 4)
    )


def test_pad_on_a_source_smaller_than_one_tile_gives_one_window():
    assert grid((3, 2), spec([4, 4], partial="pad")) == (Window(0, 0, 4, 4),)


def test_tile_larger_than_the_image_is_a_pair_error_naming_both_sizes():
    with pytest.raises(PairError) as info:
        grid((300, 400, 3), spec([512, 256]))
    assert str(info.value) == (
        "tiles.size is 512x256 (height x width) but the image is 300x400; cut smaller tiles or set tiles.partial: pad"
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from(["shift", "pad"]),
)
def test_windows_cover_every_pixel_and_shifted_ones_stay_inside(h, w, th, tw, sh, sw, partial):
    s = TileSpec((th, tw), (min(sh, th), min(sw, tw)), partial)  # stride <= size: no gaps by design
    if partial == "shift" and (th > h or tw > w):
        return
    covered = np.zeros((h + th, w + tw), np.int32)
    for win in grid((h, w), s):
        assert (win.height, win.width) == (th, tw)
        assert win.top < h and win.left < w
        if partial == "shift":
            assert win.top + th <= h and win.left + tw <= w
        covered[win.top : win.top + th, win.left : win.left + tw] += 1
    assert covered[:h, :w].min() >= 1


# --- keys ----------------------------------------------------------------------------------------------


def test_keys_are_zero_padded_to_the_largest_coordinate():
    windows = grid((1000, 600), spec([512, 512], [488, 88]))
    keys = window_keys("city/a", windows)
    assert keys[:2] == ("city/a_y000_x000", "city/a_y000_x088")
    assert keys[-1] == "city/a_y488_x088"
    assert list(keys) == sorted(keys)  # reading order is name order


def test_keys_sort_in_reading_order_across_digit_counts():
    windows = grid((12000, 12000), spec([1000, 1000]))
    keys = window_keys("k", windows)
    assert keys[0] == "k_y00000_x00000" and keys[12] == "k_y01000_x00000" and keys[-1] == "k_y11000_x11000"
    assert list(keys) == sorted(keys)


def test_one_window_key():
    assert window_keys("a", (Window(0, 0, 4, 4),)) == ("a_y0_x0",)


def test_source_window_text():
    assert Window(512, 1024, 512, 256).text() == "512 1024 512 256"


# --- cutting -------------------------------------------------------------------------------------------


def test_windows_inside_are_views_not_copies():
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    piece = cut(image, Window(2, 4, 3, 4), 0)
    assert np.shares_memory(piece, image)
    assert np.array_equal(piece, image[2:5, 4:8])


def test_pad_fills_image_and_mask_with_their_own_values():
    image = np.full((3, 2, 3), 9, np.uint8)
    mask = np.ones((3, 2), np.uint8)
    got = list(tiles(image, mask, "a", spec([4, 4], partial="pad"), image_fill=(10, 20, 30), mask_fill=255))
    assert len(got) == 1
    assert got[0].mask.tolist() == [[1, 1, 255, 255]] * 3 + [[255] * 4]
    assert got[0].image[0, 0].tolist() == [9, 9, 9]
    assert got[0].image[0, 3].tolist() == [10, 20, 30] and got[0].image[3, 0].tolist() == [10, 20, 30]
    assert (got[0].key, got[0].window) == ("a_y0_x0", Window(0, 0, 4, 4))


def test_a_single_fill_value_pads_every_channel():
    image = np.zeros((1, 1, 3), np.uint16)
    assert cut(image, Window(0, 0, 1, 2), (7.0,))[0, 1].tolist() == [7, 7, 7]


def test_tiles_carry_pixels_of_their_window():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    mask = image // 4
    got = list(tiles(image, mask, "k", spec([2, 2])))
    assert [t.key for t in got] == ["k_y0_x0", "k_y0_x2", "k_y2_x0", "k_y2_x2"]
    assert got[3].image.tolist() == [[10, 11], [14, 15]] and got[3].mask.tolist() == [[2, 2], [3, 3]]


# --- skipping empty windows ----------------------------------------------------------------------------


def test_labelled_share_leaves_out_ignore_and_background():
    mask = np.array([[0, 0, 1, 255], [2, 2, 255, 255]], np.uint8)
    win = Window(0, 0, 2, 4)
    assert labelled_share(mask, win, spec([2, 4])) == 5 / 8  # ignore 255 by default
    assert labelled_share(mask, win, spec([2, 4], background=0)) == 3 / 8
    assert labelled_share(mask, win, spec([2, 4], ignore=None)) == 1.0


def test_padding_counts_as_unlabelled():
    mask = np.ones((2, 2), np.uint8)
    assert labelled_share(mask, Window(0, 0, 4, 4), spec([4, 4], partial="pad")) == 4 / 16


def test_min_labelled_skips_windows_below_the_share():
    mask = np.full((4, 8), 255, np.uint8)
    mask[0, 0] = 1  # 1 of 16 pixels in the left window: 6.25%
    mask[:, 4:] = 0  # background everywhere in the right window
    image = np.zeros((4, 8, 3), np.uint8)
    keep = [t.key for t in tiles(image, mask, "k", spec([4, 4], min_labelled=0.05))]
    assert keep == ["k_y0_x0", "k_y0_x4"]
    keep = [t.key for t in tiles(image, mask, "k", spec([4, 4], min_labelled=0.05, background=0))]
    assert keep == ["k_y0_x0"]
    assert [t.key for t in tiles(image, mask, "k", spec([4, 4], min_labelled=0.07))] == ["k_y0_x4"]


def test_min_labelled_needs_a_label_mask():
    with pytest.raises(PairError) as info:
        list(tiles(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), "k", spec([2, 2], min_labelled=0.1)))
    assert str(info.value) == (
        "tiles.min_labelled needs a label mask (one channel); convert colour masks with labels.colors first"
    )


def test_a_colour_mask_tiles_without_min_labelled():
    mask = np.zeros((2, 2, 3), np.uint8)
    got = list(tiles(np.zeros((2, 2, 3), np.uint8), mask, "k", spec([2, 2], partial="pad")))
    assert got[0].mask.shape == (2, 2, 3)


# --- parsing -------------------------------------------------------------------------------------------


def test_parse_defaults():
    assert parse_tiles(None) is None
    assert parse_tiles({"size": [512, 256]}) == TileSpec((512, 256), (512, 256), "shift", 0.0, 255, None)
    assert parse_tiles({"size": 512, "stride": 256}) == TileSpec((512, 512), (256, 256))
    assert parse_tiles(
        {"size": [4, 4], "min_labelled": 0.05, "ignore": None, "background": 0, "partial": "pad"}
    ) == TileSpec((4, 4), (4, 4), "pad", 0.05, None, 0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"size": [512, 512], "stride": [0, 512]},
            "tiles.stride: must be [height, width] in pixels, whole numbers of at least 1, got [0, 512]",
        ),
        (
            {"size": [512, 512], "stride": -1},
            "tiles.stride: must be [height, width] in pixels, whole numbers of at least 1, got -1",
        ),
        (
            {"size": [512, 512.5]},
            "tiles.size: must be [height, width] in pixels, whole numbers of at least 1, got [512, 512.5]",
        ),
        ({"size": [512]}, "tiles.size: must be [height, width] in pixels, whole numbers of at least 1, got [512]"),
        ({"size": True}, "tiles.size: must be [height, width] in pixels, whole numbers of at least 1, got True"),
        ({"stride": [1, 1]}, "tiles.size: is required: the [height, width] of a tile in pixels"),
        ({"size": 4, "partial": "crop"}, "tiles.partial: must be shift or pad, got 'crop'"),
        (
            {"size": 4, "min_labelled": 5},
            "tiles.min_labelled: must be a share from 0 to 1 (0.05 = 5% of the pixels), got 5",
        ),
        (
            {"size": 4, "min_labelled": "5%"},
            "tiles.min_labelled: must be a share from 0 to 1 (0.05 = 5% of the pixels), got '5%'",
        ),
        ({"size": 4, "ignore": -1}, "tiles.ignore: must be a label from 0 to 65535, or null for none, got -1"),
        (
            {"size": 4, "background": "sky"},
            "tiles.background: must be a label from 0 to 65535, or null for none, got 'sky'",
        ),
        (
            {"size": 4, "overlap": 2},
            "tiles.overlap: unknown key; expected one of size, stride, partial, min_labelled, ignore, background",
        ),
        ([512, 512], "tiles: must be a mapping such as {size: [512, 512], stride: [512, 512]}, got [512, 512]"),
    ],
)
def test_spec_errors_are_one_line_and_name_the_key(raw, message):
    with pytest.raises(TilesError) as info:
        parse_tiles(raw)
    assert str(info.value) == message


def test_spec_errors_carry_the_key_path():
    with pytest.raises(TilesError) as info:
        parse_tiles({"size": 4, "stride": 0})
    assert info.value.keys == ("stride",)


def test_text_is_stable_and_changes_with_the_spec():
    base = spec([512, 512])
    assert base.text() == (
        '{"background":null,"ignore":255,"min_labelled":0.0,"partial":"shift","size":[512,512],"stride":[512,512]}'
    )
    others = [
        spec([512, 256]),
        spec([512, 512], [256, 256]),
        spec([512, 512], partial="pad"),
        spec([512, 512], min_labelled=0.05),
        spec([512, 512], ignore=None),
        spec([512, 512], background=0),
    ]
    assert len({base.text(), *(o.text() for o in others)}) == 7


# --- memory --------------------------------------------------------------------------------------------


def test_tiling_a_6000x6000_rgb_source_copies_nothing():
    image = np.zeros((6000, 6000, 3), np.uint8)  # zeros: the pages are never touched, so this is cheap
    mask = np.zeros((6000, 6000), np.uint8)
    got = list(tiles(image, mask, "top_potsdam_2_10", spec([512, 512])))
    assert len(got) == 12 * 12
    assert all(np.shares_memory(t.image, image) and np.shares_memory(t.mask, mask) for t in got)
    assert got[-1].window == Window(5488, 5488, 512, 512)  # shifted to end at the border
