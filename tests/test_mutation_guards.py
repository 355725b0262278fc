"""Guards against mutations the rest of the suite let through: validate's label sample spread over IN
(not its first masks); a temporary's name read back to its pair's key; the output-format version and
the PNG compressor each in the fingerprint on its own; crop's draws in their documented order."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_dataset, write_png

import segaug_cli.fingerprint
from segaug_cli import atomic, naming, recipe, sampling, survey
from segaug_cli.fingerprint import fingerprint

# -- validate samples masks spread over IN ------------------------------------------------------


def test_the_label_sample_reaches_the_last_pairs(tmp_path):
    pairs = {f"p{i:02d}": (8, 8) for i in range(64)}
    in_dir = make_dataset(tmp_path / "in", pairs, labels=2)
    for i in range(48, 64):  # only the last quarter holds label 9
        write_png(in_dir / f"masks/p{i:02d}.png", np.full((8, 8), 9, np.uint8))
    rcp = recipe.parse("labels: {map: {0: 0, 1: 1}}\n", "r.yaml")

    found = survey.survey(rcp, in_dir)

    assert found.sampled == survey.SAMPLE == 16
    assert found.unlisted == (9,)


def test_the_sample_is_spread_evenly_in_key_order():
    class Usable:
        problem = None

        def __init__(self, index: int):
            self.index = index

    chosen = survey._spread_sample([Usable(i) for i in range(64)], 64, 16)
    assert [p.index for p in chosen] == list(range(0, 64, 4))


# -- a temporary's name is read back to its pair -------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    ["images/city/a_aug3.png", "masks/city/a_aug0.png", "images/city/a.png"],
)
def test_a_temporary_maps_back_to_the_key_of_its_final_name(rel):
    key_of = naming.output_key_of(recipe.Recipe())
    temporary = atomic._temporary_name(rel)

    assert temporary != rel
    assert temporary.endswith(atomic.TEMP_SUFFIX)
    assert key_of(temporary) == key_of(rel) == "city/a"


# -- the fingerprint covers the format and the PNG compressor, each alone ----------------------------

SOURCES = ("a" * 64, "b" * 64)


def reference() -> str:
    return fingerprint(recipe.Recipe(), "city/a", 0, SOURCES)


def test_the_output_format_version_alone_changes_every_fingerprint(monkeypatch):
    before, original = reference(), reference()
    monkeypatch.setattr(segaug_cli.fingerprint, "FORMAT_VERSION", segaug_cli.fingerprint.FORMAT_VERSION + 1)
    assert reference() != before
    monkeypatch.undo()
    assert reference() == original
    kept = fingerprint(recipe.Recipe(), "city/a", None, SOURCES)  # a kept original too
    monkeypatch.setattr(segaug_cli.fingerprint, "FORMAT_VERSION", segaug_cli.fingerprint.FORMAT_VERSION + 1)
    assert fingerprint(recipe.Recipe(), "city/a", None, SOURCES) != kept


def test_the_png_compressor_alone_changes_every_fingerprint(monkeypatch):
    before = reference()
    kept = fingerprint(recipe.Recipe(), "city/a", None, SOURCES)
    monkeypatch.setattr(segaug_cli.fingerprint, "_png_encoder", lambda: "another libdeflate 9.99")
    assert reference() != before
    assert fingerprint(recipe.Recipe(), "city/a", None, SOURCES) != kept


# -- crop's draws, in order --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_crop_draws_applied_then_x_then_y_then_pick(seed):
    rcp = recipe.parse("transforms:\n  - crop: {size: [8, 8]}\n", "r.yaml")
    (draw,) = sampling.draw_for(rcp.transforms, seed)

    applied, x, y, pick = np.random.default_rng(seed).random(4)

    assert draw.applied == bool(applied < 1.0)
    assert dict(draw.values) == {"x": x, "y": y, "_pick": pick}


@pytest.mark.parametrize("seed", [0, 7])
def test_crop_with_a_class_cap_draws_its_tries_last(seed):
    rcp = recipe.parse("transforms:\n  - crop: {size: [8, 8], max_class_share: 0.5}\n", "r.yaml")
    (draw,) = sampling.draw_for(rcp.transforms, seed)

    rng = np.random.default_rng(seed)
    _applied, x, y, pick = rng.random(4)
    tries = rng.random((9, 2)).tolist()

    assert dict(draw.values) == {"x": x, "y": y, "_pick": pick, "_tries": tries}
