"""worker: one pair job in, one outcome out. ``process_pair_with`` reads the pair once, decides per
sample whether OUT holds it already, and renders and writes only what is out of date; a pair that
cannot be used fails alone, OUT that cannot be written stops the run."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from conftest import make_dataset, write_recipe

from segaug_cli import recipe as recipes
from segaug_cli import worker
from segaug_cli.jobs import Action, Mode, PairJob, Reason, Settings
from segaug_cli.pairing import Pair

RECIPE = "seed: 4\ncopies: 2\ntransforms:\n  - hflip: {p: 0.5}\n"
PAIR = Pair("a", "images/a.png", "masks/a.png")


@pytest.fixture
def settings(tmp_path) -> Settings:
    in_dir = make_dataset(tmp_path / "in", {"a": (24, 32)})
    rcp = recipes.load(write_recipe(tmp_path / "r.yaml", RECIPE))
    return Settings(rcp, str(in_dir), str(tmp_path / "out"))


def written_rows(settings: Settings):
    first = worker.process_pair_with(settings, PairJob(PAIR))
    return first, tuple(s.row for s in first.samples)


def test_a_new_pair_writes_every_copy_with_its_row(settings, tmp_path):
    outcome = worker.process_pair_with(settings, PairJob(PAIR))

    assert (outcome.key, outcome.source_image, outcome.failure, outcome.fatal) == ("a", "images/a.png", None, None)
    assert [(s.image, s.mask, s.action, s.reason) for s in outcome.samples] == [
        ("images/a_aug0.png", "masks/a_aug0.png", Action.WRITTEN, Reason.NEW),
        ("images/a_aug1.png", "masks/a_aug1.png", Action.WRITTEN, Reason.NEW),
    ]
    for sample in outcome.samples:
        row = sample.row
        assert (row.image, row.mask, row.source_image, row.source_mask) == (
            sample.image,
            sample.mask,
            "images/a.png",
            "masks/a.png",
        )
        assert row.image_sha256 == hashlib.sha256((tmp_path / "out" / sample.image).read_bytes()).hexdigest()
        assert row.mask_sha256 == hashlib.sha256((tmp_path / "out" / sample.mask).read_bytes()).hexdigest()
    assert [s.row.copy for s in outcome.samples] == ["0", "1"]
    assert outcome.receipts == ()  # a local folder gives none


def test_an_unchanged_sample_is_neither_rendered_nor_written(settings, tmp_path, monkeypatch):
    _, rows = written_rows(settings)
    monkeypatch.setattr(worker, "_render", lambda *a: pytest.fail("rendered again"))

    outcome = worker.process_pair_with(settings, PairJob(PAIR, previous=rows))

    assert [(s.image, s.action, s.reason, s.row) for s in outcome.samples] == [
        ("images/a_aug0.png", Action.UNCHANGED, None, rows[0]),
        ("images/a_aug1.png", Action.UNCHANGED, None, rows[1]),
    ]


def test_an_altered_output_is_rewritten_and_a_missing_one_named(settings, tmp_path):
    _, rows = written_rows(settings)
    out = tmp_path / "out"
    before = (out / "images/a_aug0.png").read_bytes()
    (out / "images/a_aug0.png").write_bytes(b"not the image")
    (out / "masks/a_aug1.png").unlink()

    outcome = worker.process_pair_with(settings, PairJob(PAIR, previous=rows))

    assert [(s.image, s.action, s.reason) for s in outcome.samples] == [
        ("images/a_aug0.png", Action.WRITTEN, Reason.ALTERED),
        ("images/a_aug1.png", Action.WRITTEN, Reason.MISSING),
    ]
    assert [s.row for s in outcome.samples] == list(rows)  # the same bytes again: the same rows
    assert (out / "images/a_aug0.png").read_bytes() == before and (out / "masks/a_aug1.png").is_file()


def test_a_row_of_another_recipe_is_stale_and_a_dry_run_writes_nothing(settings, tmp_path):
    _, rows = written_rows(settings)
    stale = tuple(dataclasses.replace(r, fingerprint="0" * 64) for r in rows)
    out = tmp_path / "out"
    (out / "images/a_aug0.png").unlink()
    dry = Settings(settings.recipe, settings.in_dir, settings.out_dir, mode=Mode.DRY_RUN)

    outcome = worker.process_pair_with(dry, PairJob(PAIR, previous=stale))

    assert [(s.image, s.action, s.reason, s.path) for s in outcome.samples] == [
        ("images/a_aug0.png", Action.PENDING, Reason.STALE, "images/a_aug0.png"),
        ("images/a_aug1.png", Action.PENDING, Reason.STALE, "images/a_aug1.png"),
    ]
    assert not (out / "images/a_aug0.png").exists()


def test_force_rewrites_what_out_holds(settings):
    _, rows = written_rows(settings)
    forced = Settings(settings.recipe, settings.in_dir, settings.out_dir, force=True)
    outcome = worker.process_pair_with(forced, PairJob(PAIR, previous=rows))
    assert [(s.action, s.reason) for s in outcome.samples] == [(Action.WRITTEN, Reason.FORCED)] * 2


def test_a_pair_whose_mask_is_missing_fails_alone_and_writes_nothing(settings, tmp_path):
    (tmp_path / "in/masks/a.png").unlink()

    outcome = worker.process_pair_with(settings, PairJob(PAIR))

    assert outcome.samples == () and outcome.fatal is None
    assert outcome.failure == f"images/a.png: {tmp_path / 'in/masks/a.png'}: cannot be read (No such file or directory)"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").rglob("*.png")) == []


def test_a_pair_with_a_problem_is_its_failure_unread(settings):
    outcome = worker.process_pair_with(settings, PairJob(Pair("b", "images/b.png", None, problem="no mask")))
    assert (outcome.key, outcome.failure, outcome.samples) == ("b", "images/b.png: no mask", ())


def test_a_failure_after_a_first_copy_removes_what_the_pair_wrote(settings, tmp_path, monkeypatch):
    real, calls = worker._render, []

    def second_fails(*args):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("boom")
        return real(*args)

    monkeypatch.setattr(worker, "_render", second_fails)
    outcome = worker.process_pair_with(settings, PairJob(PAIR))

    assert outcome.failure == ("images/a.png: internal error (ValueError: boom); please report it with this pair")
    assert list((tmp_path / "out").rglob("*.png")) == []  # a pair is written whole or not at all


def test_process_pair_uses_the_settings_init_worker_kept(settings, monkeypatch):
    monkeypatch.setattr(worker, "_SETTINGS", None)
    worker.init_worker(settings)
    assert [s.action for s in worker.process_pair(PairJob(PAIR)).samples] == [Action.WRITTEN] * 2
