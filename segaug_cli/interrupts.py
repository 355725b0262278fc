"""Ctrl-C held off where stopping halfway would leave OUT's record disagreeing with its files.

Only the main thread can own a signal handler; elsewhere (a caller's thread) nothing is held.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def held() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C until the block ends; yields whether one came (the caller reports it)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def whole() -> Iterator[None]:
    """Run the block to its end, then raise the ``KeyboardInterrupt`` of a Ctrl-C that came meanwhile."""
    with held() as interrupted:
        yield
    if interrupted():
        raise KeyboardInterrupt
