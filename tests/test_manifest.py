"""manifest.csv text and the journal's JSON lines: exact bytes, round trips, the cheap sort key."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from segaug_cli import manifest
from segaug_cli.manifest import COLUMNS, Row

# Paths and values with what CSV must quote (commas, quotes, line breaks) and what JSON must escape.
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
awkward = st.sampled_from(["", "a,b", 'say "hi"', "two\nlines", "back\\slash", "é/ü", "\u2028", "x\ry"])
value = st.one_of(text, awkward)
target = st.tuples(st.sampled_from(["depth", "weights", "edge,s"]), value, value)


@st.composite
def rows(draw, max_size=40):
    images = draw(st.lists(st.one_of(text, awkward), unique=True, max_size=max_size))
    return [
        Row(
            image,
            *draw(st.lists(value, min_size=len(COLUMNS) - 1, max_size=len(COLUMNS) - 1)),
            targets=tuple({t[0]: t for t in draw(st.lists(target, max_size=2))}.values()),
        )
        for image in images
    ]


def reference_render(rows: list[Row]) -> str:
    """The manifest as one csv.writer call per line: what ``manifest.lines`` must reproduce byte for byte
    (where no value holds a carriage return, which csv.writer left unquoted before Python 3.12)."""
    names = sorted(manifest.target_names(rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(COLUMNS) + [c for name in names for c in (name, f"{name}_sha256")])
    for row in sorted(rows, key=lambda r: r.image):
        extra = {name: (path, digest) for name, path, digest in row.targets}
        writer.writerow([getattr(row, c) for c in COLUMNS] + [v for name in names for v in extra.get(name, ("", ""))])
    return buffer.getvalue()


@settings(max_examples=60, deadline=None)
@given(rows())
def test_the_manifest_text_is_what_one_csv_writer_call_per_row_gives_and_parses_back(rows):
    text = manifest.render(rows)

    if "\r" not in reference_render(rows):  # csv.writer leaves a bare "\r" unquoted before Python 3.12
        assert text == reference_render(rows)
    parsed = manifest.parse(text)
    assert [r.image for r in parsed] == sorted(r.image for r in rows)
    expected = [
        Row(*(getattr(r, c) for c in COLUMNS), targets=tuple(sorted(t for t in r.targets if t[1])))
        for r in sorted(rows, key=lambda r: r.image)
    ]  # the manifest records a target by its path: an empty one reads back as absent
    assert parsed == expected


def test_manifests_of_hundreds_of_rows_match_the_reference_text():
    for count in (0, 1, 255, 256, 257, 513):
        rows = [
            Row(f"images/{i:04d}.png", "m", "s", "sm", "0", "1", "1 0 0 0 1 0", '{"a":1}', "f", "h", "k")
            for i in reversed(range(count))
        ]
        assert manifest.render(rows) == reference_render(rows), count
        assert len(manifest.parse(manifest.render(rows))) == count


@settings(max_examples=200, deadline=None)
@given(rows(max_size=3))
def test_the_journal_sort_key_reads_the_image_without_parsing_the_row(rows):
    for row in rows:
        line = manifest.to_json(row)
        assert manifest.image_of_json(line) == row.image == manifest.from_json(line).image


def test_a_line_with_its_fields_in_another_order_still_gives_its_image():
    row = Row("images/a.png", "m", "s", "sm", "0", "1", "", "{}", "f", "h", "k")
    fields = json.loads(manifest.to_json(row))
    reordered = json.dumps(dict(reversed(fields.items())))

    assert manifest.image_of_json(reordered) == "images/a.png"
