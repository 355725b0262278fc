"""Groups (one_of, some_of) and the random-recipe property tests over every op of the registry.

The property tests build random NESTED recipes from ``recipe.OPS`` itself (every op, every range and
setting within its valid bounds), so a new op is fuzzed as soon as it is registered.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import blocky_mask, colour_coded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segaug_cli import recipe as recipes
from segaug_cli import sampling
from segaug_cli.augment import render
from segaug_cli.ops.spec import Labels, Share, Size, Whole, WholeSet

GROUPS = ("one_of", "some_of")
LEAVES = tuple(name for name, spec in recipes.OPS.items() if spec.kind != "group")
MAX_SIDE = 40  # sizes in random recipes: valid up to 65536, kept small so remaps stay fast
MAX_MULTIPLE = 48
# Valid but drawn from a narrower range here: a scale of 1e-9 with a reflect border makes OpenCV walk
# its reflection loop ~1e9 times per pixel (minutes per sample), a known problem reported separately.
NARROWER = {("scale", "range"): (0.05, 10.0)}


def _parse(transforms: list, **top) -> recipes.Recipe:
    return recipes.parse(json.dumps({**top, "transforms": transforms}))


def _leaves(draws) -> list[str]:
    return [label for label, d in sampling.applied_leaves(draws) if d.kind != "group"]


# ---------------------------------------------------------------------------------------------
# Random recipes from the registry
# ---------------------------------------------------------------------------------------------


def _number(spec: recipes.ParamSpec, bounds=None):
    if bounds:
        return st.floats(*bounds)
    if spec.integer:
        return st.integers(
            math.ceil(spec.lo) + (1 if spec.open_lo and float(spec.lo).is_integer() else 0), math.floor(spec.hi)
        )
    return st.floats(spec.lo, spec.hi, exclude_min=spec.open_lo, allow_nan=False, allow_infinity=False)


def _param(spec: recipes.ParamSpec, bounds=None):
    """A fixed number or a [lo, hi] range within the parameter's bounds."""
    value = _number(spec, bounds)
    return st.one_of(value, st.tuples(value, value).map(lambda t: [min(t), max(t)]))


_SIZE = st.lists(st.integers(1, MAX_SIDE), min_size=2, max_size=2)


def _setting(spec: recipes.SettingSpec):
    if isinstance(spec, Size):
        return st.one_of(st.none(), _SIZE) if spec.optional else _SIZE
    if isinstance(spec, Whole) and spec.optional:
        hi = MAX_MULTIPLE if spec.hi > MAX_MULTIPLE and spec.lo >= 1 else int(spec.hi)
        return st.one_of(st.none(), st.integers(int(spec.lo), hi))
    if isinstance(spec, Whole):
        return st.integers(int(spec.lo), int(spec.hi))
    if isinstance(spec, WholeSet):
        return st.lists(st.integers(int(spec.lo), int(spec.hi)), min_size=1, max_size=4)
    if isinstance(spec, Labels):
        return st.lists(st.integers(0, 300), max_size=3)
    if isinstance(spec, Share):
        return st.floats(0, 1, exclude_min=True)
    raise AssertionError(f"no strategy for setting kind {type(spec).__name__}: add one so the new op is fuzzed")


_P = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1))


@st.composite
def _leaf(draw, names=LEAVES):
    name = draw(st.sampled_from(names))
    spec = recipes.OPS[name]
    body = {}
    for param, pspec in spec.params.items():
        if draw(st.booleans()):  # else the default
            body[param] = draw(_param(pspec, NARROWER.get((name, param))))
    for key, sspec in spec.settings.items():
        if draw(st.booleans()):
            body[key] = draw(_setting(sspec))
    if draw(st.integers(0, 2)) == 0:  # mostly the default p = 1, so most ops apply
        body["p"] = draw(_P)
    return {name: body}


@st.composite
def _group(draw, members):
    ops = draw(st.lists(members, min_size=1, max_size=3))
    body: dict = {"ops": ops}
    if draw(st.booleans()):
        name = "one_of"
        if draw(st.booleans()):
            weights = draw(st.lists(st.floats(0, 10), min_size=len(ops), max_size=len(ops)))
            if sum(weights) > 0:
                body["weights"] = weights
    else:
        name = "some_of"
        lo = draw(st.integers(0, len(ops)))
        body["n"] = [lo, draw(st.integers(lo, len(ops)))]
    if draw(st.integers(0, 2)) == 0:
        body["p"] = draw(_P)
    return {name: body}


def _transforms(names=LEAVES):
    item = st.recursive(_leaf(names), lambda children: _group(children), max_leaves=8)
    return st.lists(item, min_size=1, max_size=5)


@st.composite
def _cases(draw, names=LEAVES):
    mask_dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    top = int(np.iinfo(mask_dtype).max)
    labels = draw(st.lists(st.integers(0, top), min_size=1, max_size=4, unique=True))
    if mask_dtype == np.uint16:
        labels.append(draw(st.integers(256, top)))  # 16-bit masks hold labels above 255
    data = {
        "interpolation": draw(st.sampled_from(recipes.INTERPOLATIONS)),
        "border": {
            "mode": draw(st.sampled_from(recipes.BORDER_MODES)),
            "mask_fill": draw(st.integers(0, top)),
            "image_fill": draw(st.integers(0, 255)),
        },
        "transforms": draw(_transforms(names)),
    }
    rcp = recipes.parse(json.dumps(data))  # every generated recipe must be valid
    h, w = draw(st.integers(1, 28)), draw(st.integers(1, 28))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.choice(np.array(labels, mask_dtype), size=(h, w))
    image_dtype = draw(st.sampled_from([np.uint8, np.uint16, np.float32]))
    channels = draw(st.sampled_from([1, 3, 4]))
    size = (h, w) if channels == 1 else (h, w, channels)
    if image_dtype == np.float32:
        image = rng.random(size, dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(image_dtype).max, size=size, endpoint=True).astype(image_dtype)
    return rcp, image, mask, draw(st.integers(0, 2**64 - 1))


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(case=_cases())
def test_random_nested_recipes_never_invent_labels_and_keep_shapes_and_dtypes(case):
    rcp, image, mask, seed = case
    draws = sampling.draw_for(rcp.transforms, seed)
    out = render(image, mask, draws, rcp)
    assert out.mask.dtype == mask.dtype and out.mask.ndim == 2
    assert out.image.dtype == image.dtype
    assert out.image.shape[:2] == out.mask.shape and out.image.shape[2:] == image.shape[2:]
    allowed = set(np.unique(mask).tolist())
    if rcp.border.mode == "constant":  # reflect and replicate only ever copy source labels
        allowed.add(rcp.border.mask_fill)
    assert set(np.unique(out.mask).tolist()) <= allowed
    if not any(recipes.OPS[name.split("#")[0]].kind == "geometric" for name in _leaves(draws)):
        assert out.mask.tobytes() == mask.tobytes()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_cases(recipes.PHOTOMETRIC_OPS))
def test_random_nested_photometric_recipes_leave_masks_byte_identical(case):
    rcp, image, mask, seed = case
    out = render(image, mask, sampling.draw_for(rcp.transforms, seed), rcp)
    assert out.mask.tobytes() == mask.tobytes() and out.mask.dtype == mask.dtype
    assert np.array_equal(out.matrix, np.eye(3))
    assert out.image.dtype == image.dtype and out.image.shape == image.shape


@settings(max_examples=40, deadline=None)
@given(transforms=_transforms(), seed=st.integers(0, 2**64 - 1))
def test_random_nested_recipes_draw_the_same_for_the_same_seed(transforms, seed):
    rcp = _parse(transforms)
    first = sampling.draw_for(rcp.transforms, seed)
    assert sampling.draw_for(rcp.transforms, seed) == first
    record = sampling.params_record(first)
    assert json.loads(json.dumps(record)) == record  # plain JSON values, for the manifest


def test_every_op_is_valid_with_its_defaults():
    for name in LEAVES:
        assert _parse([{name: {}}]).transforms[0].name == name
    for name in GROUPS:
        assert _parse([{name: {"ops": ["hflip", "vflip"]}}]).transforms[0].ops[1].name == "vflip"


# ---------------------------------------------------------------------------------------------
# Determinism of groups
# ---------------------------------------------------------------------------------------------

NESTED = [
    {
        "one_of": {
            "weights": [1, 2, 1],
            "ops": [
                {"rotate": {}},
                {"some_of": {"n": [1, 2], "ops": [{"elastic": {}}, {"perspective": {}}, {"hsv": {}}]}},
                {"one_of": {"ops": [{"rot90": {}}, {"noise": {}}], "p": 0.7}},
            ],
        }
    },
    {"crop": {"size": [24, 24]}},
    {"some_of": {"n": [0, 2], "ops": [{"grid_distortion": {}}, {"jpeg": {}}, {"blur": {}}], "p": 0.8}},
]


def _pair(shape=(33, 41), seed=0):
    mask = blocky_mask(np.random.default_rng(seed), shape, 5)
    return colour_coded(mask), mask


def test_same_seed_same_draws_and_identical_output_bytes():
    rcp = _parse(NESTED)
    image, mask = _pair()
    seen = set()
    for seed in range(12):
        first, again = sampling.draw_for(rcp.transforms, seed), sampling.draw_for(rcp.transforms, seed)
        assert first == again
        a, b = render(image, mask, first, rcp), render(image, mask, again, rcp)
        assert a.image.tobytes() == b.image.tobytes() and a.mask.tobytes() == b.mask.tobytes()
        seen.add(tuple(_leaves(first)))
    assert len(seen) > 4  # different seeds really choose differently


def _flip_fraction(weights, seeds=400) -> tuple[float, float]:
    """Fractions of samples where one_of{hflip, vflip} applied hflip / vflip, judged from the mask."""
    body = {"ops": ["hflip", "vflip"]}
    if weights is not None:
        body["weights"] = weights
    rcp = _parse([{"one_of": body}])
    mask = np.arange(4 * 5, dtype=np.uint8).reshape(4, 5)  # every flip gives a different array
    h = v = 0
    for seed in range(seeds):
        out = render(mask, mask, sampling.draw_for(rcp.transforms, seed), rcp).mask
        h += np.array_equal(out, np.fliplr(mask))
        v += np.array_equal(out, np.flipud(mask))
    assert h + v == seeds  # exactly one member applied each time
    return h / seeds, v / seeds


def test_one_of_never_picks_a_member_of_weight_zero():
    assert _flip_fraction([1, 0], seeds=200) == (1.0, 0.0)
    assert _flip_fraction([0, 2.5], seeds=200) == (0.0, 1.0)


@pytest.mark.parametrize(("weights", "expected"), [([1, 3], 0.75), (None, 0.5), ([3, 1], 0.25)])
def test_one_of_picks_by_weight(weights, expected):
    _, v = _flip_fraction(weights)
    assert abs(v - expected) < 0.08, v  # about 3.5 standard deviations at 400 samples


def test_some_of_applies_exactly_n_members_in_recipe_order():
    members = [{"hflip": {}}, {"vflip": {}}, {"rot90": {"k": 1}}, {"rot90": {"k": 2}}]
    rcp = _parse([{"some_of": {"n": [1, 3], "ops": members}}])
    mask = np.arange(5 * 7, dtype=np.uint16).reshape(5, 7)
    steps = [np.fliplr, np.flipud, lambda a: np.rot90(a, 1), lambda a: np.rot90(a, 2)]
    counts, picked = set(), [0] * 4
    for seed in range(120):
        draws = sampling.draw_for(rcp.transforms, seed)
        record = sampling.params_record(draws)
        n, chosen = record["some_of"]["n"], record["some_of"]["chosen"]
        assert 1 <= n <= 3 and len(chosen) == n == len(set(chosen))
        assert len(_leaves(draws)) == n
        expected = mask
        for i in sorted(chosen):  # the chosen members act in recipe order
            expected = steps[i](expected)
            picked[i] += 1
        out = render(mask, mask, draws, rcp).mask
        assert np.array_equal(out, expected), f"seed {seed}: {chosen}"
        counts.add(n)
    assert counts == {1, 2, 3}
    assert min(picked) > 20  # every member gets picked


def test_some_of_fixed_n_and_members_own_p():
    # n counts the members picked; a picked member with p=0 still does nothing
    rcp = _parse([{"some_of": {"n": 2, "ops": [{"hflip": {"p": 0}}, "vflip", {"rot90": {"k": 1}}]}}])
    for seed in range(40):
        draws = sampling.draw_for(rcp.transforms, seed)
        chosen = sampling.params_record(draws)["some_of"]["chosen"]
        assert len(chosen) == 2
        assert _leaves(draws) == [name for i, name in ((1, "vflip"), (2, "rot90")) if i in chosen]


@pytest.mark.parametrize(
    "group",
    [
        {"one_of": {"p": 0, "ops": ["hflip", {"rotate": {}}, {"hsv": {}}]}},
        {"some_of": {"p": 0, "n": 3, "ops": [{"elastic": {}}, {"crop": {"size": [10, 10]}}, {"noise": {}}]}},
        {"one_of": {"ops": [{"some_of": {"p": 0, "n": 1, "ops": ["vflip"]}}]}},
    ],
)
def test_group_with_p_zero_applies_none_of_its_members(group):
    rcp = _parse([group])
    image, mask = _pair()
    for seed in range(20):
        draws = sampling.draw_for(rcp.transforms, seed)
        assert _leaves(draws) == []
        out = render(image, mask, draws, rcp)
        assert out.image.tobytes() == image.tobytes() and out.mask.tobytes() == mask.tobytes()
        assert all(key in GROUPS for key in sampling.params_record(draws))


def _with(group_p=1.0, member_p=1.0, inner_p=0.5, weights=(1, 1)) -> list:
    return [
        {
            "some_of": {
                "p": group_p,
                "n": [1, 2],
                "ops": [
                    {"rotate": {"p": member_p}},
                    {"one_of": {"weights": list(weights), "ops": [{"elastic": {"p": inner_p}}, "hflip"]}},
                    {"hsv": {}},
                ],
            }
        },
        {"rotate": {}},
        {"crop": {"size": [20, 20]}},
        {"perspective": {}},
        {"noise": {}},
    ]


def _member_values(d) -> list:
    """The values every member drew (a group's own choice left out), depth first."""
    return [v for c in d.children for v in ([c.values] if c.kind != "group" else _member_values(c))]


@pytest.mark.parametrize(
    "change",
    [
        {"member_p": 0.0},
        {"member_p": 0.3},
        {"inner_p": 0.0},
        {"inner_p": 1.0},
        {"group_p": 0.0},
        {"weights": (5, 1)},
        {"weights": (0, 1)},
    ],
)
def test_changing_p_or_weights_in_a_group_does_not_shift_later_draws(change):
    base, changed = _parse(_with()), _parse(_with(**change))
    differs = 0
    for seed in range(30):
        a, b = sampling.draw_for(base.transforms, seed), sampling.draw_for(changed.transforms, seed)
        assert a[1:] == b[1:], f"seed {seed}: draws after the group moved"
        # the members' own values do not move either
        assert _member_values(a[0]) == _member_values(b[0])
        differs += _leaves(a[:1]) != _leaves(b[:1])
    assert differs > 0  # the change did change what the group applied
