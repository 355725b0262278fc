"""Reading a pipeline saved by Albumentations' ``A.save``: the file, its version, its tree of transforms.

``A.save`` writes ``{"__version__": "2.0.8", "transform": {...}}`` as JSON or YAML; each transform is a
mapping with ``__class_fullname__``, its ``p`` and its constructor's arguments, and a composition
(``Compose``, ``OneOf``, ``SomeOf``, ``Sequential``) holds its members under ``transforms``. Only the
layout of Albumentations 2.x is read: 1.x names and means several arguments differently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import PipelineError

SUPPORTED_MAJOR = "2"


@dataclass(frozen=True)
class Node:
    """One transform record of the pipeline and where it sits.

    ``position`` counts from 1 and names nesting with dots: ``3`` is the pipeline's third transform,
    ``3.2`` the second member of that one.
    """

    position: str
    name: str  # the class name, without its module
    params: dict[str, Any]  # every key of the record but the class name and ``transforms``
    members: tuple[Node, ...] = ()
    is_group: bool = False

    def leaves(self) -> Iterator[Node]:
        """This node's transforms that are not compositions, in pipeline order."""
        if not self.is_group:
            yield self
        for member in self.members:
            yield from member.leaves()


@dataclass(frozen=True)
class Pipeline:
    version: str
    root: Node  # the outer Compose


def read(path: str | Path) -> Pipeline:
    """Read and check a file written by ``A.save`` (JSON, or YAML with ``data_format="yaml"``).

    Raises:
        PipelineError: the file cannot be read, is neither JSON nor YAML, is not an ``A.save`` file,
            or was written by an Albumentations release other than 2.x; the message names the file.
    """
    name = str(path)
    data = _load(Path(path), name)
    if not isinstance(data, dict) or "transform" not in data or "__version__" not in data:
        raise PipelineError(f"{name}: not a pipeline saved with Albumentations' A.save (no __version__ and transform)")
    version = data["__version__"]
    if not isinstance(version, str) or version.split(".")[0] != SUPPORTED_MAJOR:
        raise PipelineError(
            f"{name}: saved by Albumentations {version}; segaug convert reads pipelines saved by Albumentations 2.x"
        )
    root = _node(data["transform"], "", name)
    if not root.is_group:
        root = Node("", "Compose", {"p": 1.0}, (_renumbered(root, "1"),), is_group=True)
    return Pipeline(version, root)


def _load(path: Path, name: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"{name}: cannot be read as UTF-8 text (not a saved pipeline)") from None
    except OSError as exc:
        raise PipelineError(f"{name}: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PipelineError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise PipelineError(f"{name}: not valid JSON or YAML ({where}{getattr(exc, 'problem', None) or exc})") from None


def _node(raw: Any, position: str, name: str) -> Node:
    label = f"transform {position}" if position else "the pipeline's transform"
    if not isinstance(raw, dict) or not isinstance(raw.get("__class_fullname__"), str):
        raise PipelineError(f"{name}: {label} is not a transform record (no __class_fullname__)")
    class_name = raw["__class_fullname__"].rsplit(".", 1)[-1]
    params = {k: v for k, v in raw.items() if k not in ("__class_fullname__", "transforms")}
    p = params.get("p", 1.0)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise PipelineError(f"{name}: {label} ({class_name}): p: expected a probability from 0 to 1, got {p!r}")
    if "transforms" not in raw:
        return Node(position, class_name, params)
    if not isinstance(raw["transforms"], list):
        raise PipelineError(f"{name}: {label} ({class_name}): transforms is not a list")
    prefix = f"{position}." if position else ""
    members = tuple(_node(m, f"{prefix}{i}", name) for i, m in enumerate(raw["transforms"], 1))
    return Node(position, class_name, params, members, is_group=True)


def _renumbered(node: Node, position: str) -> Node:
    members = tuple(_renumbered(m, f"{position}.{i}") for i, m in enumerate(node.members, 1))
    return Node(position, node.name, node.params, members, node.is_group)
