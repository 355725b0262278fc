"""transforms.exact: the arithmetic whose bits are the same on every CPU, checked for being right.

That the bits are the same everywhere is tests/test_cpu_bytes.py's job; here: exact values where they
exist, correct rounding where claimed, and the accuracy of the elementwise power.
"""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from segaug_cli.transforms import exact

REFERENCE = decimal.Context(prec=80)


@pytest.mark.parametrize(
    ("degrees", "expected"),
    [(0, (0.0, 1.0)), (90, (1.0, 0.0)), (-90, (-1.0, 0.0)), (180, (0.0, -1.0)), (270, (-1.0, 0.0)), (720, (0.0, 1.0))],
)
def test_quarter_turns_are_exact(degrees, expected):
    assert exact.sin_cos_degrees(degrees) == expected


def test_thirty_degrees_is_correctly_rounded():
    s, c = exact.sin_cos_degrees(30.0)
    assert s == 0.5
    assert c == float(REFERENCE.sqrt(decimal.Decimal(3)) / 2)


@given(st.floats(min_value=-720, max_value=720, allow_nan=False))
def test_sin_and_cos_agree_with_the_c_library(degrees):
    s, c = exact.sin_cos_degrees(degrees)
    t = math.radians(degrees)  # rounded: the C library's answer may be off by as much as that rounding moves it
    for mine, theirs in ((s, math.sin(t)), (c, math.cos(t))):
        assert abs(mine - theirs) <= 2 * math.ulp(theirs) + 2 * math.ulp(t)


def test_tan_of_a_quarter_turn_is_infinite_and_of_45_degrees_one():
    assert exact.tan_degrees(45.0) == 1.0
    assert exact.tan_degrees(90.0) == math.inf
    assert exact.tan_degrees(-90.0) == -math.inf


@given(st.floats(min_value=1e-6, max_value=1e6))
def test_log_and_exp_are_correctly_rounded(x):
    assert exact.log(x) == float(REFERENCE.ln(decimal.Decimal(x)))
    y = math.log(x) / 4
    assert exact.exp(y) == float(REFERENCE.exp(decimal.Decimal(y)))


@pytest.mark.parametrize("g", [0.25, 0.8, 1.0, 1.25, 3.0])
def test_power_is_accurate_far_beyond_a_tables_rounding(g):
    """exp(g ln x) magnifies ln's last bit by |g ln x|, so the bound is relative, not a few ulp."""
    base = np.concatenate([[0.0], np.arange(1, 65536, 37) / 65535.0, [1e-30, 2.5, 1e3]])
    mine = exact.power(base, g)
    truth = np.array([float(REFERENCE.power(decimal.Decimal(b), decimal.Decimal(g))) if b else 0.0 for b in base])
    assert mine[0] == 0.0
    relative = np.abs(mine[1:] - truth[1:]) / truth[1:]
    assert relative.max() < 1e-13


def test_the_gamma_table_of_uint8_matches_numpys_power_after_rounding():
    levels = np.arange(256, dtype=np.float64)
    for g in np.linspace(0.5, 2.0, 31):
        assert np.array_equal(np.rint(255 * exact.power(levels / 255, g)), np.rint(255 * np.power(levels / 255, g)))


def test_matmul_sums_each_entry_left_to_right():
    rng = np.random.default_rng(3)
    a, b = rng.uniform(-3, 3, (3, 3)), rng.uniform(-3, 3, (3, 3))
    product = exact.matmul(a, b)
    for i in range(3):
        for j in range(3):
            x, y = a.tolist(), b.tolist()
            assert product[i, j] == (x[i][0] * y[0][j] + x[i][1] * y[1][j]) + x[i][2] * y[2][j]
    assert np.allclose(product, a @ b, rtol=0, atol=1e-14)


def test_inverse_undoes_a_homography_and_survives_a_singular_one():
    m = np.array([[0.9, 0.2, -3.0], [-0.1, 1.1, 4.0], [1e-4, -2e-4, 1.0]])
    assert np.allclose(exact.matmul(exact.inverse(m), m), np.eye(3), atol=1e-15)
    collapsed = np.array([[1e-300, 0, 0], [0, 1e-300, 0], [0, 0, 1.0]])
    assert np.all(np.isfinite(exact.inverse(collapsed)))
