"""`segaug stats DIR`: per-class pixel counts, shares and mask counts of a folder of
masks, each checked against numpy on the same files."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, blocky_mask, make_dataset, write_png
from PIL import Image

PAIRS = {"a": (48, 64), "b": (40, 40), "city/c": (37, 53), "city/deep/d": (30, 44)}
ROW = re.compile(r"\s*(\S+)\s+(\d+)\s+(\d+\.\d\d)%\s+(\d+)")


def parse(stdout: str) -> tuple[dict[str, tuple[int, str, int]], tuple[int, str, int]]:
    """({class: (pixels, share, masks)}, (total pixels, total share, total masks)) from the table."""
    lines = stdout.splitlines()
    assert lines[0].split() == ["class", "pixels", "share", "masks"], stdout
    rows = {}
    for line in lines[1:]:
        match = ROW.fullmatch(line)
        assert match, line
        rows[match.group(1)] = (int(match.group(2)), match.group(3), int(match.group(4)))
    total = rows.pop("total")
    assert list(rows) == [line.split()[0] for line in lines[1:-1]]
    return rows, total


def expected(label_maps: list[np.ndarray], name=lambda v: str(int(v))) -> dict[str, tuple[int, str, int]]:
    """What the table must say, computed with numpy alone; keys are the class as printed."""
    pixels, masks = Counter(), Counter()
    for labels in label_maps:
        values, counts = np.unique(labels, return_counts=True)
        pixels.update({name(v): int(c) for v, c in zip(values, counts, strict=True)})
        masks.update(name(v) for v in values)
    total = sum(pixels.values())
    return {k: (pixels[k], f"{100 * pixels[k] / total:.2f}", masks[k]) for k in pixels}


def read_masks(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.rglob("*.png"))]


def check_table(stdout: str, want: dict[str, tuple[int, str, int]], n_masks: int) -> None:
    rows, total = parse(stdout)
    assert rows == want
    assert total == (sum(p for p, _, _ in want.values()), "100.00", n_masks)


def test_a_dataset_folder_counts_its_masks_only(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS, labels=6)

    result = cli("stats", in_dir)

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    want = expected(read_masks(in_dir / "masks"))
    check_table(result.stdout, want, len(PAIRS))
    rows, _ = parse(result.stdout)
    assert list(rows) == sorted(rows, key=int)  # classes in numeric order ("10" after "9")
    assert not any(k.startswith("#") for k in rows)  # the colour images were not read


def test_a_bare_mask_folder_gives_the_same_table(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS, labels=6)

    whole = cli("stats", in_dir)
    bare = cli("stats", in_dir / "masks")

    assert bare.exit_code == 0, bare.output
    assert bare.stdout == whole.stdout
    check_table(bare.stdout, expected(read_masks(in_dir / "masks")), len(PAIRS))


def test_uint16_masks_count_labels_above_255(tmp_path, cli):
    rng = np.random.default_rng(1)
    masks = [(blocky_mask(rng, (30, 40), 4).astype(np.uint16) * 1000 + 7) for _ in range(3)]
    for i, mask in enumerate(masks):
        write_png(tmp_path / "m" / f"{i}.png", mask)

    result = cli("stats", tmp_path / "m")

    assert result.exit_code == 0, result.output
    check_table(result.stdout, expected(masks), 3)
    assert any(int(label) > 255 for label in parse(result.stdout)[0])


def test_palette_masks_count_indices_not_colours(tmp_path, cli):
    rng = np.random.default_rng(2)
    palette = [0] * 768
    for i in range(256):  # index i is drawn in a colour unrelated to i
        palette[3 * i : 3 * i + 3] = [(i * 97) % 256, (i * 31 + 5) % 256, 200]
    masks = []
    for i in range(3):
        mask = blocky_mask(rng, (36, 50), 5).astype(np.uint8)
        mask[:3, :3] = 255  # VOC's void index
        image = Image.fromarray(mask, "P")
        image.putpalette(palette)
        (tmp_path / "voc").mkdir(exist_ok=True)
        image.save(tmp_path / "voc" / f"{i}.png")
        masks.append(mask)

    result = cli("stats", tmp_path / "voc")

    assert result.exit_code == 0, result.output
    check_table(result.stdout, expected(masks), 3)
    assert parse(result.stdout)[0]["255"] == (27, f"{100 * 27 / (3 * 36 * 50):.2f}", 3)


def test_colour_masks_count_rgb_colours(tmp_path, cli):
    colours_rgb = np.array([[128, 64, 128], [0, 0, 142], [220, 20, 60], [70, 70, 70]], np.uint8)
    rng = np.random.default_rng(3)
    rgb_masks = []
    for i in range(3):
        rgb = colours_rgb[blocky_mask(rng, (32, 48), 4)]
        write_png(tmp_path / "colour" / f"{i}.png", rgb[:, :, ::-1])  # OpenCV writes BGR
        rgb_masks.append(rgb)
    packed = [(m[..., 0].astype(np.uint32) << 16) | (m[..., 1].astype(np.uint32) << 8) | m[..., 2] for m in rgb_masks]

    result = cli("stats", tmp_path / "colour")

    assert result.exit_code == 0, result.output
    check_table(result.stdout, expected(packed, name=lambda v: f"#{int(v):06x}"), 3)
    rows, _ = parse(result.stdout)
    assert set(rows) <= {"#804080", "#00008e", "#dc143c", "#464646"}


def test_an_unreadable_mask_is_a_warning_and_the_rest_are_counted(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS, labels=6)
    want = expected(read_masks(in_dir / "masks"))
    (in_dir / "masks" / "city" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (in_dir / "masks" / "notes.txt").write_text("not a mask\n")

    result = cli("stats", in_dir)
    bare = cli("stats", in_dir / "masks")

    # The warning names the file relative to the DIR given, so it can be found.
    why = "not a readable image (corrupt, truncated or an unsupported format)"
    assert result.exit_code == bare.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"warning: masks/city/broken.png: {why}"]
    assert bare.stderr.splitlines() == [f"warning: city/broken.png: {why}"]
    check_table(result.stdout, want, len(PAIRS))
    assert bare.stdout == result.stdout


def test_a_missing_folder_is_a_usage_error(tmp_path, cli):
    missing = tmp_path / "nowhere"

    result = cli("stats", missing)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {missing}: no such folder\n"


def test_a_file_is_not_a_folder(tmp_path, cli):
    path = tmp_path / "mask.png"
    write_png(path, np.zeros((4, 4), np.uint8))

    result = cli("stats", path)

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""


CAMVID = SHARED_DATA / "camvid"


@pytest.mark.skipif(not (CAMVID / "SOURCE.md").is_file(), reason="../shared/data/camvid is not present")
def test_camvid_shares_match_its_source_notes(cli):
    """SOURCE.md's table: | value | class | % pixels | images containing it |, computed by its curator."""
    documented = {}
    for line in (CAMVID / "SOURCE.md").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\|\s*(\d+)\s*\|[^|]*\|\s*(\d+\.\d\d)\s*\|\s*(\d+)\s*\|", line.strip())
        if match:
            documented[match.group(1)] = (match.group(2), int(match.group(3)))
    assert len(documented) == 12

    result = cli("stats", CAMVID)

    assert result.exit_code == 0, result.output
    rows, total = parse(result.stdout)
    assert {label: (share, masks) for label, (_, share, masks) in rows.items()} == documented
    assert rows["0"][1:] == ("20.21", 120)
    assert total[1:] == ("100.00", 120)
    assert total[0] == 120 * 480 * 360
