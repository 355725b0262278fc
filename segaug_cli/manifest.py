"""manifest.csv: one row per written pair, sorted by ``image`` in code-point order. Standard library only."""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    image: str  # output paths, relative to OUT
    mask: str
    source_image: str  # input paths, relative to IN
    source_mask: str
    copy: str  # "0".."copies-1", or "original"
    seed: str  # unsigned 64-bit integer; empty for originals
    matrix: str  # six numbers, row-major, source -> output pixels
    params: str  # JSON object of every sampled value
    fingerprint: str  # sha256 of what produced the row (recipe content, source hashes, copy, format)
    image_sha256: str
    mask_sha256: str


COLUMNS = tuple(f.name for f in dataclasses.fields(Row))


class ManifestError(ValueError):
    """The manifest is not one that segaug wrote (wrong columns)."""


def render(rows: list[Row]) -> str:
    """CSV text with a header, rows sorted by ``image``; plain RFC 4180 that any CSV reader takes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.image):
        writer.writerow(dataclasses.astuple(row))
    return buffer.getvalue()


def parse(text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise ManifestError(f"unexpected columns {header}; expected {', '.join(COLUMNS)}")
    rows = []
    for number, values in enumerate(reader, start=2):
        if len(values) != len(COLUMNS):
            raise ManifestError(f"line {number} has {len(values)} fields, not {len(COLUMNS)}")
        rows.append(Row(*values))
    return rows


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
