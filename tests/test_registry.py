"""The op registry: one complete record per op, found in segaug_cli/ops, read by every layer."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from segaug_cli import recipe
from segaug_cli.augment import plan_sample, render
from segaug_cli.ops.spec import (
    APPLIERS,
    GeometricOp,
    GroupOp,
    ParamSpec,
    PhotometricOp,
    Range,
    Uniform,
    uniform,
)
from segaug_cli.recipe.registry import collect
from segaug_cli.sampling import Draw, draw_for

OPS_PACKAGE = REPO / "segaug_cli" / "ops"
KINDS = ("geometric", "photometric", "group")  # the kinds in the order their families come


def _families() -> list:
    """The family modules of segaug_cli/ops, found by their files (not by the registry), in their ORDER."""
    names = sorted(path.stem for path in OPS_PACKAGE.glob("*.py") if path.stem not in ("__init__", "spec"))
    return sorted((importlib.import_module(f"segaug_cli.ops.{name}") for name in names), key=lambda m: m.ORDER)


# The order of the docs table and of the "expected one of" list in error messages: the families in
# their ORDER, each family's ops in the order of its OPS.
FAMILIES = _families()
DOCS_ORDER = [spec.name for family in FAMILIES for spec in family.OPS]


def test_the_registry_lists_every_op_once_in_the_docs_order():
    assert len(set(DOCS_ORDER)) == len(DOCS_ORDER), "two records share a name"
    assert list(recipe.OPS) == DOCS_ORDER
    kinds = [recipe.OPS[name].kind for name in DOCS_ORDER]
    assert kinds == sorted(kinds, key=KINDS.index), "geometric families first, then photometric, then groups"
    of_kind = {kind: tuple(name for name in DOCS_ORDER if recipe.OPS[name].kind == kind) for kind in KINDS}
    assert (of_kind["geometric"], of_kind["photometric"]) == (recipe.GEOMETRIC_OPS, recipe.PHOTOMETRIC_OPS)


def test_no_op_is_lost_without_make_golden():
    """Every op pinned in tests/golden/ops.json still has a record, and every record is pinned there."""
    pinned = json.loads((REPO / "tests" / "golden" / "ops.json").read_text(encoding="utf-8"))["files"]
    assert sorted(recipe.OPS) == sorted(pinned)


@pytest.mark.parametrize("name", list(recipe.OPS))
def test_every_record_is_complete(name):
    spec = recipe.OPS[name]
    assert spec.name == name and spec.doc
    given = [a for a in APPLIERS if getattr(spec, a) is not None]
    assert len(given) == 1 and given[0] in type(spec).appliers
    if isinstance(spec.draw, Uniform):
        assert {param for _, param in spec.draw.names} <= set(spec.params)
    else:
        assert callable(spec.draw)


@pytest.mark.parametrize("name", [n for n, spec in recipe.OPS.items() if spec.kind != "group"])
def test_every_op_draws_applies_and_labels_itself_from_its_record_alone(name):
    rcp = recipe.parse(f"transforms: [{name}]\nborder: {{mask_fill: 9}}\n", "r.yaml")
    image = np.arange(48 * 40, dtype=np.uint8).reshape(48, 40)
    mask = (np.arange(48 * 40) % 3).astype(np.uint8).reshape(48, 40)
    draws = draw_for(rcp.transforms, 7)
    assert [(d.name, d.kind, d.applied) for d in draws] == [(name, recipe.OPS[name].kind, True)]
    out = render(image, mask, draws, rcp)
    assert set(np.unique(out.mask)) <= {0, 1, 2, 9}
    assert recipe.spec_of(name).label(draws[0]).startswith(name)


def test_a_record_without_its_applier_fails_where_it_is_defined():
    with pytest.raises(TypeError) as exc:
        GeometricOp(name="twist", doc="d", draw=uniform())
    assert str(exc.value) == "geometric op 'twist' needs exactly one of matrix= or resolve=, got none"


def test_a_record_with_an_applier_of_another_kind_fails():
    with pytest.raises(TypeError) as exc:
        PhotometricOp(name="tint", doc="d", draw=uniform(), matrix=lambda d, shape: None)
    assert str(exc.value) == "photometric op 'tint' needs exactly one of on_source= or on_output=, got ['matrix']"
    with pytest.raises(TypeError) as exc:
        GroupOp(
            name="all_of",
            doc="d",
            draw=uniform(),
            choose=lambda op, rng, n: ((), frozenset()),
            on_output=lambda d: None,
        )
    assert str(exc.value) == "group op 'all_of' needs exactly one of choose=, got ['on_output', 'choose']"


def test_a_uniform_draw_must_name_the_ops_params_and_draw_them_all():
    with pytest.raises(TypeError) as exc:
        GeometricOp(name="twist", doc="d", draw=uniform("degrees"), matrix=lambda d, shape: None)
    assert str(exc.value) == "op 'twist' draws ['degrees']: not among its params"
    with pytest.raises(TypeError) as exc:
        GeometricOp(
            name="twist",
            doc="d",
            params={"degrees": ParamSpec(Range(0, 1), 0, 1)},
            draw=uniform(),
            matrix=lambda d, shape: None,
        )
    assert str(exc.value) == "op 'twist' never draws ['degrees']"


def test_an_op_without_a_record_raises_in_augmentation_rather_than_doing_nothing():
    stray = Draw("twist", "geometric", True, (("degrees", 3.0),))
    with pytest.raises(LookupError) as exc:
        plan_sample((stray,), np.zeros((4, 4), np.uint8), recipe.Recipe())
    assert str(exc.value) == "op 'twist' has no record in segaug_cli/ops: nothing could draw or apply it"


# ---------------------------------------------------------------------------------------------
# Discovery: a family module dropped into the package is found, in its ORDER
# ---------------------------------------------------------------------------------------------

FAMILY = """
from segaug_cli.ops.spec import GeometricOp, uniform

ORDER = {order}
OPS = tuple(GeometricOp(name=name, doc="d", draw=uniform(), matrix=lambda d, shape: None) for name in {names!r})
"""


def _package(tmp_path, monkeypatch, families: dict[str, str]):
    """A package like segaug_cli.ops holding ``families``, named after the test's own folder."""
    name = f"fake_ops_{tmp_path.name}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "spec.py").write_text("raise AssertionError('the vocabulary is not a family')\n")
    for module, text in families.items():
        (root / f"{module}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def test_discovery_finds_every_family_module_and_orders_them_by_their_order(tmp_path, monkeypatch):
    package = _package(
        tmp_path,
        monkeypatch,
        {
            "aaa": FAMILY.format(order=20, names=("late",)),
            "zzz": FAMILY.format(order=10, names=("early", "second")),
        },
    )
    assert list(collect(package)) == ["early", "second", "late"]


@pytest.mark.parametrize(
    ("families", "message"),
    [
        (
            {"a": FAMILY.format(order=1, names=("x",)), "b": FAMILY.format(order=2, names=("x",))},
            "op 'x' is defined twice (again in {package}.b)",
        ),
        (
            {"a": FAMILY.format(order=1, names=("x",)), "b": FAMILY.format(order=1, names=("y",))},
            "two op families share an ORDER: [1, 1]",
        ),
        ({"a": "OPS = ()\n"}, "{package}.a must define ORDER (an int) and OPS (a tuple of op records)"),
        (
            {"a": "ORDER = 1\nOPS = ('rotate',)\n"},
            "{package}.a.OPS holds 'rotate', not a GeometricOp, PhotometricOp or GroupOp",
        ),
    ],
)
def test_discovery_refuses_an_ambiguous_or_incomplete_family(tmp_path, monkeypatch, families, message):
    package = _package(tmp_path, monkeypatch, families)
    with pytest.raises(ImportError) as exc:
        collect(package)
    assert str(exc.value) == message.format(package=package.__name__)


# ---------------------------------------------------------------------------------------------
# Start-up: reading a recipe never loads the array libraries
# ---------------------------------------------------------------------------------------------


def test_loading_a_recipe_imports_neither_numpy_nor_opencv():
    code = (
        "import sys, segaug_cli.recipe as r; r.load('recipes/default.yaml'); "
        "print(sorted(m for m in ('numpy', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out == "[]\n"


def test_the_command_line_loads_neither_numpy_nor_opencv_before_a_command_needs_them():
    # `segaug --help` and a recipe's validation stay well under a tenth of a second of imports
    code = "import sys, segaug_cli.cli; print(sorted(m for m in ('numpy', 'cv2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out == "[]\n"
