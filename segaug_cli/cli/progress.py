"""The progress bar of ``expand`` and ``check``: tqdm on stderr, only on a terminal and without --quiet."""

from __future__ import annotations

import sys


class ProgressBar:
    """tqdm on stderr, only on a terminal and without --quiet."""

    def __init__(self, quiet: bool):
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None

    def start(self, total: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            # No monitor thread: the bar moves with every pair, and a single-threaded parent lets
            # the engine fork its workers (see executors.pool_context).
            tqdm.monitor_interval = 0
            self.bar = tqdm(total=total, unit=" source pairs", file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
