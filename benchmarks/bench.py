#!/usr/bin/env python3
"""Thin entry point kept for ``make bench``: the same as ``python -m benchmarks`` from the repository root."""

import sys
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on the path; the package is imported from the root instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/bench.py"))
