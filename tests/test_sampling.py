"""sampling: a sample's seed depends on (seed, key, copy) only; draws are stable whatever each op's p is."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from segaug_cli import recipe
from segaug_cli.sampling import Draw, draw, draw_for, params_record, sample_seed


def ops(text: str) -> tuple[recipe.Op, ...]:
    return recipe.parse(f"transforms:\n{text}", "r.yaml").transforms


def test_sample_seed_is_the_documented_hash():
    # docs/guarantees.md ("Determinism"): first 8 bytes of sha256("{seed}\0{key}\0{copy}"), little-endian.
    cases = [(0, "a", 0), (7, "city/a", 3), (2**64 - 1, "x/y/z", 9999), (0, "\u00e9t\u00e9", 1)]
    for seed, key, copy in cases:
        digest = hashlib.sha256(f"{seed}\x00{key}\x00{copy}".encode()).digest()
        assert sample_seed(seed, key, copy) == int.from_bytes(digest[:8], "little")


def test_sample_seed_known_value():
    # Computed by hand from the definition: sha256(b"0\x00a\x000")[:8], little-endian.
    digest = hashlib.sha256(b"0\x00a\x000").digest()
    assert sample_seed(0, "a", 0) == sum(b << (8 * i) for i, b in enumerate(digest[:8]))
    assert 0 <= sample_seed(0, "a", 0) < 2**64


def test_sample_seed_differs_by_each_input():
    base = sample_seed(0, "city/a", 0)
    others = [
        sample_seed(1, "city/a", 0),
        sample_seed(0, "city/b", 0),
        sample_seed(0, "city/a", 1),
        sample_seed(0, "a", 0),
        sample_seed(0, "city/a.png", 0),
    ]
    assert len({base, *others}) == 1 + len(others)


def test_sample_seed_fields_do_not_run_together():
    # Without separators (seed 1, key "2") and (seed 12, key "") would collide.
    assert sample_seed(1, "2", 3) != sample_seed(12, "", 3)
    assert sample_seed(1, "23", 4) != sample_seed(1, "2", 34)


def test_sample_seed_is_the_same_in_another_process():
    code = "from segaug_cli.sampling import sample_seed; print(sample_seed(5, 'city/a', 2), hash('city/a'))"
    results = []
    for hashseed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        ).stdout.split()
        results.append(out)
    assert results[0][1] != results[1][1], "the two processes should hash strings differently"
    assert int(results[0][0]) == int(results[1][0]) == sample_seed(5, "city/a", 2)


GEOMETRY = """\
  - rotate: {degrees: [-30, 30]}
  - scale: {range: [0.5, 2]}
  - shear: {degrees: [-10, 10]}
  - translate: {fraction: [-0.2, 0.2]}
  - hflip
  - vflip
  - brightness: {range: [-0.3, 0.3]}
  - contrast: {range: [0.5, 1.5]}
  - gamma: {range: [0.7, 1.4]}
"""


def test_draw_names_and_values():
    draws = draw(ops(GEOMETRY), np.random.default_rng(0))
    assert [(d.name, d.kind, [name for name, _ in d.values]) for d in draws] == [
        ("rotate", "geometric", ["degrees"]),
        ("scale", "geometric", ["factor"]),
        ("shear", "geometric", ["degrees"]),
        ("translate", "geometric", ["x", "y"]),
        ("hflip", "geometric", []),
        ("vflip", "geometric", []),
        ("brightness", "photometric", ["delta"]),
        ("contrast", "photometric", ["factor"]),
        ("gamma", "photometric", ["gamma"]),
    ]


def test_values_lie_within_their_ranges():
    transforms = ops(GEOMETRY)
    by_name = {op.name: op for op in transforms}
    # (op, drawn value) -> the recipe range it is drawn from (translate draws x and y from one range).
    source = {
        ("rotate", "degrees"): "degrees",
        ("scale", "factor"): "range",
        ("shear", "degrees"): "degrees",
        ("translate", "x"): "fraction",
        ("translate", "y"): "fraction",
        ("brightness", "delta"): "range",
        ("contrast", "factor"): "range",
        ("gamma", "gamma"): "range",
    }
    bounds = {key: by_name[key[0]].range(param) for key, param in source.items()}
    seen = {key: [] for key in bounds}
    for seed in range(300):
        for d in draw(transforms, np.random.default_rng(seed)):
            for name, value in d.values:
                r = bounds[(d.name, name)]
                assert r.lo <= value <= r.hi, (d.name, name, value)
                seen[(d.name, name)].append(value)
    for (name, value), values in seen.items():
        r = bounds[(name, value)]
        # Uniform over the range: 300 draws reach both ends' outer tenths.
        assert min(values) < r.lo + (r.hi - r.lo) / 10 and max(values) > r.hi - (r.hi - r.lo) / 10, name


def test_translate_draws_x_and_y_separately():
    xs_equal_ys = [
        d.value("x") == d.value("y")
        for seed in range(50)
        for d in draw(ops("  - translate\n"), np.random.default_rng(seed))
    ]
    assert not any(xs_equal_ys)


def test_fixed_values_are_exact():
    transforms = ops(
        "  - rotate: {degrees: 90}\n  - scale: {range: 1.25}\n  - translate: {fraction: -0.1}\n"
        "  - gamma: {range: 0.7}\n"
    )
    for seed in range(20):
        d = draw(transforms, np.random.default_rng(seed))
        assert [dict(x.values) for x in d] == [
            {"degrees": 90.0},
            {"factor": 1.25},
            {"x": -0.1, "y": -0.1},
            {"gamma": 0.7},
        ]


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_p_zero_never_applies_p_one_always(p):
    transforms = ops(f"  - rotate: {{p: {p}}}\n  - hflip: {{p: {p}}}\n  - gamma: {{p: {p}}}\n")
    applied = {d.applied for seed in range(500) for d in draw(transforms, np.random.default_rng(seed))}
    assert applied == {p == 1.0}


def test_p_half_applies_about_half():
    hflip = ops("  - hflip: {p: 0.5}\n")
    applied = [draw(hflip, np.random.default_rng(seed))[0].applied for seed in range(1000)]
    assert 400 < sum(applied) < 600


@pytest.mark.parametrize("p", ["0", "0.3", "0.999", "1"])
def test_p_does_not_shift_later_draws(p):
    reference = ops("  - rotate: {degrees: [-30, 30]}\n  - hflip\n  - translate\n  - gamma\n")
    changed = ops(f"  - rotate: {{degrees: [-30, 30], p: {p}}}\n  - hflip: {{p: {p}}}\n  - translate\n  - gamma\n")
    for seed in range(20):
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        a, b = draw(reference, rng_a), draw(changed, rng_b)
        assert a[2:] == b[2:]
        assert a[0].values == b[0].values  # a skipped op still draws its values
        # The same number of random values consumed: the generators end in the same state.
        assert rng_a.bit_generator.state == rng_b.bit_generator.state


def test_draw_for_is_draw_with_a_fresh_generator():
    transforms = ops(GEOMETRY)
    seed = sample_seed(3, "city/a", 1)
    assert draw_for(transforms, seed) == draw(transforms, np.random.default_rng(seed))
    assert draw_for(transforms, seed) == draw_for(transforms, seed)
    assert draw_for(transforms, seed) != draw_for(transforms, sample_seed(3, "city/a", 2))


def test_draw_values_are_plain_floats():
    for d in draw(ops(GEOMETRY), np.random.default_rng(1)):
        assert isinstance(d.applied, bool)
        assert all(type(v) is float for _, v in d.values)


def test_no_ops_draws_nothing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert draw((), rng) == ()
    assert rng.bit_generator.state == state


def g(name: str, applied: bool, **values: float) -> Draw:
    kind = "photometric" if name in ("brightness", "contrast", "gamma") else "geometric"
    return Draw(name, kind, applied, tuple(values.items()))


def test_params_record_omits_skipped_ops():
    draws = (
        g("rotate", True, degrees=5.0),
        g("hflip", False),
        g("vflip", True),
        g("gamma", False, gamma=0.9),
        g("translate", True, x=0.1, y=-0.2),
    )
    assert params_record(draws) == {"rotate": {"degrees": 5.0}, "vflip": {}, "translate": {"x": 0.1, "y": -0.2}}


def test_params_record_numbers_repeated_ops():
    draws = (
        g("rotate", True, degrees=5.0),
        g("hflip", True),
        g("rotate", True, degrees=-3.0),
        g("rotate", True, degrees=1.5),
    )
    assert params_record(draws) == {
        "rotate": {"degrees": 5.0},
        "hflip": {},
        "rotate#2": {"degrees": -3.0},
        "rotate#3": {"degrees": 1.5},
    }


def test_params_record_numbers_by_position_in_the_recipe():
    # The second rotate of the recipe is rotate#2 even when the first was skipped: a label names one op.
    draws = (g("rotate", False, degrees=5.0), g("rotate", True, degrees=-3.0))
    assert params_record(draws) == {"rotate#2": {"degrees": -3.0}}


def test_params_record_of_nothing():
    assert params_record(()) == {}
    assert params_record((g("hflip", False),)) == {}
