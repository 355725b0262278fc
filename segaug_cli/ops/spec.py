"""What an op record is made of: recipe keys, a drawer, an applier and a caption.

The records are read by the recipe parser (keys, bounds, defaults), by ``sampling`` (the drawer),
by ``augment`` (the applier), by ``preview`` (the caption) and by scripts/op_table.py (the docs).
The protocols at the end say what a drawer and an applier are handed, so an op module needs
nothing from the layers that call it.

This module imports only the standard library. Every recipe command, ``segaug validate`` included,
defines these classes, so they are kept few, and all but ``Range`` leave out ``__eq__`` (records are
compared by identity): each generated method is code compiled at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

Shape = tuple[int, int]
Values = tuple[tuple[str, Any], ...]  # (name, value) pairs: what one op drew for one sample
Resolved = tuple[Any, Shape, dict[str, Any]]  # (3x3 matrix or displacement field, output shape, manifest details)


@dataclass(frozen=True)
class Range:
    """A closed interval sampled uniformly; ``lo == hi`` is a fixed value."""

    lo: float
    hi: float


# ---------------------------------------------------------------------------------------------
# Recipe keys: sampled params and fixed settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ParamSpec:
    """A sampled parameter: a number or [lo, hi] range within sensible bounds."""

    default: Range
    lo: float  # the widest sensible bounds: absurd values are refused, not clipped
    hi: float
    open_lo: bool = False  # lo itself is excluded (a scale of 0 collapses the image)
    unit: str = ""
    integer: bool = False  # drawn as a whole number (JPEG quality, group sizes)


@dataclass(frozen=True, kw_only=True, eq=False)
class SettingSpec:
    """A fixed (not sampled) setting of an op. Its class says how it is parsed (recipe.parse has one
    parser per class below); ``lo``, ``hi`` and ``optional`` apply to the classes that say so.

    The kinds below add no fields, so they are plain subclasses rather than dataclasses of their own.
    """

    default: Any = None
    lo: int = 0
    hi: int = 0
    optional: bool = False  # null is also accepted (and kept as None)


class Size(SettingSpec):
    """``[height, width]`` in pixels, each from 1 to 65536; ``optional``: or null."""


class Whole(SettingSpec):
    """A whole number from ``lo`` to ``hi``; ``optional``: or null."""


class WholeSet(SettingSpec):
    """One whole number or a non-empty list of them, each from ``lo`` to ``hi``."""


class Labels(SettingSpec):
    """One class label or a list of them (possibly empty)."""


class Share(SettingSpec):
    """A fraction in (0, 1]."""


class Weights(SettingSpec):
    """One non-negative weight per member op of a group, or null for equal weights."""


class Members(SettingSpec):
    """A group's member ops: a list of transforms, parsed like the recipe's own."""


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


class Configured(Protocol):
    """A parsed op as its drawer sees it (``recipe.Op``)."""

    def range(self, param: str) -> Range: ...

    def setting(self, name: str) -> Any: ...


Drawer = Callable[[Configured, Any], Values]  # (op, np.random.Generator) -> values, in a fixed order


@dataclass(frozen=True, eq=False)
class Uniform:
    """The common drawer: one value per (value name, param), from the param's range, in order.

    ``sampling`` draws these (floats uniformly, whole numbers for integer params); with ``seed`` it
    then draws the seed that regenerates the op's random field (displacement, pixel noise).
    """

    names: tuple[tuple[str, str], ...]
    seed: bool = False


def uniform(*params: str, seed: bool = False, **renamed: str) -> Uniform:
    """``uniform("degrees")`` records the ``degrees`` draw as ``degrees``; ``uniform(delta="range")``
    records the ``range`` draw as ``delta``. ``uniform()`` draws nothing."""
    return Uniform(tuple((p, p) for p in params) + tuple(renamed.items()), seed)


# ---------------------------------------------------------------------------------------------
# Applying: what an applier is handed
# ---------------------------------------------------------------------------------------------


class Sampled(Protocol):
    """One op's draw as its applier sees it (``sampling.Draw``)."""

    def value(self, name: str) -> Any: ...

    def setting(self, name: str) -> Any: ...

    def uniform_noise(self, shape: tuple[int, ...]) -> Any: ...

    def normal_noise(self, shape: tuple[int, ...]) -> Any: ...


class Frame(Protocol):
    """Where a geometric op is resolved (``augment``): the shape the chain has reached, the source mask."""

    @property
    def shape(self) -> Shape: ...

    @property
    def mask(self) -> Any: ...

    def mask_in_frame(self, outside: int) -> Any: ...


# ---------------------------------------------------------------------------------------------
# The records
# ---------------------------------------------------------------------------------------------


APPLIERS = ("matrix", "resolve", "on_source", "on_output", "choose")


@dataclass(frozen=True, kw_only=True, eq=False)
class OpSpec:
    """One op: its recipe keys, how it draws, how it applies, how preview names it.

    Build one through its kind, ``GeometricOp``, ``PhotometricOp`` or ``GroupOp``, which says which
    appliers it takes: exactly one of them (a missing or a misplaced one fails at import).

    Args:
        name: the op's key in a recipe's ``transforms``.
        doc: one line for the docs table: what it does to the image.
        params: sampled keys (a number or a range each), in the order the docs list them.
        settings: fixed keys, in the order the docs list them.
        draw: a ``uniform(...)`` or a function ``(op, rng) -> values``. It must draw the same number
            of values whatever they turn out to be, so later ops keep their values.
        headline: the caption preview gives an applied op: the one number worth showing where it
            tells the copies apart (``rotate +7``); default, the op's name.
        matrix: geometric, for an op that keeps the frame's shape: ``(draw, shape) -> 3x3 matrix``.
        resolve: geometric, for one that needs more (a new size, the mask's labels, a displacement
            field): ``(draw, frame) -> (stage, output shape, manifest details)``.
        on_source: photometric, for a pointwise op run on the source before resampling, so the
            border stays exactly ``image_fill``: ``draw -> image function`` (a ``photometric.Step``
            joins the lookup-table chain).
        on_output: photometric, for a neighbourhood or noise op run on the output, where the camera
            would: ``draw -> image function``.
        choose: group, drawn after its members: ``(op, rng, member count) -> (values, chosen indices)``.
        count_param: group, a param that counts members, which the parser keeps within their number.
    """

    name: str
    doc: str
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    settings: Mapping[str, SettingSpec] = field(default_factory=dict)
    draw: Uniform | Drawer
    headline: Callable[[Sampled], str] | None = None
    matrix: Callable[[Sampled, Shape], Any] | None = None
    resolve: Callable[[Sampled, Frame], Resolved] | None = None
    on_source: Callable[[Sampled], Any] | None = None
    on_output: Callable[[Sampled], Callable[[Any], Any]] | None = None
    choose: Callable[[Configured, Any, int], tuple[Values, frozenset[int]]] | None = None
    count_param: str | None = None
    kind: ClassVar[str]
    appliers: ClassVar[tuple[str, ...]]  # the kind's pieces, of which a record gives exactly one

    def __post_init__(self) -> None:
        given = [name for name in APPLIERS if getattr(self, name) is not None]
        if len(given) != 1 or given[0] not in self.appliers:
            raise TypeError(
                f"{self.kind} op {self.name!r} needs exactly one of "
                f"{' or '.join(a + '=' for a in self.appliers)}, got {given or 'none'}"
            )
        if isinstance(self.draw, Uniform):
            drawn = {param for _, param in self.draw.names}
            if drawn - set(self.params):
                raise TypeError(f"op {self.name!r} draws {sorted(drawn - set(self.params))}: not among its params")
            if self.kind != "group" and set(self.params) - drawn:
                raise TypeError(f"op {self.name!r} never draws {sorted(set(self.params) - drawn)}")

    def label(self, d: Sampled) -> str:
        """The caption of this op in a preview tile."""
        return self.headline(d) if self.headline else self.name


# The kinds add no fields, so they are plain subclasses rather than dataclasses of their own.


class GeometricOp(OpSpec):
    """An op that moves pixels; masks and label targets follow it nearest-neighbour."""

    kind = "geometric"
    appliers = ("matrix", "resolve")

    def stage(self, d: Sampled, frame: Frame) -> Resolved:
        """This op's resampling stage at this point of the chain."""
        if self.matrix is not None:
            return self.matrix(d, frame.shape), frame.shape, {}
        return self.resolve(d, frame)


class PhotometricOp(OpSpec):
    """An image-only op: the function it builds is handed the image and never sees a mask."""

    kind = "photometric"
    appliers = ("on_source", "on_output")


class GroupOp(OpSpec):
    """An op over member ops (``ops:``); members are drawn first, then ``choose`` picks the applied ones."""

    kind = "group"
    appliers = ("choose",)
