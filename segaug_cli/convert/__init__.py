"""``segaug convert``: an Albumentations pipeline saved with ``A.save`` as an equivalent segaug recipe.

``pipeline`` reads the file, ``transforms`` translates each transform; this module walks the tree
(compositions become ``one_of`` / ``some_of`` groups), gathers the recipe-wide settings, refuses or
leaves out what has no exact equivalent, and writes the recipe. docs/convert.md has the mapping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..atomic import atomic_write
from ..errors import PipelineError, RecipeError
from ..recipe import parse
from .pipeline import Node, Pipeline, read
from .transforms import TRANSLATORS, Claim, Untranslatable, translate

__all__ = ["Conversion", "convert_file", "write_recipe"]

# Compositions whose members run in order, each with its own p; a OneOf's chosen member and these
# honour force_apply (run whatever their p), a SomeOf does not (Albumentations 2.0.8, core/composition.py)
SEQUENCES = ("Compose", "Sequential")
# An op that never applies: what a member that does nothing (NoOp) becomes inside a group, where
# being chosen must still be possible
NOTHING = {"hflip": {"p": 0.0}}
# Compose arguments that change no pixel of an image or mask
_COMPOSE_PIXEL_FREE = ("p", "bbox_params", "keypoint_params", "is_check_shapes", "strict", "save_applied_params")


@dataclass(frozen=True)
class Conversion:
    """The recipe text (comment header included) and the transforms left out, one line each."""

    text: str
    skipped: tuple[str, ...]
    ops: int  # top-level ops of the recipe


def convert_file(path: str | os.PathLike, skip_unknown: bool = False) -> Conversion:
    """Translate the pipeline at ``path`` into recipe text.

    Args:
        path: a JSON or YAML file written by ``A.save`` (Albumentations 2.x).
        skip_unknown: leave out transforms without an exact equivalent (listed in ``skipped``)
            instead of refusing the pipeline.
    Raises:
        PipelineError: the file is not a readable ``A.save`` pipeline, or (without ``skip_unknown``)
            a transform or argument has no exact equivalent; one line naming the file, the
            transform's position (from 1, dotted inside groups) and its name.
    """
    name = str(path)
    pipeline = read(path)
    walk = _Walk(name, skip_unknown, _order_refusals(pipeline.root))
    _check_compose(pipeline.root, name)
    ops = walk.sequence(pipeline.root.members)
    if pipeline.root.params.get("p", 1) != 1:
        ops = walk.grouped(ops, float(pipeline.root.params["p"]), inline=False)
    recipe = {**walk.settings_section(), "transforms": ops}
    text = _header(name, pipeline, walk.skipped) + yaml.safe_dump(
        recipe, sort_keys=False, default_flow_style=None, width=110
    )
    try:
        parse(text, name)  # what is written must be a valid recipe
    except RecipeError as exc:  # a translator produced something segaug refuses: a bug, said plainly
        raise PipelineError(f"{name}: the translated recipe is not valid ({exc}); please report it") from None
    return Conversion(text, tuple(walk.skipped), len(ops))


def write_recipe(path: str | os.PathLike, text: str, force: bool = False) -> None:
    """Write the recipe atomically; an existing file is replaced only with ``force``.

    Raises:
        PipelineError: ``path`` exists and ``force`` is false.
    """
    if Path(path).exists() and not force:
        raise PipelineError(f"{path}: already exists; pass --force to overwrite it")
    atomic_write(path, text.encode("utf-8"))


def _header(name: str, pipeline: Pipeline, skipped: list[str]) -> str:
    lines = [
        f"# Converted by `segaug convert` from {name}, an Albumentations {pipeline.version} pipeline.",
        "# Each op keeps the meaning of the transform it comes from (docs/convert.md has the mapping).",
    ]
    lines += [f"# Left out (--skip-unknown): {line}" for line in skipped]
    return "\n".join(lines) + "\n"


def _check_compose(node: Node, name: str) -> None:
    extra = node.params.get("additional_targets") or {}
    if extra:
        raise PipelineError(
            f"{name}: the pipeline's additional_targets {sorted(extra)}: segaug reads extra maps from the "
            "recipe's targets: section, which needs their folders; convert without them and add targets: by hand"
        )
    unknown = sorted(set(node.params) - set(_COMPOSE_PIXEL_FREE) - {"additional_targets"})
    if unknown:
        raise PipelineError(f"{name}: the pipeline's Compose argument {unknown[0]} is unknown to segaug convert")


def _order_refusals(root: Node) -> dict[str, str]:
    """Blur, noise, CLAHE and JPEG placed before a geometric transform: segaug runs them after all
    geometry (on the output, as a camera would), so that order cannot be kept."""
    leaves = list(root.leaves())
    stages = [TRANSLATORS[n.name].stage if n.name in TRANSLATORS else "none" for n in leaves]
    refused = {}
    for i, (node, stage) in enumerate(zip(leaves, stages, strict=True)):
        later = next((leaves[j] for j in range(i + 1, len(leaves)) if stages[j] == "geometric"), None)
        if stage == "output" and later is not None:
            refused[node.position] = (
                f"comes before transform {later.position} ({later.name}); segaug applies it after all "
                "geometry, so that order cannot be kept (move it after the geometric transforms)"
            )
    return refused


class _Walk:
    """The recipe being built: ops, the recipe-wide settings and who set them, the transforms left out."""

    def __init__(self, name: str, skip_unknown: bool, order_refusals: dict[str, str]):
        self.name, self.skip_unknown, self.order_refusals = name, skip_unknown, order_refusals
        self.settings: dict[str, tuple[Any, Node]] = {}
        self.skipped: list[str] = []

    # -- compositions -----------------------------------------------------------------------

    def sequence(self, nodes: tuple[Node, ...]) -> list[dict]:
        """Members applied in order, each with its own p."""
        ops: list[dict] = []
        for node in nodes:
            ops += self.placed(node, float(node.params.get("p", 1)), inline=True) or []
        return ops

    def placed(self, node: Node, p: float, inline: bool) -> list[dict] | None:
        """``node``'s ops applied with probability ``p``, or None when it is left out; ``inline``: several
        may stand side by side (in a sequence), else they are one op (a group member)."""
        if not node.is_group:
            try:
                ops = self.leaf(node)
            except Untranslatable as exc:
                self.refuse(node, str(exc))
                return None
            return self.grouped(ops, p, inline)
        if node.name in SEQUENCES:
            return self.grouped(self.sequence(node.members), p, inline)
        if node.name == "OneOf":
            return self.one_of(node, p)
        if node.name == "SomeOf":
            return self.some_of(node, p)
        self.refuse(node, "has no segaug equivalent")
        return None

    def grouped(self, ops: list[dict], p: float, inline: bool) -> list[dict]:
        """Ops that apply together with probability p: as they are, or inside one ``some_of`` of all."""
        if len(ops) == 1:
            return [_times_p(ops[0], p)]
        ops = [_times_p(op, 1.0) for op in ops]
        if not ops or (inline and p == 1):
            return ops
        return [{"some_of": {"n": len(ops), "ops": ops, "p": p}}]

    def one_of(self, node: Node, p: float) -> list[dict] | None:
        """One member, chosen with weights proportional to the members' p, then applied whatever its p."""
        if set(node.params) - {"p"}:
            self.refuse(node, f"{sorted(set(node.params) - {'p'})[0]}: an argument segaug convert does not know")
            return None
        members, weights = [], []
        for member in node.members:
            # a SomeOf ignores force_apply: once chosen it still draws its own p
            own = float(member.params.get("p", 1)) if member.name == "SomeOf" else 1.0
            ops = self.placed(member, own, inline=False)
            if ops is not None:  # a member translated into nothing (NoOp) can still be chosen
                members.append(ops[0] if ops else NOTHING)
                weights.append(float(member.params.get("p", 1)))
        if not members:
            return []
        body: dict[str, Any] = {"ops": members}
        if len(set(weights)) > 1:
            body["weights"] = weights
        return [{"one_of": {**body, "p": p}}]

    def some_of(self, node: Node, p: float) -> list[dict] | None:
        """n members drawn uniformly without replacement, applied in pipeline order, each with its own p."""
        if node.params.get("replace", False):
            self.refuse(node, "replace: true draws members with replacement; segaug's some_of draws distinct ones")
            return None
        unknown = set(node.params) - {"p", "n", "replace"}
        if unknown:
            self.refuse(node, f"{sorted(unknown)[0]}: an argument segaug convert does not know")
            return None
        members = []
        for member in node.members:
            ops = self.placed(member, float(member.params.get("p", 1)), inline=False)
            if ops is not None:
                members.append(ops[0] if ops else NOTHING)
        if not members:
            return []
        n = node.params.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            self.refuse(node, f"n: expected a whole number from 0, got {n!r}")
            return None
        n = min(n, len(members))
        return [{"some_of": {"n": n, "ops": members, "p": p}}]

    # -- transforms ---------------------------------------------------------------------------

    def leaf(self, node: Node) -> list[dict]:
        if node.position in self.order_refusals:
            raise Untranslatable(self.order_refusals[node.position])
        translation = translate(node)
        self._check_alone(node, translation.ops)
        self.claim(node, translation.claims)
        return translation.ops

    def _check_alone(self, node: Node, ops: list[dict]) -> None:
        """Each op must pass segaug's own checks (bounds such as rotations within ±360 degrees)."""
        if not ops:
            return
        try:
            parse(yaml.safe_dump({"transforms": ops}), self.name)
        except RecipeError as exc:
            raise Untranslatable(f"segaug refuses the translated values ({exc.key}: {exc.message})") from None

    def claim(self, node: Node, claims: list[Claim]) -> None:
        """Record the recipe-wide settings a transform decides; all or none, and never two values of one."""
        for c in claims:
            held = self.settings.get(c.setting)
            if held is not None and held[0] != c.value:
                raise Untranslatable(
                    f"{c.param}: {c.value!r}, but {_label(held[1])} uses {held[0]!r}; "
                    f"a segaug recipe has one {c.setting}"
                )
        for c in claims:
            self.settings.setdefault(c.setting, (c.value, node))

    def refuse(self, node: Node, reason: str) -> None:
        line = f"{_label(node)} {reason}" if reason.startswith("has no") else f"{_label(node)}: {reason}"
        if not self.skip_unknown:
            raise PipelineError(f"{self.name}: {line}; use --skip-unknown to leave it out")
        self.skipped.append(line)

    def settings_section(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "interpolation" in self.settings:
            out["interpolation"] = self.settings["interpolation"][0]
        border = {
            key: self.settings[f"border.{key}"][0]
            for key in ("mode", "image_fill", "mask_fill")
            if f"border.{key}" in self.settings
        }
        if border:
            out["border"] = border
        return out


def _times_p(op: dict, p: float) -> dict:
    """The op with probability p times its own (a member of a sequence applied with probability p)."""
    ((name, body),) = op.items()
    return {name: {**body, "p": p * body.get("p", 1.0)}}


def _label(node: Node) -> str:
    return f"transform {node.position} ({node.name})"
