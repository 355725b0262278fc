"""merging: ``segaug merge`` vets the N shards in OUT before it writes anything, refusing by name a
set that is incomplete, mixed or foreign; merges their manifests into an unsharded run's books; and
finishes a merge stopped while it removed the shards' files."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil

import conftest
import pytest
from conftest import make_dataset, shard_files, tree_digest, write_recipe

from segaug_cli import merging
from segaug_cli import recipe as recipes
from segaug_cli.storage import books

RECIPE = "seed: 5\ncopies: 2\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"
PAIRS = {f"{folder}p{i}": (20 + i, 24) for i, folder in enumerate(["", "", "city/", "city/", "a/b/", "", "x", ""])}
N = 3


@pytest.fixture
def job(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    return write_recipe(tmp_path / "r.yaml", RECIPE), in_dir


expand = functools.partial(conftest.expand, quiet=True, ok=True)


# ---------------------------------------------------------------------------------------------
# merge refuses what is not one complete set
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sharded(cli, job, tmp_path):
    recipe, in_dir = job
    out = tmp_path / "out"
    for k in range(1, N + 1):
        expand(cli, recipe, in_dir, out, "--shard", f"{k}/{N}")
    return recipe, in_dir, out


def refused(cli, recipe, in_dir, out) -> str:
    before = tree_digest(out)
    result = cli("merge", recipe, in_dir, out)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.stderr.splitlines()) == 1, result.stderr
    assert tree_digest(out) == before, "merge wrote something"
    return result.stderr.strip()


def test_merge_refuses_a_missing_shard(cli, sharded):
    recipe, in_dir, out = sharded
    (out / "manifest.shard-2-of-3.csv").unlink()
    assert refused(cli, recipe, in_dir, out) == (
        f"error: {out}: shard 2/3 is missing (no manifest.shard-2-of-3.csv); run it, or copy its folder into OUT"
    )


def test_merge_refuses_a_duplicated_shard(cli, sharded):
    recipe, in_dir, out = sharded
    for name in ("manifest.shard-{}-of-3.csv", "segaug.shard-{}-of-3.json"):
        shutil.copy(out / name.format(1), out / name.format(2))
    assert refused(cli, recipe, in_dir, out) == (
        f"error: {out / 'manifest.shard-2-of-3.csv'}: is a duplicate of shard 1/3, not shard 2/3; run shard 2/3 again"
    )


def test_merge_refuses_a_shard_made_with_another_recipe(cli, sharded, tmp_path):
    recipe, in_dir, out = sharded
    other = write_recipe(tmp_path / "other.yaml", RECIPE.replace("seed: 5", "seed: 6"))
    expand(cli, other, in_dir, out, "--shard", "2/3")
    assert refused(cli, recipe, in_dir, out) == (
        "error: shard 2/3 was made with another recipe (or --seed/--copies) than this one"
    )


def test_merge_refuses_shards_of_another_n(cli, sharded):
    recipe, in_dir, out = sharded
    expand(cli, recipe, in_dir, out, "--shard", "1/2")
    assert refused(cli, recipe, in_dir, out) == (
        f"error: {out}: holds shards made with different N (2, 3); keep the shards of one job only"
    )


def test_merge_refuses_shards_made_from_other_inputs(cli, sharded):
    recipe, in_dir, out = sharded
    make_dataset(in_dir, {"zz/new": (22, 22)})
    assert refused(cli, recipe, in_dir, out) == (
        "error: shard 1/3 was made from other inputs (another set of pairs in IN)"
    )


def test_merge_refuses_a_shard_that_did_not_finish(cli, sharded):
    recipe, in_dir, out = sharded
    sidecar = out / "segaug.shard-3-of-3.json"
    sidecar.write_text(sidecar.read_text().replace('"complete": true', '"complete": false'))
    assert refused(cli, recipe, in_dir, out) == (
        "error: shard 3/3 did not finish (stopped or interrupted); run it again to complete it"
    )


def _stopped_while_removing(cli, recipe, in_dir, out, tmp_path, left=(2, 3)) -> None:
    """A merge stopped after it committed and removed shard 1/3's files but not the others'."""
    aside = tmp_path / "aside"
    aside.mkdir()
    leftovers = [p for p in out.iterdir() if any(f"shard-{k}-of-{N}" in p.name for k in left)]
    for path in leftovers:
        shutil.copy(path, aside / path.name)
    assert cli("merge", recipe, in_dir, out).exit_code == 0
    for path in leftovers:
        shutil.copy(aside / path.name, path)


def test_a_merge_stopped_while_removing_the_shards_files_is_finished_by_a_rerun(cli, job, sharded, tmp_path):
    recipe, in_dir, out = sharded
    expand(cli, recipe, in_dir, tmp_path / "whole")
    _stopped_while_removing(cli, recipe, in_dir, out, tmp_path)
    assert shard_files(out) != []

    result = cli("merge", recipe, in_dir, out)

    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"segaug merge: OUT was merged already; removed the files 2 shard(s) left behind; manifest: {out}/manifest.csv"
    )
    assert shard_files(out) == []
    assert tree_digest(out) == tree_digest(tmp_path / "whole")
    assert cli("check", recipe, in_dir, out).exit_code == 0


def test_leftovers_that_the_merged_manifest_does_not_hold_are_refused_as_usual(cli, job, sharded, tmp_path):
    recipe, in_dir, out = sharded
    _stopped_while_removing(cli, recipe, in_dir, out, tmp_path, left=(2,))
    name = out / "manifest.shard-2-of-3.csv"
    lines = name.read_text(encoding="utf-8").splitlines(keepends=True)
    name.write_text("".join(lines[:1] + lines[2:]), encoding="utf-8")  # one row fewer: edited since written
    assert refused(cli, recipe, in_dir, out).startswith(f"error: {out}: shard 1/3, 3/3 is missing")
    # The same with the shard's sidecar vouching for the edit: its rows still differ from the merged ones.
    sidecar = out / "segaug.shard-2-of-3.json"
    about = json.loads(sidecar.read_text(encoding="utf-8"))
    row = lines[1].rstrip("\r\n")
    row = row[:-64] + "0" * 64  # another mask_sha256 (the last column): not the merged row
    name.write_text("".join([lines[0], row + "\r\n", *lines[2:]]), encoding="utf-8")
    about["manifest_sha256"] = hashlib.sha256(name.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(about), encoding="utf-8")
    assert refused(cli, recipe, in_dir, out).startswith(f"error: {out}: shard 1/3, 3/3 is missing")


def test_merge_refuses_an_out_without_shards(cli, job, tmp_path):
    recipe, in_dir = job
    (tmp_path / "out").mkdir()
    assert refused(cli, recipe, in_dir, tmp_path / "out").startswith(f"error: {tmp_path / 'out'}: holds no shards")


# ---------------------------------------------------------------------------------------------
# merging.merge: the summary, and the refusals of a shard's own books
# ---------------------------------------------------------------------------------------------


def merge_refused(recipe, in_dir, out) -> str:
    before = tree_digest(out)
    with pytest.raises(merging.MergeRefused) as caught:
        merging.merge(recipes.load(recipe), in_dir, out)
    assert tree_digest(out) == before, "merge wrote something"
    return str(caught.value)


def test_a_merge_counts_its_shards_rows_and_failures_and_leaves_no_shard_file(sharded):
    recipe, in_dir, out = sharded
    summary = merging.merge(recipes.load(recipe), in_dir, out)
    assert summary == merging.MergeSummary(shards=3, rows=2 * len(PAIRS), failures=0, finished_earlier=False)
    assert shard_files(out) == []
    assert len((out / "manifest.csv").read_text(encoding="utf-8").splitlines()) == 1 + 2 * len(PAIRS)


def test_merge_refuses_a_shard_without_its_sidecar(sharded):
    recipe, in_dir, out = sharded
    (out / "segaug.shard-2-of-3.json").unlink()
    assert (
        merge_refused(recipe, in_dir, out)
        == f"{out}/segaug.shard-2-of-3.json: missing or unreadable; run shard 2/3 again"
    )


def test_merge_refuses_a_shard_manifest_edited_since_segaug_wrote_it(sharded):
    recipe, in_dir, out = sharded
    with open(out / "manifest.shard-3-of-3.csv", "a", encoding="utf-8") as fh:
        fh.write("\n")
    assert merge_refused(recipe, in_dir, out) == (
        f"{out}/manifest.shard-3-of-3.csv: edited since segaug wrote it; run shard 3/3 again"
    )


def test_merge_refuses_shards_made_with_other_library_versions(sharded, monkeypatch):
    recipe, in_dir, out = sharded
    running = books.versions()
    monkeypatch.setattr(books, "versions", lambda: {**running, "opencv": "0.0.0"})
    assert merge_refused(recipe, in_dir, out) == (
        f"shard 1/3 was made with opencv {running['opencv']}, this is opencv 0.0.0: outputs may differ; "
        "run every shard with the same versions"
    )


def test_merge_refuses_a_shard_that_lists_another_shards_row(sharded):
    recipe, in_dir, out = sharded
    first = (out / "manifest.shard-1-of-3.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    second = out / "manifest.shard-2-of-3.csv"
    lines = second.read_text(encoding="utf-8").splitlines(keepends=True)
    second.write_text("".join(lines[:1] + sorted([*lines[1:], first[1]])), encoding="utf-8")
    sidecar = out / "segaug.shard-2-of-3.json"
    about = json.loads(sidecar.read_text(encoding="utf-8"))  # vouches for the edit: only the rows tell
    about["manifest_sha256"] = hashlib.sha256(second.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(about), encoding="utf-8")
    image = first[1].split(",")[0]

    assert merge_refused(recipe, in_dir, out) == (
        f"{out}/manifest.shard-2-of-3.csv: lists {image}, which belongs to shard 1/3: a duplicated or foreign "
        "shard; run shard 2/3 again"
    )
