"""Golden bytes: the sha256 of every file each recipe in recipes/ writes when run on sample_data/, and
of every file a one-op recipe writes on a tiny generated dataset, for each op of the registry; and,
beside them, the sha256 of what every recipe's image and mask outputs DECODE to (pixels, palette and
transparency), which an encoder change must leave as they are while the bytes change.

Any change to draws, rendering, encoding or the manifest's format changes one of these hashes, so it
fails ``tests/test_golden.py`` until the golden files are regenerated on purpose with ``make golden``
(which runs this module). The hashes hold for the pinned library versions recorded beside them.

    python tests/golden_outputs.py        # rewrite tests/golden/*.json (pixels.json: decoded outputs)
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
OP_GOLDEN = GOLDEN / "ops.json"
PIXEL_GOLDEN = GOLDEN / "pixels.json"
TINY_PAIRS = {"a": (24, 32), "b": (21, 17), "city/c": (19, 26)}
# Ops whose defaults do not fit tiny images, and groups, which need members.
OP_SETTINGS = {
    "resize": "{size: [20, 28]}",
    "pad": "{size: [30, 36]}",
    "crop": "{size: [12, 14]}",
    "random_resized_crop": "{size: [16, 12]}",
    "clahe": "{tiles: 2}",
    "one_of": "{ops: [rotate: {}, hflip: {}, gamma: {}]}",
    "some_of": "{ops: [scale: {}, vflip: {}, contrast: {}]}",
}


def library_versions() -> dict[str, str]:
    """The versions whose encoders and resamplers decide the bytes (segaug's own is in segaug.json)."""
    from segaug_cli.codecs import png_encoder

    return {**pixel_versions(), "png": png_encoder()}


def pixel_versions() -> dict[str, str]:
    """The versions that decide decoded pixels: resampling and decoders, never the PNG compressor."""
    import cv2
    import numpy
    import PIL
    import tifffile

    return {
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "tifffile": tifffile.__version__,
    }


def run_recipe(recipe: Path, out: Path, workers: int = 1, in_dir: Path = SAMPLE_DATA) -> dict[str, str]:
    """Expand ``recipe`` on ``in_dir`` into ``out``; the sha256 of every file written, by path."""
    expand(recipe, out, workers, in_dir)
    # The lock file names the run that held OUT (host, pid, start): not part of what a recipe produces.
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


def expand(recipe: Path, out: Path, workers: int = 1, in_dir: Path = SAMPLE_DATA) -> None:
    from segaug_cli.cli import main

    args = ["expand", str(recipe), str(in_dir), str(out), "--workers", str(workers), "--quiet"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"{recipe.name}: exit {result.exit_code}: {result.stderr}")


def decoded_digest(data: bytes, name: str) -> str:
    """sha256 of a file's decoded content: dtype, shape and samples, and a palette PNG's palette and
    transparency (its indices are the samples), as segaug itself reads them back."""
    from segaug_cli import codecs

    digest = hashlib.sha256()
    if codecs.is_palette_png(data):
        mask = codecs.decode_mask(data, name)
        pixels = mask.labels
        digest.update(json.dumps([list(mask.palette), _plain(mask.transparency)]).encode())
    else:
        pixels = codecs.decode_pixels(data, name)
    digest.update(f"{pixels.dtype.str} {pixels.shape}\n".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def _plain(transparency: object) -> object:
    return list(transparency) if isinstance(transparency, bytes) else transparency


def run_recipe_pixels(recipe: Path, out: Path) -> dict[str, str]:
    """Expand ``recipe`` on sample_data into ``out``; the decoded digest of every image and mask written."""
    expand(recipe, out)
    return {
        p.relative_to(out).as_posix(): decoded_digest(p.read_bytes(), p.name)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.relative_to(out).parts[0] != p.name
    }


def golden_path(recipe: Path) -> Path:
    return GOLDEN / "recipes" / f"{recipe.stem}.json"


def op_names() -> list[str]:
    from segaug_cli.recipe import OPS

    return sorted(OPS)


def one_op_recipe(name: str) -> str:
    return f"seed: 11\ncopies: 2\ntransforms:\n  - {name}: {OP_SETTINGS.get(name, '{}')}\n"


def run_one_op(name: str, scratch: Path) -> dict[str, str]:
    """The files a recipe of just this op writes on a tiny generated dataset (3 pairs, 2 copies)."""
    from conftest import make_dataset

    in_dir = scratch / "in"
    if not in_dir.is_dir():
        make_dataset(in_dir, TINY_PAIRS)
    recipe = scratch / f"{name}.yaml"
    recipe.write_text(one_op_recipe(name), encoding="utf-8")
    return run_recipe(recipe, scratch / f"out-{name}", in_dir=in_dir)


def _write(path: Path, files: dict, output_format: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": output_format, "versions": library_versions(), "files": files}
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{path.relative_to(REPO)}: {len(files)} entries")


def output_format() -> int:
    """The output-format version a run writes into segaug.json."""
    with tempfile.TemporaryDirectory() as scratch:
        run_recipe(RECIPES[0], Path(scratch) / "out")
        return json.loads((Path(scratch) / "out" / "segaug.json").read_text(encoding="utf-8"))["format"]


def unannounced_changes(path: Path, files: dict, current_format: int) -> list[str]:
    """Files whose bytes changed while the output-format version stayed the same.

    Reruns trust an output whose fingerprint matches, and the fingerprint covers the format version,
    not the code: new bytes under an old version would leave every existing OUT silently stale.
    """
    if not path.is_file():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    if old.get("format") != current_format or old["versions"] != library_versions():
        return []
    flat_old, flat_new = _flatten(old["files"]), _flatten(files)
    return sorted(name for name in flat_new.keys() & flat_old.keys() if flat_new[name] != flat_old[name])


def _flatten(files: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in files.items():
        flat.update(_flatten(value, f"{prefix}{name}/") if isinstance(value, dict) else {prefix + name: value})
    return flat


def pixel_records() -> dict:
    """What every recipe's outputs decode to, by recipe; the same before and after an encoder change."""
    records = {}
    for recipe in RECIPES:
        with tempfile.TemporaryDirectory() as scratch:
            records[recipe.stem] = run_recipe_pixels(recipe, Path(scratch) / "out")
    return {"versions": pixel_versions(), "recipes": records}


def changed_pixels(record: dict) -> list[str]:
    """Outputs whose decoded pixels differ from the pinned ones under the same library versions."""
    if not PIXEL_GOLDEN.is_file():
        return []
    old = json.loads(PIXEL_GOLDEN.read_text(encoding="utf-8"))
    if old["versions"] != record["versions"]:
        return []
    flat_old, flat_new = _flatten(old["recipes"]), _flatten(record["recipes"])
    return sorted(name for name in flat_new.keys() & flat_old.keys() if flat_new[name] != flat_old[name])


def regenerate() -> int:
    pixels = pixel_records()
    changed_px = changed_pixels(pixels)
    if changed_px and "--pixels-changed" not in sys.argv:
        print(
            f"{len(changed_px)} outputs decode to other pixels (e.g. {changed_px[0]}) under the same library "
            "versions: an encoder change must never do that (pass --pixels-changed when a change of "
            "rendering means to)",
            file=sys.stderr,
        )
        return 1
    current = output_format()
    records = {}
    for recipe in RECIPES:
        with tempfile.TemporaryDirectory() as scratch:
            records[golden_path(recipe)] = run_recipe(recipe, Path(scratch) / "out")
    with tempfile.TemporaryDirectory() as scratch:
        records[OP_GOLDEN] = {name: run_one_op(name, Path(scratch)) for name in op_names()}
    changed = [
        f"{path.name}: {name}" for path, files in records.items() for name in unannounced_changes(path, files, current)
    ]
    if changed and "--same-format" not in sys.argv:
        print(
            f"{len(changed)} outputs changed (e.g. {changed[0]}) but the output-format version is still "
            f"{current}: bump FORMAT_VERSION so reruns rewrite old outputs, then run this again "
            "(or pass --same-format if only the golden set itself changed)",
            file=sys.stderr,
        )
        return 1
    for path, files in records.items():
        _write(path, files, current)
    PIXEL_GOLDEN.write_text(json.dumps(pixels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{PIXEL_GOLDEN.relative_to(REPO)}: {sum(map(len, pixels['recipes'].values()))} entries")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(regenerate())
