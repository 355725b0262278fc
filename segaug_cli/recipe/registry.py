"""The op registry: every record the modules of ``segaug_cli.ops`` define, found at import.

The only list of op names. The parser, sampling, augment, preview and the docs table all read it.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from .. import ops as _ops_package
from ..ops.spec import GeometricOp, GroupOp, OpSpec, PhotometricOp

SPEC_MODULE = "spec"  # the vocabulary the records are written in, not a family


def collect(package: ModuleType) -> dict[str, OpSpec]:
    """Every op record of ``package``'s family modules, by name, in the families' ORDER.

    Raises:
        ImportError: a family lacks ORDER or OPS, two families share an ORDER, an entry is not an
            op record, or two records share a name.
    """
    found: dict[str, OpSpec] = {}
    for family in families(package):
        for spec in family.OPS:
            if not isinstance(spec, (GeometricOp, PhotometricOp, GroupOp)):
                raise ImportError(f"{family.__name__}.OPS holds {spec!r}, not a GeometricOp, PhotometricOp or GroupOp")
            if spec.name in found:
                raise ImportError(f"op {spec.name!r} is defined twice (again in {family.__name__})")
            found[spec.name] = spec
    return found


def families(package: ModuleType) -> list[ModuleType]:
    """The family modules of ``package`` (all but ``spec``), imported, in their ORDER.

    Raises:
        ImportError: a family lacks ORDER or OPS, or two families share an ORDER.
    """
    names = sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name != SPEC_MODULE)
    families = [importlib.import_module(f"{package.__name__}.{name}") for name in names]
    for family in families:
        if not isinstance(getattr(family, "ORDER", None), int) or not isinstance(getattr(family, "OPS", None), tuple):
            raise ImportError(f"{family.__name__} must define ORDER (an int) and OPS (a tuple of op records)")
    orders = sorted(family.ORDER for family in families)
    if len(set(orders)) != len(orders):
        raise ImportError(f"two op families share an ORDER: {orders}")
    return sorted(families, key=lambda family: family.ORDER)


OPS: dict[str, OpSpec] = collect(_ops_package)
GEOMETRIC_OPS = tuple(name for name, spec in OPS.items() if spec.kind == "geometric")
PHOTOMETRIC_OPS = tuple(name for name, spec in OPS.items() if spec.kind == "photometric")


def spec_of(name: str) -> OpSpec:
    """The record of op ``name``.

    Raises:
        LookupError: no family defines it (a recipe never gets here with one: the parser refuses it).
    """
    try:
        return OPS[name]
    except KeyError:
        raise LookupError(f"op {name!r} has no record in segaug_cli/ops: nothing could draw or apply it") from None
