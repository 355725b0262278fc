"""`segaug convert`: what it writes, what it refuses (one line, exit 2, nothing written) and what
--skip-unknown leaves out. Pipelines are written by the real Albumentations (A.save); the pixels
they give are compared in tests/test_convert_albumentations.py."""

from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network at import

import albumentations as A  # noqa: E402  (after conftest has imported segaug, which pins OpenCV)
import cv2  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from segaug_cli import recipe as recipes  # noqa: E402
from segaug_cli.convert import convert_file  # noqa: E402
from segaug_cli.errors import PipelineError  # noqa: E402


def save(tmp_path, transforms, fmt="json", **compose):
    path = tmp_path / f"pipeline.{fmt}"
    A.save(A.Compose(transforms, **compose), str(path), data_format=fmt)
    return path


def transforms_of(text: str) -> list:
    return yaml.safe_load(text)["transforms"]


def test_a_pipeline_becomes_a_valid_recipe_with_a_header(cli, tmp_path):
    pipeline = save(tmp_path, [A.HorizontalFlip(p=0.5), A.Rotate(limit=15, p=0.7, border_mode=cv2.BORDER_REFLECT_101)])
    out = tmp_path / "recipe.yaml"
    result = cli("convert", pipeline, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"segaug convert: wrote {out} (2 ops, 0 transforms left out)\n"
    text = out.read_text()
    assert text.startswith(
        f"# Converted by `segaug convert` from {pipeline}, an Albumentations {A.__version__} pipeline.\n"
    )
    assert yaml.safe_load(text) == {
        "interpolation": "linear",
        "border": {"mode": "reflect"},  # fills are not read with a reflected border, in either
        "transforms": [{"hflip": {"p": 0.5}}, {"rotate": {"degrees": [-15.0, 15.0], "p": 0.7}}],
    }
    assert cli("validate", out).exit_code == 0


def test_a_transform_without_equivalent_is_refused_by_name_and_position(cli, tmp_path):
    pipeline = save(tmp_path, [A.HorizontalFlip(), A.VerticalFlip(), A.ElasticTransform()])
    out = tmp_path / "recipe.yaml"
    result = cli("convert", pipeline, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {pipeline}: transform 3 (ElasticTransform) has no segaug equivalent; "
        "use --skip-unknown to leave it out\n"
    )
    assert not out.exists()


def test_skip_unknown_leaves_out_and_lists_each_transform(cli, tmp_path):
    pipeline = save(
        tmp_path,
        [A.ElasticTransform(), A.HorizontalFlip(), A.OneOf([A.Perspective(), A.VerticalFlip()]), A.Normalize()],
    )
    out = tmp_path / "recipe.yaml"
    result = cli("convert", pipeline, "-o", out, "--skip-unknown")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "skipped: transform 1 (ElasticTransform) has no segaug equivalent",
        "skipped: transform 3.1 (Perspective) has no segaug equivalent",
        "skipped: transform 4 (Normalize) has no segaug equivalent",
    ]
    text = out.read_text()
    assert "# Left out (--skip-unknown): transform 3.1 (Perspective) has no segaug equivalent\n" in text
    assert transforms_of(text) == [
        {"hflip": {"p": 0.5}},
        {"one_of": {"ops": [{"vflip": {"p": 1.0}}], "p": 0.5}},
    ]
    assert cli("validate", out).exit_code == 0


@pytest.mark.parametrize(
    ("transform", "message"),
    [
        (
            A.Affine(translate_percent=0.1),
            "transform 1 (Affine): translate_percent: Albumentations shifts by whole pixels",
        ),
        (
            A.Affine(scale=(0.8, 1.2)),
            "transform 1 (Affine): scale: with keep_ratio false Albumentations draws the x and y factors separately",
        ),
        (A.Affine(shear={"x": 0, "y": (5, 10)}), "transform 1 (Affine): shear: y shear [5.0, 10.0]"),
        (A.Affine(rotate=5, fit_output=True), "transform 1 (Affine): fit_output: True resizes the output"),
        (A.Rotate(crop_border=True), "transform 1 (Rotate): crop_border: True crops"),
        (
            A.RandomBrightnessContrast(),
            "transform 1 (RandomBrightnessContrast): contrast_limit: Albumentations scales values about 0",
        ),
        (A.Resize(8, 8), "transform 1 (Resize): mask_interpolation: 0;"),
        (A.Rotate(mask_interpolation=cv2.INTER_LINEAR), "transform 1 (Rotate): mask_interpolation: 1;"),
        (A.Rotate(border_mode=cv2.BORDER_WRAP), "transform 1 (Rotate): border_mode: OpenCV code 3 is none of"),
        (A.Rotate(fill_mask=0.5), "transform 1 (Rotate): fill_mask: 0.5 is not a label"),
        (A.GaussianBlur(blur_limit=(3, 7)), "transform 1 (GaussianBlur): blur_limit: [3, 7] draws the kernel size"),
        (A.GaussNoise(per_channel=False), "transform 1 (GaussNoise): per_channel: False adds the same noise"),
        (A.ImageCompression(compression_type="webp"), "transform 1 (ImageCompression): compression_type: 'webp'"),
        (A.CLAHE(tile_grid_size=(8, 4)), "transform 1 (CLAHE): tile_grid_size: [8, 4]"),
        (A.SomeOf([A.HorizontalFlip()], n=1, replace=True), "transform 1 (SomeOf): replace: true"),
        (A.Rotate(limit=(400, 400)), "transform 1 (Rotate): segaug refuses the translated values (transforms[0]"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_an_argument_without_exact_equivalent_is_refused_by_name(transform, message, tmp_path):
    pipeline = save(tmp_path, [transform])
    with pytest.raises(PipelineError) as caught:
        convert_file(pipeline)
    text = str(caught.value)
    assert text.startswith(f"{pipeline}: {message}"), text
    assert text.endswith("; use --skip-unknown to leave it out") and "\n" not in text


def test_two_transforms_that_disagree_on_a_recipe_wide_setting_are_refused(tmp_path):
    pipeline = save(tmp_path, [A.Rotate(interpolation=cv2.INTER_LINEAR), A.Rotate(interpolation=cv2.INTER_CUBIC)])
    with pytest.raises(
        PipelineError,
        match=r"transform 2 \(Rotate\): interpolation: 'cubic', but transform 1 "
        r"\(Rotate\) uses 'linear'; a segaug recipe has one interpolation",
    ):
        convert_file(pipeline)
    # the one that disagrees is what --skip-unknown leaves out
    assert transforms_of(convert_file(pipeline, skip_unknown=True).text) == [
        {"rotate": {"degrees": [-90.0, 90.0], "p": 0.5}}
    ]


def test_blur_before_a_geometric_transform_is_refused(tmp_path):
    pipeline = save(tmp_path, [A.GaussianBlur(), A.HorizontalFlip()])
    with pytest.raises(
        PipelineError, match=r"transform 1 \(GaussianBlur\): comes before transform 2 \(HorizontalFlip\)"
    ):
        convert_file(pipeline)
    after = save(tmp_path, [A.HorizontalFlip(), A.GaussianBlur()])
    assert [next(iter(op)) for op in transforms_of(convert_file(after).text)] == ["hflip", "blur"]


def test_groups_nest_and_keep_their_probabilities(tmp_path):
    pipeline = save(
        tmp_path,
        [
            A.OneOf(
                [
                    A.SomeOf([A.HorizontalFlip(p=0.9), A.VerticalFlip(p=0.8)], n=1, p=0.4),
                    A.Sequential([A.RandomRotate90(p=0.3), A.Rotate(limit=(10, 10), p=0.6)], p=0.2),
                    A.NoOp(p=0.4),
                ],
                p=0.7,
            ),
            A.Sequential([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], p=0.25),
            A.Sequential([A.RandomGamma(p=0.5)], p=0.5),
        ],
        "yaml",
    )
    assert transforms_of(convert_file(pipeline).text) == [
        {
            "one_of": {
                "ops": [
                    # a SomeOf, once chosen, still draws its own p (it ignores force_apply)
                    {"some_of": {"n": 1, "ops": [{"hflip": {"p": 0.9}}, {"vflip": {"p": 0.8}}], "p": 0.4}},
                    # a Sequential, once chosen, runs; its members draw their own p
                    {
                        "some_of": {
                            "n": 2,
                            "ops": [
                                {"rot90": {"k": [0, 1, 2, 3], "p": 0.3}},
                                {"rotate": {"degrees": [10.0, 10.0], "p": 0.6}},
                            ],
                            "p": 1.0,
                        }
                    },
                    {"hflip": {"p": 0.0}},  # NoOp: an op that never applies, so choosing it does nothing
                ],
                "weights": [0.4, 0.2, 0.4],
                "p": 0.7,
            }
        },
        {"some_of": {"n": 2, "ops": [{"hflip": {"p": 0.5}}, {"vflip": {"p": 0.5}}], "p": 0.25}},
        {"gamma": {"range": [0.8, 1.2], "p": 0.25}},  # one member: its p times the Sequential's
    ]


def test_affine_parts_share_one_probability(tmp_path):
    pipeline = save(tmp_path, [A.Affine(rotate=(-10, 10), scale=(0.9, 1.1), keep_ratio=True, p=0.3)])
    assert transforms_of(convert_file(pipeline).text) == [
        {
            "some_of": {
                "n": 2,
                "ops": [{"scale": {"range": [0.9, 1.1], "p": 1.0}}, {"rotate": {"degrees": [-10.0, 10.0], "p": 1.0}}],
                "p": 0.3,
            }
        }
    ]


def test_units_are_translated(tmp_path):
    pipeline = save(
        tmp_path,
        [
            A.RandomGamma(gamma_limit=(80, 125), p=1),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=(-51, 51), val_shift_limit=0, p=1),
            A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0, p=1),
            A.GaussNoise(std_range=(0.01, 0.05), p=1),
            A.CLAHE(clip_limit=3, p=1),
        ],
    )
    assert transforms_of(convert_file(pipeline).text) == [
        {"gamma": {"range": [0.8, 1.25], "p": 1.0}},  # percent -> factor
        # OpenCV hue steps of 2 degrees -> degrees; 0..255 levels -> fractions of full scale
        {"hsv": {"hue": [-20.0, 20.0], "saturation": [-0.2, 0.2], "value": [0.0, 0.0], "p": 1.0}},
        {"brightness": {"range": [-0.25, 0.25], "p": 1.0}},  # one number: a symmetric range
        {"noise": {"sigma": [0.01, 0.05], "p": 1.0}},
        {"clahe": {"clip_limit": [1.0, 3.0], "tiles": 8, "p": 1.0}},  # one number: from 1
    ]


def test_a_limit_given_as_one_number_is_a_symmetric_range(tmp_path):
    # A.save writes ranges; a hand-edited file may hold the single number the constructor takes
    path = tmp_path / "hand.json"
    rotate = {"__class_fullname__": "Rotate", "p": 1.0, "limit": 25, "interpolation": 1, "border_mode": 0}
    rotate.update({"fill": 0, "fill_mask": 255, "mask_interpolation": 0, "crop_border": False})
    path.write_text(
        json.dumps(
            {"__version__": "2.0.8", "transform": {"__class_fullname__": "Compose", "p": 1, "transforms": [rotate]}}
        )
    )
    text = convert_file(path).text
    assert transforms_of(text) == [{"rotate": {"degrees": [-25.0, 25.0], "p": 1.0}}]
    assert yaml.safe_load(text)["border"] == {"mode": "constant", "image_fill": 0, "mask_fill": 255}


def test_an_unknown_argument_is_refused_rather_than_ignored(tmp_path):
    path = tmp_path / "future.json"
    flip = {"__class_fullname__": "HorizontalFlip", "p": 1.0, "pixel_shift": 2}
    path.write_text(
        json.dumps(
            {"__version__": "2.9.0", "transform": {"__class_fullname__": "Compose", "p": 1, "transforms": [flip]}}
        )
    )
    with pytest.raises(
        PipelineError,
        match=r"transform 1 \(HorizontalFlip\): pixel_shift: an argument segaug "
        "convert does not know",
    ):
        convert_file(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.json", "{not json", "not valid JSON (line 1: Expecting property name enclosed in double quotes)"),
        ("p.yaml", "a: [1, 2\n", "not valid JSON or YAML (line 2: expected ',' or ']', but got '<stream end>')"),
        ("p.yaml", "- 1\n- 2\n", "not a pipeline saved with Albumentations' A.save (no __version__ and transform)"),
        (
            "p.json",
            '{"transform": {}}',
            "not a pipeline saved with Albumentations' A.save (no __version__ and transform)",
        ),
        (
            "p.json",
            '{"__version__": "1.4.24", "transform": {}}',
            "saved by Albumentations 1.4.24; segaug convert reads pipelines saved by Albumentations 2.x",
        ),
        (
            "p.json",
            '{"__version__": "2.0.8", "transform": {"p": 1}}',
            "the pipeline's transform is not a transform record",
        ),
        (
            "p.json",
            '{"__version__": "2.0.8", "transform": {"__class_fullname__": "Compose", "transforms": '
            '[{"__class_fullname__": "HorizontalFlip", "p": "often"}]}}',
            "transform 1 (HorizontalFlip): p: expected a probability from 0 to 1, got 'often'",
        ),
        (
            "p.json",
            '{"__version__": "2.0.8", "transform": {"__class_fullname__": "Compose", "transforms": '
            '[{"__class_fullname__": "Resize", "p": 1, "height": "tall", "width": 4}]}}',
            "transform 1 (Resize): height: expected a number, got 'tall'",
        ),
        (
            "p.json",
            '{"__version__": "2.0.8", "transform": {"__class_fullname__": "Compose", "transforms": '
            '[{"__class_fullname__": "PadIfNeeded", "p": 1, "min_height": "x", "min_width": 4, "position": "center",'
            ' "padding": 0, "border_mode": 0}]}}',
            "transform 1 (PadIfNeeded): an argument holds a value of the wrong kind",
        ),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(cli, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    out = tmp_path / "recipe.yaml"
    result = cli("convert", path, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_binary_or_missing_file_is_one_line(cli, tmp_path):
    binary = tmp_path / "p.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert cli("convert", binary, "-o", tmp_path / "r.yaml").stderr == (
        f"Error: {binary}: cannot be read as UTF-8 text (not a saved pipeline)\n"
    )
    missing = tmp_path / "none.json"
    assert cli("convert", missing, "-o", tmp_path / "r.yaml").stderr == f"Error: {missing}: No such file or directory\n"


def test_an_existing_recipe_is_kept_unless_forced(cli, tmp_path):
    pipeline = save(tmp_path, [A.HorizontalFlip()])
    out = tmp_path / "recipe.yaml"
    out.write_text("seed: 1\n")
    result = cli("convert", pipeline, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {out}: already exists; pass --force to overwrite it\n"
    assert out.read_text() == "seed: 1\n"
    assert cli("convert", pipeline, "-o", out, "--force").exit_code == 0
    assert transforms_of(out.read_text()) == [{"hflip": {"p": 0.5}}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.json", "recipe.yaml"]  # no temporary left


def test_the_shipped_example_converts(tmp_path):
    from conftest import REPO

    text = convert_file(REPO / "recipes" / "from_albumentations.json").text
    recipes.parse(text)
    assert len(transforms_of(text)) >= 3


def test_a_compose_with_p_below_1_keeps_its_ops_together(tmp_path):
    pipeline = save(tmp_path, [A.HorizontalFlip(p=1), A.VerticalFlip(p=0.5)], p=0.6)
    assert transforms_of(convert_file(pipeline).text) == [
        {"some_of": {"n": 2, "ops": [{"hflip": {"p": 1.0}}, {"vflip": {"p": 0.5}}], "p": 0.6}}
    ]
