"""A test may not leave a thread running: one left behind changes what later tests see (a pool forks
only from a single-threaded process, for one). Loaded by conftest.py for every test.

Allowed to outlive a test: the threads a library starts once per process and keeps by design, fsspec's
event loop and the executor threads of that loop, and the request threads of a test S3 server. A test
whose outcome depends on the process having no thread at all runs its code in a fresh interpreter."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest

PROCESS_WIDE = re.compile(r"fsspecIO|asyncio_\d+|Thread-\d+ \((process_request_thread|_server_entry)\)")
GRACE_S = 3.0  # a thread that is ending (a joined pool, a closed client) gets this long to finish


def threads_left_behind(before: set[threading.Thread]) -> list[threading.Thread]:
    new = [t for t in threading.enumerate() if t not in before and not PROCESS_WIDE.fullmatch(t.name)]
    for thread in new:
        thread.join(timeout=GRACE_S / max(len(new), 1))
    return [t for t in new if t.is_alive()]


@pytest.fixture(autouse=True)
def leaves_no_thread_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = threads_left_behind(before)
    if left:
        names = ", ".join(sorted(f"{t.name} (daemon)" if t.daemon else t.name for t in left))
        pytest.fail(f"the test left threads running: {names}", pytrace=False)
