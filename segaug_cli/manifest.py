"""manifest.csv: one row per written pair, sorted by ``image`` in code-point order. Standard library only."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import operator
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)  # slots: a 10,000-pair run keeps 10,000 rows in memory
class Row:
    image: str  # output paths, relative to OUT
    mask: str
    source_image: str  # input paths, relative to IN
    source_mask: str
    copy: str  # "0".."copies-1", or "original"
    seed: str  # unsigned 64-bit integer; empty for originals
    matrix: str  # six numbers, row-major, source -> output pixels (nine if projective, empty if non-affine)
    params: str  # JSON object of every sampled value
    fingerprint: str  # sha256 of what produced the row (recipe content, source hashes, copy, format)
    image_sha256: str
    mask_sha256: str
    # extra targets (weights, edges...): (name, output path, sha256), one column pair per target name
    targets: tuple[tuple[str, str, str], ...] = ()
    source_window: str = ""  # with tiles: "top left height width" of the window the row was cut from

    def outputs(self) -> list[tuple[str, str]]:
        """Every output file of the row with its recorded sha256: image, mask, then targets."""
        return [(self.image, self.image_sha256), (self.mask, self.mask_sha256)] + [(p, h) for _, p, h in self.targets]


_FIELDS = tuple(f.name for f in dataclasses.fields(Row))
WINDOW = "source_window"  # a column only in the manifests of recipes with tiles
COLUMNS = tuple(name for name in _FIELDS if name not in ("targets", WINDOW))


class ManifestError(ValueError):
    """The manifest is not one that segaug wrote (wrong columns)."""


def render(rows: list[Row]) -> str:
    """CSV text with a header, rows sorted by ``image``; plain RFC 4180 that any CSV reader takes."""
    return "".join(lines(sorted(rows, key=image_of), target_names(rows)))


def image_of(row: Row) -> str:
    """The manifest's sort key: the output image path, in code-point order."""
    return row.image


def target_names(rows: Iterable[Row]) -> set[str]:
    """The extra columns rows need: their target names, and ``WINDOW`` when a row has a window."""
    names = set()
    for row in rows:
        names.update(name for name, _, _ in row.targets)
        if row.source_window:
            names.add(WINDOW)
    return names


def lines(sorted_rows: Iterable[Row], names: Iterable[str]) -> Iterator[str]:
    """The manifest one line at a time, header first, from rows already sorted by ``image``: a large
    manifest is never held whole in memory, as text or as rows.

    Each extra target name adds two columns, ``<name>`` and ``<name>_sha256``; ``WINDOW`` among the
    names adds the ``source_window`` column right after the fixed ones.
    """
    windowed = WINDOW in names
    names = sorted(set(names) - {WINDOW})
    fixed = COLUMNS + ((WINDOW,) if windowed else ())
    yield _line(fixed + tuple(c for name in names for c in (name, f"{name}_sha256")))
    for row in sorted_rows:
        values = _values(row, names)
        yield _line(values[: len(COLUMNS)] + (row.source_window,) + values[len(COLUMNS) :] if windowed else values)


def _line(values: tuple[str, ...]) -> str:
    """One CSV line: csv.writer's minimal quoting (fields holding a comma, a quote or a line break are
    quoted, quotes doubled), and its bytes for any field without a carriage return.

    csv.writer before Python 3.12 left a bare "\r" unquoted, and csv.reader then split the line
    there; this quotes it. It is also faster than a csv.writer call per row, which the run's end waits on.
    """
    return ",".join('"' + v.replace('"', '""') + '"' if _NEEDS_QUOTES(v) else v for v in values) + "\n"


_NEEDS_QUOTES = re.compile('[,"\n\r]').search  # half the time of any() over the four characters


_column_values = operator.attrgetter(*COLUMNS)


def _values(row: Row, names: list[str]) -> tuple[str, ...]:
    if not names:
        return _column_values(row)
    extra = {name: (path, digest) for name, path, digest in row.targets}
    return _column_values(row) + tuple(v for name in names for v in extra.get(name, ("", "")))


def to_json(row: Row) -> str:
    """One row as a line of JSON (journal and sort-run files), its image first (see ``image_of_json``)."""
    fields = {name: getattr(row, name) for name in _FIELDS}  # dataclasses.asdict deep-copies: slow per row
    return json.dumps(fields, separators=(",", ":"))


_IMAGE_FIRST = '{"image":'
_decoder = json.JSONDecoder()


def image_of_json(line: str) -> str:
    """``from_json(line).image``, reading only the image: the sort key of a run's journal lines.

    A line ``to_json`` wrote begins with the image's JSON string, which decodes without the rest.
    """
    if line.startswith(_IMAGE_FIRST):
        with contextlib.suppress(ValueError):
            image, _ = _decoder.raw_decode(line, len(_IMAGE_FIRST))
            if isinstance(image, str):
                return image
    return from_json(line).image


def from_json(line: str) -> Row:
    """The row ``to_json`` wrote. Raises ValueError for a line that is not one (cut short by a kill)."""
    try:
        fields = json.loads(line)
        fields["targets"] = tuple(tuple(t) for t in fields.get("targets", ()))
        return Row(**fields)
    except (TypeError, AttributeError) as exc:
        raise ValueError(str(exc)) from None


def parse(text: str) -> list[Row]:
    return list(read_rows(io.StringIO(text)))


def read_rows(fh: Iterable[str]) -> Iterator[Row]:
    """The rows of a manifest read line by line from ``fh`` (opened with ``newline=""``), so a large
    one is never held whole. Raises ManifestError at the first line that is not one of segaug's."""
    reader = csv.reader(fh)
    header = next(reader, None)
    names = _target_columns(header) if header is not None and tuple(header[: len(COLUMNS)]) == COLUMNS else None
    if names is None:
        raise ManifestError(f"unexpected columns {header}; expected {', '.join(COLUMNS)}")
    windowed = len(header) > len(COLUMNS) and header[len(COLUMNS)] == WINDOW
    for number, values in enumerate(reader, start=2):
        if len(values) != len(header):
            raise ManifestError(f"line {number} has {len(values)} fields, not {len(header)}")
        window = values[len(COLUMNS)] if windowed else ""
        extra = values[len(COLUMNS) + windowed :]
        targets = tuple((name, extra[2 * i], extra[2 * i + 1]) for i, name in enumerate(names) if extra[2 * i])
        yield Row(*values[: len(COLUMNS)], targets=targets, source_window=window)


def header_target_names(header_line: str) -> list[str]:
    """The extra column names a manifest's header line declares: its target names, and ``WINDOW`` when
    it has the window column (none for a header of another kind)."""
    header = next(csv.reader([header_line]), [])
    if tuple(header[: len(COLUMNS)]) != COLUMNS:
        return []
    windowed = len(header) > len(COLUMNS) and header[len(COLUMNS)] == WINDOW
    return (_target_columns(header) or []) + ([WINDOW] if windowed else [])


def _target_columns(header: list[str]) -> list[str] | None:
    """The target names of the columns after the fixed ones (and ``source_window``, when there), which
    come in (name, name_sha256) pairs."""
    extra = header[len(COLUMNS) + (len(header) > len(COLUMNS) and header[len(COLUMNS)] == WINDOW) :]
    names = extra[0::2]
    ok = len(extra) % 2 == 0 and all(extra[2 * i + 1] == f"{name}_sha256" for i, name in enumerate(names))
    return names if ok else None


def format_matrix(m) -> str:
    """The matrix in shortest round-trip form, whole numbers without a decimal point: six numbers of
    the 2x3 affine part, or all nine when the 3x3 matrix is projective (a perspective op)."""
    rows = [list(m[0][:3]), list(m[1][:3])]
    if len(m) == 3 and [float(x) for x in m[2]] != [0.0, 0.0, 1.0]:
        rows.append(list(m[2][:3]))
    return " ".join(_number(float(x)) for row in rows for x in row)


def _number(x: float) -> str:
    x += 0.0  # turns -0.0 into 0.0, so flips do not print "-0"
    return str(int(x)) if x.is_integer() else repr(x)
