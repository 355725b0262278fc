"""Locations any fsspec backend reaches (gs://, az://...): list, read, whole writes; and the one line
each store error becomes.

A URL goes through fsspec and its backend (s3fs, gcsfs, adlfs), imported only when a URL is opened.
Object stores have no rename, no append and no unnamed files: a write is one PUT of the whole
object, so a killed run never leaves a part of one under a final key. Errors of the store (no
bucket, access denied, unreachable endpoint, missing extra) become one :class:`StorageError` line
naming the URL, never the storage options (they may hold secrets). OUT is written only where the
store has conditional writes (``s3``); here it is refused in one line.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator
from typing import Any

from ..errors import PairError
from .base import EXTRAS, Entry, Location, PreconditionFailed, Receipt, StorageError, public


class ObjectLocation(Location):
    """A prefix of an object store through fsspec: one whole-object write per file, no rename."""

    def __init__(self, fs: Any, root: str):
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
            data: bytes = self.fs.cat_file(self.join(name))
            return data

    def write(self, name: str, data: bytes) -> Receipt | None:
        with explained(self.join(name)):
            self.fs.pipe_file(self.join(name), data)
        return None

    def exists(self, name: str) -> bool:
        with explained(self.join(name)):
            return bool(self.fs.exists(self.join(name)))

    def remove(self, name: str) -> None:
        with explained(self.join(name)), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.join(name))

    def read_input(self, name: str) -> bytes:
        try:
            return self.read(name)
        except FileNotFoundError:
            raise PairError(f"{self.join(name)}: cannot be read (no such object)") from None


def filesystem(protocol: str, options: dict[str, Any]) -> Any:
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


def error_code(exc: BaseException) -> str:
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
        if error_code(exc) == "NoSuchBucket":
            raise StorageError(f"{public(url)}: the bucket does not exist") from None
        raise
    except Exception as exc:
        code = error_code(exc)
        if code in ("PreconditionFailed", "412") or isinstance(exc, FileExistsError):
            raise PreconditionFailed(f"{public(url)}: changed by another writer") from None
        if _named(exc, {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}):
            raise StorageError(
                f"{public(url)}: no usable credentials (give them in the environment, ~/.aws, or as storage options)"
            ) from None
        if code in _DENIED or isinstance(exc, PermissionError):
            raise StorageError(
                f"{public(url)}: access denied (check the credentials and the bucket's policy)"
            ) from None
        if _unreachable(exc):
            raise StorageError(
                f"{public(url)}: cannot reach the store ({_kind(exc)}, after the backend's retries)"
            ) from None
        if code:
            raise StorageError(f"{public(url)}: the store answered {code}") from None
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
    if _named(exc, {"ConnectTimeoutError"}):  # botocore's: no answer to the connection itself
        return "connection timed out"
    text = " ".join(str(e) for e in (exc, exc.__cause__) if e).lower()
    return "connection refused" if "refused" in text or "connect" in text else "no answer"
