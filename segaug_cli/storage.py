"""A folder that is a local path or an fsspec URL (``s3://bucket/prefix``): list, read, write whole, remove.

Local paths are a thin pass-through to today's code (``atomic``, ``os``), so they cost what they
cost before. A URL goes through fsspec and its backend (s3fs, gcsfs, adlfs), both imported only
when a URL is opened. Object stores have no rename, no append and no unnamed files: a write is one
PUT of the whole object, so a killed run never leaves a part of one under a final key, and on S3
segaug sends the SHA-256 it computed, which S3 checks against the body and stores.

Errors of the store (no bucket, access denied, unreachable endpoint, missing extra) become one
:class:`StorageError` line naming the URL, never the storage options (they may hold secrets).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import atomic
from .errors import UsageError
from .pairing import Listed

# fsspec protocol -> the segaug extra that installs its backend
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure", "abfss": "azure"}
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class StorageError(UsageError):
    """The store refused or could not be reached; the message names the URL, never the options."""


class PreconditionFailed(StorageError):
    """A conditional write lost: the object exists (create) or changed since it was read (replace)."""


@dataclass(frozen=True)
class Entry:
    """One file of a listing: its name relative to the location, its size, and what the store vouches for.

    ``etag`` is the store's tag of the object's content (None for local files). ``sha256_at_upload``
    is True when the store holds a SHA-256 it checked at upload (S3's ``ChecksumAlgorithm``).
    """

    name: str
    size: int
    etag: str | None = None
    sha256_at_upload: bool = False


@dataclass(frozen=True)
class Receipt:
    """What the store answered to one whole write: the object's tag and the SHA-256 it checked (hex)."""

    etag: str
    sha256: str | None


def is_url(path: str | os.PathLike) -> bool:
    """True for ``scheme://...`` other than ``file://``: what needs fsspec."""
    match = _URL.match(os.fspath(path))
    return bool(match) and match.group(1).lower() != "file"


def open_location(url_or_path: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> Location:
    """The folder at a local path or an fsspec URL.

    Raises:
        StorageError: a URL whose backend is not installed ("install segaug[s3] to read s3:// URLs").
    """
    text = os.fspath(url_or_path)
    if not is_url(text):
        return LocalLocation(text.removeprefix("file://"))
    protocol = _URL.match(text).group(1).lower()
    fs = _filesystem(protocol, dict(storage_options or {}))
    root = text.rstrip("/")
    if protocol in ("s3", "s3a"):
        return S3Location(fs, root)
    return ObjectLocation(fs, root)


_SECRET = re.compile(r"secret|token|password|passwd|credential|sas|signature|(^|_)key$", re.IGNORECASE)


def source_of(in_dir: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> Path | Listed:
    """IN as pairing reads it: a local folder, or a URL's one listing and its reader.

    Raises:
        UsageError: nothing is stored under the URL (an object store has no empty folders).
        StorageError: the store cannot be read (no bucket, access denied, unreachable).
    """
    if not is_url(in_dir):
        return Path(in_dir)
    url = os.fspath(in_dir).rstrip("/")
    location = open_location(url, storage_options)
    files = tuple(entry.name for entry in location.list())
    if not files:
        raise UsageError(f"{url}: no such folder (nothing is stored under this prefix)")
    return Listed(url, files, location.read)


def without_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """The options minus those that look like credentials (``key``, ``secret``, ``token``...), nested
    mappings included: what may cross a network to workers that take credentials from their own
    environment."""
    return {
        name: without_secrets(value) if isinstance(value, dict) else value
        for name, value in options.items()
        if not _SECRET.search(name)
    }


def nested(a: str, b: str) -> bool:
    """True when two URLs name the same prefix, or one lies inside the other (``s3://b/x`` and ``s3://b/x/y``)."""

    def parts(url: str) -> list[str]:
        scheme, _, rest = _public(url).partition("://")
        return [scheme.lower(), *(part for part in rest.split("/") if part not in ("", "."))]

    pa, pb = parts(a), parts(b)
    shorter = min(len(pa), len(pb))
    return pa[:shorter] == pb[:shorter]


_OPENED: dict[tuple[int, str, str], Location] = {}


def opened(url: str, storage_options: dict[str, Any] | None = None) -> Location:
    """``open_location``, once per process for each URL and options: what a worker process calls per pair."""
    import json

    # by pid too: a forked worker must not use its parent's client, whose event loop did not fork with it
    key = (os.getpid(), url, json.dumps(storage_options or {}, sort_keys=True, default=str))
    if key not in _OPENED:
        _OPENED[key] = open_location(url, storage_options)
    return _OPENED[key]


def unchanged_since_write(entry: Entry, receipt: Receipt | None) -> str | None:
    """The SHA-256 (hex) an object is vouched to hold, or None when it must be downloaded to know.

    The store checked the SHA-256 segaug sent with the PUT, and answered with the object's ETag. A
    listing that shows the same ETag, with a SHA-256 checksum kept, names that same object: nothing
    overwrote it. Listings carry no checksum value (S3's ListObjectsV2 has only the algorithm), so
    this comparison is what makes one listing enough.
    """
    if receipt is None or receipt.sha256 is None or entry.etag is None or not entry.sha256_at_upload:
        return None
    return receipt.sha256 if entry.etag == receipt.etag else None


class Location:
    """A folder: names are POSIX paths relative to it (``images/a_aug0.png``)."""

    url: str

    def join(self, *names: str) -> str:
        """The full path or URL of a name under this folder."""
        raise NotImplementedError

    def list(self, prefix: str = "") -> list[Entry]:
        """Every file under ``prefix`` (a folder name, or "" for all), sorted by name; nothing when absent."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def write(self, name: str, data: bytes) -> Receipt | None:
        """Write ``data`` whole under ``name``: it appears complete or not at all."""
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        """Delete a file; one already gone is no error."""
        raise NotImplementedError


class LocalLocation(Location):
    """A local folder: each method is the call segaug made before there were URLs."""

    def __init__(self, root: str):
        self.url = root

    def join(self, *names: str) -> str:
        return os.path.join(self.url, *names)

    def list(self, prefix: str = "") -> list[Entry]:
        top = os.path.join(self.url, prefix) if prefix else self.url
        found = []
        for current, _dirs, names in os.walk(top):  # nothing for a missing folder
            rel = os.path.relpath(current, self.url).replace(os.sep, "/")
            for name in names:
                with contextlib.suppress(FileNotFoundError):  # removed while listed
                    size = os.stat(os.path.join(current, name), follow_symlinks=False).st_size
                    found.append(Entry(name if rel == "." else f"{rel}/{name}", size))
        return sorted(found, key=lambda e: e.name)

    def read(self, name: str) -> bytes:
        with open(os.path.join(self.url, name), "rb") as fh:
            return fh.read()

    def write(self, name: str, data: bytes) -> None:
        atomic.atomic_write(os.path.join(self.url, name), data)

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.url, name))

    def remove(self, name: str) -> None:
        atomic.remove_if_present(os.path.join(self.url, name))


class ObjectLocation(Location):
    """A prefix of an object store through fsspec: one whole-object write per file, no rename."""

    def __init__(self, fs, root: str):
        self.fs = fs
        self.url = root

    def join(self, *names: str) -> str:
        return posixpath.join(self.url, *names)

    def list(self, prefix: str = "") -> list[Entry]:
        top = self.join(prefix) if prefix else self.url
        with explained(top):
            try:
                found = self.fs.find(top, detail=True)
            except FileNotFoundError:
                return []
        base = self.fs._strip_protocol(self.url).rstrip("/") + "/"  # fsspec's names carry no protocol
        return sorted(
            (
                Entry(name.removeprefix(base), int(info.get("size") or 0))
                for name, info in found.items()
                if info.get("type") != "directory"
            ),
            key=lambda e: e.name,
        )

    def read(self, name: str) -> bytes:
        with explained(self.join(name)):
            return self.fs.cat_file(self.join(name))

    def write(self, name: str, data: bytes) -> Receipt | None:
        with explained(self.join(name)):
            self.fs.pipe_file(self.join(name), data)
        return None

    def exists(self, name: str) -> bool:
        with explained(self.join(name)):
            return self.fs.exists(self.join(name))

    def remove(self, name: str) -> None:
        with explained(self.join(name)), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.join(name))


class S3Location(ObjectLocation):
    """S3 and S3-compatible stores (MinIO...): SHA-256 checked at upload, one paginated listing,
    and the conditional writes (``If-None-Match: *``, ``If-Match: <etag>``) the OUT lock is built on."""

    def __init__(self, fs, root: str):
        super().__init__(fs, root)
        self.bucket, _, self.key = root.split("://", 1)[1].partition("/")

    def _key(self, name: str) -> str:
        return posixpath.join(self.key, name) if self.key else name

    def list(self, prefix: str = "") -> list[Entry]:
        """One ListObjectsV2 call per 1,000 keys, continued by token; no request per object."""
        base = posixpath.join(self.key, prefix) if prefix else self.key
        start = f"{base.rstrip('/')}/" if base else ""
        request = {"Bucket": self.bucket, "Prefix": start}
        found = []
        with explained(self.join(prefix) if prefix else self.url):
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

    def write_soon(self, name: str, data: bytes) -> PendingWrite:
        """Start ``write`` on the backend's event loop and return at once, so the caller computes the
        next output while this one uploads; ``PendingWrite.result()`` waits for the receipt."""
        import asyncio

        coroutine = self.fs._call_s3("put_object", **self._put_arguments(name, data))
        return PendingWrite(self, name, asyncio.run_coroutine_threadsafe(coroutine, self.fs.loop))

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
        with explained(self.join(name)):
            try:
                answer = self.fs.call_s3("get_object", Bucket=self.bucket, Key=self._key(name))
            except FileNotFoundError as exc:
                if _code(exc) == "NoSuchBucket":
                    raise  # not an absent object: ``explained`` names the missing bucket
                return None
            body = _read_body(self.fs, answer["Body"])
        return body, answer["ETag"]

    def remove_if(self, name: str, etag: str) -> None:
        """Delete the object only if it still has this ETag; gone already or changed: nothing done."""
        with explained(self.join(name)), contextlib.suppress(PreconditionFailed, FileNotFoundError):
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self._key(name), IfMatch=etag)

    def _put_arguments(self, name: str, data: bytes, **conditions: str) -> dict:
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
        with explained(self.join(name)):
            answer = self.fs.call_s3("put_object", **self._put_arguments(name, data, **conditions))
        return self._receipt(name, answer)

    def _receipt(self, name: str, answer: dict) -> Receipt:
        self.fs.invalidate_cache(self.join(name))
        checked = answer.get("ChecksumSHA256")
        return Receipt(answer["ETag"], base64.b64decode(checked).hex() if checked else None)


class PendingWrite:
    """A whole-object write under way (``S3Location.write_soon``)."""

    def __init__(self, location: S3Location, name: str, future):
        self.location, self.name, self._future = location, name, future

    def result(self) -> Receipt:
        """Wait for the write; its receipt, or the one-line ``StorageError`` that ``write`` raises."""
        with explained(self.location.join(self.name)):
            answer = self._future.result()
        return self.location._receipt(self.name, answer)


def _entry(item: dict, strip: int) -> Entry:
    return Entry(
        item["Key"][strip:], int(item["Size"]), item.get("ETag"), "SHA256" in item.get("ChecksumAlgorithm", ())
    )


def _read_body(fs, body) -> bytes:
    """Read an aiobotocore streaming body on s3fs's event loop."""
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body as stream:
            return await stream.read()

    return sync(fs.loop, read)


# ---------------------------------------------------------------------------------------------
# Backends and errors
# ---------------------------------------------------------------------------------------------


def _filesystem(protocol: str, options: dict[str, Any]):
    hint = f"install segaug[{EXTRAS.get(protocol, 'cloud')}] to read {protocol}:// URLs"
    try:
        import fsspec

        cls = fsspec.get_filesystem_class(protocol)
    except ImportError:
        raise StorageError(hint) from None
    except ValueError:
        raise StorageError(f"{protocol}:// is not a storage protocol segaug knows") from None
    try:
        return cls(**options)
    except TypeError as exc:  # an option the backend does not take: name it, never its value
        raise StorageError(f"{protocol}:// URLs: a storage option is not accepted by the backend ({exc})") from None


_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "403"}


def _code(exc: BaseException) -> str:
    """The store's error code (``NoSuchBucket``...), read from the exception or the one it wraps."""
    for err in (exc, exc.__cause__, exc.__context__):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


@contextlib.contextmanager
def explained(url: str) -> Iterator[None]:
    """Turn a store's exception into one line naming ``url`` (stripped of any user:password@)."""
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError as exc:
        if _code(exc) == "NoSuchBucket":
            raise StorageError(f"{_public(url)}: the bucket does not exist") from None
        raise
    except Exception as exc:
        code = _code(exc)
        if code in ("PreconditionFailed", "412") or isinstance(exc, FileExistsError):
            raise PreconditionFailed(f"{_public(url)}: changed by another writer") from None
        if _named(exc, {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}):
            raise StorageError(
                f"{_public(url)}: no usable credentials (give them in the environment, ~/.aws, or as storage options)"
            ) from None
        if code in _DENIED or isinstance(exc, PermissionError):
            raise StorageError(
                f"{_public(url)}: access denied (check the credentials and the bucket's policy)"
            ) from None
        if _unreachable(exc):
            raise StorageError(
                f"{_public(url)}: cannot reach the store ({_kind(exc)}, after the backend's retries)"
            ) from None
        if code:
            raise StorageError(f"{_public(url)}: the store answered {code}") from None
        raise


def _named(exc: BaseException, wanted: set[str]) -> bool:
    """Whether the exception, or one it wraps, is of a class with one of these names (no backend import)."""
    names = {cls.__name__ for err in (exc, exc.__cause__, exc.__context__) if err for cls in type(err).__mro__}
    return bool(names & wanted)


def _unreachable(exc: BaseException) -> bool:
    return _named(
        exc,
        {
            "EndpointConnectionError",
            "ConnectionError",
            "ClientConnectorError",
            "ConnectTimeoutError",
            "ServerTimeoutError",
            "TimeoutError",
            "HTTPClientError",
            "ConnectionRefusedError",
        },
    )


def _kind(exc: BaseException) -> str:
    text = " ".join(str(e) for e in (exc, exc.__cause__) if e).lower()
    return "connection refused" if "refused" in text or "connect" in text else "no answer"


def _public(url: str) -> str:
    """The URL without credentials written into it (``s3://key:secret@bucket``)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://)[^/@]*@", r"\1", url)


# ---------------------------------------------------------------------------------------------
# Storage options: `--storage-option key=value` and a `storage_options:` file
# ---------------------------------------------------------------------------------------------


def parse_storage_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``key=value`` strings to a dict: ``true``/``false`` to bools, integers and floats to numbers,
    ``none`` to None, anything else stays a string (as fsspec's command-line tools read them).

    Raises:
        UsageError: a pair without ``=`` or with an empty key; the message never shows the value.
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError("--storage-option: expected KEY=VALUE (for example endpoint_url=http://host:9000)")
        options[key.strip()] = _value(value)
    return options


def _value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


def load_storage_options(path: str | os.PathLike) -> dict[str, Any]:
    """The ``storage_options:`` mapping of a YAML file (kept apart from the recipe, out of the fingerprint).

    Raises:
        UsageError: the file is missing, not YAML, or has no mapping under ``storage_options``.
    """
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError:
        raise UsageError(f"{path}: not valid YAML") from None  # the parser's message quotes the text
    options = data.get("storage_options") if isinstance(data, dict) else None
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise UsageError(f"{path}: storage_options: expected a mapping of option names to values")
    return options
