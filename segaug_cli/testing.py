"""The one fault-injection seam: the named points where a test stops a run, and a short lease.

Inert unless enabled, and enabled only through the environment, so that it reaches a ``segaug``
started in another process (a test sends that process a signal while it waits):

- ``SEGAUG_TEST_PAUSE_AT=<point>`` with ``SEGAUG_TEST_PAUSE_FILE=<path>``: the first time the run
  reaches that point it creates the file, then waits two seconds. Points: ``planning`` (IN walked,
  nothing written), ``recording`` (an outcome has arrived, its rows are not yet in the journal),
  ``running`` (after each outcome is recorded), ``commit`` (removals done, the manifest not yet
  written), ``checking`` (``check`` has counted the pairs), ``pair`` (a worker has taken a pair: the
  file then holds the pair's key). ``SEGAUG_TEST_PAUSE_SECONDS`` waits longer there (a test that
  kills the process while it waits).
- ``SEGAUG_TEST_LEASE_SECONDS=<s>``: the lease of an object store's lock object, so that a killed
  run's successor need not wait a minute.

``pausing`` and ``short_lease`` build that environment for a test. Unset, a point costs one lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

POINTS = ("planning", "recording", "running", "commit", "checking", "pair")
PAUSE_SECONDS = 2.0
_PAUSE_AT, _PAUSE_FILE, _LEASE = "SEGAUG_TEST_PAUSE_AT", "SEGAUG_TEST_PAUSE_FILE", "SEGAUG_TEST_LEASE_SECONDS"
_PAUSE_SECONDS = "SEGAUG_TEST_PAUSE_SECONDS"


def pause(point: str, detail: str = "") -> None:
    """Where a run may be stopped by a test: waits there only when the environment names this point.
    ``detail`` (what the run holds there) is written into the marker file, whole before it appears."""
    if os.environ.get(_PAUSE_AT) != point:
        return
    marker = Path(os.environ[_PAUSE_FILE])
    if marker.exists():
        return  # once per marker: the test stops the run at the first time it gets there
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(detail, encoding="utf-8")
    partial.replace(marker)
    deadline = time.monotonic() + float(os.environ.get(_PAUSE_SECONDS, PAUSE_SECONDS))
    while time.monotonic() < deadline:
        time.sleep(0.01)


def lease_seconds(default: float) -> float:
    """The lease of a lock object: ``default`` unless a test shortened it."""
    return float(os.environ.get(_LEASE, default))


def pausing(point: str, marker: str | os.PathLike[str], seconds: float = PAUSE_SECONDS) -> dict[str, str]:
    """The environment that pauses a run at ``point`` for ``seconds``, creating ``marker`` when it gets there."""
    if point not in POINTS:
        raise ValueError(f"no such point: {point} (one of {', '.join(POINTS)})")
    return {_PAUSE_AT: point, _PAUSE_FILE: os.fspath(marker), _PAUSE_SECONDS: f"{seconds:g}"}


def short_lease(seconds: float) -> dict[str, str]:
    """The environment that shortens an object store's lease to ``seconds``."""
    return {_LEASE: f"{seconds:g}"}
