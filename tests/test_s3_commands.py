"""merge, preview and stats on s3:// URLs, shards into one bucket, check --deep on a bucket, and a store
that refuses a write mid-run, against a real S3 store (SeaweedFS on 127.0.0.1, the session's one: the
``endpoint`` fixture of tests/conftest.py; moto's server for the refused write, see ``moto``): every
object of a sharded-then-merged OUT is the unsharded run's, merge refuses as it does on a disk, preview
and stats print what they print for a local copy, and a failed PUT stops the run with one line and
leaves only whole outputs that the manifest lists."""

from __future__ import annotations

import csv
import functools
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("s3fs")

import boto3  # noqa: E402
import requests  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from conftest import run_segaug  # noqa: E402
from services import (  # noqa: E402
    BUCKET,
    LOCAL_ONLY,
    SECRET,
    STORE_ONLY,
    dask_cluster,
    files_under,
    moto_server,
    s3_bucket,
    s3_client,
    s3_options,
)

from segaug_cli import engine, recipe  # noqa: E402
from segaug_cli.cli import main  # noqa: E402
from segaug_cli.shards import Shard  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECIPE = ROOT / "recipes" / "default.yaml"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
RAW = f"s3://{BUCKET}/raw"
N = 3


s3 = functools.partial(s3_client, secret=SECRET)
options = functools.partial(s3_options, secret=SECRET)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("local") / "out"
    summary = engine.expand(recipe.load(RECIPE), SAMPLE, out, engine.ExpandOptions(workers=1))
    assert summary.failed == 0 and summary.fatal is None
    return files_under(out)


def fresh() -> str:
    """A new prefix of the bucket, as an s3:// URL."""
    return f"s3://{BUCKET}/runs/{uuid.uuid4().hex[:8]}"


def key_of(url: str) -> str:
    return url.split("/", 3)[3]


def objects(endpoint: str, url: str) -> dict[str, bytes]:
    """Every object under a prefix, by name relative to it."""
    client, found, prefix = s3(endpoint), {}, key_of(url)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix) + 1 :]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def expand(endpoint: str, out: str, shard: Shard | None = None, workers=1) -> engine.Summary:
    opts = engine.ExpandOptions(workers=workers, shard=shard, storage_options=options(endpoint))
    summary = engine.expand(recipe.load(RECIPE), RAW, out, opts)
    assert summary.failed == 0 and summary.fatal is None, summary
    return summary


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def here(*args) -> Ran:
    """The command line in this process (no interpreter to start), stdout and stderr apart."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in ran.stderr and SECRET not in ran.stdout + ran.stderr
    return ran


def segaug(*args, store_file: Path) -> Ran:
    """The command line with its options, credentials included, from a --storage-options file."""
    return here(*args, "--storage-options", store_file)


def manifest_outputs(data: bytes) -> set[str]:
    rows = csv.DictReader(io.StringIO(data.decode()))
    return {path for row in rows for path in (row["image"], row["mask"])}


# ---------------------------------------------------------------------------------------------
# Shards into one bucket, then merge
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sharded(endpoint, tmp_path_factory) -> str:
    """OUT in the bucket holding the N shards of one job, unmerged: shard 1 run in this process, shard
    3 on a local pool, shard 2 on a Dask cluster (when installed) whose workers write the bucket."""
    out = fresh()
    expand(endpoint, out, Shard(1, N), workers=1)
    expand(endpoint, out, Shard(3, N), workers=2)
    try:
        import distributed  # noqa: F401

        from segaug_cli.executors_dask import DaskExecutor
    except ImportError:
        expand(endpoint, out, Shard(2, N), workers=2)
        return out
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():  # the workers' own credentials, from their environment
            env.setenv(name, value)
        with dask_cluster(tmp_path_factory.mktemp("cluster"), workers=1) as cluster:
            expand(endpoint, out, Shard(2, N), workers=DaskExecutor(cluster.address))
    return out


def test_shards_into_one_bucket_keep_their_bookkeeping_apart(endpoint, sharded):
    books = sorted(name for name in objects(endpoint, sharded) if not name.startswith(("images/", "masks/")))
    assert books == sorted(
        name
        for k in range(1, N + 1)
        for name in (
            f".segaug-objects.shard-{k}-of-{N}.csv",
            f"manifest.shard-{k}-of-{N}.csv",
            f"segaug.shard-{k}-of-{N}.json",
        )
    )  # no journal object, no lock object, nothing of one shard under another's name


def test_merged_shards_in_a_bucket_are_the_unsharded_run_object_for_object(endpoint, sharded, store_file, local_run):
    out = copy_of(endpoint, sharded)
    whole = fresh()
    expand(endpoint, whole)

    merged = segaug("merge", RECIPE, RAW, out, store_file=store_file)

    assert merged.returncode == 0, merged.stderr
    assert merged.stderr == f"segaug merge: {N} shards, 48 output pairs; manifest: {out}/manifest.csv\n"
    stored = objects(endpoint, out)
    assert stored == objects(endpoint, whole)  # every object, the receipts of the uploads included
    assert SECRET.encode() not in b"".join(stored.values())
    assert stored["manifest.csv"] == local_run["manifest.csv"]
    assert stored["segaug.json"] == local_run["segaug.json"]
    assert {k: v for k, v in stored.items() if k.startswith(("images/", "masks/"))} == {
        k: v for k, v in local_run.items() if k.startswith(("images/", "masks/"))
    }
    checked = segaug("check", RECIPE, RAW, out, "-j", "1", store_file=store_file)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == "segaug check: OUT is up to date (48 output pairs)\n"


def copy_of(endpoint: str, url: str, books_only: bool = False) -> str:
    """A copy of every object under a prefix (or of its bookkeeping only), under a new one."""
    client, copy = s3(endpoint), fresh()
    for name in objects(endpoint, url):
        if books_only and name.startswith(("images/", "masks/")):
            continue
        source = {"Bucket": BUCKET, "Key": f"{key_of(url)}/{name}"}
        client.copy_object(Bucket=BUCKET, Key=f"{key_of(copy)}/{name}", CopySource=source)
    return copy


def refused(endpoint: str, out: str, store_file: Path) -> str:
    before = objects(endpoint, out)
    result = segaug("merge", RECIPE, RAW, out, store_file=store_file)
    assert result.returncode == 1, result.stderr
    assert objects(endpoint, out) == before, "merge wrote something"
    assert len(result.stderr.splitlines()) == 1
    return result.stderr.strip()


def test_merge_refuses_a_missing_shard_in_a_bucket(endpoint, sharded, store_file):
    out = copy_of(endpoint, sharded, books_only=True)
    s3(endpoint).delete_object(Bucket=BUCKET, Key=f"{key_of(out)}/manifest.shard-2-of-{N}.csv")
    assert refused(endpoint, out, store_file) == (
        f"error: {out}: shard 2/{N} is missing (no manifest.shard-2-of-{N}.csv); run it, or copy its folder into OUT"
    )


def test_merge_refuses_a_duplicated_shard_in_a_bucket(endpoint, sharded, store_file):
    out = copy_of(endpoint, sharded, books_only=True)
    client = s3(endpoint)
    for name in ("manifest.shard-{}-of-3.csv", "segaug.shard-{}-of-3.json"):
        source = {"Bucket": BUCKET, "Key": f"{key_of(out)}/{name.format(1)}"}
        client.copy_object(Bucket=BUCKET, Key=f"{key_of(out)}/{name.format(2)}", CopySource=source)
    assert refused(endpoint, out, store_file) == (
        f"error: {out}/manifest.shard-2-of-3.csv: is a duplicate of shard 1/3, not shard 2/3; run shard 2/3 again"
    )


def test_merge_refuses_a_foreign_shard_in_a_bucket(endpoint, sharded, store_file):
    out = copy_of(endpoint, sharded, books_only=True)
    expand(endpoint, out, Shard(1, 2))
    assert refused(endpoint, out, store_file) == (
        f"error: {out}: holds shards made with different N (2, 3); keep the shards of one job only"
    )


def test_merge_refuses_a_shard_stopped_in_a_bucket(endpoint, sharded, store_file):
    out = copy_of(endpoint, sharded, books_only=True)
    journal = f"{key_of(out)}/.segaug-journal.shard-3-of-{N}/00000000000000000001-1/00000000.jsonl"
    s3(endpoint).put_object(Bucket=BUCKET, Key=journal, Body=b"")  # what a killed shard run leaves
    assert refused(endpoint, out, store_file) == (
        f"error: shard 3/{N} did not finish (stopped or interrupted); run it again to complete it"
    )


def test_a_merge_stopped_while_deleting_the_shards_objects_is_finished_by_a_rerun(endpoint, sharded, store_file):
    out = copy_of(endpoint, sharded)
    whole = fresh()
    expand(endpoint, whole)
    client, prefix = s3(endpoint), key_of(out)
    left = {name: data for name, data in objects(endpoint, out).items() if f"shard-3-of-{N}" in name}
    assert segaug("merge", RECIPE, RAW, out, store_file=store_file).returncode == 0
    for name, data in left.items():  # what a merge stopped by the store after shards 1 and 2 leaves
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=data)

    rerun = segaug("merge", RECIPE, RAW, out, store_file=store_file)

    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stderr == (
        "segaug merge: OUT was merged already; removed the files 1 shard(s) left behind; "
        f"manifest: {out}/manifest.csv\n"
    )
    assert objects(endpoint, out) == objects(endpoint, whole)


# ---------------------------------------------------------------------------------------------
# check --deep on a bucket
# ---------------------------------------------------------------------------------------------


def test_check_deep_on_a_bucket_passes_then_names_an_output_altered_in_place(endpoint, store_file):
    out = fresh()
    expand(endpoint, out)
    assert segaug("check", RECIPE, RAW, out, "--deep", "all", "-j", "1", store_file=store_file).returncode == 0
    image = sorted(name for name in objects(endpoint, out) if name.startswith("images/"))[5]
    other = sorted(name for name in objects(endpoint, out) if name.startswith("images/"))[6]
    body = s3(endpoint).get_object(Bucket=BUCKET, Key=f"{key_of(out)}/{other}")["Body"].read()
    s3(endpoint).put_object(Bucket=BUCKET, Key=f"{key_of(out)}/{image}", Body=body)  # a valid PNG, not this one

    result = segaug("check", RECIPE, RAW, out, "--deep", "all", "-j", "1", store_file=store_file)

    assert result.returncode == 1
    assert result.stdout == f"altered: {image}: the file's bytes differ from the manifest's sha256\n"


# ---------------------------------------------------------------------------------------------
# A store that refuses one write mid-run
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def moto():
    """moto's S3 and IAM server, holding the bucket with ``sample_data/`` under ``raw/``; the endpoint URL.

    moto, not SeaweedFS: the fault needs a policy that denies a PUT of one key, chosen by the test while
    the store runs. SeaweedFS's identities only grant actions (on a bucket or prefix), never deny one
    key, and are read from a file at start-up."""
    pytest.importorskip("moto")
    with moto_server() as url:
        s3_bucket(url, BUCKET, SECRET, {"raw": SAMPLE})
        yield url


@pytest.fixture
def denied_one_key(moto):
    """An IAM user that may do anything in S3 but write one key, and moto checking IAM meanwhile."""
    endpoint = moto
    iam = boto3.client(
        "iam", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    user = f"writer-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    access = iam.create_access_key(UserName=user)["AccessKey"]

    def deny(key: str) -> dict[str, str]:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/{key}"},
            ],
        }
        iam.put_user_policy(UserName=user, PolicyName="all-but-one-key", PolicyDocument=json.dumps(policy))
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10)  # moto checks IAM from now on
        return {"AWS_ACCESS_KEY_ID": access["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": access["SecretAccessKey"]}

    try:
        yield deny
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_a_put_refused_mid_run_stops_it_with_one_line_and_leaves_only_whole_listed_outputs(
    moto, denied_one_key, local_run, tmp_path
):
    endpoint = moto
    out = fresh()
    outputs = sorted(name for name in local_run if name.startswith("masks/"))
    refused_key = outputs[len(outputs) // 2]  # a mask of a pair in the middle: some pairs finish before it
    user = denied_one_key(f"{key_of(out)}/{refused_key}")
    plain = tmp_path / "store.yaml"  # the endpoint only: the credentials are the denied user's, from the environment
    plain.write_text(json.dumps({"storage_options": {"endpoint_url": endpoint}}))

    result = run_segaug(
        "expand", RECIPE, RAW, out, "-j", "2", "--storage-options", plain, env={**CREDENTIALS, **user}, timeout=120
    )
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)

    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {out}/{refused_key}: access denied (check the credentials and the bucket's policy)"]
    assert "Traceback" not in result.stderr and user["AWS_SECRET_ACCESS_KEY"] not in result.stderr
    stored = objects(endpoint, out)
    written = {name: body for name, body in stored.items() if name.startswith(("images/", "masks/"))}
    assert refused_key not in written
    assert written == {name: local_run[name] for name in written}  # each object whole: a local run's bytes
    assert set(written) == manifest_outputs(stored["manifest.csv"])  # and every one listed, nothing more
    assert 0 < len(written) < 96
    assert not [name for name in stored if name.startswith((".segaug-journal/", ".segaug-lock/"))]

    again = run_segaug("expand", RECIPE, RAW, out, "-j", "2", "--storage-option", f"endpoint_url={endpoint}",
                       env=CREDENTIALS, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr
    finished = {k: v for k, v in objects(endpoint, out).items() if k not in STORE_ONLY}
    assert finished == {k: v for k, v in local_run.items() if k not in LOCAL_ONLY}


# ---------------------------------------------------------------------------------------------
# preview and stats read IN from the bucket
# ---------------------------------------------------------------------------------------------


def test_preview_of_a_bucket_is_the_preview_of_a_local_copy(endpoint, store_file, tmp_path):
    args = ("--pairs", "3", "--samples", "2", "--tile", "64")
    local = here("preview", RECIPE, SAMPLE, "-o", tmp_path / "local.png", *args)
    assert local.returncode == 0, local.stderr
    sheet_url = f"{fresh()}/sheet.png"

    to_file = segaug("preview", RECIPE, RAW, "-o", tmp_path / "remote.png", *args, store_file=store_file)
    to_bucket = segaug("preview", RECIPE, RAW, "-o", sheet_url, *args, store_file=store_file)

    assert to_file.returncode == 0 and to_bucket.returncode == 0, to_file.stderr + to_bucket.stderr
    expected = (tmp_path / "local.png").read_bytes()
    assert (tmp_path / "remote.png").read_bytes() == expected
    assert s3(endpoint).get_object(Bucket=BUCKET, Key=key_of(sheet_url))["Body"].read() == expected
    assert to_bucket.stdout == local.stdout.replace(str(tmp_path / "local.png"), sheet_url)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (f"{RAW}/sheet.png", f"{RAW}/sheet.png: inside IN ({RAW}), which segaug never writes to"),
        (f"s3://{BUCKET}/sheet.jpg", f"s3://{BUCKET}/sheet.jpg: the contact sheet is a PNG; name it with .png"),
        ("s3://sheet.png", "s3://sheet.png: name an object in a bucket, e.g. s3://bucket/preview.png"),
    ],
)
def test_preview_refuses_an_unusable_output_url(endpoint, store_file, output, message):
    result = segaug("preview", RECIPE, RAW, "-o", output, store_file=store_file)
    assert result.returncode == 2
    assert result.stderr == f"Error: {message}\n"


@pytest.mark.parametrize("folder", ["", "/masks"])
def test_stats_of_a_bucket_print_what_they_print_for_a_local_copy(endpoint, store_file, folder):
    local = here("stats", f"{SAMPLE}{folder}")
    remote = segaug("stats", f"{RAW}{folder}", store_file=store_file)
    assert local.returncode == remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout and remote.stderr == local.stderr
    assert len(remote.stdout.splitlines()) > 2


def test_stats_of_a_damaged_mask_in_a_bucket_warn_as_for_a_local_one(endpoint, store_file, tmp_path):
    out = fresh()
    client = s3(endpoint)
    client.put_object(
        Bucket=BUCKET, Key=f"{key_of(out)}/masks/a.png", Body=(SAMPLE / "masks/street/frame_000.png").read_bytes()
    )
    client.put_object(Bucket=BUCKET, Key=f"{key_of(out)}/masks/b.png", Body=b"not a png")
    local = tmp_path / "copy"
    (local / "masks").mkdir(parents=True)
    (local / "masks/a.png").write_bytes((SAMPLE / "masks/street/frame_000.png").read_bytes())
    (local / "masks/b.png").write_bytes(b"not a png")

    remote, copy = segaug("stats", out, store_file=store_file), here("stats", local)

    assert remote.returncode == copy.returncode == 0
    assert (remote.stdout, remote.stderr) == (copy.stdout, copy.stderr)
    assert remote.stderr.startswith("warning: masks/b.png")


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (("stats", "s3://no-such-bucket-here/raw"), ""),  # stats' DIR, as typed
        (("preview", RECIPE, "s3://no-such-bucket-here/raw", "-o", "{tmp}/sheet.png"), "IN "),
        (("merge", RECIPE, RAW, "s3://no-such-bucket-here/out"), "OUT "),
    ],
)
def test_a_missing_bucket_is_one_line_exit_2_for_every_command(endpoint, store_file, command, named, tmp_path):
    result = segaug(*(str(arg).format(tmp=tmp_path) for arg in command), store_file=store_file)
    assert result.returncode == 2
    url = next(arg for arg in map(str, command) if "no-such-bucket" in arg)
    assert result.stderr == f"Error: {named}{url}: the bucket does not exist\n"
    assert not (tmp_path / "sheet.png").exists()
