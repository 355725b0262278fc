"""What a user meets when a store or its options cannot be used, command by command: one line that
names IN or OUT as typed (never segaug's own lock or journal objects), exit code 2, nothing written
to OUT, and no value of a storage option anywhere in what is printed, whichever backend refused it
(the session's S3 server, an FTP port with nothing listening, fsspec's FTP and HTTP backends)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from click.testing import CliRunner  # noqa: E402
from services import BUCKET, SECRET, free_port, s3_client, s3_options  # noqa: E402

from segaug_cli.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECIPE = ROOT / "recipes" / "default.yaml"
RAW = f"s3://{BUCKET}/raw"
NO_BUCKET = "s3://no-such-bucket-here"
VALUE = "tOpSeCrEt-0a9f-never-printed"  # an option's value: it must appear in no output of segaug
HIDDEN = "check the storage options (segaug never shows their values)"

options = functools.partial(s3_options, secret=SECRET)


def empty_prefix() -> str:
    return f"s3://{BUCKET}/empty/{uuid.uuid4().hex[:8]}"


def stored_under(endpoint: str, url: str) -> list[str]:
    """The keys of every object under a prefix of the bucket."""
    prefix = url.split("/", 3)[3] + "/"
    answer = s3_client(endpoint, SECRET).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def one_error(result) -> str:
    """The one line a refused command prints on stderr (a validate prints the recipe's line first)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def segaug(*args, store_file: Path):
    result = CliRunner().invoke(main, [*map(str, args), "--storage-options", str(store_file)], catch_exceptions=False)
    return result


# ---------------------------------------------------------------------------------------------
# A missing bucket, an empty prefix: every command names IN or OUT as the user typed it
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("expand", RECIPE, f"{NO_BUCKET}/in", "{tmp}/out"), f"IN {NO_BUCKET}/in: the bucket does not exist"),
        (("expand", RECIPE, RAW, f"{NO_BUCKET}/out"), f"OUT {NO_BUCKET}/out: the bucket does not exist"),
        (
            ("expand", RECIPE, RAW, f"{NO_BUCKET}/out", "--shard", "1/2"),
            f"OUT {NO_BUCKET}/out: the bucket does not exist",
        ),
        (("check", RECIPE, f"{NO_BUCKET}/in", "{tmp}/out"), f"IN {NO_BUCKET}/in: the bucket does not exist"),
        (("check", RECIPE, RAW, f"{NO_BUCKET}/out"), f"OUT {NO_BUCKET}/out: the bucket does not exist"),
        (("merge", RECIPE, RAW, f"{NO_BUCKET}/out"), f"OUT {NO_BUCKET}/out: the bucket does not exist"),
        (("validate", RECIPE, f"{NO_BUCKET}/in"), f"IN {NO_BUCKET}/in: the bucket does not exist"),
        (
            ("preview", RECIPE, f"{NO_BUCKET}/in", "-o", "{tmp}/sheet.png"),
            f"IN {NO_BUCKET}/in: the bucket does not exist",
        ),
        (("preview", RECIPE, RAW, "-o", f"{NO_BUCKET}/sheet.png"), f"{NO_BUCKET}/sheet.png: the bucket does not exist"),
        (("stats", f"{NO_BUCKET}/in"), f"{NO_BUCKET}/in: the bucket does not exist"),
    ],
)
def test_a_missing_bucket_is_named_as_the_user_typed_it(endpoint, store_file, tmp_path, command, expected):
    result = segaug(*(str(arg).format(tmp=tmp_path) for arg in command), store_file=store_file)
    assert one_error(result) == f"Error: {expected}\n"
    assert list(tmp_path.iterdir()) == []  # no local OUT made, no contact sheet written


@pytest.mark.parametrize("command", ["expand", "check", "validate", "preview", "stats"])
def test_an_empty_prefix_as_in_is_no_such_folder(endpoint, store_file, tmp_path, command):
    empty = empty_prefix()
    args = {
        "expand": ("expand", RECIPE, empty, tmp_path / "out"),
        "check": ("check", RECIPE, empty, tmp_path / "out"),
        "validate": ("validate", RECIPE, empty),
        "preview": ("preview", RECIPE, empty, "-o", tmp_path / "sheet.png"),
        "stats": ("stats", empty),
    }[command]
    named = empty if command == "stats" else f"IN {empty}"  # stats reads DIR, named as typed
    result = segaug(*args, store_file=store_file)
    assert one_error(result) == f"Error: {named}: no such folder (nothing is stored under this prefix)\n"
    assert list(tmp_path.iterdir()) == []


def test_merge_into_an_empty_prefix_is_no_such_folder_and_leaves_it_empty(endpoint, store_file):
    empty = empty_prefix()
    result = segaug("merge", RECIPE, RAW, empty, store_file=store_file)
    assert one_error(result) == f"Error: OUT {empty}: no such folder (nothing is stored under this prefix)\n"
    assert stored_under(endpoint, empty) == []  # its lock object came and went


def test_expand_into_an_empty_prefix_makes_it_and_check_of_an_empty_prefix_lists_what_is_missing(endpoint, store_file):
    empty = empty_prefix()
    checked = segaug("check", RECIPE, RAW, empty, store_file=store_file)
    assert checked.exit_code == 1 and "missing: manifest.csv: OUT has no manifest" in checked.stdout
    assert segaug("expand", RECIPE, RAW, empty, store_file=store_file).exit_code == 0
    assert f"{empty.split('/', 3)[3]}/manifest.csv" in stored_under(endpoint, empty)


# ---------------------------------------------------------------------------------------------
# Options a backend refuses: one line, no value of any option, no traceback, nothing in OUT
# ---------------------------------------------------------------------------------------------


def run_segaug(*args) -> subprocess.CompletedProcess:
    """A real interpreter: what a backend's cleanup prints at collection or exit reaches its stderr."""
    return subprocess.run(
        [sys.executable, "-m", "segaug_cli", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def refused(result: subprocess.CompletedProcess) -> str:
    """The one error line of a command whose options were refused; no value appears anywhere."""
    assert result.returncode == 2, result.stderr
    assert VALUE not in result.stdout and VALUE not in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["validate", "expand"])
def test_ftp_to_a_closed_port_with_a_password_is_one_line(tmp_path, command):
    url = f"ftp://127.0.0.1:{free_port()}/in"
    args = ("validate", RECIPE, url) if command == "validate" else ("expand", RECIPE, url, tmp_path / "out")
    line = refused(run_segaug(*args, "--storage-option", f"password={VALUE}", "--storage-option", "username=me"))
    assert line == f"Error: IN {url}: cannot reach the store (connection refused, after the backend's retries)"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("url", "option", "why"),
    [
        ("ftp://127.0.0.1:{port}/in", f"timeout={VALUE}", "the backend failed (TypeError)"),
        ("ftp://127.0.0.1/in", f"port={VALUE}", "the backend failed (TypeError)"),
        ("http://127.0.0.1:{port}/in", f"client_kwargs={VALUE}", "the backend failed (TypeError)"),
        # these two fail before FTP's __init__ sets the connection its __del__ then closes
        ("ftp://127.0.0.1:{port}/in", f"tls={VALUE}", "the backend failed (ValueError)"),
        ("ftp:///in", f"password={VALUE}", "the backend failed (TypeError)"),
    ],
)
def test_an_fsspec_backend_refusing_an_option_value_is_one_line_without_it(tmp_path, url, option, why):
    url = url.format(port=free_port())
    line = refused(run_segaug("expand", RECIPE, url, tmp_path / "out", "--storage-option", option))
    assert line == (f"Error: IN {url}: {why}; {HIDDEN}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "why"),
    [
        (
            f"endpoint_url={VALUE}",
            f"the backend failed (ValueError); {HIDDEN}",
        ),
        (
            f"max_concurrency={VALUE}",
            f"the backend failed (TypeError); {HIDDEN}",
        ),
        (
            f"config_kwargs={VALUE}",
            f"the backend failed (AttributeError); {HIDDEN}",
        ),
        (f"region_name={VALUE}", "the backend does not take the storage option region_name"),
    ],
)
def test_s3_refusing_an_option_value_is_one_line_without_it_and_writes_nothing(endpoint, tmp_path, option, why):
    out = empty_prefix()
    given = ("--storage-option", "key=testing", "--storage-option", f"secret={SECRET}")
    if not option.startswith("endpoint_url="):
        given += ("--storage-option", f"endpoint_url={endpoint}")
    line = refused(run_segaug("expand", RECIPE, SAMPLE, out, *given, "--storage-option", option))
    assert SECRET not in line
    assert line == f"Error: OUT {out}: {why}"
    assert stored_under(endpoint, out) == []


def test_an_option_value_is_not_shown_when_the_s3_backend_reads_in(endpoint, tmp_path):
    store = tmp_path / "store.yaml"
    store.write_text(json.dumps({"storage_options": {**options(endpoint), "client_kwargs": VALUE}}))
    line = refused(run_segaug("stats", RAW, "--storage-options", store))
    assert line == (f"Error: {RAW}: the backend failed (AttributeError); {HIDDEN}")
