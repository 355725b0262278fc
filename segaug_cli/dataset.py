"""``AugmentedPairs``: a map-style dataset over IN's pairs x copies, for a training loop.

Item ``i`` is copy ``i % copies`` of pair ``i // copies`` (pairs in key order, as expand walks them),
read, decoded and rendered by the same code as ``segaug expand``: epoch 0 gives the arrays of the
offline run, another epoch its own draws. It imports no torch: ``torch.utils.data.DataLoader`` takes
any object with ``__len__`` and ``__getitem__``, and one that pickles for its worker processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .api import Recipe, Sample, make_sample
from .errors import SegaugError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .jobs import Settings
    from .pairing import Pair

__all__ = ["AugmentedPairs"]


class AugmentedPairs:
    """The augmented copies of every pair in IN, one item per (pair, copy), drawn for one epoch.

    Args:
        recipe: a ``Recipe``, or the path of a recipe file.
        in_dir: IN, a folder (or a URL, with the matching extra installed), laid out as for expand.
        epoch: 0 serves exactly the arrays ``segaug expand`` writes (decoded); any other epoch new
            draws, the same ones each time for the same epoch. ``set_epoch`` changes it.
        storage_options: for IN as a URL, as ``--storage-option``.
    Raises:
        SegaugError: IN or its folders are missing, a pair has no mask (or another problem the
            run would fail it for), or the recipe cuts tiles or gives class-aware copies (their
            number of items is only known once every mask is decoded: run ``segaug expand``).
    """

    def __init__(
        self,
        recipe: Recipe | str | os.PathLike[str],
        in_dir: str | os.PathLike[str],
        epoch: int = 0,
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._recipe = recipe if isinstance(recipe, Recipe) else Recipe.load(recipe)
        _refuse_unsized(self._recipe)
        self._settings = _settings(self._recipe, in_dir, dict(storage_options or {}))
        self._pairs = _usable_pairs(self._recipe, self._settings)
        self._copies = self._recipe.copies
        self.set_epoch(epoch)

    @property
    def recipe(self) -> Recipe:
        return self._recipe

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def keys(self) -> tuple[str, ...]:
        """The pairs' keys, in item order."""
        return tuple(pair.key for pair in self._pairs)

    def set_epoch(self, epoch: int) -> None:
        """Draw the following items for ``epoch``. A ``DataLoader`` copies the dataset into its workers
        when an epoch's iteration starts, so call this before it (not with ``persistent_workers``)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise SegaugError(f"epoch must be a whole number from 0, got {epoch!r}")
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self._pairs) * self._copies

    def locate(self, index: int) -> tuple[str, int]:
        """(key, copy) of item ``index``."""
        pair, copy = self._item(index)
        return pair.key, copy

    def __getitem__(self, index: int) -> tuple[NDArray[Any], ...]:
        """(image, mask), followed by the recipe's extra targets in its order when it has any: numpy
        arrays, the image in BGR[A] order (``image[..., ::-1]`` for RGB)."""
        sample = self.sample(index)
        return (sample.image, sample.mask, *sample.targets.values())

    def sample(self, index: int) -> Sample:
        """Item ``index`` with its key, copy, seed, params and matrix."""
        from . import worker
        from .naming import image_extension
        from .rendering import Unit

        pair, copy = self._item(index)
        spec = self._recipe.spec
        image, mask, targets = worker.read_pair(self._settings, pair)  # the mask relabelled already
        written_as = image_extension(pair.image, spec.output.image_format)
        return make_sample(spec, Unit(pair.key, image, mask.labels, targets), copy, self._epoch, written_as)

    def _item(self, index: int) -> tuple[Pair, int]:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"AugmentedPairs indices are integers, not {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} out of range for {size} items")
        index %= size
        return self._pairs[index // self._copies], index % self._copies

    def __repr__(self) -> str:
        return f"AugmentedPairs({len(self._pairs)} pairs x {self._copies} copies, epoch {self._epoch})"


def _refuse_unsized(recipe: Recipe) -> None:
    spec = recipe.spec
    if spec.tiles is not None:
        raise SegaugError("AugmentedPairs does not serve recipes with tiles: run segaug expand, then read OUT")
    if spec.class_copies:
        raise SegaugError(
            "AugmentedPairs does not serve class-aware copies (copies by label): run segaug expand, then read OUT"
        )


def _settings(recipe: Recipe, in_dir: str | os.PathLike[str], storage_options: dict[str, Any]) -> Settings:
    from . import storage
    from .jobs import Settings

    return Settings(recipe.spec, str(storage.place(in_dir)), "", storage_options=storage_options)


def _usable_pairs(recipe: Recipe, settings: Settings) -> tuple[Pair, ...]:
    """IN's pairs as expand finds them; one that expand would fail before reading it is refused here."""
    from . import storage
    from .planning import scan_in

    source = storage.source_of(settings.in_dir, settings.storage_options, must_exist=True)
    pairs = tuple(scan_in(recipe.spec, source))
    for pair in pairs:
        if pair.problem:
            raise SegaugError(f"{pair.image}: {pair.problem}")
    if not pairs:
        raise SegaugError(f"{settings.in_dir}: no image/mask pairs found")
    return pairs
