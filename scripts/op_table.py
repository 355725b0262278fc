"""Print the op table of docs/recipes.md from the recipe registry, so the two cannot disagree.

tests/test_docs.py checks that docs/recipes.md contains exactly this table; after adding or changing an op,
run `python scripts/op_table.py` and paste its output into docs/recipes.md.
"""

from __future__ import annotations

from segaug_cli.ops.spec import Members, OpSpec, Range
from segaug_cli.recipe import OPS

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


if __name__ == "__main__":
    print(table())
