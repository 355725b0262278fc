"""What the commands say: a URL typed with credentials in it (s3://key:secret@bucket) is reported
without them, as every error already names it."""

from __future__ import annotations

from types import SimpleNamespace

from segaug_cli import messages
from segaug_cli.reports import Summary

TYPED = "s3://AKIDEXAMPLE:SeCrEt-in-the-url@bucket/out"


def test_the_expand_summary_names_out_without_the_credentials_typed_in_its_url():
    summary = Summary(pairs=2, written=4, seconds=1.0, failures=[("images/a.png", "images/a.png: broken")])

    lines = [text for _, text in messages.expand_report(summary, TYPED, quiet=False, dry_run=False)]

    assert lines[-1].endswith("; manifest: s3://bucket/out/manifest.csv; failures listed in s3://bucket/out/errors.csv")
    assert not [line for line in lines if "SeCrEt" in line or "AKIDEXAMPLE" in line]


def test_the_merge_report_and_the_pairing_report_name_urls_without_credentials():
    merged = messages.merge_report(SimpleNamespace(finished_earlier=False, shards=2, rows=8), TYPED)
    nothing: tuple = ()
    survey = SimpleNamespace(
        pairs=3, without_mask=nothing, left_out=0, split_missing=nothing, other_problems=nothing,
        orphan_masks=nothing, beside=nothing, ignored=nothing, bad_files=nothing, unreadable=nothing,
        unlisted=nothing, sampled=0,
    )  # fmt: skip
    found = messages.survey_lines(survey, TYPED, None)

    assert merged == "segaug merge: 2 shards, 8 output pairs; manifest: s3://bucket/out/manifest.csv"
    assert found[0] == "s3://bucket/out: 3 pair(s) found"
