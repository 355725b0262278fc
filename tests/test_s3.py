"""IN and OUT as s3:// URLs, end to end, against a real S3 store (SeaweedFS on 127.0.0.1, the
session's one: the ``endpoint`` fixture of tests/conftest.py): the bytes of a local run, a rerun that
writes nothing and downloads no output, check, a SIGKILLed run resumed, a Dask cluster on the bucket,
and each store error as one line with its exit code, with no credential in any output, log or object."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest

pytest.importorskip("s3fs")

from conftest import kill_group, start_segaug, summary_counts, wait_until  # noqa: E402
from proxy import Proxy, Request  # noqa: E402
from services import (  # noqa: E402
    BUCKET,
    LOCAL_ONLY,
    SECRET,
    STORE_ONLY,
    black_hole,
    dask_cluster,
    files_under,
    free_port,
    moto_server,
    s3_bucket,
    s3_client,
    s3_options,
    seaweedfs,
)

from segaug_cli import engine, recipe, testing  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECIPE = ROOT / "recipes" / "default.yaml"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}


s3 = functools.partial(s3_client, secret=SECRET)
options = functools.partial(s3_options, secret=SECRET)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> dict[str, bytes]:
    """Every file a local run writes, by path relative to OUT."""
    out = tmp_path_factory.mktemp("local") / "out"
    summary = engine.expand(recipe.load(RECIPE), SAMPLE, out, engine.ExpandOptions(workers=2))
    assert summary.failed == 0 and summary.fatal is None
    return files_under(out)


def objects(url: str, prefix: str) -> dict[str, bytes]:
    client, found = s3(url), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"][len(prefix) + 1 :]] = body
    return found


def same_as_local(stored: dict[str, bytes], local: dict[str, bytes]) -> None:
    expected = {k: v for k, v in local.items() if k not in LOCAL_ONLY}
    assert {k: v for k, v in stored.items() if k not in STORE_ONLY} == expected
    assert SECRET.encode() not in b"".join(stored.values())


def segaug(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segaug_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **CREDENTIALS, **(env or {})},
    )


def prefix() -> str:
    return f"runs/{uuid.uuid4().hex[:8]}"


def test_bucket_to_bucket_is_a_local_run_byte_for_byte_and_check_passes(endpoint, local_run):
    out = prefix()
    secret_option = f"secret={SECRET}"  # given on the command line, with the key: it must show nowhere
    done = segaug(
        "expand", str(RECIPE), f"s3://{BUCKET}/raw", f"s3://{BUCKET}/{out}", "-j", "2",
        "--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
        "--storage-option", secret_option,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    same_as_local(objects(endpoint, out), local_run)
    checked = segaug("check", str(RECIPE), f"s3://{BUCKET}/raw", f"s3://{BUCKET}/{out}",
                     "--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
                     "--storage-option", secret_option)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OUT is up to date (48 output pairs)" in checked.stderr
    for result in (done, checked):
        assert SECRET not in result.stdout + result.stderr


@pytest.fixture(scope="module", params=["seaweedfs", "moto"])
def store(request, endpoint) -> Iterator[str]:
    """The endpoint of a store holding the bucket with ``sample_data/`` under ``raw/``: the session's
    SeaweedFS, whose listings name no checksum, and moto's server, whose listings do (as S3's)."""
    if request.param == "seaweedfs":
        yield endpoint
        return
    pytest.importorskip("moto")
    with moto_server() as url:
        s3_bucket(url, BUCKET, SECRET, {"raw": SAMPLE})
        yield url


def test_a_rerun_and_check_read_no_output(store, capsys):
    key = prefix()
    out = f"s3://{BUCKET}/{key}"
    opts = engine.ExpandOptions(workers=1, storage_options=options(store))
    assert engine.expand(recipe.load(RECIPE), f"s3://{BUCKET}/raw", out, opts).written == 48
    with Proxy(store) as proxy:  # every request of the command and of its pool's workers passes through it
        through = ("--storage-option", f"endpoint_url={proxy.url}")
        again = segaug("expand", str(RECIPE), f"s3://{BUCKET}/raw", out, "-j", "2", *through)
        rerun, proxy.requests = proxy.requests, []
        checked = segaug("check", str(RECIPE), f"s3://{BUCKET}/raw", out, "-j", "2", *through)
        check = proxy.requests
    with capsys.disabled():
        print(f"\n[{store}] GETs of output objects: rerun {len(gets_of_outputs(rerun, key))}, check "
              f"{len(gets_of_outputs(check, key))} (of {len(rerun)} and {len(check)} requests)")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "output samples 0 written, 48 unchanged, 0 removed" in again.stderr
    assert checked.returncode == 0 and "OUT is up to date (48 output pairs)" in checked.stderr, checked.stderr
    for requests in (rerun, check):
        assert [r for r in requests if r.key.startswith(outputs(key))] == []  # no output read, nor asked after
    to_out = [r for r in rerun if r.key.startswith(f"/{BUCKET}/{key}/")]
    assert [r for r in to_out if r.method != "GET" and "/.segaug-lock/" not in r.key] == []  # only the lock written
    books = sorted(r.key.rsplit("/", 1)[1] for r in to_out if r.method == "GET")
    assert books == [".segaug-objects.csv", "manifest.csv", "segaug.json"]  # one GET each, no HEAD before
    listings = [r for r in rerun if r.key == f"/{BUCKET}" and parse_qs(r.query).get("prefix") == [f"{key}/"]]
    assert len(listings) == 1  # OUT listed once


def outputs(key: str) -> tuple[str, ...]:
    """The request keys of OUT's output objects (``key``: OUT's prefix in the bucket), path-style."""
    return (f"/{BUCKET}/{key}/images/", f"/{BUCKET}/{key}/masks/")


def gets_of_outputs(requests: list[Request], key: str) -> list[Request]:
    return [r for r in requests if r.method == "GET" and r.key.startswith(outputs(key))]


def test_check_fails_after_an_object_is_altered(endpoint):
    out = prefix()
    opts = options(endpoint)
    rcp = recipe.load(RECIPE)
    engine.expand(
        rcp, f"s3://{BUCKET}/raw", f"s3://{BUCKET}/{out}", engine.ExpandOptions(workers=1, storage_options=opts)
    )
    mask = sorted(k for k in objects(endpoint, out) if k.startswith("masks/"))[0]
    s3(endpoint).put_object(Bucket=BUCKET, Key=f"{out}/{mask}", Body=b"not the mask segaug wrote")
    result = segaug("check", str(RECIPE), f"s3://{BUCKET}/raw", f"s3://{BUCKET}/{out}",
                    "--storage-option", f"endpoint_url={endpoint}")  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == f"altered: {mask}: the file's bytes differ from the manifest's sha256\n"


def test_a_killed_run_resumes_to_the_same_result(endpoint, local_run, tmp_path):
    out = f"s3://{BUCKET}/{prefix()}"
    pause = tmp_path / "paused"
    env = {**testing.pausing("running", pause), **testing.short_lease(2)}
    args = ["expand", str(RECIPE), f"s3://{BUCKET}/raw", out, "-j", "2", "--storage-option", f"endpoint_url={endpoint}"]
    proc = start_segaug(*args, env={**CREDENTIALS, **env})
    wait_until(proc, pause.exists, "running", timeout=60)
    kill_group(proc)  # the run and its pool workers, mid-run
    assert proc.returncode == -signal.SIGKILL
    stored = objects(endpoint, out.split("/", 3)[3])
    assert "manifest.csv" not in stored and ".segaug-lock/out.json" in stored
    # the killed run's process is gone from this host: its successor takes the lock over at once
    again = segaug(*args, env=testing.short_lease(2))
    assert again.returncode == 0, again.stderr
    same_as_local(objects(endpoint, out.split("/", 3)[3]), local_run)


def test_a_rerun_after_a_kill_restores_the_journal_and_rewrites_none_of_its_outputs(endpoint, local_run, tmp_path):
    """The journal of a killed run is what its successor restores: the outputs it lists are not written
    again (each is downloaded once and its SHA-256 compared with its row's, since the receipts that
    would vouch for it are committed with the manifest). Killed at the commit, every row is journaled."""
    key = prefix()
    out = f"s3://{BUCKET}/{key}"
    args = ["expand", str(RECIPE), f"s3://{BUCKET}/raw", out, "-j", "1"]
    marker = tmp_path / "committing"
    proc = start_segaug(
        *args,
        "--storage-option",
        f"endpoint_url={endpoint}",
        env={**CREDENTIALS, **testing.short_lease(2), **testing.pausing("commit", marker, 60)},
    )
    wait_until(proc, marker.exists, "commit", timeout=60)
    kill_group(proc)  # the run, its journal sent, before its manifest
    journaled = {
        name
        for data in objects(endpoint, f"{key}/.segaug-journal").values()
        for row in map(json.loads, data.decode().splitlines())
        for name in (row["image"], row["mask"])
    }
    stored = objects(endpoint, key)
    assert "manifest.csv" not in stored
    assert journaled == {name for name in stored if name.startswith(("images/", "masks/"))} != set()

    with Proxy(endpoint) as counted:
        again = segaug(*args, "--storage-option", f"endpoint_url={counted.url}", env=testing.short_lease(2))
    assert again.returncode == 0, again.stderr
    assert summary_counts(again.stderr)[:2] == (0, len(journaled) // 2)  # 0 written, all unchanged
    assert not [r for r in counted.seen("PUT") if r.key.startswith(outputs(key))]
    assert len(gets_of_outputs(counted.seen(), key)) == len(journaled)  # each checked once
    same_as_local(objects(endpoint, key), local_run)


def test_a_store_killed_mid_run_stops_it_with_one_line_and_a_rerun_finishes(local_run, tmp_path, capsys):
    with seaweedfs(tmp_path / "store", bucket=BUCKET) as store:  # a store of its own, to kill
        out = f"s3://{BUCKET}/out"
        args = ["expand", str(RECIPE), str(SAMPLE), out, "-j", "2", "--storage-option", f"endpoint_url={store.url}"]
        marker = tmp_path / "running"  # held after its first pair, so the store dies mid-run however fast the run
        proc = start_segaug(
            *args, env={**CREDENTIALS, **testing.short_lease(2), **testing.pausing("running", marker, 3)}
        )
        try:
            wait_until(proc, marker.exists, "its first pair", timeout=60)
            store.kill()  # the store's machine is lost: every listener gone at once, no shutdown
            killed = time.monotonic()
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        with capsys.disabled():
            print(f"\n[store killed] the run exited {proc.returncode} {time.monotonic() - killed:.1f} s after the kill")
        assert proc.returncode == 1, stderr
        [error] = [line for line in stderr.splitlines() if line.startswith(("error:", "Error:"))]
        assert error.startswith((f"error: OUT {out}: ", f"error: {out}/")) and error.endswith(
            ": cannot reach the store (connection refused, after the backend's retries)"
        )
        assert "Traceback" not in stderr and SECRET not in stderr

        store.start()  # the same data, on the same ports
        stored = objects(store.url, "out")
        assert ".segaug-lock/out.json" in stored  # the store could not be told: the lease lapses by itself
        outputs = {name: data for name, data in stored.items() if name.startswith(("images/", "masks/"))}
        assert outputs and outputs == {name: local_run[name] for name in outputs}  # each whole: a local run's bytes
        # the stopped run's process is gone from this host: its successor takes the lock over at once
        again = segaug(*args)
        assert again.returncode == 0, again.stderr
        same_as_local(objects(store.url, "out"), local_run)


def test_a_dask_cluster_reads_and_writes_the_bucket(endpoint, local_run, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    for name, value in CREDENTIALS.items():  # the workers' own credentials, from their environment
        monkeypatch.setenv(name, value)
    out = prefix()
    with dask_cluster(tmp_path / "cluster", workers=2) as cluster:
        result = segaug(
            "expand", str(RECIPE), f"s3://{BUCKET}/raw", f"s3://{BUCKET}/{out}", "--scheduler", cluster.address,
            "--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
            "--storage-option", f"secret={SECRET}",
        )  # fmt: skip
        logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "cluster").glob("*.log"))
    assert result.returncode == 0, result.stderr
    same_as_local(objects(endpoint, out), local_run)
    assert SECRET not in result.stdout + result.stderr + logs  # the secret option never crossed the scheduler


def test_a_missing_bucket_is_one_line_exit_2(endpoint, tmp_path):
    result = segaug("expand", str(RECIPE), "s3://no-such-bucket-here/raw", str(tmp_path / "out"),
                    "--storage-option", f"endpoint_url={endpoint}")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "Error: IN s3://no-such-bucket-here/raw: the bucket does not exist\n"
    assert not (tmp_path / "out").exists()


def test_an_unknown_access_key_is_access_denied_exit_2(endpoint, tmp_path):
    out = f"s3://{BUCKET}/{prefix()}"
    result = segaug(
        "expand", str(RECIPE), str(SAMPLE), out, "--storage-option", f"endpoint_url={endpoint}",
        env={"AWS_ACCESS_KEY_ID": "nobody-knows-me", "AWS_SECRET_ACCESS_KEY": "wrong-" + SECRET},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: OUT {out}") and result.stderr.endswith(
        ": access denied (check the credentials and the bucket's policy)\n"
    )
    assert len(result.stderr.splitlines()) == 1 and SECRET not in result.stderr


@pytest.mark.parametrize("where", ["IN", "OUT"])
@pytest.mark.parametrize("how", ["refused", "timed out"])
def test_an_unreachable_store_is_one_line_exit_2(tmp_path, where, how, capsys):
    """A closed port refuses at once; a listener whose backlog is full never answers the connection
    (as a store behind a firewall that drops packets): the connect timeout and bounded retries end both."""
    url = f"s3://{BUCKET}/{prefix()}"
    in_dir, out = (url, str(tmp_path / "out")) if where == "IN" else (str(SAMPLE), url)
    with black_hole() if how == "timed out" else contextlib.nullcontext(f"http://127.0.0.1:{free_port()}") as closed:
        started = time.monotonic()
        result = segaug(
            "expand", str(RECIPE), in_dir, out, "--storage-option", f"endpoint_url={closed}",
            "--storage-option", "key=testing", "--storage-option", f"secret={SECRET}",
        )  # fmt: skip
        took = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[{where} {how}] exit {result.returncode} after {took:.1f} s")
    assert result.returncode == 2
    reason = f"connection {how}, after the backend's retries"
    assert result.stderr == f"Error: {where} {url}: cannot reach the store ({reason})\n"
    assert not (tmp_path / "out").exists()


def test_a_missing_extra_is_one_line_exit_2(tmp_path):
    code = "import sys; sys.modules['s3fs'] = None\nfrom segaug_cli.cli import main\nmain()"
    result = subprocess.run(
        [sys.executable, "-c", code, "expand", str(RECIPE), "s3://b/raw", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "Error: install segaug[s3] to read s3:// URLs\n"


def test_in_and_out_nested_in_one_bucket_are_refused(endpoint):
    result = segaug("expand", str(RECIPE), f"s3://{BUCKET}/raw", f"s3://{BUCKET}/raw/out",
                    "--storage-option", f"endpoint_url={endpoint}")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"Error: IN (s3://{BUCKET}/raw) and OUT (s3://{BUCKET}/raw/out) must be separate folders, "
        "neither inside the other\n"
    )


def test_validate_pairs_a_bucket_as_a_local_folder(endpoint):
    local = segaug("validate", str(RECIPE), str(SAMPLE))
    remote = segaug("validate", str(RECIPE), f"s3://{BUCKET}/raw", "--storage-option", f"endpoint_url={endpoint}")
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout.replace(str(SAMPLE), f"s3://{BUCKET}/raw")
