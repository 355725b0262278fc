"""``python -m benchmarks``: the benchmark's entry point."""

import sys

from benchmarks.cli import main

sys.exit(main())
