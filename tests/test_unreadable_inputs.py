"""An input that cannot be read fails its own pair, never the run: permission denied, a dangling
symlink, a directory where a file should be, EIO, a file that vanishes after listing. Each is one
failed pair with its path and reason in errors.csv; the other pairs are written; exit 1.

Permission tests also run as root (as CI containers do): segaug then runs in a subprocess that drops
to the unprivileged ``nobody`` user, for whom file permissions hold.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_dataset, output_files, write_recipe

RECIPE = "seed: 3\ncopies: 2\ntransforms:\n  - rotate: {degrees: [-20, 20]}\n  - hflip: {p: 0.5}\n"
PAIRS = {"a": (40, 48), "b": (36, 36), "city/c": (30, 44)}
GOOD_IMAGES = sorted(f"images/{k}_aug{c}.png" for k in ("a", "city/c") for c in range(2))


def failures(out: Path) -> list[dict[str, str]]:
    with open(out / "errors.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def assert_only_b_failed(out: Path, exit_code: int, reason: str) -> None:
    assert exit_code == 1
    rows = failures(out)
    assert [r["source_image"] for r in rows] == ["images/b.png"], rows
    assert reason in rows[0]["reason"], rows[0]["reason"]
    assert output_files(out, "images") == GOOD_IMAGES


@pytest.fixture
def run(tmp_path, cli):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    recipe = write_recipe(tmp_path / "r.yaml", RECIPE)
    out = tmp_path / "out"

    def expand():
        result = cli("expand", recipe, in_dir, out, "--workers", "1")
        assert "Traceback" not in result.output
        return result

    return in_dir, out, expand


def test_a_dangling_symlink_fails_its_pair(run):
    in_dir, out, expand = run
    (in_dir / "images/b.png").unlink()
    (in_dir / "images/b.png").symlink_to(in_dir / "images/gone.png")

    result = expand()

    assert_only_b_failed(out, result.exit_code, "No such file or directory")
    assert "images/b.png" in failures(out)[0]["reason"]


def test_a_folder_where_the_mask_should_be_fails_its_pair(run):
    in_dir, out, expand = run
    (in_dir / "masks/b.png").unlink()
    (in_dir / "masks/b.png").mkdir()

    result = expand()

    assert result.exit_code == 1
    assert [r["source_image"] for r in failures(out)] == ["images/b.png"]
    assert output_files(out, "images") == GOOD_IMAGES


def _failing_reads(monkeypatch, name: str, action) -> None:
    """Make reading one input file go wrong in this process (the run uses --workers 1)."""
    original = pathlib.Path.read_bytes

    def read_bytes(self):
        if self.name == name and self.parent.name == "images":
            action(self)
        return original(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_bytes)


def test_an_input_error_eio_fails_its_pair(run, monkeypatch):
    in_dir, out, expand = run

    def eio(path):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    _failing_reads(monkeypatch, "b.png", eio)
    result = expand()

    assert_only_b_failed(out, result.exit_code, os.strerror(errno.EIO))


def test_an_input_that_vanishes_after_listing_fails_its_pair(run, monkeypatch):
    in_dir, out, expand = run
    _failing_reads(monkeypatch, "b.png", lambda path: path.unlink(missing_ok=True))

    result = expand()

    assert_only_b_failed(out, result.exit_code, "No such file or directory")


# ---------------------------------------------------------------------------------------------
# Permissions, obeyed even when the tests run as root
# ---------------------------------------------------------------------------------------------

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _without_permission_override() -> None:
    """In the child, before exec: root keeps its uid but loses the capabilities that let it ignore file
    permissions (dropped from the bounding set, so the exec'd interpreter never gets them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


def run_segaug_obeying_permissions(*args) -> subprocess.CompletedProcess:
    as_root = os.geteuid() == 0
    try:
        return subprocess.run(
            [sys.executable, "-m", "segaug_cli", *map(str, args)],
            capture_output=True,
            text=True,
            preexec_fn=_without_permission_override if as_root else None,
            timeout=120,
        )
    except subprocess.SubprocessError as exc:  # the preexec_fn failed: no CAP_SETPCAP here
        pytest.skip(f"cannot drop root's permission override here: {exc}")


def test_an_unreadable_input_fails_its_pair_even_for_root(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    (in_dir / "images/b.png").chmod(0o000)
    out = tmp_path / "out"

    result = run_segaug_obeying_permissions(
        "expand", write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--workers", "1"
    )

    assert "Traceback" not in result.stderr
    assert_only_b_failed(out, result.returncode, "Permission denied")


def test_a_read_only_out_gives_one_line_and_writes_nothing_even_for_root(tmp_path):
    in_dir = make_dataset(tmp_path / "in", PAIRS)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)

    result = run_segaug_obeying_permissions(
        "expand", write_recipe(tmp_path / "r.yaml", RECIPE), in_dir, out, "--workers", "1"
    )

    out.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(out) in result.stderr and "ermission denied" in result.stderr
    assert list(out.iterdir()) == []
