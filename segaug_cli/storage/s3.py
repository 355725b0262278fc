"""S3 and S3-compatible stores (MinIO...): SHA-256 checked at upload, one paginated listing, and the
conditional writes (``If-None-Match: *``, ``If-Match: <etag>``) the OUT lock is built on."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import posixpath
from typing import Any

from .base import ConditionalLocation, Entry, PendingWrite, PreconditionFailed, Receipt
from .fsspec_ro import ObjectLocation, error_code, explained

# How long a store that cannot be reached, or that goes away mid-run, may hold a command up. botocore's
# defaults (a 60 s connect timeout, s3fs makes it 5 s, and 5 attempts with exponential backoff) take
# 15 s to report a refused connection, and a store killed mid-run stopped a run after 19 to 85 s.
# A TCP connection is made in one round trip (the connect timeout covers no TLS nor request): one not
# made within a second is retried once, on a new connection, and a store that failed twice is down.
# Storage options that set these (``config_kwargs``) win.
CONNECT_TIMEOUT_S = 1.0
ATTEMPTS = 2  # botocore's attempts per request, in all: the first and one retry, after at most a second


def bounded(options: dict[str, Any]) -> dict[str, Any]:
    """The storage options with a bounded connect timeout and bounded retries, and without botocore's
    own checksums, unless they set theirs."""
    given = options.get("config_kwargs")
    if given is not None and not isinstance(given, dict):
        return options  # not a mapping: the backend refuses it, and segaug says so in one line
    config = dict(given or {})
    config.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    config.setdefault("retries", {"total_max_attempts": ATTEMPTS, "mode": "standard"})
    # segaug sends each upload's SHA-256 itself and hashes what it reads where it must; botocore's own
    # checksums on top (a CRC of every request and response) cost about 0.5 ms of CPU per 300 KB PUT
    config.setdefault("request_checksum_calculation", "when_required")
    config.setdefault("response_checksum_validation", "when_required")
    return {**options, "config_kwargs": config}


class S3Location(ObjectLocation, ConditionalLocation):
    """S3 and S3-compatible stores (MinIO...): SHA-256 checked at upload, one paginated listing,
    and the conditional writes (``If-None-Match: *``, ``If-Match: <etag>``) the OUT lock is built on."""

    def __init__(self, fs: Any, root: str, label: str | None = None):
        super().__init__(fs, root, label)
        self.bucket, _, self.key = root.split("://", 1)[1].partition("/")
        _quiet_lost_connections(fs.loop)

    def _key(self, name: str) -> str:
        return posixpath.join(self.key, name) if self.key else name

    def list(self, prefix: str = "") -> list[Entry]:
        """One ListObjectsV2 call per 1,000 keys, continued by token; no request per object."""
        base = posixpath.join(self.key, prefix) if prefix else self.key
        start = f"{base.rstrip('/')}/" if base else ""
        request = {"Bucket": self.bucket, "Prefix": start}
        found = []
        with explained(self.join(prefix) if prefix else self.url, self.label):
            while True:
                page = self.fs.call_s3("list_objects_v2", **request)
                found += [_entry(item, len(self.key) + 1 if self.key else 0) for item in page.get("Contents", [])]
                if not page.get("IsTruncated"):
                    break
                request["ContinuationToken"] = page["NextContinuationToken"]
        return sorted(found, key=lambda e: e.name)

    def read(self, name: str) -> bytes:
        """One GetObject (fsspec's ``cat_file`` asks with a HeadObject first)."""
        found = self.read_tagged(name)
        if found is None:
            raise FileNotFoundError(self.join(name))
        return found[0]

    def write(self, name: str, data: bytes) -> Receipt:
        return self._put(name, data)

    def write_soon(self, name: str, data: bytes) -> Upload:
        """Start ``write`` on the backend's event loop and return at once, so the caller computes the
        next output while this one uploads; ``PendingWrite.result()`` waits for the receipt."""
        import asyncio

        coroutine = self.fs._call_s3("put_object", **self._put_arguments(name, data))
        return Upload(self, name, len(data), asyncio.run_coroutine_threadsafe(coroutine, self.fs.loop))

    def create(self, name: str, data: bytes) -> Receipt:
        """Write only if no object has this name (``If-None-Match: *``).

        Raises:
            PreconditionFailed: the object exists.
        """
        return self._put(name, data, IfNoneMatch="*")

    def replace(self, name: str, data: bytes, etag: str) -> Receipt:
        """Write only if the object still has this ETag (``If-Match``), i.e. nobody wrote it since.

        Raises:
            PreconditionFailed: the object changed or is gone.
        """
        return self._put(name, data, IfMatch=etag)

    def read_tagged(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and the ETag they had (None when absent); one GetObject."""
        with explained(self.join(name), self.label):
            try:
                answer = self.fs.call_s3("get_object", Bucket=self.bucket, Key=self._key(name))
            except FileNotFoundError as exc:
                if error_code(exc) == "NoSuchBucket":
                    raise  # not an absent object: ``explained`` names the missing bucket
                return None
            body = _read_body(self.fs, answer["Body"])
        return body, answer["ETag"]

    def remove_if(self, name: str, etag: str) -> None:
        """Delete the object only if it still has this ETag; gone already or changed: nothing done."""
        with explained(self.join(name), self.label), contextlib.suppress(PreconditionFailed, FileNotFoundError):
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self._key(name), IfMatch=etag)

    def _put_arguments(self, name: str, data: bytes, **conditions: str) -> dict[str, Any]:
        digest = hashlib.sha256(data).digest()
        return {
            "Bucket": self.bucket,
            "Key": self._key(name),
            "Body": data,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": base64.b64encode(digest).decode(),
            **conditions,
        }

    def _put(self, name: str, data: bytes, **conditions: str) -> Receipt:
        with explained(self.join(name), self.label):
            answer = self.fs.call_s3("put_object", **self._put_arguments(name, data, **conditions))
        return self._receipt(name, answer, len(data))

    def _receipt(self, name: str, answer: dict[str, Any], size: int) -> Receipt:
        """The PUT's answer: the ETag, and the SHA-256 the store verified (it echoes the one it checked)."""
        self.fs.invalidate_cache(self.join(name))
        checked = answer.get("ChecksumSHA256")
        return Receipt(answer["ETag"], base64.b64decode(checked).hex() if checked else None, size)


class Upload(PendingWrite):
    """A whole-object write under way (``S3Location.write_soon``)."""

    def __init__(self, location: S3Location, name: str, size: int, future: Any):  # a Future of the PUT's answer
        self.location, self.name, self.size, self._future = location, name, size, future

    def result(self) -> Receipt:
        """Wait for the write; its receipt, or the one-line ``StorageError`` that ``write`` raises."""
        with explained(self.location.join(self.name), self.location.label):
            answer = self._future.result()
        return self.location._receipt(self.name, answer, self.size)


def _entry(item: dict[str, Any], strip: int) -> Entry:
    return Entry(item["Key"][strip:], int(item["Size"]), item.get("ETag"))


def _quiet_lost_connections(loop: Any) -> None:
    """When the store goes away mid-request, aiohttp leaves a task whose error nobody awaits, and
    asyncio prints it with a traceback when the task is collected. The request's own error is what
    the command reports, in one line; the leftover's connection error is dropped, anything else kept."""
    if getattr(loop, "_segaug_quiet", False):
        return
    previous = loop.get_exception_handler()

    def handler(loop: Any, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), ConnectionError):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    loop._segaug_quiet = True


def _read_body(fs: Any, body: Any) -> bytes:
    """Read an aiobotocore streaming body on s3fs's event loop."""
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body as stream:
            data: bytes = await stream.read()
            return data

    data: bytes = sync(fs.loop, read)
    return data
