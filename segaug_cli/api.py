"""The public Python interface: ``Recipe``, its ``Sample``s, ``read_pair``, and ``expand`` with its
``ExpandResult``. The package re-exports these names lazily, so ``import segaug_cli`` stays cheap.

Nothing here renders or runs on its own: a sample is the worker's own rendering of one copy
(``worker.render_copy``, the code path ``segaug expand`` takes), and ``expand`` is ``engine.expand``
with keyword options, so the arrays and files this module gives are those the command line makes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from . import recipe as recipes
from .errors import PairError, SegaugError

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from typing_extensions import Unpack

    from .rendering import Unit

    Array = NDArray[Any]

__all__ = ["ExpandResult", "Recipe", "Sample", "expand", "read_pair"]


@dataclass(frozen=True)
class Sample:
    """One augmented copy of one pair: what ``segaug expand`` writes for it, decoded, and how it was made.

    Attributes:
        image: (H, W) or (H, W, C) uint8/uint16/float32, channels in OpenCV's BGR[A] order.
        mask: (H, W) class indices (uint8/uint16), or (H, W, 3) BGR class colours for a colour mask
            without a ``labels.colors`` table.
        targets: the recipe's extra targets by name (empty when it has none).
        key: the pair's key (its image's path under the images folder, without extension or suffix).
        copy: the copy index.
        epoch: 0 for the offline run's draws; another value for a training epoch's own draws.
        seed: the unsigned 64-bit seed of this sample's generator (the manifest's ``seed`` at epoch 0).
        params: every applied op with its values (the manifest's ``params``, as a mapping).
        matrix: the source-to-output matrix as the manifest's ``matrix`` holds it: 2x3 for affine ops,
            3x3 when a perspective op makes it projective, None when a displacement field is involved.
    """

    image: Array
    mask: Array
    targets: Mapping[str, Array]
    key: str
    copy: int
    epoch: int
    seed: int
    params: Mapping[str, Mapping[str, Any]]
    matrix: Array | None


class SampleOptions(TypedDict, total=False):
    """The optional keywords of ``Recipe.sample`` (see there)."""

    targets: Mapping[str, Array]
    epoch: int
    written_as: str | None


class ExpandOptions(TypedDict, total=False):
    """The optional keywords of ``expand`` (see there)."""

    seed: int | None
    copies: int | None
    force: bool
    dry_run: bool
    strict: bool
    storage_options: Mapping[str, Any] | None


def _known(options: Mapping[str, Any], allowed: type, function: str) -> None:
    """A keyword the signature does not name is refused, as Python refuses it for a named parameter."""
    unknown = sorted(set(options) - set(allowed.__annotations__))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}")


class Recipe:
    """A validated recipe. Make one with ``Recipe.load`` or ``Recipe.from_dict``."""

    __slots__ = ("_spec",)

    def __init__(self, spec: recipes.Recipe) -> None:
        self._spec = spec

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read and validate a recipe file (YAML).

        Raises:
            RecipeError: the file cannot be read or breaks a rule; ``str(error)`` is the line
                ``segaug validate`` prints (file, line and key).
        """
        return cls(recipes.load(os.fspath(path)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "<mapping>") -> Recipe:
        """Validate a recipe given as data, shaped as the YAML file would be (``{"copies": 2,
        "transforms": [{"hflip": {"p": 0.5}}]}``). ``data`` is copied, never changed.

        Raises:
            RecipeError: as ``load``, naming ``name`` and the key (there is no line).
        """
        return cls(recipes.parse_data(data, name))

    @property
    def seed(self) -> int:
        return self._spec.seed

    @property
    def copies(self) -> int:
        """Augmented copies per pair (the recipe's ``copies``)."""
        return self._spec.copies

    @property
    def target_names(self) -> tuple[str, ...]:
        """The names of the recipe's extra targets, in its order."""
        return tuple(t.name for t in self._spec.targets)

    @property
    def spec(self) -> recipes.Recipe:
        """The parsed recipe as the package's internals read it (frozen dataclasses)."""
        return self._spec

    def __repr__(self) -> str:
        return f"Recipe(seed={self.seed}, copies={self.copies}, transforms={len(self._spec.transforms)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and other._spec == self._spec

    def __hash__(self) -> int:
        return hash(self._spec)

    def __getstate__(self) -> recipes.Recipe:
        return self._spec

    def __setstate__(self, spec: recipes.Recipe) -> None:
        self._spec = spec

    def sample(self, image: Array, mask: Array, *, key: str, copy: int, **options: Unpack[SampleOptions]) -> Sample:
        """Copy ``copy`` of the pair keyed ``key``: at epoch 0, the arrays ``segaug expand`` writes for it.

        Args:
            image, mask: the source pair as ``read_pair`` decodes it (image in BGR[A] order, mask as
                stored: indices, or colours for a ``labels.colors`` table). The recipe's ``labels``
                are applied to the mask here, as expand applies them.
            key: the pair's key as expand derives it from IN: the image's path relative to the
                recipe's images folder, POSIX separators, without extension and without
                ``inputs.image_suffix`` (``images/city/a_leftImg8bit.png`` -> ``city/a``). With
                ``tiles``, a window is a pair of its own: pass its arrays and ``<key>_y<top>_x<left>``.
            copy: the copy index (0 to copies-1 are expand's).
        Keyword Args:
            targets: the recipe's extra targets by name, each (H, W) like the mask.
            epoch: other than 0 (the default), a training epoch's own draws, the same for the same epoch.
            written_as: the output file's name or extension (``.jpg``): for a lossy format the image is
                encoded and decoded as expand writes it, so the arrays equal the decoded file. None (the
                default): the image before encoding (the same pixels for PNG and TIFF outputs).
        Raises:
            SegaugError: the arrays do not fit each other or the recipe (sizes, dtypes, fills).
        """
        _known(options, SampleOptions, "sample")
        epoch = options.get("epoch", 0)
        if copy < 0 or epoch < 0:
            raise SegaugError(f"{key}: copy and epoch are counted from 0, got copy {copy}, epoch {epoch}")
        from . import codecs
        from .rendering import Unit, relabelled

        source = _checked_pair(image, mask, key)
        targets = _target_arrays(self._spec, options.get("targets") or {}, source.shape[:2], key)
        labels = relabelled(codecs.Mask(source), self._spec)[0].labels
        return make_sample(self._spec, Unit(key, image, labels, targets), copy, epoch, options.get("written_as"))


def make_sample(spec: recipes.Recipe, unit: Unit, copy: int, epoch: int, written_as: str | None) -> Sample:
    """A sample rendered by the worker's own code, from a unit decoded and relabelled as expand does it."""
    from .rendering import render_copy

    made = render_copy(spec, unit, copy, epoch)
    rendered = made.rendered
    out_image = rendered.image if written_as is None else _as_written(rendered.image, written_as, spec)
    return Sample(
        image=out_image,
        mask=rendered.mask,
        targets=dict(zip((t.name for t in spec.targets), rendered.targets, strict=True)),
        key=unit.key,
        copy=copy,
        epoch=epoch,
        seed=made.seed,
        params=made.params,
        matrix=None if rendered.matrix is None else _manifest_matrix(rendered.matrix),
    )


def _as_written(image: Array, written_as: str, spec: recipes.Recipe) -> Array:
    """The image as its output file decodes: unchanged for lossless formats, re-encoded for lossy ones."""
    from . import codecs
    from .extensions import LOSSLESS_EXTENSIONS, suffix

    extension = (suffix(written_as) or written_as).lower()
    if extension in LOSSLESS_EXTENSIONS:
        return image
    return codecs.decode_image(codecs.encode_image(image, extension, spec.output), written_as)


def _manifest_matrix(matrix: Array) -> Array:
    """The 2x3 affine part, or the whole 3x3 matrix when it is projective, as ``format_matrix`` writes it."""
    import numpy as np

    projective = [float(x) for x in matrix[2]] != [0.0, 0.0, 1.0]
    return np.array(matrix if projective else matrix[:2], dtype=np.float64)


def _checked_pair(image: Array, mask: Array, key: str) -> Array:
    """The mask, once image and mask are arrays segaug can augment together."""
    import numpy as np

    from .codecs import IMAGE_DTYPES, MASK_DTYPES

    for name, array, dtypes in (("image", image, IMAGE_DTYPES), ("mask", mask, MASK_DTYPES)):
        if not isinstance(array, np.ndarray) or array.ndim not in (2, 3) or array.dtype not in dtypes:
            kinds = "/".join(np.dtype(d).name for d in dtypes)
            shown = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
            raise PairError(f"{key}: the {name} must be an (H, W) or (H, W, C) {kinds} array, got {shown}")
    if image.shape[:2] != mask.shape[:2]:
        raise PairError(f"{key}: the mask is {_size(mask)} but the image is {_size(image)}")
    return mask


def _target_arrays(
    spec: recipes.Recipe, given: Mapping[str, Array], shape: tuple[int, ...], key: str
) -> tuple[Array, ...]:
    """The extra targets in the recipe's order, each the mask's size; an unknown or missing one is refused."""
    names = [t.name for t in spec.targets]
    unknown, missing = sorted(set(given) - set(names)), [n for n in names if n not in given]
    if unknown or missing:
        raise PairError(f"{key}: targets must be the recipe's ({', '.join(names) or 'none'}); got {sorted(given)}")
    for name in names:
        if given[name].shape[:2] != shape:
            raise PairError(f"{key}: target {name} is {_size(given[name])} but the mask is {shape[1]}x{shape[0]}")
    return tuple(given[name] for name in names)


def _size(array: Array) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def read_pair(image_path: str | os.PathLike[str], mask_path: str | os.PathLike[str]) -> tuple[Array, Array]:
    """Decode an image and its mask as expand does: the image as annotated (EXIF rotation applied when
    the mask was drawn on the displayed image), BGR[A]; a palette PNG mask as its indices.

    Raises:
        SegaugError: a file cannot be read or decoded, or the sizes differ (the message names it).
    """
    from . import codecs

    image, mask = codecs.decode_pair(
        codecs.read_bytes(os.fspath(image_path)),
        codecs.read_bytes(os.fspath(mask_path)),
        os.fspath(image_path),
        os.fspath(mask_path),
    )
    return image, mask.labels


@dataclass(frozen=True)
class ExpandResult:
    """What an ``expand`` run did.

    Attributes:
        pairs: source pairs found in IN.
        written: output pairs written by this run; ``unchanged``: those OUT held already.
        removed: outputs of earlier runs that the recipe no longer produces, removed.
        failures: (source image, one-line reason) of each pair that failed; the others were written.
        fatal: why the run stopped early (OUT could not be written), or None.
        interrupted: the run was interrupted (Ctrl-C); what it finished is kept.
        would_write: with ``dry_run``, the output pairs that would be written.
        seconds: the run's wall time.
    """

    pairs: int
    written: int
    unchanged: int
    removed: int
    failures: tuple[tuple[str, str], ...]
    fatal: str | None
    interrupted: bool
    would_write: int
    seconds: float

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """Every pair done: what ``segaug expand`` reports with exit code 0."""
        return not (self.failures or self.fatal or self.interrupted)


def expand(
    recipe: Recipe | str | os.PathLike[str],
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    **options: Unpack[ExpandOptions],
) -> ExpandResult:
    """``segaug expand RECIPE IN OUT``: bring OUT up to date with the recipe and the pairs in IN.

    Args:
        recipe: a ``Recipe``, or the path of a recipe file.
        workers: worker processes (None: one per CPU; 1: this process). With more than one, call
            ``expand`` under ``if __name__ == "__main__":``, as any multiprocessing code.
    Keyword Args:
        seed, copies: ``--seed`` and ``--copies``: override the recipe's, recorded in OUT's segaug.json.
        force, dry_run, strict: ``--force``, ``--dry-run``, ``--strict`` (each False by default).
        storage_options: ``--storage-option`` for IN or OUT given as URLs; never written anywhere.
    Raises:
        SegaugError: a user error, with the one line the command line prints (exit code 2 there):
            the recipe (``RecipeError``), IN or OUT unusable, another run holding OUT.
    """
    from . import engine, overrides

    _known(options, ExpandOptions, "expand")
    seed, copies = options.get("seed"), options.get("copies")
    spec = recipe.spec if isinstance(recipe, Recipe) else recipes.load(os.fspath(recipe))
    engine_options = engine.ExpandOptions(
        workers=workers,
        force=options.get("force", False),
        dry_run=options.get("dry_run", False),
        strict=options.get("strict", False),
        storage_options=dict(options.get("storage_options") or {}),
        overrides=overrides.given(seed, copies),
    )
    try:
        summary = engine.expand(
            spec.with_overrides(seed=seed, copies=copies), os.fspath(in_dir), os.fspath(out_dir), engine_options
        )
    except OSError as exc:  # unreadable IN, unwritable OUT: the command line's one sentence
        raise SegaugError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from exc
    return ExpandResult(
        pairs=summary.pairs,
        written=summary.written,
        unchanged=summary.unchanged,
        removed=summary.removed,
        failures=tuple(summary.failures),
        fatal=summary.fatal,
        interrupted=summary.interrupted,
        would_write=summary.would_write,
        seconds=summary.seconds,
    )
