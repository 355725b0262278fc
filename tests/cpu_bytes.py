"""Run many ``segaug expand`` jobs in one interpreter, for the same-bytes-on-every-CPU test.

The test runs this script natively and under ``qemu-x86_64 -cpu MODEL`` / ``qemu-aarch64`` and compares
the trees it writes byte for byte. One interpreter for every job, because starting Python, NumPy and
OpenCV under emulation takes seconds. It imports only segaug (no pytest, no test helpers), so it runs
in an emulation root that holds just segaug's runtime dependencies.

    python tests/cpu_bytes.py JOBS.json      # JOBS.json: [[recipe, in_dir, out_dir], ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(jobs_file: str) -> int:
    from segaug_cli.cli import main as segaug

    for recipe, in_dir, out_dir in json.loads(Path(jobs_file).read_text(encoding="utf-8")):
        args = ["expand", recipe, in_dir, out_dir, "--workers", "1", "--quiet"]
        try:
            segaug.main(args, prog_name="segaug", standalone_mode=False)
        except SystemExit as exit_:  # expand exits 1 when a pair failed: the other outputs still count
            if exit_.code not in (0, None):
                print(f"{recipe}: exit {exit_.code}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
