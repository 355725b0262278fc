"""recipe.parse / recipe.load: every kind of recipe error gives one exact sentence with file, line and key."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
from conftest import REPO, write_recipe

from segaug_cli import recipe
from segaug_cli.errors import RecipeError
from segaug_cli.recipe import Range, Recipe

# The contract's top-level keys, in the contract's order.
TOP = "seed, copies, keep_original, inputs, labels, tiles, output, interpolation, border, transforms, targets"
# The op list in messages is the registry (OPS is the only list of op names); the contract's ops are in it.
OP_NAMES = ", ".join(recipe.OPS)
ONE_OP = "each transform must be one op name with its settings, e.g. '- hflip: {p: 0.5}'"
INSIDE_IN = "must be a folder inside IN (no absolute path, no '..')"
CONTRACT_OPS = ("rotate", "scale", "shear", "translate", "hflip", "vflip", "brightness", "contrast", "gamma")


def test_registry_holds_every_contract_op():
    assert set(CONTRACT_OPS) <= set(recipe.OPS)


def parse_error(text: str) -> str:
    with pytest.raises(RecipeError) as info:
        recipe.parse(text, "r.yaml")
    return str(info.value)


# (YAML snippet, exact message). Line numbers count from 1, as an editor shows them.
ERRORS = [
    # -- unknown keys and ops ------------------------------------------------------------------
    ("seed: 0\nsed: 1\n", f"r.yaml line 2: sed: unknown key; expected one of: {TOP}"),
    (
        "inputs: {images: a, mask: b}\n",
        "r.yaml line 1: inputs.mask: unknown key; expected one of: images, masks, image_suffix, mask_suffix, split, "
        "unpaired, max_pixels",
    ),
    (
        "output:\n  format: png\n",
        "r.yaml line 2: output.format: unknown key; expected one of: image_format, mask_format, jpeg_quality, "
        "png_compression, png, layout, mask_suffix",
    ),
    ("border: {fill: 0}\n", "r.yaml line 1: border.fill: unknown key; expected one of: mode, image_fill, mask_fill"),
    (
        "transforms:\n  - hflip\n  - rotat: {degrees: 5}\n",
        f"r.yaml line 3: transforms[1]: unknown op 'rotat'; expected one of: {OP_NAMES}",
    ),
    ("transforms: [sharpen]\n", f"r.yaml line 1: transforms[0]: unknown op 'sharpen'; expected one of: {OP_NAMES}"),
    (
        "transforms:\n  - rotate:\n      degrees: [-5, 5]\n      angle: 3\n",
        "r.yaml line 4: transforms[0].rotate.angle: unknown key; expected one of: p, degrees",
    ),
    (
        "transforms:\n  - hflip: {degrees: 5}\n",
        "r.yaml line 2: transforms[0].hflip.degrees: unknown key; expected one of: p",
    ),
    (
        "transforms:\n  - translate: {range: [-0.1, 0.1]}\n",
        "r.yaml line 2: transforms[0].translate.range: unknown key; expected one of: p, fraction",
    ),
    ("transforms:\n  - {rotate: {}, hflip: {}}\n", f"r.yaml line 2: transforms[0]: {ONE_OP}"),
    # -- ranges and probabilities --------------------------------------------------------------
    (
        "seed: 0\ncopies: 2\ntransforms:\n  - rotate: {degrees: [30, -30]}\n",
        "r.yaml line 4: transforms[0].rotate.degrees: lo (30) > hi (-30)",
    ),
    (
        "transforms:\n  - hflip\n  - scale:\n      range: [1.2, 0.8]\n",
        "r.yaml line 4: transforms[1].scale.range: lo (1.2) > hi (0.8)",
    ),
    ("transforms:\n  - hflip: {p: 1.5}\n", "r.yaml line 2: transforms[0].hflip.p: must be in [0, 1], got 1.5"),
    ("transforms:\n  - vflip:\n      p: -0.5\n", "r.yaml line 3: transforms[0].vflip.p: must be in [0, 1], got -0.5"),
    (
        "transforms:\n  - rotate: {degrees: [1, 2, 3]}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a number or a range [lo, hi], got [1, 2, 3]",
    ),
    (
        "transforms:\n  - rotate: {degrees: []}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a number or a range [lo, hi], got []",
    ),
    # -- formats and choices -------------------------------------------------------------------
    (
        "output:\n  mask_format: jpg\n",
        "r.yaml line 2: output.mask_format: 'jpg' is lossy and would invent label values; use png or tif",
    ),
    (
        "output: {mask_format: JPEG}\n",
        "r.yaml line 1: output.mask_format: 'JPEG' is lossy and would invent label values; use png or tif",
    ),
    (
        "output: {mask_format: webp}\n",
        "r.yaml line 1: output.mask_format: 'webp' is lossy and would invent label values; use png or tif",
    ),
    ("output: {mask_format: bmp}\n", "r.yaml line 1: output.mask_format: must be one of png, tif, got 'bmp'"),
    (
        "output: {image_format: webp}\n",
        "r.yaml line 1: output.image_format: must be one of same, png, jpg, tif, got 'webp'",
    ),
    (
        "interpolation: bicubic\n",
        "r.yaml line 1: interpolation: must be one of nearest, linear, cubic, area, lanczos, got 'bicubic'",
    ),
    ("interpolation: 1\n", "r.yaml line 1: interpolation: must be one of nearest, linear, cubic, area, lanczos, got 1"),
    ("border:\n  mode: wrap\n", "r.yaml line 2: border.mode: must be one of constant, reflect, replicate, got 'wrap'"),
    ("output: {jpeg_quality: 0}\n", "r.yaml line 1: output.jpeg_quality: must be a whole number from 1 to 100, got 0"),
    (
        "output: {png_compression: 10}\n",
        "r.yaml line 1: output.png_compression: must be a whole number from 0 to 9, got 10",
    ),
    # -- absurd values: refused, not clipped ---------------------------------------------------
    ("copies: 1000000000\n", "r.yaml line 1: copies: must be a whole number from 0 to 10000, got 1000000000"),
    ("copies: -1\n", "r.yaml line 1: copies: must be a whole number from 0 to 10000, got -1"),
    (
        "transforms:\n  - rotate: {degrees: 1e308}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be in [-360, 360], got 1e+308",
    ),
    (
        "transforms:\n  - rotate: {degrees: [-400, 0]}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be in [-360, 360], got -400",
    ),
    (
        "transforms:\n  - rotate: {degrees: .nan}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a finite number, got nan",
    ),
    (
        "transforms:\n  - rotate: {degrees: [-.inf, 0]}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a finite number, got -inf",
    ),
    (
        "transforms:\n  - scale: {range: .inf}\n",
        "r.yaml line 2: transforms[0].scale.range: must be a finite number, got inf",
    ),
    ("transforms:\n  - hflip: {p: .nan}\n", "r.yaml line 2: transforms[0].hflip.p: must be a finite number, got nan"),
    ("transforms:\n  - scale: {range: 0}\n", "r.yaml line 2: transforms[0].scale.range: must be in [0.01, 10], got 0"),
    (
        "transforms:\n  - scale: {range: [0, 1]}\n",
        "r.yaml line 2: transforms[0].scale.range: must be in [0.01, 10], got 0",
    ),
    (
        "transforms:\n  - gamma: {range: [0, 1]}\n",
        "r.yaml line 2: transforms[0].gamma.range: must be in (0, 10], got 0",
    ),
    (
        "transforms:\n  - shear: {degrees: 85}\n",
        "r.yaml line 2: transforms[0].shear.degrees: must be in [-80, 80], got 85",
    ),
    (
        "transforms:\n  - translate: {fraction: [-2, 0]}\n",
        "r.yaml line 2: transforms[0].translate.fraction: must be in [-1, 1], got -2",
    ),
    (
        "transforms:\n  - brightness: {range: [0, 1.5]}\n",
        "r.yaml line 2: transforms[0].brightness.range: must be in [-1, 1], got 1.5",
    ),
    (
        "transforms:\n  - contrast: {range: [-1, 1]}\n",
        "r.yaml line 2: transforms[0].contrast.range: must be in [0, 10], got -1",
    ),
    (
        "border: {mask_fill: 70000}\n",
        "r.yaml line 1: border.mask_fill: must be a whole number from 0 to 65535, got 70000",
    ),
    ("border: {image_fill: -1}\n", "r.yaml line 1: border.image_fill: must be in [0, 65535], got -1"),
    # -- wrong types ---------------------------------------------------------------------------
    ("copies: '4'\n", "r.yaml line 1: copies: must be a whole number from 0 to 10000, got '4'"),
    ("copies: 2.5\n", "r.yaml line 1: copies: must be a whole number from 0 to 10000, got 2.5"),
    ("copies: true\n", "r.yaml line 1: copies: must be a whole number from 0 to 10000, got True"),
    ("seed: true\n", "r.yaml line 1: seed: must be a whole number from 0 to 2**64-1, got True"),
    ("seed: 1.5\n", "r.yaml line 1: seed: must be a whole number from 0 to 2**64-1, got 1.5"),
    ("transforms:\n  - hflip: {p: true}\n", "r.yaml line 2: transforms[0].hflip.p: must be a finite number, got True"),
    (
        "transforms:\n  - rotate: {degrees: true}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a number or a range [lo, hi], got True",
    ),
    (
        "transforms:\n  - rotate: {degrees: [false, 5]}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a finite number, got False",
    ),
    (
        "transforms:\n  - rotate: {degrees: '5'}\n",
        "r.yaml line 2: transforms[0].rotate.degrees: must be a number or a range [lo, hi], got '5'",
    ),
    ("keep_original: 'yes'\n", "r.yaml line 1: keep_original: must be true or false, got 'yes'"),
    ("keep_original: 1\n", "r.yaml line 1: keep_original: must be true or false, got 1"),
    (
        "output: {jpeg_quality: true}\n",
        "r.yaml line 1: output.jpeg_quality: must be a whole number from 1 to 100, got True",
    ),
    ("transforms:\n  rotate: {}\n", "r.yaml line 1: transforms: must be a list of ops, got a mapping"),
    ("transforms: hflip\n", "r.yaml line 1: transforms: must be a list of ops, got text"),
    ("inputs: [images, masks]\n", "r.yaml line 1: inputs: must be a mapping of keys to values, got a list"),
    (
        "transforms:\n  - rotate: 15\n",
        "r.yaml line 2: transforms[0].rotate: must be a mapping of keys to values, got 15",
    ),
    # -- seed ----------------------------------------------------------------------------------
    ("seed: -1\n", "r.yaml line 1: seed: must be a whole number from 0 to 2**64-1, got -1"),
    (
        "seed: 18446744073709551616\n",
        "r.yaml line 1: seed: must be a whole number from 0 to 2**64-1, got 18446744073709551616",
    ),
    # -- inputs: folders stay inside IN, the suffix is a name part -----------------------------
    ("inputs: {images: ../elsewhere}\n", f"r.yaml line 1: inputs.images: {INSIDE_IN}, got '../elsewhere'"),
    ("inputs:\n  masks: labels/../../x\n", f"r.yaml line 2: inputs.masks: {INSIDE_IN}, got 'labels/../../x'"),
    ("inputs: {images: /data/images}\n", f"r.yaml line 1: inputs.images: {INSIDE_IN}, got '/data/images'"),
    ("inputs: {images: ''}\n", "r.yaml line 1: inputs.images: must be a folder name, got ''"),
    ("inputs: {masks: 3}\n", "r.yaml line 1: inputs.masks: must be a folder name, got 3"),
    ("inputs: {mask_suffix: _m/x}\n", "r.yaml line 1: inputs.mask_suffix: must be text without slashes, got '_m/x'"),
    (
        'inputs: {mask_suffix: "_m\\\\x"}\n',
        "r.yaml line 1: inputs.mask_suffix: must be text without slashes, got '_m\\\\x'",
    ),
    # -- YAML itself ---------------------------------------------------------------------------
    ("seed: 0\n  copies: 3\n", "r.yaml line 2: invalid YAML: mapping values are not allowed here"),
    ("seed: 0\n\tcopies: 3\n", "r.yaml line 2: invalid YAML: found character '\\t' that cannot start any token"),
    ("seed: 0\ncopies: [1, 2\nkeep_original: true\n", "r.yaml line 3: invalid YAML: expected ',' or ']', but got ':'"),
    ("seed: 0\ncopies: *n\n", "r.yaml line 2: invalid YAML: found undefined alias 'n'"),
    ("seed: 1\n---\nseed: 2\n", "r.yaml line 2: invalid YAML: but found another document"),
    # YAML keeps the last of two equal keys: silently dropping a whole `transforms:` list is worse.
    ("seed: 1\ncopies: 2\nseed: 3\n", "r.yaml line 3: seed: duplicate key (first on line 1)"),
    (
        "transforms: [hflip]\nseed: 0\ntransforms: [vflip]\n",
        "r.yaml line 3: transforms: duplicate key (first on line 1)",
    ),
    (
        "transforms:\n  - rotate:\n      degrees: 5\n      degrees: 6\n",
        "r.yaml line 4: transforms[0].rotate.degrees: duplicate key (first on line 3)",
    ),
    # An alias into its own anchor is legal YAML: a readable error, not a RecursionError.
    ("transforms: &t [*t]\n", f"r.yaml line 1: transforms[0]: {ONE_OP}"),
    # -- not a mapping -------------------------------------------------------------------------
    ("- rotate\n- hflip\n", "r.yaml line 1: must be a mapping of keys to values, got a list"),
    ("just some text\n", "r.yaml line 1: must be a mapping of keys to values, got text"),
    ("42\n", "r.yaml line 1: must be a mapping of keys to values, got 42"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[m.split(": ", 1)[1][:60] for _, m in ERRORS])
def test_recipe_error_message(text, message):
    assert parse_error(text) == message


def test_error_carries_its_parts():
    with pytest.raises(RecipeError) as info:
        recipe.parse("seed: 0\ncopies: 2\ntransforms:\n  - rotate: {degrees: [30, -30]}\n", "r.yaml")
    err = info.value
    assert (err.path, err.line, err.key, err.message) == (
        "r.yaml",
        4,
        "transforms[0].rotate.degrees",
        "lo (30) > hi (-30)",
    )


PYTHON_TAGS = [
    '!!python/object/apply:os.system ["{cmd}"]\n',
    'seed: !!python/object/apply:os.system ["{cmd}"]\n',
    'transforms:\n  - rotate: {{degrees: !!python/object/apply:os.system ["{cmd}"]}}\n',
    'copies: !!python/object/new:os.system ["{cmd}"]\n',
    "copies: !!python/name:os.system\n",
]


@pytest.mark.parametrize("template", PYTHON_TAGS)
def test_python_tags_are_refused_and_never_run(template, tmp_path, capfd):
    marker = tmp_path / "executed"
    text = template.format(cmd=f"echo hi && touch {marker}")
    with pytest.raises(RecipeError) as info:
        recipe.parse(text, "r.yaml")
    line = text[: text.index("!!")].count("\n") + 1
    tag = text[text.index("!!") + 2 :].split()[0].split("[")[0]
    assert str(info.value) == (
        f"r.yaml line {line}: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:{tag}'"
    )
    assert not marker.exists()
    assert "hi" not in capfd.readouterr().out


def test_alias_fan_out_is_walked_once():
    # A "billion laughs" document: 9**8 paths through 9 nodes per level. Refused in milliseconds.
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 9):
        below = "a" if level == 1 else f"l{level - 1}"
        text += f"l{level}: &l{level} [" + ", ".join([f"*{below}"] * 9) + "]\n"
    started = time.perf_counter()
    assert parse_error(text) == f"r.yaml line 1: a: unknown key; expected one of: {TOP}"
    assert time.perf_counter() - started < 5


def test_aliases_share_settings():
    rcp = recipe.parse("transforms:\n  - rotate: &r {degrees: [-5, 5], p: 0.5}\n  - rotate: *r\n", "r.yaml")
    assert rcp.transforms[0] == rcp.transforms[1] == recipe.Op("rotate", 0.5, (("degrees", Range(-5, 5)),))


def test_merge_keys_may_override_without_being_duplicates():
    rcp = recipe.parse("transforms:\n  - rotate: &r {degrees: [-5, 5], p: 0.5}\n  - rotate: {<<: *r, p: 1}\n", "r.yaml")
    assert rcp.transforms[1] == recipe.Op("rotate", 1.0, (("degrees", Range(-5, 5)),))


# -- valid recipes ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["{}\n", "--- {}\n", "seed: 0\n"])
def test_empty_recipe_is_all_defaults(text):
    rcp = recipe.parse(text, "r.yaml")
    assert rcp == Recipe()
    assert (rcp.seed, rcp.copies, rcp.keep_original) == (0, 4, False)
    assert (rcp.interpolation, rcp.transforms) == ("linear", ())
    assert (rcp.inputs.images, rcp.inputs.masks, rcp.inputs.mask_suffix) == ("images", "masks", "")
    assert (rcp.output.image_format, rcp.output.mask_format, rcp.output.jpeg_quality) == ("same", "png", 95)
    assert rcp.output.png_compression is None  # absent: OpenCV's own default
    assert (rcp.border.mode, rcp.border.mask_fill) == ("constant", 0)


# The defaults of each op: the values the contract's example recipe shows.
OP_DEFAULTS = {
    "rotate": {"degrees": Range(-30, 30)},
    "scale": {"range": Range(0.8, 1.2)},
    "shear": {"degrees": Range(-10, 10)},
    "translate": {"fraction": Range(-0.1, 0.1)},
    "hflip": {},
    "vflip": {},
    "brightness": {"range": Range(-0.2, 0.2)},
    "contrast": {"range": Range(0.8, 1.2)},
    "gamma": {"range": Range(0.8, 1.2)},
}


@pytest.mark.parametrize("name", sorted(n for n, spec in recipe.OPS.items() if spec.kind != "group"))
def test_every_op_is_valid_bare_or_empty(name):
    forms = [
        f"transforms:\n  - {name}\n",
        f"transforms:\n  - {name}: {{}}\n",
        f"transforms:\n  - {name}:\n",
        f"transforms: [{name}]\n",
    ]
    ops = [recipe.parse(text, "r.yaml").transforms for text in forms]
    assert ops[0] == ops[1] == ops[2] == ops[3]
    (op,) = ops[0]
    assert (op.name, op.p) == (name, 1.0)
    if name in OP_DEFAULTS:
        assert dict(op.ranges) == OP_DEFAULTS[name]


@pytest.mark.parametrize("name", ["one_of", "some_of"])
def test_a_group_needs_member_ops(name):
    with pytest.raises(RecipeError) as exc:
        recipe.parse(f"transforms:\n  - {name}: {{}}\n", "r.yaml")
    assert str(exc.value) == f"r.yaml line 2: transforms[0].{name}.ops: must list at least one op"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90", Range(90, 90)),
        ("-7.5", Range(-7.5, -7.5)),
        ("0", Range(0, 0)),
        ("[-5, 5]", Range(-5, 5)),
        ("[3, 3]", Range(3, 3)),
        ("1e1", Range(10, 10)),
        ("[-1.5e+1, 1.5e1]", Range(-15, 15)),
    ],
)
def test_single_number_is_a_fixed_range(value, expected):
    (op,) = recipe.parse(f"transforms:\n  - rotate: {{degrees: {value}, p: 0.25}}\n", "r.yaml").transforms
    assert op.range("degrees") == expected
    assert op.p == 0.25


def test_exponent_without_dot_is_a_number():
    # YAML 1.1 reads 1e-2 as text; a recipe user means a number.
    (op,) = recipe.parse("transforms:\n  - brightness: {range: [-1e-2, 1e-2]}\n", "r.yaml").transforms
    assert op.range("range") == Range(-0.01, 0.01)
    quoted = recipe.parse("inputs: {mask_suffix: '1e3'}\n", "r.yaml")
    assert quoted.inputs.mask_suffix == "1e3"  # quoted: text


def test_full_recipe_values():
    text = """\
seed: 18446744073709551615
copies: 0
keep_original: true
inputs: {images: imgs/aerial, masks: lbl, mask_suffix: _mask}
output: {image_format: jpg, mask_format: tif, jpeg_quality: 80, png_compression: 9}
interpolation: lanczos
border: {mode: reflect, image_fill: [10, 20, 30], mask_fill: 255}
transforms:
  - translate: {fraction: [-0.25, 0.5], p: 0}
  - hflip: {p: 1}
"""
    assert recipe.parse(text, "r.yaml") == Recipe(
        seed=2**64 - 1,
        copies=0,
        keep_original=True,
        inputs=recipe.Inputs("imgs/aerial", "lbl", "_mask"),
        output=recipe.Output("jpg", "tif", 80, 9),
        interpolation="lanczos",
        border=recipe.Border("reflect", (10.0, 20.0, 30.0), 255),
        transforms=(recipe.Op("translate", 0.0, (("fraction", Range(-0.25, 0.5)),)), recipe.Op("hflip", 1.0, ())),
    )


def test_recipe_is_frozen():
    rcp = recipe.parse("seed: 3\n", "r.yaml")
    with pytest.raises(AttributeError):
        rcp.seed = 4


# -- command-line overrides -------------------------------------------------------------------


def test_with_overrides_replaces_only_what_is_given():
    rcp = recipe.parse("seed: 3\ncopies: 5\ntransforms: [hflip]\n", "r.yaml")
    assert rcp.with_overrides() == rcp
    assert rcp.with_overrides(seed=None, copies=None) == rcp
    assert rcp.with_overrides(seed=9) == Recipe(seed=9, copies=5, transforms=rcp.transforms)
    assert rcp.with_overrides(copies=0) == Recipe(seed=3, copies=0, transforms=rcp.transforms)
    assert rcp.with_overrides(seed=2**64 - 1, copies=10_000) == Recipe(
        seed=2**64 - 1, copies=10_000, transforms=rcp.transforms
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "--seed: must be a whole number from 0 to 2**64-1, got -1"),
        ({"seed": 2**64}, "--seed: must be a whole number from 0 to 2**64-1, got 18446744073709551616"),
        ({"seed": True}, "--seed: must be a whole number from 0 to 2**64-1, got True"),
        ({"copies": -1}, "--copies: must be a whole number from 0 to 10000, got -1"),
        ({"copies": 10**9}, "--copies: must be a whole number from 0 to 10000, got 1000000000"),
        ({"copies": 1, "seed": -5}, "--seed: must be a whole number from 0 to 2**64-1, got -5"),
    ],
)
def test_with_overrides_validates(kwargs, message):
    with pytest.raises(RecipeError) as info:
        Recipe().with_overrides(**kwargs)
    assert str(info.value) == message


# -- sample_content: what decides the pixels of a sample ---------------------------------------

BASE = """\
seed: 1
copies: 2
keep_original: false
inputs: {images: images, masks: masks, mask_suffix: ""}
output: {image_format: same, mask_format: png, jpeg_quality: 95}
interpolation: linear
border: {mode: constant, image_fill: 0, mask_fill: 0}
transforms:
  - rotate: {degrees: [-10, 10]}
  - hflip: {p: 0.5}
  - brightness: {range: [-0.1, 0.1]}
"""


def content(text: str) -> str:
    return recipe.parse(text, "r.yaml").sample_content()


def test_sample_content_is_stable_json():
    assert content(BASE) == content(BASE)
    data = json.loads(content(BASE))
    assert data["seed"] == 1
    assert not {"copies", "keep_original", "inputs"} & set(data)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("copies: 2", "copies: 7"),
        ("keep_original: false", "keep_original: true"),
        (
            'inputs: {images: images, masks: masks, mask_suffix: ""}',
            "inputs: {images: img, masks: lbl, mask_suffix: _m}",
        ),
    ],
)
def test_sample_content_ignores_what_only_selects_samples(old, new):
    assert old in BASE
    assert content(BASE.replace(old, new)) == content(BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("degrees: [-10, 10]", "degrees: [-11, 10]"),
        ("degrees: [-10, 10]", "degrees: [-10, 11]"),
        ("degrees: [-10, 10]", "degrees: [-10, 10], p: 0.9"),
        ("hflip: {p: 0.5}", "hflip: {p: 0.6}"),
        ("hflip: {p: 0.5}", "vflip: {p: 0.5}"),
        ("range: [-0.1, 0.1]", "range: [-0.1, 0.2]"),
        ("  - hflip: {p: 0.5}\n", ""),
        ("  - hflip: {p: 0.5}\n", "  - hflip: {p: 0.5}\n  - hflip: {p: 0.5}\n"),
        (
            "  - rotate: {degrees: [-10, 10]}\n  - hflip: {p: 0.5}\n",
            "  - hflip: {p: 0.5}\n  - rotate: {degrees: [-10, 10]}\n",
        ),
        ("seed: 1", "seed: 2"),
        ("interpolation: linear", "interpolation: cubic"),
        ("mode: constant", "mode: reflect"),
        ("image_fill: 0", "image_fill: 7"),
        ("mask_fill: 0", "mask_fill: 255"),
        ("image_format: same", "image_format: jpg"),
        ("jpeg_quality: 95", "jpeg_quality: 90"),
        ("mask_format: png", "mask_format: tif"),
        ("jpeg_quality: 95}", "jpeg_quality: 95, png_compression: 1}"),
    ],
)
def test_sample_content_changes_with_anything_that_changes_pixels(old, new):
    assert old in BASE
    assert content(BASE.replace(old, new)) != content(BASE)


# -- files -------------------------------------------------------------------------------------

RECIPE_FILES = sorted((REPO / "recipes").glob("*.yaml"))


def test_repo_has_recipes():
    assert {p.name for p in RECIPE_FILES} >= {"default.yaml"}


@pytest.mark.parametrize("path", RECIPE_FILES, ids=[p.name for p in RECIPE_FILES])
def test_repo_recipe_loads(path):
    rcp = recipe.load(path)
    assert rcp.transforms, "a shipped recipe should do something"
    # Each shipped recipe is runnable on sample_data as its header says.
    assert (REPO / "sample_data" / rcp.inputs.images).is_dir()
    assert (REPO / "sample_data" / rcp.inputs.masks).is_dir()


def test_load_equals_parse(tmp_path):
    path = write_recipe(tmp_path / "r.yaml", BASE)
    assert recipe.load(path) == recipe.parse(BASE, "r.yaml")
    assert recipe.load(str(path)) == recipe.load(path)


def test_load_error_names_the_file(tmp_path):
    text = "seed: 0\ntransforms:\n  - rotate: {degrees: [30, -30]}\n"
    path = write_recipe(tmp_path / "my recipe.yaml", text)
    with pytest.raises(RecipeError) as info:
        recipe.load(path)
    assert str(info.value) == f"{path} line 3: transforms[0].rotate.degrees: lo (30) > hi (-30)"


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(RecipeError) as info:
        recipe.load(path)
    assert str(info.value) == f"{path}: {os.strerror(errno.ENOENT)}"


def test_load_folder(tmp_path):
    with pytest.raises(RecipeError) as info:
        recipe.load(tmp_path)
    assert str(info.value) == f"{tmp_path}: {os.strerror(errno.EISDIR)}"


def test_load_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("seed: 0  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(RecipeError) as info:
        recipe.load(path)
    assert str(info.value) == f"{path}: cannot be read as UTF-8 text"


def test_load_accepts_utf8_comments(tmp_path):
    path: Path = write_recipe(tmp_path / "r.yaml", "# r\u00e9glages: \u00b110\u00b0\nseed: 5\n")
    assert recipe.load(path).seed == 5
