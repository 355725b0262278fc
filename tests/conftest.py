"""Shared test helpers: tiny datasets built in code, colour-coded pairs, CLI runners, and the local S3
store's fixtures (one SeaweedFS for the whole session: ``endpoint``, ``out``, ``location``)."""

from __future__ import annotations

# First, before anything loads OpenCV: segaug pins OpenCV's kernels as it is imported (segaug_cli.cpu).
import segaug_cli  # noqa: F401

# isort: split
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from segaug_cli import storage
from segaug_cli.cli import main
from segaug_cli.manifest import Row

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
SHARED_DATA = REPO.parent / "shared" / "data"

# Every test fails that leaves a thread running (tests/thread_guard.py).
pytest_plugins = ["thread_guard"]

# Label -> BGR colour, far apart so a decoded colour is unambiguous; index 255 is the "ignore" colour.
CODE_COLOURS = np.array(
    [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 255, 255]],
    dtype=np.uint8,
)


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array), path


def blocky_mask(rng: np.random.Generator, shape: tuple[int, int], labels: int) -> np.ndarray:
    """A label mask of random rectangles and discs: large regions, touching the borders."""
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    for _ in range(8):
        label = int(rng.integers(0, labels))
        if rng.random() < 0.5:
            x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
            x1, y1 = x0 + int(rng.integers(w // 6, w // 2)), y0 + int(rng.integers(h // 6, h // 2))
            cv2.rectangle(mask, (x0, y0), (x1, y1), label, -1)
        else:
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(mask, centre, int(rng.integers(3, max(4, min(h, w) // 3))), label, -1)
    return mask


def colour_coded(mask: np.ndarray) -> np.ndarray:
    """An image whose colour is a function of the label: the strong way to test alignment."""
    return CODE_COLOURS[mask]


def decode_labels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest code colour of every pixel, and the distance to it."""
    diff = image[:, :, None, :].astype(np.int32) - CODE_COLOURS[None, None].astype(np.int32)
    dist = np.sqrt((diff**2).sum(axis=3))
    return dist.argmin(axis=2).astype(np.uint8), dist.min(axis=2)


def make_noisy_dataset(in_dir: Path, pairs: int) -> Path:
    """``pairs`` noisy 256x256 pairs in folders a/, b/, c/ (colour a function of the label, plus noise
    that compresses badly): slow enough to encode that a run can be interrupted or a worker killed."""
    for i in range(pairs):
        rng = np.random.default_rng(i)
        mask = blocky_mask(rng, (256, 256), 6)
        image = colour_coded(mask) // 2 + rng.integers(0, 128, (256, 256, 3), dtype=np.uint8)
        key = f"{'abc'[i % 3]}/p{i:02d}"
        write_png(in_dir / "images" / f"{key}.png", image)
        write_png(in_dir / "masks" / f"{key}.png", mask)
    return in_dir


def make_dataset(
    root: Path, pairs: dict[str, tuple[int, int]] | None = None, labels: int = 5, seed: int = 7, colour: bool = True
) -> Path:
    """Write IN/images/<key>.png and IN/masks/<key>.png for each key -> (height, width)."""
    pairs = pairs or {"a": (48, 64), "b": (40, 40), "city/c": (37, 53)}
    for key, shape in pairs.items():
        rng = np.random.default_rng([seed, *key.encode()])
        mask = blocky_mask(rng, shape, labels)
        image = colour_coded(mask) if colour else (mask * 40).astype(np.uint8)
        write_png(root / "images" / f"{key}.png", image)
        write_png(root / "masks" / f"{key}.png", mask)
    return root


def is_lock_file(path: Path) -> bool:
    """OUT's lock files say which run holds OUT (host, pid, start): bookkeeping of the run, not its result."""
    return path.name.startswith(".segaug") and path.name.endswith(".lock")


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root, by relative path (lock files left out)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not is_lock_file(p)
    }


def shard_files(out: Path) -> list[str]:
    """The bookkeeping files of shards in OUT (``manifest.shard-2-of-3.csv``...), by name."""
    return sorted(p.name for p in out.iterdir() if "shard-" in p.name)


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "in")


@pytest.fixture
def cli():
    """Run the CLI in process: cli("expand", ...) -> click Result (stdout and stderr separate)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def expand(
    cli, recipe: Path, in_dir: Path, out: Path, *args: str, workers: int | str = 1, quiet: bool = False, ok=False
):
    """`segaug expand RECIPE IN OUT --workers N [--quiet] ARGS` in process, through the ``cli`` fixture.

    A traceback in the output fails the test (every error is one line); with ``ok``, so does a
    non-zero exit code. Returns the click Result.
    """
    result = cli("expand", recipe, in_dir, out, "--workers", workers, *(("--quiet",) if quiet else ()), *args)
    assert "Traceback" not in result.output
    if ok:
        assert result.exit_code == 0, result.output
    return result


def run_segaug(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m segaug_cli`` in a real subprocess (real pools, real signals)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "segaug_cli", *map(str, args)], capture_output=True, text=True, env=full_env, **kwargs
    )


def start_segaug(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m segaug_cli`` in a session of its own, so a signal can reach it and its pool workers
    together, as a terminal's Ctrl-C does (``os.killpg(proc.pid, ...)``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "segaug_cli", *map(str, args)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a run started in a session of its own, with its pool workers, as ``kill -9 -PGID`` does,
    and wait for it; then tear down what the kill left.

    The group holds multiprocessing's resource tracker, which would have unlinked the named semaphores
    of a forkserver pool (an object store's run has one) in /dev/shm: those created since the run
    started that no live process maps are the run's, and are unlinked here.
    """
    started = _start_time(proc.pid)
    with contextlib.suppress(ProcessLookupError):  # the whole group had ended already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    in_use = _mapped_semaphores()
    for path in Path("/dev/shm").glob("sem.mp-*"):
        with contextlib.suppress(FileNotFoundError):
            if os.fspath(path) not in in_use and path.stat().st_ctime >= started:
                path.unlink()


def _start_time(pid: int) -> float:
    """When a live process started, in seconds since the epoch, a second early at most (``btime`` is
    whole seconds)."""
    ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:5] == "btime")
    return boot + ticks / os.sysconf("SC_CLK_TCK") - 1.0


def _mapped_semaphores() -> set[str]:
    """The /dev/shm semaphore files some live process has mapped (``sem_open`` maps its file)."""
    mapped: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        with contextlib.suppress(OSError):  # a process that ended, or one of another user
            lines = maps.read_text().splitlines()
            mapped.update(line.split(maxsplit=5)[5] for line in lines if "/dev/shm/sem." in line)
    return mapped


def wait_until(proc: subprocess.Popen, ready, what: str, timeout: float) -> None:
    """Return once ``ready()`` holds, with the run still going; else kill its group and fail."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                kill_group(proc)
            pytest.fail(f"the run never reached {what} (exit {proc.wait()}): {proc.stderr.read()}")
        time.sleep(0.005)


def wait_for_outputs(proc: subprocess.Popen, out: Path, count: int, timeout: float = 20.0) -> None:
    """Return once OUT/images holds ``count`` finished images, with the run still going."""
    images = out / "images"
    wait_until(
        proc, lambda: images.is_dir() and sum(1 for _ in images.rglob("*.png")) >= count, f"{count} outputs", timeout
    )


def paused_at(point: str, marker: Path, seconds: float = 2.0) -> dict[str, str]:
    """The environment that makes a run stop at a named point for ``seconds`` and create ``marker`` there."""
    from segaug_cli import testing

    return testing.pausing(point, marker, seconds)


def read_manifest(out: Path) -> list[dict[str, str]]:
    """OUT/manifest.csv as a list of dicts, in file order, read the way any CSV reader would."""
    import csv

    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def output_files(out: Path, folder: str) -> list[str]:
    """Files under OUT/<folder>, as sorted POSIX paths relative to OUT."""
    root = out / folder
    if not root.is_dir():
        return []
    return sorted(p.relative_to(out).as_posix() for p in root.rglob("*") if p.is_file())


SUMMARY = re.compile(
    r"segaug: output samples (\d+) written, (\d+) unchanged, (\d+) removed, source pairs (\d+) failed in \d+\.\d s"
    r"( \(\d+\.\d output samples/s\))?; manifest: .*manifest\.csv(; failures listed in .*errors\.csv)?"
)


def error_lines(stderr: str) -> list[str]:
    """The per-pair ``error: ...`` lines segaug printed on stderr."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def summary_counts(stderr: str) -> tuple[int, int, int, int]:
    """(written, unchanged, removed, failed) from expand's summary line, which must be stderr's last line."""
    lines = stderr.splitlines()
    match = SUMMARY.fullmatch(lines[-1]) if lines else None
    assert match, f"no summary line at the end of stderr:\n{stderr}"
    return tuple(int(match.group(i)) for i in range(1, 5))


def rewarp_mask(source: np.ndarray, row: dict[str, str], fill) -> np.ndarray:
    """The source mask warped with a manifest row's matrix, nearest-neighbour with a constant border:
    the contract says this reproduces the output mask exactly. ``fill`` is a label or a BGR colour."""
    matrix = np.array([float(x) for x in row["matrix"].split(" ")], np.float64).reshape(2, 3)
    h, w = source.shape[:2]
    value = tuple(fill) if isinstance(fill, (tuple, list)) else (fill,) * 4
    return cv2.warpAffine(
        source, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=value
    )


OLD_NS = 1_000_000_000 * 10**9  # 2001-09-09: far older than any file a test run writes


def age(out: Path) -> None:
    """Backdate every file under ``out``, so ``rewritten`` can tell which ones a later run wrote."""
    for path in out.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(OLD_NS, OLD_NS))


def rewritten(out: Path) -> set[str]:
    """Files under OUT written since ``age`` ran (lock files left out: every writing run takes the lock)."""
    found = (p for p in out.rglob("*") if p.is_file() and not is_lock_file(p))
    return {p.relative_to(out).as_posix() for p in found if p.stat().st_mtime_ns != OLD_NS}


# ---------------------------------------------------------------------------------------------
# The local S3 store: one for the whole session, whichever test files ask for it
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> Iterator:
    """SeaweedFS on 127.0.0.1 (``services.SeaweedFS``), started once for the test session and killed at
    its end, holding ``services.BUCKET`` with ``sample_data/`` under ``raw/``. Each test writes under a
    prefix of its own, so tests of any file share it."""
    pytest.importorskip("s3fs")
    from services import BUCKET, SECRET, s3_bucket, seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as store:
        s3_bucket(store.url, BUCKET, SECRET, {"raw": SAMPLE})
        yield store


@pytest.fixture(scope="session")
def endpoint(seaweed) -> str:
    """The S3 endpoint URL of the session's store."""
    return seaweed.url


@pytest.fixture(scope="session")
def store_file(endpoint, tmp_path_factory) -> Path:
    """The session store's options, credentials included, as a --storage-options file."""
    import json

    from services import SECRET, s3_options

    path = tmp_path_factory.mktemp("options") / "store.yaml"
    path.write_text(json.dumps({"storage_options": s3_options(endpoint, secret=SECRET)}))  # JSON is YAML
    return path


@pytest.fixture
def out(endpoint: str) -> storage.S3Location:
    """A fresh prefix of the bucket for each test."""
    from services import BUCKET, SECRET, s3_options

    options = s3_options(endpoint, secret=SECRET, skip_instance_cache=True)
    return storage.open_location(f"s3://{BUCKET}/{uuid.uuid4().hex}", options)


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path: Path) -> storage.Location:
    """The same test on a local folder and on a fresh prefix of the bucket."""
    if request.param == "local":
        return storage.open_location(tmp_path / "out")
    return request.getfixturevalue("out")


def row(i: int) -> Row:
    """A manifest row numbered ``i``, as a run journals it."""
    return Row(
        image=f"images/{i:03d}_aug0.png",
        mask=f"masks/{i:03d}_aug0.png",
        source_image=f"images/{i:03d}.png",
        source_mask=f"masks/{i:03d}.png",
        copy="0",
        seed=str(i),
        matrix="1 0 0 0 1 0",
        params="{}",
        fingerprint=f"fp{i}",
        image_sha256="a" * 64,
        mask_sha256="b" * 64,
    )


# ---------------------------------------------------------------------------------------------
# Azurite (the Azure Storage emulator): one for the whole session, whichever test files ask for it
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite's blob service on 127.0.0.1, started once for the test session and torn down at its end,
    holding ``services.CONTAINER`` with ``sample_data/`` under ``raw/``. Skipped only where node is
    missing; installed by ``make azurite`` (which ``make test`` runs)."""
    import shutil

    pytest.importorskip("adlfs")
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Azurite, the Azure Storage emulator the az:// tests use, runs on it")
    from services import AZURITE, CONTAINER, azure_container, azurite_server

    if not AZURITE.is_file():
        pytest.fail(f"Azurite is not installed ({AZURITE} is missing): run `make azurite`")
    with azurite_server(tmp_path_factory.mktemp("azurite")) as server:
        azure_container(server.connection_string, CONTAINER, {"raw": SAMPLE})
        yield server


@pytest.fixture
def az_out(azurite) -> storage.Location:
    """A fresh prefix of the session's Azurite container for each test, as an ``AzureLocation``."""
    from services import CONTAINER

    options = {"connection_string": azurite.connection_string, "skip_instance_cache": True}
    return storage.open_location(f"az://{CONTAINER}/{uuid.uuid4().hex}", options)
