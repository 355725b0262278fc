"""A gs:// OUT is refused before the store is asked anything (``storage.check_writable``): segaug
cannot hold one writer per OUT in Google Cloud Storage (gcsfs has no generation-matched replace or
delete; its emulators do not enforce generation-matched writes). The storage options point at a
server on 127.0.0.1 that records every request: it must receive none."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from segaug_cli.cli import main

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "default.yaml"
SAMPLE = ROOT / "sample_data"
WHY = (
    "segaug cannot write OUT to Google Cloud Storage: gcsfs has no generation-matched replace or delete, and its "
    "emulators do not enforce generation-matched writes, so one writer per OUT cannot be held there; write OUT to "
    "a local folder, s3:// or az:// and copy it"
)


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that answers 500 to anything and records what it was sent."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(500)
            self.end_headers()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", ["expand", "merge"])
@pytest.mark.parametrize("scheme", ["gs", "gcs"])
def test_a_gs_out_is_refused_in_one_line_before_any_request(recorder, command, scheme, tmp_path, monkeypatch):
    endpoint, seen = recorder
    monkeypatch.chdir(tmp_path)
    out = f"{scheme}://bucket/out"
    args = [command, RECIPE, SAMPLE, out, "--storage-option", f"endpoint_url={endpoint}",
            "--storage-option", "token=SeCrEt-gs-token-9d2b"]  # fmt: skip
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == f"Error: OUT {out}: {WHY}\n"
    assert result.stdout == ""
    assert seen == []  # the store was asked nothing, so nothing was written
    assert list(tmp_path.iterdir()) == []  # nor anything locally


def test_only_gs_is_refused_and_its_url_is_named_without_credentials():
    from segaug_cli import storage

    storage.check_writable("az://container/out")
    storage.check_writable("s3://bucket/out")
    with pytest.raises(storage.StorageError) as caught:
        storage.check_writable("gs://user:pw@bucket/out")
    assert str(caught.value) == f"OUT gs://bucket/out: {WHY}"
