"""Shards, a feature: N shard runs (into one OUT, or into separate folders copied together) merged
give exactly the files of one unsharded run; a shard's rerun stays within its share. And one writer
per OUT: a second run into a locked OUT is turned away with the holder named, while the shards of
one job write side by side. What merge refuses is in tests/test_merging.py."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from conftest import make_dataset, run_segaug, shard_files, tree_digest, write_recipe

from segaug_cli import shards
from segaug_cli.storage import lock

RECIPE = "seed: 5\ncopies: 2\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"
PAIRS = {f"{folder}p{i}": (20 + i, 24) for i, folder in enumerate(["", "", "city/", "city/", "a/b/", "", "x", ""])}
N = 3


@pytest.fixture
def job(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    return write_recipe(tmp_path / "r.yaml", RECIPE), in_dir


expand = functools.partial(conftest.expand, quiet=True, ok=True)


def test_the_shards_merged_are_the_unsharded_run_byte_for_byte(cli, job, tmp_path):
    recipe, in_dir = job
    expand(cli, recipe, in_dir, tmp_path / "whole")
    for k in range(1, N + 1):
        expand(cli, recipe, in_dir, tmp_path / "sharded", "--shard", f"{k}/{N}")
    assert not (tmp_path / "sharded/manifest.csv").exists()

    result = cli("merge", recipe, in_dir, tmp_path / "sharded")

    assert result.exit_code == 0, result.output
    assert tree_digest(tmp_path / "sharded") == tree_digest(tmp_path / "whole")
    assert shard_files(tmp_path / "sharded") == []
    assert cli("check", recipe, in_dir, tmp_path / "sharded").exit_code == 0


def test_shard_folders_copied_into_one_merge_to_the_unsharded_run(cli, job, tmp_path):
    recipe, in_dir = job
    expand(cli, recipe, in_dir, tmp_path / "whole")
    combined = tmp_path / "combined"
    for k in range(1, N + 1):  # a CI matrix: each job its own folder, uploaded, then downloaded into one
        expand(cli, recipe, in_dir, tmp_path / f"job{k}", "--shard", f"{k}/{N}")
        assert cli("check", recipe, in_dir, tmp_path / f"job{k}", "--shard", f"{k}/{N}").exit_code == 0
        shutil.copytree(tmp_path / f"job{k}", combined, dirs_exist_ok=True)

    assert cli("merge", recipe, in_dir, combined).exit_code == 0

    assert tree_digest(combined) == tree_digest(tmp_path / "whole")
    for k in range(1, N + 1):  # after the merge each share checks against manifest.csv
        assert cli("check", recipe, in_dir, combined, "--shard", f"{k}/{N}").exit_code == 0


def test_every_pair_is_in_exactly_one_shard(cli, job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"
    for k in range(1, N + 1):
        expand(cli, recipe, in_dir, out, "--shard", f"{k}/{N}")
    sources = [row["source_image"] for k in range(1, N + 1) for row in read_csv(out / f"manifest.shard-{k}-of-{N}.csv")]
    assert sorted(sources) == sorted(f"images/{key}.png" for key in PAIRS for _ in range(2))
    assert all(len(read_csv(out / f"manifest.shard-{k}-of-{N}.csv")) for k in range(1, N + 1)), "an empty shard"


def read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_pair_shard_is_a_stable_hash_of_its_key_alone():
    keys = [f"k{i}" for i in range(300)]
    before = {key: shards.shard_of(key, 4) for key in keys}
    after = {key: shards.shard_of(key, 4) for key in [*keys, "new/pair"]}  # one pair added
    assert all(after[key] == before[key] for key in keys)
    assert set(before.values()) == {1, 2, 3, 4}
    assert shards.shard_of("street/frame_000", 4) == 3  # pinned: every machine of a matrix must agree
    assert shards.shard_of("street/frame_001", 4) == 1


def test_adding_a_pair_changes_no_other_shard(cli, job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"
    for k in range(1, N + 1):
        expand(cli, recipe, in_dir, out, "--shard", f"{k}/{N}")
    before = {k: (out / f"manifest.shard-{k}-of-{N}.csv").read_bytes() for k in range(1, N + 1)}
    make_dataset(in_dir, {"zz/new": (22, 22)})
    home = shards.shard_of("zz/new", N)

    for k in range(1, N + 1):
        expand(cli, recipe, in_dir, out, "--shard", f"{k}/{N}")

    changed = [k for k in range(1, N + 1) if (out / f"manifest.shard-{k}-of-{N}.csv").read_bytes() != before[k]]
    assert changed == [home]


def test_a_shard_rerun_is_incremental_and_leaves_other_shards_alone(cli, job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"
    expand(cli, recipe, in_dir, out, "--shard", "2/3")
    expand(cli, recipe, in_dir, out, "--shard", "3/3")
    theirs = tree_digest(out)

    result = cli("expand", recipe, in_dir, out, "--workers", "1", "--shard", "3/3")

    assert result.exit_code == 0
    assert "warning" not in result.stderr  # shard 2's files are not "not written by segaug"
    assert " 0 written, " in result.stderr and " 0 removed, " in result.stderr
    assert tree_digest(out) == theirs


def test_a_shard_reports_a_stray_file_of_its_own_share_only(cli, job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"
    expand(cli, recipe, in_dir, out, "--shard", "1/3")
    mine = next(k for k in PAIRS if shards.shard_of(k, 3) == 1)
    theirs = next(k for k in PAIRS if shards.shard_of(k, 3) == 2)
    for key in (mine, theirs):
        (out / f"images/{key}_aug7.png").write_bytes(b"stray")

    result = cli("check", recipe, in_dir, out, "--shard", "1/3")

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"extra: images/{mine}_aug7.png: not in the manifest"]


@pytest.mark.parametrize("spec", ["0/3", "4/3", "3", "a/b", "1/0"])
def test_a_bad_shard_is_one_line_and_exit_2(cli, job, tmp_path, spec):
    recipe, in_dir = job
    result = cli("expand", recipe, in_dir, tmp_path / "out", "--shard", spec)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: --shard {spec}: expected K/N with 1 <= K <= N, e.g. --shard 2/4"
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# One writer per OUT
# ---------------------------------------------------------------------------------------------

HOLD = """
import sys, time
from segaug_cli.storage import lock
with lock.hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    yield out, proc
    proc.kill()
    proc.wait(timeout=10)


@pytest.mark.parametrize("command", [["expand"], ["expand", "--shard", "1/2"], ["merge"]])
def test_a_locked_out_turns_a_second_writer_away_naming_the_holder(cli, job, holder, command):
    recipe, in_dir = job
    out, proc = holder
    before = sorted(p.name for p in out.iterdir())

    result = cli(command[0], recipe, in_dir, out, *command[1:])

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {out}: another segaug run is writing this folder (host ")
    assert f"pid {proc.pid}, started " in result.stderr and len(result.stderr.splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == before


def test_check_takes_no_lock_and_says_a_run_is_in_progress(cli, job, holder):
    recipe, in_dir = job
    out, proc = holder
    result = cli("check", recipe, in_dir, out)
    assert result.exit_code == 1
    assert "note: a segaug run is writing OUT now (host " in result.stderr and f"pid {proc.pid}" in result.stderr


# Imports done, each process waits for one line on stdin: the test releases both at the same moment.
READY_THEN_RUN = """
import sys
from segaug_cli import engine, worker
from segaug_cli.cli import main
print("ready", flush=True)
sys.stdin.readline()
sys.argv = ["segaug", *sys.argv[1:]]
main()
"""


def started_together(*args_of_each: list[str]) -> list[tuple[int, str]]:
    """Start one segaug process per argument list, release them at once; (exit code, stderr) of each."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", READY_THEN_RUN, *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in args_of_each
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline() == "ready\n", proc.stderr.read()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return [(proc.wait(timeout=120), proc.stderr.read()) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def test_two_runs_started_together_into_one_out_never_corrupt_it(job, tmp_path):
    recipe, in_dir = job
    turned_away = 0
    for round_ in range(10):
        out = tmp_path / f"out{round_}"
        args = ["expand", recipe, in_dir, out, "--workers", "1", "--quiet"]

        results = sorted(started_together(args, args))

        if results[1][0] == 2:  # they overlapped (nearly always): the second is refused at once
            turned_away += 1
            assert results[0] == (0, "")
            assert results[1][1].startswith(f"Error: {out}: another segaug run is writing this folder (host ")
            assert len(results[1][1].splitlines()) == 1
        else:  # one finished before the other began: the second found nothing to do
            assert results == [(0, ""), (0, "")]
        check = run_segaug("check", recipe, in_dir, out, "--workers", "1", timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
    assert turned_away >= 5, f"the runs overlapped in only {turned_away} of 10 rounds"


def test_the_shards_of_one_job_write_one_out_at_once(job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"

    results = started_together(
        *(["expand", recipe, in_dir, out, "--workers", "1", "--quiet", "--shard", f"{k}/{N}"] for k in range(1, N + 1))
    )

    assert results == [(0, "")] * N
    merged = run_segaug("merge", recipe, in_dir, out, timeout=120)
    assert merged.returncode == 0, merged.stderr
    assert run_segaug("check", recipe, in_dir, out, "--workers", "1", timeout=120).returncode == 0
    assert lock.holder_of(out) is None


TILED_POTSDAM = """\
inputs: {images: 2_Ortho_RGB, masks: 5_Labels_all, image_suffix: _RGB, mask_suffix: _label}
labels: {colors: {"#ffffff": 0, "#0000ff": 1, "#00ffff": 2, "#00ff00": 3, "#ffff00": 4, "#ff0000": 5}, default: 255}
tiles: {size: [16, 16], stride: [16, 16]}
copies: 1
keep_original: true
transforms:
  - hflip: {p: 0.5}
"""


@pytest.mark.parametrize("layout", ["cityscapes", "potsdam"])
def test_shards_of_suffixed_and_tiled_layouts_merge_to_the_unsharded_run(cli, tmp_path, layout):
    """Output names carry suffixes and window keys here: each shard must still claim exactly its own
    earlier rows and files, report none of another shard's as strays, and merge to one run's bytes."""
    import dataset_layouts
    from conftest import REPO

    in_dir = getattr(dataset_layouts, layout)(tmp_path / "data")
    recipe = (
        REPO / "recipes/datasets/cityscapes.yaml"
        if layout == "cityscapes"
        else write_recipe(tmp_path / "tiles.yaml", TILED_POTSDAM)
    )
    expand(cli, recipe, in_dir, tmp_path / "whole")
    for k in range(1, 4):
        result = expand(cli, recipe, in_dir, tmp_path / "sharded", "--shard", f"{k}/3")
        assert "not written by segaug" not in result.stderr, result.stderr
        rerun = cli("expand", recipe, in_dir, tmp_path / "sharded", "--shard", f"{k}/3", "--workers", "1")
        assert " 0 written," in rerun.stderr and " 0 removed," in rerun.stderr, rerun.stderr

    assert cli("merge", recipe, in_dir, tmp_path / "sharded").exit_code == 0
    assert tree_digest(tmp_path / "sharded") == tree_digest(tmp_path / "whole")
