"""YAML text -> (plain data, the line of every key path), with a safe loader.

``yaml.safe_load`` drops line marks, so the document is composed first and each key's line is
recorded before construction; errors can then say ``r.yaml line 4: transforms[0].rotate.degrees``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import RecipeError

KeyPath = tuple[Any, ...]  # ("transforms", 0, "rotate", "degrees")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` and ``1.0e308`` as numbers (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def compose(text: str, name: str) -> tuple[Any, dict[KeyPath, int]]:
    """Safe-load YAML while keeping the line of every key.

    Raises:
        RecipeError: the text is empty (blanks or comments only: most likely the wrong file, never a
            recipe; ``{}`` means every default), is not YAML, repeats a key, or holds a value that does
            not fit its tag.
    """
    lines: dict[KeyPath, int] = {}
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:  # before construction, which flattens `<<` merges into the mapping
                _record_lines(node, (), lines, set(), name)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise RecipeError(name, mark.line + 1 if mark else None, "", f"invalid YAML: {problem}") from None
    except RecursionError:
        raise RecipeError(name, None, "", "invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        # PyYAML's own constructors fail this way on e.g. `!!int abc`, `!!bool maybe`, `!!timestamp x`
        # or an integer of more digits than Python converts.
        raise RecipeError(
            name,
            None,
            "",
            "invalid YAML: a value does not fit its type or tag (e.g. !!int abc, !!timestamp 2001-13-45)",
        ) from None
    if data is None:
        raise RecipeError(
            name, None, "", "empty recipe (nothing but blanks or comments); write {} to mean every default"
        )
    return data, lines


def as_loaded(data: Any, name: str) -> dict:
    """A recipe given as data, in the shapes YAML loads: mappings as dicts, tuples and lists as lists,
    copied (the caller's data is never changed).

    Raises:
        RecipeError: the data is not a mapping.
    """
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, (list, tuple)) else "text" if isinstance(data, str) else repr(data)
        raise RecipeError(name, None, "", f"must be a mapping of keys to values, got {kind}")
    return _plain(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _record_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], seen: set[int], name: str) -> None:
    """Record each key's line and refuse duplicate keys (YAML would keep the last one silently).

    Each node is walked once: an alias (``*a``) can point back into its own anchor or fan out
    exponentially, and its keys keep the line of the key that uses the alias.
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: construction reports it
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first:
                why = f"duplicate key (first on line {first[key]})"
                raise RecipeError(name, line, dotted(path + (key,)), why)
            first[key] = line
            _record_lines(value_node, path + (key,), lines, seen, name)
            lines[path + (key,)] = line  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, path + (index,), lines, seen, name)


def dotted(path: KeyPath) -> str:
    """A key path as messages write it: ``transforms[0].rotate.degrees``."""
    out = ""
    for part in path:
        if isinstance(part, str) and not part.isprintable():  # a key with a line break: keep one line
            part = repr(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
