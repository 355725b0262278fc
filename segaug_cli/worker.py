"""One pair job: read -> augment -> encode -> write, returning its outcome; run by an executor.

A job names paths, never arrays, and its outcome is a small record: the worker reads the pair once,
decides per sample whether the existing output is still valid (hashing only), and decodes, augments,
encodes and writes only the samples that need it.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from . import codecs, headers, storage, testing
from .augment import Rendered
from .errors import PairError
from .extensions import suffix
from .fingerprint import fingerprint, sha256
from .jobs import Action, Mode, PairJob, PairOutcome, Reason, SampleOutcome, Settings
from .manifest import Row, format_matrix
from .naming import Sample, output_samples, reencodes_originals
from .pair_writes import PairWrites
from .pairing import Pair
from .recipe import Recipe
from .rendering import Unit, relabelled, render_copy
from .stats import class_counts
from .tiles import Window

IDENTITY = "1 0 0 0 1 0"


_SETTINGS: Settings | None = None
_CPU_SLOTS = None  # a semaphore shared by a pool's processes when more of them run than may compute


def init_worker(settings: Settings, cpu_slots=None) -> None:
    """Keep the run's settings for ``process_pair`` in this process (an executor calls this once per
    worker, so that each job carries only its pair).

    ``cpu_slots``: a semaphore of the pool's workers, given when the pool has more processes than
    workers (an object-store OUT): a pair renders only while it holds a slot, and gives it up to wait
    for its uploads, so another process renders meanwhile and the CPU work stays at the workers asked for.
    """
    global _SETTINGS, _CPU_SLOTS
    _SETTINGS, _CPU_SLOTS = settings, cpu_slots


def modules_to_preload(settings: Settings) -> tuple[str, ...]:
    """What a worker of this run imports beyond this module: the storage backends of IN and OUT, and
    the PNG writers (every worker of a PNG run needs them, about 10 ms of imports each)."""
    writers = ("segaug_cli.png", "fpng") if settings.recipe.output.png == "fast" else ("segaug_cli.png",)
    return (*storage.backend_modules(settings.in_dir, settings.out_dir), *writers)


@contextlib.contextmanager
def _computing() -> Iterator[None]:
    """Hold one of the pool's CPU slots, where it has them (see ``init_worker``)."""
    if _CPU_SLOTS is None:
        yield
        return
    with _CPU_SLOTS:
        yield


def process_pair(job: PairJob) -> PairOutcome:
    """Bring every sample of one pair up to date (or, in dry-run/check, say what is out of date)."""
    assert _SETTINGS is not None, "init_worker was not called"
    return process_pair_with(_SETTINGS, job)


def process_pair_with(settings: Settings, job: PairJob) -> PairOutcome:
    """``process_pair`` with the run's settings given, for executors whose worker threads may serve
    several runs at once (a shared cluster), where one per-process setting would not do."""
    pair = job.pair
    testing.pause("pair", pair.key)
    if pair.problem:
        return PairOutcome(pair.key, pair.image, failure=f"{pair.image}: {pair.problem}")
    written = PairWrites(settings)
    try:
        sources = _read_sources(settings, pair)
        outcomes: list[SampleOutcome] = []
        stats: tuple[Counter, Counter] = (Counter(), Counter())
        with _computing():  # released before the wait for the uploads below
            for unit in _units(settings.recipe, sources):  # the pair, or each of its windows
                wanted = _wanted_copies(settings.recipe, unit)
                found = tuple(
                    _process_sample(settings, unit, job, s, written)
                    if s.copy is None or s.copy < wanted
                    else SampleOutcome(s.image, s.mask, Action.DROPPED)
                    for s in output_samples(settings.recipe, pair, unit.key if unit.window else None)
                )
                outcomes.extend(found)
                if settings.recipe.class_copies:
                    written.finish()  # the output masks are read back below
                    _add_class_pixels(stats, settings, unit, found)
        receipts = written.finish()
        class_pixels = (dict(stats[0]), dict(stats[1])) if settings.recipe.class_copies else None
        return PairOutcome(
            pair.key,
            pair.image,
            tuple(outcomes),
            class_pixels=class_pixels,
            unlisted_pixels=sources.unlisted,
            receipts=receipts,
        )
    except PairError as exc:
        written.discard()
        message = str(exc)
        return PairOutcome(
            pair.key, pair.image, failure=message if message.startswith(pair.image) else f"{pair.image}: {message}"
        )
    except OSError as exc:
        written.discard()
        return PairOutcome(pair.key, pair.image, fatal=f"{exc.filename or settings.out_dir}: {exc.strerror or exc}")
    except storage.StorageError as exc:  # the store refused or cannot be reached: the run stops, as on a full disk
        written.discard()
        return PairOutcome(pair.key, pair.image, fatal=str(exc))
    except Exception as exc:  # a bug of ours, or a codec's: this pair fails, the run and its pool go on
        written.discard()
        return PairOutcome(
            pair.key,
            pair.image,
            failure=f"{pair.image}: internal error ({type(exc).__name__}: {exc}); please report it with this pair",
        )


def _read_sources(settings: Settings, pair: Pair) -> _Sources:
    read = headers.limited(_reader(settings.in_dir, settings), settings.recipe.inputs.max_pixels)
    image_bytes = read(pair.image)
    mask_bytes = read(pair.mask)
    target_bytes = tuple(read(t) for t in pair.targets)
    hashes = tuple(sha256(b) for b in (image_bytes, mask_bytes, *target_bytes))
    return _Sources(pair, image_bytes, mask_bytes, target_bytes, hashes, settings.recipe, pair.key)


def _reader(folder: str, settings: Settings) -> Callable[[str], bytes]:
    """Reads a file of IN or OUT by its relative path; one that cannot be read is a ``PairError``.
    Through the location this worker process opened for the folder (``storage.opened``)."""
    role = "OUT" if folder == settings.out_dir else "IN"
    return storage.opened(folder, settings.storage_options, role).read_input


def _read_output(settings: Settings, rel: str) -> bytes:
    """The bytes of an output file; ``FileNotFoundError`` when it is not there."""
    return storage.opened(settings.out_dir, settings.storage_options, "OUT").read(rel)


def _units(recipe: Recipe, sources: _Sources) -> Iterator[_Sources]:
    """What gets samples of its own: the whole pair, or with ``tiles`` each window worth keeping.

    A window shares the pair's bytes and hashes and holds views of its decoded arrays; its key (the
    pair's plus ``_y<top>_x<left>``) names its outputs and seeds its copies.
    """
    if recipe.tiles is None:
        yield sources
        return
    from . import tiles

    image, mask, targets = sources.decoded()
    fill = _image_fill(image, recipe)
    for tile in tiles.tiles(image, mask.labels, sources.key, recipe.tiles, fill, _mask_fill(mask, recipe)):
        cut = tuple(
            tiles.cut(array, tile.window, _target_fill(t)) for array, t in zip(targets, recipe.targets, strict=True)
        )
        window_mask = replace(mask, labels=tile.mask)
        yield replace(
            sources, key=tile.key, window=tile.window, _mask=window_mask, _decoded=(tile.image, window_mask, cut)
        )


def _image_fill(image: np.ndarray, recipe: Recipe) -> tuple[float, ...]:
    """``partial: pad`` fills the image with the border's image fill, in the image's channel order."""
    from .augment import image_fill_for

    return tuple(image_fill_for(image, recipe.border.image_fill))


def _mask_fill(mask: codecs.Mask, recipe: Recipe) -> int | tuple[int, ...]:
    from .augment import mask_fill_for

    return mask_fill_for(mask.labels, recipe.border.mask_fill)


def _target_fill(target) -> float:
    return target.fill


@dataclass
class _Sources:
    """A pair's source bytes, hashed at once and decoded only when a sample needs pixels."""

    pair: Pair
    image_bytes: bytes
    mask_bytes: bytes
    target_bytes: tuple[bytes, ...] = ()
    hashes: tuple[str, ...] = ()  # image, mask, then each target
    recipe: Recipe | None = None
    key: str = ""  # names the outputs and seeds the copies: the pair's key, or its window's
    window: Window | None = None  # with tiles: where in the source this unit was cut
    _mask: codecs.Mask | None = field(default=None, repr=False)
    _decoded: tuple[np.ndarray, codecs.Mask, tuple[np.ndarray, ...]] | None = field(default=None, repr=False)
    palettes: dict[str, codecs.Mask] = field(default_factory=dict, repr=False)  # palette PNG targets, by path
    unlisted: int = 0  # mask pixels the label map does not list (they took its default)
    _reoriented: bool | None = field(default=None, repr=False)

    def mask(self) -> codecs.Mask:
        """The source mask as the recipe's labels make it: converted once, before any augmentation."""
        if self._mask is None:
            self._mask = self._relabelled(codecs.decode_mask(self.mask_bytes, self.pair.mask))
            if self.recipe is not None and reencodes_originals(self.recipe):
                self.mask_bytes = b""  # hashed already, and never copied: a large mask's bytes can go
        return self._mask

    def _relabelled(self, mask: codecs.Mask) -> codecs.Mask:
        if self.recipe is None:
            return mask
        mask, self.unlisted = relabelled(mask, self.recipe)
        return mask

    def _release_image_bytes(self) -> None:
        """With tiles every file is encoded from pixels: drop the image's and targets' bytes once decoded
        (they are hashed already), so a 6000x6000 pair's bytes do not stay beside its pixels."""
        if self.recipe is not None and self.recipe.tiles is not None:
            self.reoriented  # noqa: B018 -- read from the bytes now, and kept
            self.image_bytes = b""
            self.target_bytes = tuple(b"" for _ in self.target_bytes)

    def decoded(self) -> tuple[np.ndarray, codecs.Mask, tuple[np.ndarray, ...]]:
        """(image as annotated, mask, extra targets), all checked to share one size."""
        if self._decoded is None:
            pair, mask = self.pair, self.mask()
            image = codecs.decode_annotated_image(self.image_bytes, pair.image, mask, pair.mask)
            image.flags.writeable = False  # shared by every copy of the pair; lets photometric reuse its histogram
            self._decoded = (image, mask, self._decode_targets(mask.labels.shape[:2]))
            self._release_image_bytes()
        return self._decoded

    def _decode_targets(self, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        arrays = []
        for path, data in zip(self.pair.targets, self.target_bytes, strict=True):
            if codecs.is_palette_png(data):  # label maps from annotation tools: indices, never colours
                self.palettes[path] = codecs.decode_mask(data, path)
                array = self.palettes[path].labels
            else:
                array = codecs.decode_image(data, path)
            if array.shape[:2] != shape:
                raise PairError(
                    f"{path} is {array.shape[1]}x{array.shape[0]} but {self.pair.mask} is {shape[1]}x{shape[0]}"
                )
            arrays.append(array)
        return tuple(arrays)

    @property
    def reoriented(self) -> bool:
        """The image carries an EXIF rotation, so its stored pixels are not what was annotated."""
        if self._reoriented is None:
            self._reoriented = codecs.exif_orientation(self.image_bytes) != 1
        return self._reoriented


def read_pair(settings: Settings, pair: Pair) -> tuple[np.ndarray, codecs.Mask, tuple[np.ndarray, ...]]:
    """A pair's arrays as a run augments them: the image as annotated, the relabelled mask, the targets.

    Raises:
        PairError: a file cannot be read or decoded, is over the pixel limit, or the sizes differ.
    """
    if pair.problem:
        raise PairError(f"{pair.image}: {pair.problem}")
    return _read_sources(settings, pair).decoded()


def _wanted_copies(recipe: Recipe, sources: _Sources) -> int:
    """How many copies this pair gets; class-aware rules read the mask's labels (not the image)."""
    if not recipe.class_copies:
        return recipe.copies
    labels = sources.mask().labels
    return recipe.copies_for(set(class_counts(labels)) if labels.ndim == 2 else set())


def _add_class_pixels(
    stats: tuple[Counter, Counter], settings: Settings, unit: _Sources, outcomes: tuple[SampleOutcome, ...]
) -> None:
    """Add the pixels per class of a unit's source mask (before) and of its output masks (after)."""
    before, after = stats
    read = _reader(settings.out_dir, settings)
    for o in outcomes:
        if o.action in (Action.WRITTEN, Action.UNCHANGED):
            after.update(class_counts(codecs.decode_mask(read(o.mask), o.mask).labels))
    before.update(class_counts(unit.mask().labels))


def _process_sample(
    settings: Settings, sources: _Sources, job: PairJob, sample: Sample, written: PairWrites
) -> SampleOutcome:
    fp = fingerprint(settings.recipe, sources.key, sample.copy, sources.hashes)
    previous = next((r for r in job.previous if r.image == sample.image), None)
    outdated = (
        (Reason.FORCED, sample.image) if settings.force else _why_outdated(settings, sample, fp, previous, job.stored)
    )
    reason, path = outdated
    if reason is None and (settings.deep_all or sample.image in settings.deep):
        reason, path = _compare_pixels(settings, sources, job.pair, sample)
    detail = ""
    if reason is None and settings.verify_rows:
        reason, path, detail = _compare_row(settings, sources, job.pair, sample, previous)
    if reason is None:
        return SampleOutcome(sample.image, sample.mask, Action.UNCHANGED, row=previous)
    if settings.mode is not Mode.EXPAND:
        return SampleOutcome(sample.image, sample.mask, Action.PENDING, reason, path=path, detail=detail)
    encoded, row = _render(settings, sources, job.pair, sample, fp)
    for rel, data in zip(sample.outputs(), encoded, strict=True):
        written.write(rel, data)
    return SampleOutcome(sample.image, sample.mask, Action.WRITTEN, reason, row)


def _why_outdated(
    settings: Settings, sample: Sample, fp: str, previous: Row | None, stored: tuple[tuple[str, str], ...] = ()
) -> tuple[Reason | None, str]:
    """Why this sample must be (re)written and the output file concerned; (None, "") when OUT holds it.

    An output whose sha256 the store vouches for (``stored``) is compared without being downloaded.
    """
    if previous is None:
        return Reason.NEW, sample.image
    recorded = dict(previous.outputs())
    if previous.fingerprint != fp or set(recorded) != set(sample.outputs()):
        return Reason.STALE, sample.image
    vouched = dict(stored)
    for rel in sample.outputs():
        if vouched.get(rel) == recorded[rel]:
            continue
        try:
            if sha256(_read_output(settings, rel)) != recorded[rel]:
                return Reason.ALTERED, rel
        except FileNotFoundError:
            return Reason.MISSING, rel
    return None, ""


def _render(
    settings: Settings, sources: _Sources, pair: Pair, sample: Sample, fp: str
) -> tuple[tuple[bytes, ...], Row]:
    """The encoded outputs of one sample (in ``sample.outputs()`` order) and its manifest row."""
    recipe = settings.recipe
    if sample.copy is None and reencodes_originals(recipe):  # its labels or its window changed its pixels
        encoded = _reencoded_original(recipe, sources, pair, sample)
        seed, matrix, params = "", IDENTITY, "{}"
    elif sample.copy is None:  # a kept original is copied byte for byte, never re-encoded...
        encoded = (sources.image_bytes, sources.mask_bytes, *sources.target_bytes)
        if sources.reoriented:  # ...unless it must be written as displayed, without its EXIF rotation
            image = codecs.encode_image(sources.decoded()[0], suffix(sample.image), recipe.output)
            encoded = (image, *encoded[1:])
        seed, matrix, params = "", IDENTITY, "{}"
    else:
        image, mask, targets = sources.decoded()
        made = render_copy(recipe, Unit(sources.key, image, mask.labels, targets), sample.copy)
        rendered = made.rendered
        palettes = tuple(sources.palettes.get(path) for path in pair.targets)
        encoded = _encode(recipe, sample, mask, rendered, palettes)
        seed = str(made.seed)
        matrix = "" if rendered.matrix is None else format_matrix(rendered.matrix)
        params = json.dumps(made.params, separators=(",", ":"))
    digests = [sha256(data) for data in encoded]
    row = Row(
        image=sample.image,
        mask=sample.mask,
        source_image=pair.image,
        source_mask=pair.mask or "",
        copy="original" if sample.copy is None else str(sample.copy),
        seed=seed,
        matrix=matrix,
        params=params,
        fingerprint=fp,
        image_sha256=digests[0],
        mask_sha256=digests[1],
        targets=tuple(
            (t.name, path, digest) for t, path, digest in zip(recipe.targets, sample.targets, digests[2:], strict=True)
        ),
        source_window=sources.window.text() if sources.window else "",
    )
    return encoded, row


def _reencoded_original(recipe: Recipe, sources: _Sources, pair: Pair, sample: Sample) -> tuple[bytes, ...]:
    """A kept original whose mask the labels converted (its image and targets copied as they are), or a
    window of one (every file encoded from the window's pixels)."""
    image, mask, targets = sources.decoded()
    if sources.window is not None:
        palettes = tuple(sources.palettes.get(path) for path in pair.targets)
        return _encode(recipe, sample, mask, Rendered(image, mask.labels, targets, None, {}), palettes)
    out = recipe.output
    labels = codecs.encode_mask(mask, mask.labels, out.mask_format, out.png_compression)
    image_bytes = sources.image_bytes
    if sources.reoriented:  # written as displayed, as a copied original would be
        image_bytes = codecs.encode_image(image, suffix(sample.image), out)
    return (image_bytes, labels, *sources.target_bytes)


def _encode(
    recipe: Recipe, sample: Sample, mask: codecs.Mask, rendered: Rendered, palettes: tuple[codecs.Mask | None, ...] = ()
) -> tuple[bytes, ...]:
    out = recipe.output
    image = codecs.encode_image(rendered.image, suffix(sample.image), out)
    labels = codecs.encode_mask(mask, rendered.mask, out.mask_format, out.png_compression)
    palettes = palettes or (None,) * len(recipe.targets)
    targets = tuple(
        codecs.encode_mask(source or codecs.Mask(array), array, out.mask_format, out.png_compression)
        if t.kind == "label"
        else codecs.encode_image(array, suffix(path), out)
        for array, t, path, source in zip(rendered.targets, recipe.targets, sample.targets, palettes, strict=True)
    )
    return (image, labels, *targets)


def _compare_pixels(settings: Settings, sources: _Sources, pair: Pair, sample: Sample) -> tuple[Reason | None, str]:
    """check --deep: recompute a sample and compare its decoded pixels with each stored file."""
    fp = fingerprint(settings.recipe, sources.key, sample.copy, sources.hashes)
    encoded, _ = _render(settings, sources, pair, sample, fp)
    read = _reader(settings.out_dir, settings)
    for rel, fresh in zip(sample.outputs(), encoded, strict=True):
        stored = read(rel)
        if stored != fresh and not np.array_equal(codecs.decode_pixels(stored, rel), codecs.decode_pixels(fresh, rel)):
            return Reason.PIXELS_DIFFER, rel
    return None, ""


def _compare_row(
    settings: Settings, sources: _Sources, pair: Pair, sample: Sample, recorded: Row
) -> tuple[Reason | None, str, str]:
    """check of an untrusted manifest: recompute the sample's row and compare every field with the
    recorded one. A row edited by hand (its matrix, params, seed...) then shows as a difference."""
    fresh = _render(settings, sources, pair, sample, recorded.fingerprint)[1]
    fields = [name for name in Row.__dataclass_fields__ if getattr(fresh, name) != getattr(recorded, name)]
    return (Reason.ROW_DIFFERS, sample.image, ", ".join(fields)) if fields else (None, "", "")
