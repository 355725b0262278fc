"""IN and OUT as s3:// URLs, end to end, against a real S3 API (moto's server on 127.0.0.1, the
session's one: the ``endpoint`` fixture of tests/conftest.py): the bytes of a local run, a rerun that
writes nothing and downloads no output, check, a SIGKILLed run resumed, a Dask cluster on the bucket,
and each store error as one line with its exit code, with no credential in any output, log or object."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from services import BUCKET, SECRET, dask_cluster, files_under, free_port, s3_client, s3_options  # noqa: E402

from segaug_cli import engine, recipe, storage, testing  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECIPE = ROOT / "recipes" / "default.yaml"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
LOCAL_ONLY = {".segaug.lock"}  # the local fcntl lock file; an object store's lock object is gone after a run
STORE_ONLY = {".segaug-objects.csv"}  # the receipts of the uploads, kept beside an object store's manifest


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


def test_a_rerun_writes_nothing_and_downloads_no_output(endpoint, local_run):
    out = f"s3://{BUCKET}/{prefix()}"
    rcp, opts = recipe.load(RECIPE), options(endpoint)
    first = engine.expand(rcp, f"s3://{BUCKET}/raw", out, engine.ExpandOptions(workers=1, storage_options=opts))
    assert first.written == 48
    sent: list[tuple[str, str]] = []
    fs = storage.open_location(out, opts).fs  # the instance every open of these options shares in this process
    fs.s3.meta.events.register("before-send.s3", lambda request, **kw: sent.append((request.method, request.url)))
    again = engine.expand(rcp, f"s3://{BUCKET}/raw", out, engine.ExpandOptions(workers=1, storage_options=opts))
    assert (again.written, again.unchanged, again.removed) == (0, 48, 0)
    key = out.split("/", 3)[3]
    to_out = [(method, unquote(url)) for method, url in sent if key in unquote(url)]
    writes = [(m, u) for m, u in to_out if m in ("PUT", "POST", "DELETE") and "/.segaug-lock/" not in u]
    assert writes == []  # only the lock object comes and goes
    assert [u for m, u in to_out if "/images/" in u or "/masks/" in u] == []  # no output downloaded, nor asked after
    listings = [u for m, u in to_out if "list-type=2" in u and ".segaug-lock" not in u]
    assert len(listings) == 1  # OUT listed once
    reads = sorted(u.rsplit("/", 1)[1] for m, u in to_out if m == "GET" and "list-type" not in u)
    assert reads == [".segaug-objects.csv", "manifest.csv", "segaug.json"]  # one GET each, no HEAD before


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
    proc = subprocess.Popen(
        [sys.executable, "-m", "segaug_cli", *args],
        env={**os.environ, **CREDENTIALS, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not pause.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its pool workers, mid-run
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    stored = objects(endpoint, out.split("/", 3)[3])
    assert "manifest.csv" not in stored and ".segaug-lock/out.json" in stored
    time.sleep(2.5)  # the killed run's lease expires; its successor takes the lock over
    again = segaug(*args, env=testing.short_lease(2))
    assert again.returncode == 0, again.stderr
    same_as_local(objects(endpoint, out.split("/", 3)[3]), local_run)


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
    result = segaug(
        "expand", str(RECIPE), str(SAMPLE), f"s3://{BUCKET}/{prefix()}", "--storage-option", f"endpoint_url={endpoint}",
        env={"AWS_ACCESS_KEY_ID": "nobody-knows-me", "AWS_SECRET_ACCESS_KEY": "wrong-" + SECRET},
    )  # fmt: skip
    # moto accepts any key unless IAM is checked; an unknown key is refused once it is (see test_storage_fsspec_ro)
    assert result.returncode in (0, 2)
    assert "Traceback" not in result.stderr and SECRET not in result.stderr


def test_an_unreachable_store_is_one_line_exit_2(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = segaug(
        "expand", str(RECIPE), f"s3://{BUCKET}/raw", str(tmp_path / "out"),
        "--storage-option", f"endpoint_url={closed}", "--storage-option", "key=testing",
        "--storage-option", f"secret={SECRET}",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"Error: IN s3://{BUCKET}/raw: cannot reach the store (connection refused, after the backend's retries)\n"
    )
    assert time.monotonic() - started < 60
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
