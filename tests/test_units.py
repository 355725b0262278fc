"""Units: the progress bar counts source pairs and the summary output samples, each named as such; a
run that wrote nothing prints no rate; -q prints only errors."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from conftest import make_dataset, write_png, write_recipe

from segaug_cli.cli import progress

RECIPE = "seed: 1\ncopies: 2\ntransforms:\n  - hflip: {p: 0.5}\n"


@pytest.fixture
def job(tmp_path):
    return write_recipe(tmp_path / "r.yaml", RECIPE), make_dataset(tmp_path / "in", {"a": (16, 16), "b": (16, 20)})


def last_line(result) -> str:
    return result.stderr.splitlines()[-1]


def test_the_summary_names_output_samples_and_source_pairs(cli, job, tmp_path):
    recipe, in_dir = job
    result = cli("expand", recipe, in_dir, tmp_path / "out", "-j", "1")

    assert re.fullmatch(
        r"segaug: output samples 4 written, 0 unchanged, 0 removed, source pairs 0 failed in \d+\.\d s "
        r"\(\d+\.\d output samples/s\); manifest: .*",
        last_line(result),
    )


def test_a_run_that_writes_nothing_prints_no_rate(cli, job, tmp_path):
    recipe, in_dir = job
    cli("expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q")

    rerun = cli("expand", recipe, in_dir, tmp_path / "out", "-j", "1")

    assert rerun.exit_code == 0
    assert "/s" not in last_line(rerun)
    assert re.fullmatch(
        r"segaug: output samples 0 written, 4 unchanged, .* in \d+\.\d s; manifest: .*", last_line(rerun)
    )


def test_quiet_prints_only_errors(cli, job, tmp_path):
    recipe, in_dir = job
    write_png(in_dir / "masks/orphan.png", np.zeros((4, 4), np.uint8))  # a warning
    (in_dir / "images/notes.txt").write_text("x")  # a note
    (in_dir / "images/bad.png").write_bytes(b"not a png")  # an error
    write_png(in_dir / "masks/bad.png", np.zeros((4, 4), np.uint8))

    loud = cli("expand", recipe, in_dir, tmp_path / "loud", "-j", "1")
    quiet = cli("expand", recipe, in_dir, tmp_path / "quiet", "-j", "1", "-q")

    assert {line.split(":")[0] for line in loud.stderr.splitlines()} >= {"error", "warning", "note"}
    assert quiet.exit_code == loud.exit_code == 1
    assert [line for line in quiet.stderr.splitlines() if not line.startswith("segaug: ")] == [
        line for line in loud.stderr.splitlines() if line.startswith("error: ")
    ]
    assert all(not line.startswith(("warning", "note")) for line in quiet.stderr.splitlines())


def test_check_quiet_prints_no_notes(cli, job, tmp_path):
    recipe, in_dir = job
    cli("expand", recipe, in_dir, tmp_path / "out", "-j", "1", "-q")
    (tmp_path / "out/segaug.json").unlink()  # check then notes that it recomputed every row

    loud = cli("check", recipe, in_dir, tmp_path / "out", "-j", "1")
    quiet = cli("check", recipe, in_dir, tmp_path / "out", "-j", "1", "-q")

    assert "note: " in loud.stderr
    assert (quiet.exit_code, quiet.stderr) == (0, "")


def test_the_progress_bar_counts_source_pairs(monkeypatch):
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(progress.sys, "stderr", terminal)
    bar = progress.ProgressBar(quiet=False)
    bar.start(3)
    bar.update(3)
    bar.close()
    assert "3/3" in terminal.getvalue()
    assert "source pairs/s" in terminal.getvalue()
