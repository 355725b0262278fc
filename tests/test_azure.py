"""OUT as an az:// URL, end to end, against a real Azure Blob API (Azurite on 127.0.0.1, the session's
one: the ``azurite`` fixture of tests/conftest.py): every recipe's objects are a local run's bytes, a
rerun makes seven requests and downloads no output, a SIGKILLed run resumes, shards merged in the
container are the unsharded run, check and check --deep pass and then name a changed object, and no
storage option shows in any output or object."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import kill_group, start_segaug, summary_counts, wait_until
from services import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    CONTAINER,
    LOCAL_ONLY,
    STORE_ONLY,
    azure_blobs,
    azure_container,
    azurite_server,
    black_hole,
    files_under,
    free_port,
)

from segaug_cli import engine, recipe, storage, testing
from segaug_cli.cli import main
from segaug_cli.shards import Shard

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECIPE = ROOT / "recipes" / "default.yaml"
RAW = f"az://{CONTAINER}/raw"
FAKE_SAS = "sv=2099-01-01&sig=NeVeR-sHoW-tHiS-4a7e"  # a distinctive option, taken by adlfs and never used


def fresh() -> str:
    return f"az://{CONTAINER}/runs/{uuid.uuid4().hex[:8]}"


def options(azurite) -> dict:
    return {"connection_string": azurite.connection_string}


def option_args(azurite) -> list[str]:
    """The options as a user types them: a connection string with the account key, and a SAS token."""
    return ["--storage-option", f"connection_string={azurite.connection_string}", "--storage-option",
            f"sas_token={FAKE_SAS}"]  # fmt: skip


def local_files(rcp: Path, tmp: Path, workers: int = 1) -> dict[str, bytes]:
    summary = engine.expand(recipe.load(rcp), SAMPLE, tmp / "local", engine.ExpandOptions(workers=workers))
    assert summary.failed == 0 and summary.fatal is None
    return {k: v for k, v in files_under(tmp / "local").items() if k not in LOCAL_ONLY}


def stored(azurite, url: str) -> dict[str, bytes]:
    return {k: v for k, v in azure_blobs(azurite.connection_string, url).items() if k not in STORE_ONLY}


def expand(azurite, out: str, rcp: Path = RECIPE, in_dir: str | Path = RAW, **settings) -> engine.Summary:
    opts = engine.ExpandOptions(workers=settings.pop("workers", 1), storage_options=options(azurite), **settings)
    summary = engine.expand(recipe.load(rcp), in_dir, out, opts)
    assert summary.failed == 0 and summary.fatal is None, summary
    return summary


def segaug(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segaug_cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def here(*args) -> tuple[int, str, str]:
    """The command line in this process: exit code, stdout, stderr."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("rcp", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_into_a_container_is_its_local_run_byte_for_byte(azurite, rcp, tmp_path):
    out = fresh()
    expand(azurite, out, rcp, in_dir=SAMPLE)
    assert stored(azurite, out) == local_files(rcp, tmp_path)


def test_a_container_to_container_run_shows_no_option_anywhere_and_check_passes(azurite, tmp_path):
    out = fresh()
    done = segaug("expand", RECIPE, RAW, out, "-j", "2", *option_args(azurite))
    assert done.returncode == 0, done.stderr
    assert stored(azurite, out) == local_files(RECIPE, tmp_path, workers=2)
    checked = segaug("check", RECIPE, RAW, out, *option_args(azurite))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OUT is up to date (48 output pairs)" in checked.stderr
    everything = b"".join(azure_blobs(azurite.connection_string, out).values()).decode("latin-1")
    for shown in (done.stdout, done.stderr, checked.stdout, checked.stderr, everything):
        for secret in (FAKE_SAS, "NeVeR-sHoW", azurite.connection_string, "AccountKey", "Eby8vdM02x"):
            assert secret not in shown


def test_a_rerun_makes_seven_requests_and_downloads_no_output(azurite):
    out = fresh()
    assert expand(azurite, out, in_dir=SAMPLE).written == 48
    key = out.split("/", 3)[3]
    released = ("DELETE", f"/{key}/.segaug-lock/out.json")
    requests_to(azurite, key, 0, last=released)  # the first run's requests all logged before counting
    before = len(azurite.requests())
    again = expand(azurite, out, in_dir=SAMPLE)
    assert (again.written, again.unchanged, again.removed) == (0, 48, 0)
    sent = requests_to(azurite, key, before, last=released)
    assert sent == [
        ("PUT", f"/{key}/.segaug-lock/out.json"),  # the lock, created (If-None-Match: *)
        ("GET", f"?restype=container&comp=list&prefix={key}/.segaug-lock/"),  # no shard holds OUT
        ("GET", f"?restype=container&comp=list&prefix={key}/"),  # OUT listed once
        ("GET", f"/{key}/manifest.csv"),
        ("GET", f"/{key}/segaug.json"),
        ("GET", f"/{key}/.segaug-objects.csv"),  # the receipts: no output read, nor asked after
        ("DELETE", f"/{key}/.segaug-lock/out.json"),  # the lock, released (If-Match)
    ]


def requests_to(azurite, key: str, since: int, last: tuple[str, str]) -> list[tuple[str, str]]:
    """The requests about ``key`` that Azurite logged after its first ``since`` requests, container
    path left out; waits (5 s at most) for ``last`` to be logged, as Azurite writes its log behind."""
    deadline = time.monotonic() + 5
    while True:
        sent = [
            (method, url.replace(f"/devstoreaccount1/{CONTAINER}", ""))
            for method, url in azurite.requests()[since:]
            if key in url
        ]
        if (sent and sent[-1] == last) or time.monotonic() > deadline:
            return sent
        time.sleep(0.05)


def test_a_killed_run_resumes_to_the_local_bytes(azurite, tmp_path):
    out = fresh()
    pause = tmp_path / "paused"
    env = {**testing.pausing("commit", pause, 60), **testing.short_lease(2)}  # the journal sent, no manifest yet
    args = ["expand", str(RECIPE), str(SAMPLE), out, "-j", "2", *option_args(azurite)]
    proc = start_segaug(*args, env=env)
    wait_until(proc, pause.exists, "commit", timeout=60)
    kill_group(proc)  # the run and its pool workers, before its commit
    assert proc.returncode == -signal.SIGKILL
    left = azure_blobs(azurite.connection_string, out)
    assert "manifest.csv" not in left and ".segaug-lock/out.json" in left
    journalled = [name for name in left if name.startswith(".segaug-journal/")]
    assert journalled, "no journal object was sent before the kill"
    again = segaug(*args, env=testing.short_lease(2))  # the holder is gone from this host: taken over at once
    assert again.returncode == 0, again.stderr
    written, unchanged, removed, failed = summary_counts(again.stderr)
    assert unchanged > 0 and written + unchanged == 48  # the journalled outputs were trusted, not redone
    assert stored(azurite, out) == local_files(RECIPE, tmp_path)
    assert not any(name.startswith(".segaug-journal/") for name in azure_blobs(azurite.connection_string, out))


def test_shards_merged_in_a_container_are_the_unsharded_local_run(azurite, tmp_path):
    out = fresh()
    for k in (1, 2, 3):
        expand(azurite, out, shard=Shard(k, 3), workers=1 if k != 2 else 2)
    code, _, stderr = here("merge", RECIPE, RAW, out, *option_args(azurite))
    assert code == 0, stderr
    assert stderr == f"segaug merge: 3 shards, 48 output pairs; manifest: {out}/manifest.csv\n"
    assert stored(azurite, out) == local_files(RECIPE, tmp_path)
    code, _, stderr = here("check", RECIPE, RAW, out, "-j", "1", *option_args(azurite))
    assert (code, stderr) == (0, "segaug check: OUT is up to date (48 output pairs)\n")


def test_check_and_check_deep_pass_then_name_a_changed_object(azurite):
    from azure.storage.blob import BlobServiceClient

    out = fresh()
    expand(azurite, out)
    assert here("check", RECIPE, RAW, out, *option_args(azurite))[0] == 0
    assert here("check", RECIPE, RAW, out, "--deep", "all", "-j", "1", *option_args(azurite))[0] == 0
    blobs = azure_blobs(azurite.connection_string, out)
    image, other = sorted(name for name in blobs if name.startswith("images/"))[5:7]
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(CONTAINER)
    container.upload_blob(f"{out.split('/', 3)[3]}/{image}", blobs[other], overwrite=True)  # a valid PNG, not this one
    for deep in ((), ("--deep", "all")):
        code, stdout, _ = here("check", RECIPE, RAW, out, *deep, "-j", "1", *option_args(azurite))
        assert (code, stdout) == (1, f"altered: {image}: the file's bytes differ from the manifest's sha256\n")


def test_a_missing_container_is_one_line_exit_2(azurite, tmp_path):
    result = segaug("expand", RECIPE, SAMPLE, "az://no-such-container/out", *option_args(azurite))
    assert result.returncode == 2
    assert result.stderr == "Error: OUT az://no-such-container/out: the container does not exist\n"


def account_at(endpoint: str) -> str:
    """A connection string of Azurite's well-known account, at an endpoint that is no Azurite."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


@pytest.mark.parametrize("where", ["IN", "OUT"])
@pytest.mark.parametrize("how", ["refused", "timed out"])
def test_an_unreachable_store_is_one_line_exit_2(tmp_path, where, how, capsys):
    """A closed port refuses at once; a listener whose backlog is full never answers the connection
    (as a store behind a firewall that drops packets): the connection timeout and bounded retries
    segaug gives the Azure SDK's client end both (its defaults take 85 s, and 165 s)."""
    pytest.importorskip("adlfs")
    url = f"az://{CONTAINER}/{uuid.uuid4().hex[:8]}"
    in_dir, out = (url, str(tmp_path / "out")) if where == "IN" else (str(SAMPLE), url)
    with black_hole() if how == "timed out" else contextlib.nullcontext(f"http://127.0.0.1:{free_port()}") as closed:
        started = time.monotonic()
        result = segaug("expand", RECIPE, in_dir, out, "--storage-option", f"connection_string={account_at(closed)}")
        took = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[az {where} {how}] exit {result.returncode} after {took:.1f} s")
    assert result.returncode == 2
    assert (
        result.stderr
        == f"Error: {where} {url}: cannot reach the store (connection {how}, after the backend's retries)\n"
    )
    assert AZURITE_KEY[:12] not in result.stderr and not (tmp_path / "out").exists()


def test_a_store_killed_mid_run_stops_it_with_one_line_exit_1(azurite, tmp_path, capsys):
    """The bounds hold mid-run too (``azurite``: skipped where the session's cannot run; this one's is its own)."""
    with azurite_server(tmp_path / "store") as store:  # a store of its own, to kill
        azure_container(store.connection_string, "killed")
        out = "az://killed/out"
        args = [
            "expand",
            RECIPE,
            SAMPLE,
            out,
            "-j",
            "2",
            "--storage-option",
            f"connection_string={store.connection_string}",
        ]
        marker = tmp_path / "running"  # held after its first pair, so the store dies mid-run however fast the run
        proc = start_segaug(*args, env=testing.pausing("running", marker, 3))
        try:
            wait_until(proc, marker.exists, "its first pair", timeout=60)
            store.kill()
            killed = time.monotonic()
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                kill_group(proc)
    with capsys.disabled():
        print(f"\n[az store killed] the run exited {proc.returncode} {time.monotonic() - killed:.1f} s after the kill")
    assert proc.returncode == 1, stderr
    [error] = [line for line in stderr.splitlines() if line.startswith(("error:", "Error:"))]
    assert error.startswith((f"error: OUT {out}: ", f"error: {out}/")), error
    assert error.endswith(": cannot reach the store (connection refused, after the backend's retries)"), error
    assert "Traceback" not in stderr and AZURITE_KEY[:12] not in stderr


@contextlib.contextmanager
def unavailable() -> Iterator[tuple[str, list[int]]]:
    """An endpoint that answers each request 503 (which the SDK retries), and the count of requests."""
    served = [0]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.1)
        done = threading.Event()

        def serve() -> None:
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    connection, _ = listener.accept()
                    with connection:
                        connection.recv(65536)  # one request, with no body: a list or a read
                        served[0] += 1
                        connection.sendall(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{listener.getsockname()[1]}", served
        finally:
            done.set()
            thread.join(timeout=5)


@pytest.mark.parametrize(("client_kwargs", "tries"), [(None, 2), ({"retry_total": 3}, 4), ({"retry_total": 0}, 1)])
def test_a_request_is_tried_twice_in_all_unless_client_kwargs_say_otherwise(client_kwargs, tries):
    """segaug's own requests and adlfs's (``ls``) go through the same bounded client."""
    pytest.importorskip("adlfs")
    from azure.core.exceptions import HttpResponseError

    with unavailable() as (endpoint, served):
        options = {"connection_string": account_at(endpoint), "skip_instance_cache": True}
        location = storage.open_location(f"az://{CONTAINER}/x", {**options, "client_kwargs": client_kwargs}, "IN")
        with pytest.raises(storage.StorageError) as caught:
            location.list()
        assert str(caught.value) == f"az://{CONTAINER}/x: the store answered 503"
        assert served[0] == tries
        with pytest.raises(HttpResponseError):
            location.fs.ls(f"{CONTAINER}/x")
        assert served[0] == 2 * tries


def test_a_dask_cluster_writes_the_container_with_credentials_of_its_own(azurite, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from services import AZURITE_KEY, dask_cluster

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)  # the workers' own, as adlfs reads
    out = fresh()
    with dask_cluster(tmp_path / "cluster", workers=2) as cluster:
        result = segaug("expand", RECIPE, RAW, out, "--scheduler", cluster.address, *option_args(azurite))
        logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "cluster").glob("*.log"))
    assert result.returncode == 0, result.stderr
    assert stored(azurite, out) == local_files(RECIPE, tmp_path)
    for shown in (result.stdout, result.stderr, logs):
        assert FAKE_SAS not in shown and AZURITE_KEY not in shown  # no secret option crossed the scheduler
