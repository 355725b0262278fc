"""Numbers to text: medians, 'median (min–max)' spreads, MiB; and the console log."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """'median (min–max)' of a list; the one value alone for a list of one, 'n/a' for none."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20


def log(message: str = "") -> None:
    print(message, flush=True)
