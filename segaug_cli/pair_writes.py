"""The files one pair writes to OUT, and their receipts: written whole, or all removed."""

from __future__ import annotations

import contextlib

from . import storage
from .jobs import Settings


class PairWrites:
    """The files one pair writes to OUT: written at once on a local disk; on an object store, uploaded
    while the worker renders the next sample (the network overlaps the CPU work), and all awaited
    before the pair's outcome returns, so an outcome only ever reports files that are there whole."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.written: list[str] = []
        self._pending: list = []
        self._receipts: list[tuple[str, str, str, int]] = []
        self._out = storage.opened(settings.out_dir, settings.storage_options, "OUT")

    def write(self, rel: str, data: bytes) -> None:
        self._pending.append(self._out.write_soon(rel, data))
        self.written.append(rel)

    def finish(self) -> tuple[tuple[str, str, str, int], ...]:
        """Wait for every upload; the (path, ETag, sha256, size) of each. Raises the first upload's error."""
        pending, self._pending = self._pending, []
        try:
            for write in pending:
                receipt = write.result()
                if receipt is not None and receipt.sha256 and receipt.size is not None:
                    self._receipts.append((write.name, receipt.etag, receipt.sha256, receipt.size))
        finally:
            for write in pending:  # none left running when the pair is discarded
                with contextlib.suppress(Exception):
                    write.result()
        return tuple(self._receipts)

    def discard(self) -> None:
        """Remove what this pair wrote: a pair is written whole or not at all."""
        with contextlib.suppress(Exception):
            self.finish()
        for rel in self.written:
            try:
                self._out.remove(rel)
            except storage.StorageError:
                break  # the store out of reach: the next run rewrites the files, or reports them
