"""Fuzzing: random bytes as image and mask files, random recipe documents.

Whatever the input, segaug answers with an exit code and clean one-line errors: never a Python
traceback, never a hang, never an exception other than its own.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import yaml
from conftest import (
    blocky_mask,
    colour_coded,
    error_lines,
    output_files,
    read_manifest,
    run_segaug,
    write_png,
    write_recipe,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from segaug_cli import recipe
from segaug_cli.cli import main
from segaug_cli.errors import RecipeError

SHAPE = (24, 32)
MASK = blocky_mask(np.random.default_rng(0), SHAPE, 4)
RECIPE = "seed: 1\ncopies: 1\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - brightness: {range: [-0.1, 0.1]}\n"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _encoded(ext: str, array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, array)
    assert ok
    return data.tobytes()


def _tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, compression="zlib")
    return buffer.getvalue()


def _palette_png(indices: np.ndarray) -> bytes:
    img = Image.frombytes("P", indices.shape[::-1], indices.tobytes())
    img.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


def _png_header(width: int, height: int, colour_type: int, depth: int) -> bytes:
    body = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    chunk = struct.pack(">I", len(body)) + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return b"\x89PNG\r\n\x1a\n" + chunk


# Valid files of the pair's size: mutated, they reach deep into the decoders.
VALID = {
    ".png": _encoded(".png", colour_coded(MASK)),
    ".jpg": _encoded(".jpg", colour_coded(MASK)),
    ".tif": _tiff(colour_coded(MASK)),
    ".bmp": _encoded(".bmp", MASK),
    ".pgm": _encoded(".pgm", MASK),
    ".webp": _encoded(".webp", colour_coded(MASK)),
}
VALID_MASKS = {
    ".png": _encoded(".png", MASK),
    ".tif": _tiff(MASK.astype(np.uint16) * 300),
    ".bmp": _encoded(".bmp", MASK),
}
PALETTE_MASK = _palette_png(MASK)
SIGNATURES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    _png_header(32, 24, 3, 8),
    _png_header(30000, 30000, 3, 8),
    _png_header(32, 24, 0, 16),
    _png_header(65535, 1, 2, 8),
    b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00",
    b"II*\x00",
    b"MM\x00*",
    b"II+\x00",
    b"BM",
    b"P5\n32 24\n255\n",
    b"P6\n",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"#?RADIANCE\n",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    b"v/1\x01",
]


@st.composite
def file_bytes(draw, valid: dict[str, bytes]) -> tuple[str, bytes]:
    """(extension, content): pure noise, a real signature followed by noise, or a mutated real file."""
    ext = draw(st.sampled_from(sorted(valid)))
    kind = draw(st.sampled_from(["noise", "signature", "mutated", "truncated"]))
    if kind == "noise":
        return ext, draw(st.binary(max_size=3000))
    if kind == "signature":
        return ext, draw(st.sampled_from(SIGNATURES)) + draw(st.binary(max_size=2000))
    data = bytearray(valid[ext] if draw(st.booleans()) or ext != ".png" else PALETTE_MASK)
    if kind == "truncated":
        return ext, bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return ext, bytes(data)


def _workspace() -> tuple[Path, Path]:
    root = Path(tempfile.mkdtemp(prefix="segaug-fuzz-"))
    in_dir = root / "in"
    write_png(in_dir / "images" / "good.png", colour_coded(MASK))
    write_png(in_dir / "masks" / "good.png", MASK)
    return root, in_dir


def _check_expand(result_code: int, stderr: str, out: Path, bad_image: str) -> None:
    """Exit 0 or 1; on 1, exactly one error line, naming the fuzzed pair; the good pair always written."""
    assert "Traceback" not in stderr
    assert result_code in (0, 1), stderr
    errors = error_lines(stderr)
    if result_code == 1:
        assert len(errors) == 1, stderr
        assert errors[0].startswith(f"error: {bad_image}: "), errors[0]
    else:
        assert errors == []
    assert "images/good_aug0.png" in output_files(out, "images")
    rows = read_manifest(out)
    assert sorted(r["image"] for r in rows) == output_files(out, "images")


@FUZZ
@given(image=file_bytes(VALID))
@example(image=(".png", b""))
@example(image=(".png", _png_header(30000, 30000, 3, 8)))
def test_random_bytes_as_an_image_fail_cleanly(image):
    ext, data = image
    root, in_dir = _workspace()
    try:
        (in_dir / "images" / f"x{ext}").write_bytes(data)
        write_png(in_dir / "masks" / "x.png", MASK)
        out = root / "out"
        runner_result = _invoke(root, in_dir, out)
        _check_expand(runner_result.exit_code, runner_result.stderr, out, f"images/x{ext}")
    finally:
        shutil.rmtree(root)


@FUZZ
@given(mask=file_bytes({**VALID_MASKS}))
@example(mask=(".png", _png_header(30000, 30000, 3, 8) + b"\x00" * 64))
@example(mask=(".png", PALETTE_MASK[: len(PALETTE_MASK) // 2]))
def test_random_bytes_as_a_mask_fail_cleanly(mask):
    ext, data = mask
    root, in_dir = _workspace()
    try:
        write_png(in_dir / "images" / "x.png", colour_coded(MASK))
        (in_dir / "masks" / f"x{ext}").write_bytes(data)
        out = root / "out"
        runner_result = _invoke(root, in_dir, out)
        _check_expand(runner_result.exit_code, runner_result.stderr, out, "images/x.png")
    finally:
        shutil.rmtree(root)


def _invoke(root: Path, in_dir: Path, out: Path):
    from click.testing import CliRunner

    rcp = write_recipe(root / "r.yaml", RECIPE)
    return CliRunner().invoke(
        main, ["expand", str(rcp), str(in_dir), str(out), "--workers", "1"], catch_exceptions=False
    )


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=st.binary(min_size=1, max_size=4000), mask=st.binary(min_size=1, max_size=4000))
def test_random_bytes_in_a_real_process_pool_never_hang(image, mask):
    root, in_dir = _workspace()
    try:
        (in_dir / "images" / "x.png").write_bytes(image)
        (in_dir / "masks" / "x.png").write_bytes(mask)
        (in_dir / "images" / "y.tif").write_bytes(b"II*\x00" + image)
        write_png(in_dir / "masks" / "y.png", MASK)
        out = root / "out"
        started = time.monotonic()
        done = run_segaug("expand", write_recipe(root / "r.yaml", RECIPE), in_dir, out, "--workers", "2", timeout=60)
        assert time.monotonic() - started < 60
        assert "Traceback" not in done.stderr
        assert done.returncode in (0, 1), done.stderr
        errors = error_lines(done.stderr)
        named = sorted(e.split(": ")[1] for e in errors)  # one line per failed pair, naming it
        assert named in ([], ["images/x.png"], ["images/y.tif"], ["images/x.png", "images/y.tif"]), done.stderr
        assert bool(errors) == (done.returncode == 1)
        assert "images/good_aug0.png" in output_files(out, "images")
    finally:
        shutil.rmtree(root)


# ---------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------

KEYS = [
    *recipe.TOP_KEYS,
    *recipe.OPS,
    "p",
    "degrees",
    "range",
    "fraction",
    "images",
    "masks",
    "mask_suffix",
    "image_format",
    "mask_format",
    "jpeg_quality",
    "png_compression",
    "mode",
    "image_fill",
    "mask_fill",
    "lo",
    "hi",
    "<<",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [*recipe.INTERPOLATIONS, *recipe.BORDER_MODES, "png", "tif", "jpg", "same", "../x", "/etc", "..", "a\nb"]
    )
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(), children, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def recipe_shaped(draw) -> dict:
    """Mostly-right recipes: known sections and ops with random values, to reach the deep checks."""
    doc = draw(st.dictionaries(st.sampled_from(recipe.TOP_KEYS), DOCUMENTS, max_size=4))
    settings_ = st.none() | st.dictionaries(st.sampled_from(KEYS), DOCUMENTS, max_size=3)
    one_op = st.dictionaries(st.sampled_from(list(recipe.OPS)), settings_, min_size=1, max_size=1)
    ops = draw(st.lists(one_op | st.sampled_from(list(recipe.OPS)), max_size=4))
    doc["transforms"] = ops
    return doc


def _parse_cleanly(text: str) -> None:
    try:
        result = recipe.parse(text, "fuzz.yaml")
    except RecipeError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml"), message
        assert "\n" not in message and "\r" not in message, repr(message)
    else:
        assert isinstance(result, recipe.Recipe)


@FUZZ
@given(doc=DOCUMENTS | recipe_shaped())
def test_random_recipe_documents_give_a_recipe_or_a_recipe_error(doc):
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return  # not representable as YAML (e.g. a key PyYAML cannot dump)
    _parse_cleanly(text)


FRAGMENTS = [
    "seed: ",
    "copies: ",
    "transforms:",
    "\n  - ",
    "rotate: ",
    "{degrees: ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "\n",
    "  ",
    "- ",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary ",
    "!!float ",
    "!!int ",
    "!!str ",
    "!!set ",
    "!!omap ",
    "!!timestamp ",
    "!custom ",
    "!<tag:x,2000:y> ",
    "&a ",
    "*a",
    "*b",
    "<<: *a",
    "? ",
    "|\n",
    ">\n",
    "'",
    '"',
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "---\n",
    "...\n",
    '"\\n"',
    "'\n\n'",
    "#",
    "\t",
    "\x00",
    "\ufeff",
    "\\",
    ".nan",
    ".inf",
    "-.inf",
    "1e308",
    "1e400",
    "0x1F",
    "0o17",
    "12:30:00",
    "2001-12-14",
    "~",
    "null",
    "yes",
    "on",
    "=",
    "p: 0.5",
    "hflip",
    "border: ",
    "mask_fill: ",
    "[255, 0, 0]",
]


@FUZZ
@given(text=st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=30).map("".join))
@example(text="a: &a [*a]\n")
@example(text="{\n" * 5000)
@example(text="seed: !!python/object/apply:os.system ['true']\n")
@example(text="x\n: 1\n")
@example(text="seed: !!int abc\n")  # PyYAML's constructors raise ValueError, KeyError, IndexError...
@example(text="seed: !!bool maybe\n")
@example(text="seed: !!timestamp 2001-13-45\n")
@example(text="!!timestamp x\n")
@example(text="seed: !!float\n")
@example(text="seed: " + "7" * 5000 + "\n")  # more digits than int() converts
@example(text='"a\\nb": 1\n')  # a key with a line break: the message must stay on one line
@example(text='transforms:\n  - rotate: {"p\\rq": 1}\n')
def test_random_yaml_text_gives_a_recipe_or_a_recipe_error(text):
    _parse_cleanly(text)


LEVELS = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
BILLION_LAUGHS = "[" + ", ".join(LEVELS) + "]"  # nine levels of nine aliases: 9**9 leaves once expanded


@pytest.mark.parametrize(
    "where",
    [
        "seed: {}",
        "interpolation: {}",
        "border: {{image_fill: [{}]}}",
        "border: {{mask_fill: {}}}",
        "transforms: [{{rotate: {{degrees: {}}}}}]",
        "inputs: {{images: {}}}",
        "transforms: {}",
    ],
)
def test_exponential_aliases_are_refused_quickly(tmp_path, where):
    """A 'billion laughs' document where a value is checked (and quoted in the message): refused in a
    moment, in one line, without expanding it."""
    path = write_recipe(tmp_path / "laughs.yaml", where.format(BILLION_LAUGHS) + "\n")

    done = run_segaug("validate", path, timeout=30)

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: ") and len(done.stderr.splitlines()) == 1
    assert len(done.stderr) < 500
