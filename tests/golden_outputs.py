"""Golden bytes: the sha256 of every file each recipe in recipes/ writes when run on sample_data/.

Any change to draws, rendering, encoding or the manifest's format changes one of these hashes, so it
fails ``tests/test_golden.py`` until the golden files are regenerated on purpose with ``make golden``
(which runs this module). The hashes hold for the pinned library versions recorded beside them.

    python tests/golden_outputs.py        # rewrite tests/golden/*.json
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
SAMPLE_DATA = REPO / "sample_data"
GOLDEN = Path(__file__).resolve().parent / "golden"


def library_versions() -> dict[str, str]:
    """The versions whose encoders and resamplers decide the bytes (segaug's own is in segaug.json)."""
    import cv2
    import numpy
    import PIL
    import tifffile

    return {"numpy": numpy.__version__, "opencv": cv2.__version__, "pillow": PIL.__version__,
            "tifffile": tifffile.__version__}


def run_recipe(recipe: Path, out: Path, workers: int = 1) -> dict[str, str]:
    """Expand ``recipe`` on sample_data into ``out``; the sha256 of every file written, by path."""
    from segaug_cli.cli import main

    args = ["expand", str(recipe), str(SAMPLE_DATA), str(out), "--workers", str(workers), "--quiet"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"{recipe.name}: exit {result.exit_code}: {result.stderr}")
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def golden_path(recipe: Path) -> Path:
    return GOLDEN / f"{recipe.stem}.json"


def regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for recipe in RECIPES:
        with tempfile.TemporaryDirectory() as scratch:
            files = run_recipe(recipe, Path(scratch) / "out")
        record = {"versions": library_versions(), "files": files}
        golden_path(recipe).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{golden_path(recipe).relative_to(REPO)}: {len(files)} files")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    regenerate()
