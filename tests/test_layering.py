"""The import rules of docs/design.md ("Layering"), read from the source with ast (nothing is imported)."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "segaug_cli"
MODULES = sorted(
    p.relative_to(REPO).with_suffix("").as_posix().replace("/", ".") for p in PACKAGE.rglob("*.py")
)  # segaug_cli/__init__.py is segaug_cli.__init__
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def source(module: str) -> Path:
    return REPO / (module.replace(".", "/") + ".py")


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(source(module).read_text(encoding="utf-8"), filename=str(source(module)))


@cache
def imports(module: str) -> frozenset[str]:
    """Every module this one imports, anywhere in the file (function-level imports included), as dotted names.

    ``from .. import engine`` in segaug_cli/cli/__init__.py gives both ``segaug_cli`` and ``segaug_cli.engine``.
    """
    package = module.split(".")[:-1]  # the package a relative import starts from
    found: set[str] = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            target = ".".join(part for part in (base, node.module or "") if part)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(found)


def roots(module: str) -> set[str]:
    return {name.split(".")[0] for name in imports(module)}


def internal(module: str) -> set[str]:
    """The package modules this one imports (``segaug_cli`` itself for ``from . import __version__``)."""
    found = set()
    for name in imports(module):
        if name.split(".")[0] == "segaug_cli":
            is_module = name == "segaug_cli" or name in MODULES or f"{name}.__init__" in MODULES
            found.add(name if is_module else name.rsplit(".", 1)[0])  # `from .recipe import Op`: recipe
    return found


def short(module: str) -> str:
    return module.removeprefix("segaug_cli.")


def test_the_walk_sees_the_package():
    assert {
        "segaug_cli.cli.__init__",
        "segaug_cli.engine",
        "segaug_cli.sampling",
        "segaug_cli.recipe.__init__",
        "segaug_cli.recipe.parse",
        "segaug_cli.ops.spec",
        "segaug_cli.ops.affine",
        "segaug_cli.transforms.geometric",
        "segaug_cli.transforms.photometric",
    } <= set(MODULES)
    # The rules below hold only if the import finder sees what is there.
    assert "click" in roots("segaug_cli.cli.__init__") and "tqdm" in roots("segaug_cli.cli.progress")
    assert "segaug_cli.engine" in imports("segaug_cli.cli.__init__")  # a function-level `from .. import engine`
    assert "multiprocessing" in roots("segaug_cli.executors")
    assert "segaug_cli.cli" in imports("segaug_cli.__main__")
    assert "segaug_cli.transforms.geometric" in imports("segaug_cli.ops.affine")  # inside a function
    assert ".transforms.geometric" in top_level_imports("segaug_cli.augment")
    assert not [name for name in top_level_imports("segaug_cli.ops.affine") if "transforms" in name]


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_only_cli_imports_click_and_tqdm(module):
    if not module.startswith("segaug_cli.cli."):
        assert not roots(module) & {"click", "tqdm"}


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_only_executors_import_multiprocessing(module):
    if module != "segaug_cli.executors":
        assert not roots(module) & {"multiprocessing", "concurrent"}


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_no_module_imports_cli(module):
    if module != "segaug_cli.__main__" and not module.startswith("segaug_cli.cli."):  # `python -m segaug_cli`
        assert not [name for name in imports(module) if name.startswith("segaug_cli.cli")]


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("segaug_cli.transforms.")], ids=short)
def test_transforms_see_only_arrays(module):
    assert internal(module) <= TRANSFORMS, "transforms import nothing else from the package: no paths, YAML or click"
    assert roots(module) <= STDLIB | {"numpy", "cv2", "segaug_cli"}


@pytest.mark.parametrize("module", ["segaug_cli.manifest", "segaug_cli.errors"], ids=short)
def test_leaf_modules_import_only_the_standard_library(module):
    assert roots(module) <= STDLIB


OP_FAMILIES = [
    m
    for m in MODULES
    if m.startswith("segaug_cli.ops.") and m not in ("segaug_cli.ops.__init__", "segaug_cli.ops.spec")
]
TRANSFORMS = {
    "segaug_cli.transforms",
    "segaug_cli.transforms.exact",
    "segaug_cli.transforms.geometric",
    "segaug_cli.transforms.photometric",
    "segaug_cli.transforms.fields",
}
SECTION_SPECS = {"segaug_cli.recipe.labelspec", "segaug_cli.recipe.tilespec"}  # standard library and errors only
RECIPE_BELOW_PARSE = {
    "segaug_cli.errors",
    "segaug_cli.ops.spec",
    "segaug_cli.recipe.checks",
    "segaug_cli.recipe.loader",
    "segaug_cli.recipe.registry",
    "segaug_cli.recipe.model",
    "segaug_cli.recipe.layoutspec",
    *SECTION_SPECS,
}


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("segaug_cli.errors", set()),
        ("segaug_cli.cpu", {"segaug_cli.errors"}),
        ("segaug_cli.extensions", set()),
        ("segaug_cli.atomic", set()),
        ("segaug_cli.listing", {"segaug_cli.errors", "segaug_cli.extensions"}),
        ("segaug_cli.pairing", {"segaug_cli.errors", "segaug_cli.listing"}),
        ("segaug_cli.png", set()),
        ("segaug_cli.codecs", {"segaug_cli", "segaug_cli.png", "segaug_cli.errors", "segaug_cli.extensions"}),
        ("segaug_cli.fingerprint", {"segaug_cli", "segaug_cli.codecs", "segaug_cli.recipe"}),
        (
            "segaug_cli.naming",
            {"segaug_cli.extensions", "segaug_cli.manifest", "segaug_cli.pairing", "segaug_cli.recipe"},
        ),
        ("segaug_cli.jobs", {"segaug_cli.manifest", "segaug_cli.pairing", "segaug_cli.recipe"}),
        ("segaug_cli.executors", {"segaug_cli", "segaug_cli.worker", "segaug_cli.jobs", "segaug_cli.errors"}),
        ("segaug_cli.ops.spec", set()),  # the vocabulary of op records: below everything that reads them
        *[(family, {"segaug_cli.ops.spec"} | TRANSFORMS) for family in OP_FAMILIES],
        ("segaug_cli.recipe.checks", set()),
        ("segaug_cli.recipe.loader", {"segaug_cli.errors"}),
        # `from .. import ops` names the root package too (its __init__ holds only __version__)
        ("segaug_cli.recipe.registry", {"segaug_cli", "segaug_cli.ops", "segaug_cli.ops.spec"}),
        (
            "segaug_cli.recipe.model",
            {
                "segaug_cli.errors",
                "segaug_cli.ops.spec",
                "segaug_cli.recipe.checks",
                "segaug_cli.recipe.registry",
                *SECTION_SPECS,
            },
        ),
        *[(spec, {"segaug_cli.errors"}) for spec in sorted(SECTION_SPECS)],
        ("segaug_cli.recipe.layoutspec", {"segaug_cli.recipe.model"}),
        ("segaug_cli.recipe.parse", RECIPE_BELOW_PARSE),
        ("segaug_cli.recipe.__init__", RECIPE_BELOW_PARSE | {"segaug_cli.recipe.parse"}),
        ("segaug_cli.sampling", {"segaug_cli.recipe", "segaug_cli.ops.spec"}),
    ],
)
def test_lower_layers_import_only_below(module, allowed):
    assert internal(module) <= allowed


ENGINE_PHASES = ["segaug_cli.planning", "segaug_cli.running", "segaug_cli.committing", "segaug_cli.checking"]


def test_the_engine_reaches_workers_only_through_an_executor():
    # so another executor (a cluster) is one more class in executors.py, and the engine does not change
    assert "segaug_cli.worker" not in internal("segaug_cli.engine")
    assert "segaug_cli.executors" in internal("segaug_cli.engine")
    for phase in ENGINE_PHASES:
        assert "segaug_cli.worker" not in internal(phase)


# ---------------------------------------------------------------------------------------------
# One storage layer: only segaug_cli/storage/ knows a URL from a path
# ---------------------------------------------------------------------------------------------

STORAGE_BACKENDS = {"fsspec", "s3fs", "gcsfs", "adlfs", "botocore", "aiobotocore", "boto3"}
URL_SCHEME = re.compile(r"\b(s3a?|gs|gcs|az|abfss?|file|memory)://")
URL_TESTS = {"is_url", "nested"}  # the storage layer's own questions about a place


def in_storage(module: str) -> bool:
    return module == "segaug_cli.storage.__init__" or module.startswith("segaug_cli.storage.")


OUTSIDE_STORAGE = [m for m in MODULES if not in_storage(m)]


def docstrings(module: str) -> set[int]:
    found = set()
    for node in ast.walk(tree(module)):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def help_texts(module: str) -> set[int]:
    """String constants given as ``help=`` to click (the command line's own words for its users)."""
    return {
        id(node)
        for call in ast.walk(tree(module))
        if isinstance(call, ast.Call)
        for keyword in call.keywords
        if keyword.arg == "help"
        for node in ast.walk(keyword.value)
    }


def url_talk(module: str) -> list[str]:
    """Where a module outside the storage layer asks whether a place is a URL, or names a scheme."""
    skipped = docstrings(module) | help_texts(module)
    found = []
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            if URL_SCHEME.search(node.value):
                found.append(f"line {node.lineno}: {node.value[:40]!r}")
        elif isinstance(node, ast.Attribute) and node.attr in URL_TESTS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in URL_TESTS:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.alias) and node.name in URL_TESTS:
            found.append(f"line {node.lineno}: import {node.name}")
    return found


def test_the_storage_rules_see_what_is_there():
    assert "fsspec" in roots("segaug_cli.storage.fsspec_ro")
    assert url_talk("segaug_cli.storage.__init__")  # the layer itself asks, so the finder sees asking
    assert {"segaug_cli.engine", "segaug_cli.worker", "segaug_cli.merging", "segaug_cli.cli.__init__"} <= set(
        OUTSIDE_STORAGE
    )


@pytest.mark.parametrize("module", OUTSIDE_STORAGE, ids=short)
def test_only_the_storage_layer_imports_fsspec_and_its_backends(module):
    assert not roots(module) & STORAGE_BACKENDS


@pytest.mark.parametrize("module", OUTSIDE_STORAGE, ids=short)
def test_no_branch_on_the_kind_of_place_outside_the_storage_layer(module):
    # a folder and a bucket are the same thing to the engine: a new backend is one class in storage/
    assert url_talk(module) == []


@pytest.mark.parametrize("module", [m for m in MODULES if in_storage(m)], ids=short)
def test_the_storage_layer_never_imports_the_engine(module):
    assert not internal(module) & {"segaug_cli.engine", "segaug_cli.worker", *ENGINE_PHASES}
    assert not [name for name in internal(module) if name.startswith("segaug_cli.cli")]


@cache
def imported_closure(module: str) -> frozenset[str]:
    """This module and every package module it imports, directly or through others."""
    found = {module}
    for name in internal(module) - {"segaug_cli", module}:
        found |= imported_closure(name)
    return frozenset(found)


@pytest.mark.parametrize(
    "module",
    [
        "segaug_cli.pairing",
        "segaug_cli.listing",
        "segaug_cli.atomic",
        "segaug_cli.extensions",
        "segaug_cli.manifest",
        "segaug_cli.errors",
    ],
    ids=short,
)
def test_name_and_file_handling_never_loads_opencv(module):
    # pairing a large IN, or writing a file, must not pay for importing OpenCV (nor need it installed)
    assert not any({"cv2", "numpy"} & roots(m) for m in imported_closure(module))


def top_level_imports(module: str) -> set[str]:
    """What importing the module imports, as written (``..transforms.geometric``): not its functions' imports."""
    found = set()
    for node in tree(module).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.update(f"{'.' * node.level}{node.module or ''}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.startswith(("segaug_cli.ops.", "segaug_cli.recipe."))], ids=short
)
def test_recipe_and_op_modules_load_no_array_library_on_import(module):
    # every recipe command, `segaug validate` included, imports all of them: NumPy and OpenCV wait
    # for the functions that draw or apply an op
    names = top_level_imports(module)
    assert not {name.split(".")[0] for name in names} & {"numpy", "cv2", "PIL", "tifffile"}
    assert not [name for name in names if "transforms" in name]


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_no_module_imports_random(module):
    assert "random" not in roots(module)
    assert not any(
        name in ("numpy.random", "numpy.random.mtrand") or name.startswith("numpy.random.") for name in imports(module)
    ), "use an explicit np.random.Generator"


def np_random_attributes(module: str) -> set[str]:
    """Names taken from ``np.random`` / ``numpy.random``, e.g. ``default_rng``."""
    found = set()
    for node in ast.walk(tree(module)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "random"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id in ("np", "numpy")
        ):
            found.add(node.attr)
    return found


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_randomness_only_through_explicit_generators(module):
    # np.random.seed / rand / uniform ... use the global state; only the Generator API is allowed.
    assert np_random_attributes(module) <= {"default_rng", "Generator"}


@pytest.mark.parametrize("module", MODULES, ids=short)
def test_only_sampling_creates_generators(module):
    if module != "segaug_cli.sampling":
        assert "default_rng" not in np_random_attributes(module)


def test_sampling_creates_its_generators():
    assert np_random_attributes("segaug_cli.sampling") == {"default_rng", "Generator"}


def private_reads(module: str) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls``, and ``getattr(x, "_name")``: private state of
    something else, which its owner (the standard library, say) may change without notice."""
    found = []
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and str(node.args[1].value).startswith("_")
        ):
            found.append(f"line {node.lineno}: getattr {node.args[1].value}")
    return found


@pytest.mark.parametrize(
    "module",
    [
        "segaug_cli.engine",
        *ENGINE_PHASES,
        "segaug_cli.executors",
        "segaug_cli.worker",
        "segaug_cli.storage.books",
        "segaug_cli.storage.rows",
        "segaug_cli.storage.out",
        "segaug_cli.storage.local",
        "segaug_cli.atomic",
        "segaug_cli.codecs",
    ],
    ids=short,
)
def test_the_engine_and_its_helpers_use_no_private_attributes_of_other_objects(module):
    assert private_reads(module) == []
