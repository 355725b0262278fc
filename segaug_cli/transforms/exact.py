"""Arithmetic whose every bit is the same on every CPU: the numbers that decide a sample's geometry and tones.

A dataset made on one machine must pass ``segaug check`` on another, so nothing that reaches an
output may depend on the instruction set. Three common sources do:

- ``math.sin``/``math.log`` come from the C library, which picks an FMA build on CPUs that have
  FMA (glibc's ifuncs) and rounds some results differently;
- NumPy's ``log``, ``exp`` and ``power`` run SIMD implementations chosen per CPU (AVX-512 ones on
  CPUs that have it), whose last bit differs from the scalar ones;
- ``@`` and ``np.linalg`` call OpenBLAS/LAPACK kernels chosen per CPU, which fuse multiply-adds.

What is left is IEEE-754's correctly rounded basic operations: ``+ - * /`` and ``sqrt`` give the
same double everywhere, as long as each result is rounded before the next operation uses it. So:

- scalar functions (a drawn angle's sine, a crop's log-aspect) are computed in ``decimal`` with 60
  significant digits (software arithmetic, correctly rounded) and then rounded once to a double;
- the gamma table's ``power`` is a polynomial evaluated with NumPy's elementwise ``+ - * /`` and the
  exact ``frexp``/``ldexp``, one ufunc call per operation, so nothing can be fused;
- 3x3 products and inverses are written out over Python floats in a fixed order (CPython rounds
  every operation; it has no fused multiply-add).

This module imports nothing from segaug.
"""

from __future__ import annotations

import decimal
import functools
import math

import numpy as np

# A double needs 17 digits; the rest keeps the one final rounding to a double the only one that matters.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_NEGLIGIBLE = _CONTEXT.power(10, -(_CONTEXT.prec + 2))  # where a series stops: below the context's last digit


@functools.cache
def _pi() -> decimal.Decimal:
    """pi to the context's precision (Machin's formula: integer-free, converges fast)."""

    def arctan_inverse(n: int) -> decimal.Decimal:
        x = _CONTEXT.divide(1, n)
        n2 = n * n
        total, term, k = x, x, 1
        while True:
            term = _CONTEXT.divide(term, -n2)
            step = _CONTEXT.divide(term, 2 * k + 1)
            if abs(step) < _NEGLIGIBLE:
                return total
            total = _CONTEXT.add(total, step)
            k += 1

    return _CONTEXT.multiply(4, _CONTEXT.subtract(_CONTEXT.multiply(4, arctan_inverse(5)), arctan_inverse(239)))


def _series(x: decimal.Decimal, first: decimal.Decimal, start: int) -> decimal.Decimal:
    """sum of first * (-x^2)^k / ((start+1)...(start+2k)): the Taylor series of sin (start 1) or cos (0)."""
    x2 = _CONTEXT.multiply(x, x)
    total, term, n = first, first, start
    while abs(term) > _NEGLIGIBLE:
        term = _CONTEXT.divide(_CONTEXT.multiply(-term, x2), (n + 1) * (n + 2))
        total = _CONTEXT.add(total, term)
        n += 2
    return total


def _sin_cos_degrees(degrees: float) -> tuple[decimal.Decimal, decimal.Decimal]:
    """(sin, cos) of an angle in degrees, exact for multiples of 90 (where they are 0 and +-1)."""
    d = decimal.Decimal(degrees)  # exact: every double is a finite decimal
    quarter = int(_CONTEXT.to_integral_value(_CONTEXT.divide(d, 90)))
    rest = _CONTEXT.subtract(d, 90 * quarter)  # exact at this precision, within [-45, 45]
    x = _CONTEXT.divide(_CONTEXT.multiply(rest, _pi()), 180)
    s, c = _series(x, x, 1), _series(x, decimal.Decimal(1), 0)
    return {0: (s, c), 1: (c, -s), 2: (-s, -c), 3: (-c, s)}[quarter % 4]


def sin_cos_degrees(degrees: float) -> tuple[float, float]:
    """sin and cos of an angle in degrees, each correctly rounded; 0 and +-1 exactly at multiples of 90."""
    s, c = _sin_cos_degrees(degrees)
    return float(s), float(c)


def tan_degrees(degrees: float) -> float:
    """tan of an angle in degrees, correctly rounded (infinite where cos is exactly 0)."""
    s, c = _sin_cos_degrees(degrees)
    return float(_CONTEXT.divide(s, c)) if not c.is_zero() else float("inf") if s > 0 else float("-inf")


def log(x: float) -> float:
    """Natural logarithm, correctly rounded (``decimal``'s ``ln``)."""
    return float(_CONTEXT.ln(decimal.Decimal(x)))


def exp(x: float) -> float:
    """e to the x, correctly rounded (``decimal``'s ``exp``)."""
    return float(_CONTEXT.exp(decimal.Decimal(x)))


# ---------------------------------------------------------------------------------------------
# Elementwise power for lookup tables (256 or 65536 levels: too many for decimal per sample)
# ---------------------------------------------------------------------------------------------

_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its low 32 bits zero (fdlibm's), so n * _LN2_HI is exact
_LN2_LO = float(_CONTEXT.subtract(_CONTEXT.ln(2), decimal.Decimal(_LN2_HI)))
_SQRT_HALF = float(_CONTEXT.sqrt(decimal.Decimal("0.5")))
# 1 / (2k + 1) for the log series and 1 / k! for the exp series, each rounded once from decimal
_LOG_TERMS = [float(_CONTEXT.divide(1, 2 * k + 1)) for k in range(12)]
_EXP_TERMS = [float(_CONTEXT.divide(1, math.factorial(k))) for k in range(18)]


def _log_array(x: np.ndarray) -> np.ndarray:
    """ln of positive finite doubles, within 2 ulp, with the same bits on every CPU."""
    m, e = np.frexp(x)  # x = m * 2^e, m in [0.5, 1): exact
    low = m < _SQRT_HALF
    m = np.where(low, np.multiply(m, 2.0), m)  # exact
    e = np.where(low, e - 1, e).astype(np.float64)
    f = np.divide(np.subtract(m, 1.0), np.add(m, 1.0))  # |f| <= 0.172: ln m = 2 atanh f
    s = np.multiply(f, f)
    poly = np.full_like(s, _LOG_TERMS[-1])
    for term in reversed(_LOG_TERMS[:-1]):
        poly = np.add(np.multiply(poly, s), term)
    ln_m = np.multiply(np.multiply(f, 2.0), poly)
    return np.add(np.multiply(e, _LN2_HI), np.add(np.multiply(e, _LN2_LO), ln_m))


def _exp_array(y: np.ndarray) -> np.ndarray:
    """e^y for finite doubles, within 2 ulp, with the same bits on every CPU."""
    n = np.rint(np.divide(y, _LN2_HI))
    r = np.subtract(np.subtract(y, np.multiply(n, _LN2_HI)), np.multiply(n, _LN2_LO))  # |r| <= 0.35
    poly = np.full_like(r, _EXP_TERMS[-1])
    for term in reversed(_EXP_TERMS[:-1]):
        poly = np.add(np.multiply(poly, r), term)
    return np.ldexp(poly, n.astype(np.int64))  # exact scaling by 2^n


def power(base: np.ndarray, exponent: float) -> np.ndarray:
    """``base ** exponent`` for bases in [0, inf) and a positive exponent, the same bits on every CPU.

    ``exp(exponent * ln(base))``: enough for lookup tables, whose levels are rounded to integers.
    """
    base = np.asarray(base, dtype=np.float64)
    positive = base > 0
    safe = np.where(positive, base, 1.0)
    with np.errstate(over="ignore", under="ignore"):
        out = _exp_array(np.multiply(_log_array(safe), float(exponent)))
    return np.where(positive, out, 0.0)


# ---------------------------------------------------------------------------------------------
# 3x3 matrices over Python floats, each sum in a fixed order
# ---------------------------------------------------------------------------------------------


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 3x3 product ``a @ b``: each entry ``(a_i0 b_0j + a_i1 b_1j) + a_i2 b_2j``."""
    x, y = a.tolist(), b.tolist()
    return np.array(
        [[(x[i][0] * y[0][j] + x[i][1] * y[1][j]) + x[i][2] * y[2][j] for j in range(3)] for i in range(3)],
        dtype=np.float64,
    )


def inverse(m: np.ndarray) -> np.ndarray:
    """The inverse of a 3x3 homography, up to scale: the adjugate, divided by the determinant when that is
    a usable number (a homography's points are divided by their w, so the scale never shows)."""
    (a, b, c), (d, e, f), (g, h, i) = m.tolist()
    adjugate = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    det = (a * adjugate[0][0] + b * adjugate[1][0]) + c * adjugate[2][0]
    if det != 0 and np.isfinite(det):
        adjugate = [[v / det for v in row] for row in adjugate]
    return np.array(adjugate, dtype=np.float64)
