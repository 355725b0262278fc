"""Write the op tables of the docs from the op records, so that the two cannot disagree.

`make op-table` (`python scripts/op_table.py --write`) rewrites the lines between each pair of markers:
the op table of docs/recipes.md and the table of families in docs/adding-an-op.md. With no argument it
prints the op table. tests/test_docs.py fails while a file holds another table, so after adding or
changing an op, run `make op-table`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from segaug_cli import ops
from segaug_cli.ops.spec import Members, OpSpec, Range
from segaug_cli.recipe import OPS
from segaug_cli.recipe.registry import families

DOCS = Path(__file__).resolve().parent.parent / "docs"
END = "<!-- end of generated table -->"


def begin(name: str) -> str:
    """The marker that opens the generated table ``name``."""
    return f"<!-- {name}: generated from the op records by `make op-table`; do not edit by hand -->"


MASK_EFFECT = {
    "geometric": "same geometry, nearest-neighbour",
    "photometric": "untouched",
    "group": "as its chosen ops",
}


def _value(value) -> str:
    if isinstance(value, Range):
        return _num(value.lo) if value.lo == value.hi else f"[{_num(value.lo)}, {_num(value.hi)}]"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "none" if value is None else _num(value) if isinstance(value, float) else str(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def _keys(spec: OpSpec) -> str:
    keys = [f"`{name}` {_value(p.default)}" for name, p in spec.params.items()]
    keys += [
        f"`{name}` {'(required)' if isinstance(s, Members) else _value(s.default)}" for name, s in spec.settings.items()
    ]
    return ", ".join(keys + ["`p` 1"])


def table() -> str:
    lines = ["| op | what it does to the image | to the mask | keys (default) |", "| --- | --- | --- | --- |"]
    lines += [f"| `{name}` | {spec.doc} | {MASK_EFFECT[spec.kind]} | {_keys(spec)} |" for name, spec in OPS.items()]
    return "\n".join(lines)


def family_table() -> str:
    """The family modules of segaug_cli/ops and their ops, in the order of the registry."""
    lines = ["| module | ops |", "| --- | --- |"]
    lines += [
        f"| `{family.__name__.rsplit('.', 1)[1]}.py` | {', '.join(spec.name for spec in family.OPS)} |"
        for family in families(ops)
    ]
    return "\n".join(lines)


# Each generated table: the file that holds it, the name in its marker, and what writes it.
TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "op table": (DOCS / "recipes.md", table),
    "family table": (DOCS / "adding-an-op.md", family_table),
}


def generated_part(text: str, name: str) -> str:
    """The lines of ``text`` between the markers of the table ``name`` (the table as the file holds it).

    Raises:
        ValueError: the markers are missing, repeated, or out of order.
    """
    start, end = begin(name), END
    if text.count(start) != 1 or text.find(end, text.find(start)) < 0:
        raise ValueError(f"the {name} must stand between one {start!r} and the next {end!r}")
    at = text.index(start) + len(start)
    return text[at : text.index(end, at)].strip("\n")


def with_table(text: str, name: str) -> str:
    """``text`` with the table ``name`` between its markers replaced by the one the records give."""
    generated_part(text, name)  # the markers are there
    at = text.index(begin(name)) + len(begin(name))
    return text[:at] + f"\n{TABLES[name][1]()}\n" + text[text.index(END, at) :]


def write_all() -> None:
    """Rewrite every generated table in its file."""
    for name, (path, _) in TABLES.items():
        path.write_text(with_table(path.read_text(encoding="utf-8"), name), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_all()
    elif sys.argv[1:]:
        sys.exit("usage: op_table.py [--write]")
    else:
        print(table())
