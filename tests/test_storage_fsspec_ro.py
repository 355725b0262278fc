"""The one line each store error becomes (``storage/fsspec_ro.py``: ``explained``, ``filesystem``),
against the session's SeaweedFS: a missing bucket, access denied, an unreachable store, a missing
extra; none names a secret or chains the backend's error; and fsspec is imported only for a URL."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import time

import pytest

pytest.importorskip("s3fs")

from services import BUCKET, READ_ONLY, SECRET, free_port, s3_options  # noqa: E402

from segaug_cli import storage  # noqa: E402

options = functools.partial(s3_options, secret=SECRET, skip_instance_cache=True)


def one_line_without_secret(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and SECRET not in text and SECRET not in repr(exc.args)
    assert exc.__cause__ is None and exc.__suppress_context__  # nothing of the backend's error is chained
    return text


def test_a_missing_bucket(endpoint):
    loc = storage.open_location("s3://no-such-bucket/out", options(endpoint))
    for action in (loc.list, lambda: loc.write("a.png", b"x"), lambda: loc.read("a.png")):
        with pytest.raises(storage.StorageError) as caught:
            action()
        assert one_line_without_secret(caught.value).endswith(": the bucket does not exist")


def test_access_denied(endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    reader = storage.open_location(f"s3://{BUCKET}/denied", options(endpoint, key=READ_ONLY))  # may not write
    with pytest.raises(storage.StorageError) as caught:
        reader.write("a.png", b"x")
    assert one_line_without_secret(caught.value) == (
        f"s3://{BUCKET}/denied/a.png: access denied (check the credentials and the bucket's policy)"
    )
    for stranger in (options(endpoint, key="nobody-knows-me"), options(endpoint) | {"secret": "wrong-" + SECRET}):
        with pytest.raises(storage.StorageError, match="access denied") as caught:
            storage.open_location(f"s3://{BUCKET}/denied", stranger).list()  # an unknown key, a wrong secret
        one_line_without_secret(caught.value)
    assert SECRET not in caplog.text


def test_a_closed_port_is_a_network_failure_after_the_backends_retries(caplog):
    caplog.set_level(logging.DEBUG)
    closed = f"http://127.0.0.1:{free_port()}"
    loc = storage.open_location(
        f"s3://{BUCKET}/x", options(closed, config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2})
    )
    started = time.monotonic()
    with pytest.raises(storage.StorageError) as caught:
        loc.list()
    assert one_line_without_secret(caught.value) == (
        f"s3://{BUCKET}/x: cannot reach the store (connection refused, after the backend's retries)"
    )
    assert time.monotonic() - started < 30
    assert SECRET not in caplog.text


@pytest.mark.parametrize(("url", "extra"), [("s3://b/x", "s3"), ("gs://b/x", "gcs"), ("az://c/x", "azure")])
def test_a_missing_extra_is_one_line(url, extra):
    code = (
        "import sys; sys.modules['s3fs'] = sys.modules['gcsfs'] = sys.modules['adlfs'] = None\n"
        "from segaug_cli import storage\n"
        f"try:\n    storage.open_location({url!r})\nexcept storage.StorageError as e:\n    print(e)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    scheme = url.split(":")[0]
    assert result.stdout == f"install segaug[{extra}] to read {scheme}:// URLs\n", result.stderr


def test_fsspec_is_imported_only_for_a_url():
    code = (
        "import sys; from segaug_cli import storage; from segaug_cli.storage import objectlock, objectjournal; "
        "storage.open_location('.'); print('fsspec' in sys.modules, 's3fs' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout == "False False\n", result.stderr


class _StoreError(Exception):
    """What botocore raises: the store's answer in ``response``."""

    def __init__(self, code: str):
        super().__init__(f"An error occurred ({code}) with {SECRET}")  # a backend's text may quote anything
        self.response = {"Error": {"Code": code}}


@pytest.mark.parametrize(
    ("name", "named"),
    [
        (".segaug-lock/out.json", "OUT s3://b/x"),  # segaug's own object: the folder the user typed
        (".segaug-journal/000001.jsonl", "OUT s3://b/x"),
        ("images/a_aug0.png", "s3://b/x/images/a_aug0.png"),  # an output the user can look for
    ],
)
def test_access_denied_names_the_folder_as_typed_unless_one_visible_object_is_refused(name, named):
    from segaug_cli.storage import fsspec_ro

    folder = storage.named("s3://key:pw@b/x", "OUT")
    assert folder == "OUT s3://b/x"
    error = fsspec_ro.explanation(_StoreError("AccessDenied"), f"s3://b/x/{name}", folder)
    assert str(error) == f"{named}: access denied (check the credentials and the bucket's policy)"
    missing = fsspec_ro.explanation(FileNotFoundError(name), f"s3://b/x/{name}", folder)
    assert missing is None  # an absent object is no error of the store: the caller decides
