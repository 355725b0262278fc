"""Locations any fsspec backend reaches (gs://...): list, read, whole writes; and the one line each
store error becomes.

A URL goes through fsspec and its backend (s3fs, gcsfs, adlfs), imported only when a URL is opened.
Object stores have no rename, no append and no unnamed files: a write is one PUT of the whole
object, so a killed run never leaves a part of one under a final key. Errors of the store (no
bucket, access denied, unreachable endpoint, missing extra, options the backend cannot use) become
one :class:`StorageError` line naming the folder as the user typed it (``OUT s3://bucket/prefix``),
or the one visible object at fault, and never the text of the backend's exception: that text may
quote an option's value (``Invalid endpoint: <endpoint_url>``), and option values may be secrets.
OUT is written only where the store has conditional writes (``s3``, ``azure``); here it is refused.
"""

from __future__ import annotations

import contextlib
import gc
import posixpath
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import PairError
from .base import EXTRAS, Entry, Location, PreconditionFailed, Receipt, StorageError, public


class ObjectLocation(Location):
    """A prefix of an object store through fsspec: one whole-object write per file, no rename."""

    def __init__(self, fs: Any, root: str, label: str | None = None):
        self.fs = fs
        self.url = root
        self.label = label or public(root)  # how errors name this folder: as the user typed it, role first

    def join(self, *names: str) -> str:
        return posixpath.join(self.url, *names)

    def list(self, prefix: str = "") -> list[Entry]:
        top = self.join(prefix) if prefix else self.url
        with explained(top, self.label):
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
        with explained(self.join(name), self.label):
            data: bytes = self.fs.cat_file(self.join(name))
            return data

    def write(self, name: str, data: bytes) -> Receipt | None:
        with explained(self.join(name), self.label):
            self.fs.pipe_file(self.join(name), data)
        return None

    def exists(self, name: str) -> bool:
        with explained(self.join(name), self.label):
            return bool(self.fs.exists(self.join(name)))

    def remove(self, name: str) -> None:
        with explained(self.join(name), self.label), contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.join(name))

    def read_input(self, name: str) -> bytes:
        try:
            return self.read(name)
        except FileNotFoundError:
            raise PairError(f"{self.join(name)}: cannot be read (no such object)") from None


def filesystem(protocol: str, options: dict[str, Any], url: str, label: str) -> Any:
    """The backend's filesystem for ``url``: what fsspec reads from the URL itself (an FTP host and
    port, an Azure account), the user's options over it.

    Raises:
        StorageError: the backend is not installed, or does not start with these options: one line
            naming ``label``, never an option's value.
    """
    hint = f"install segaug[{EXTRAS.get(protocol, 'cloud')}] to read {protocol}:// URLs"
    try:
        import fsspec

        cls = fsspec.get_filesystem_class(protocol)
    except ImportError:
        raise StorageError(hint) from None
    except ValueError:
        raise StorageError(f"{protocol}:// is not a storage protocol segaug knows") from None
    return _started(cls, {**cls._get_kwargs_from_urls(url), **options}, url, label)


def _started(cls: type, kwargs: dict[str, Any], url: str, label: str) -> Any:
    """An instance of the backend, or the one line its failure to start becomes.

    A backend whose ``__init__`` fails leaves a half-built instance, and some backends' ``__del__``
    then fail too (FTP's closes a connection it never opened): Python would print that on stderr as
    a traceback. The complaint of that one ``__del__`` is muted until the instance is collected here,
    before the one line is raised (the frames of the failure, which hold the instance, are dropped
    with the backend's exception).
    """
    cleanups = {vars(k)["__del__"] for k in cls.__mro__ if "__del__" in vars(k)}
    previous = sys.unraisablehook
    sys.unraisablehook = lambda raised: None if raised.object in cleanups else previous(raised)
    try:
        try:
            return cls(**kwargs)
        except Exception as exc:
            error = explanation(exc, url, label)
            if error is None:
                raise
        gc.collect()
        raise error
    finally:
        sys.unraisablehook = previous


_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "403"}


def error_code(exc: BaseException) -> str:
    """The store's error code (``NoSuchBucket``...), read from the exception or the one it wraps."""
    for err in (exc, exc.__cause__, exc.__context__):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


def explained(url: str, location: str | None = None) -> contextlib.AbstractContextManager[None]:
    """Turn a store's exception into one line (``explanation``), without the exception's own text."""
    return explained_by(explanation, url, location)


_Where = TypeVar("_Where", bound="str | None")  # how a backend's explanation takes the typed location


@contextlib.contextmanager
def explained_by(
    explain: Callable[[Exception, str, _Where], Exception | None], url: str, location: _Where
) -> Iterator[None]:
    """Raise, for an exception of the block, the one-line error ``explain`` makes of it, from None (so
    the exception's own text, which may carry a URL with a token, is never shown); ``explain``'s None:
    the exception as it is. Each backend's ``explained`` is this with its own ``explanation``."""
    try:
        yield
    except Exception as exc:
        error = explain(exc, url, location)
        if error is None:
            raise
        raise error from None


def explanation(exc: Exception, url: str, location: str | None = None) -> Exception | None:
    """The one line a store's exception becomes, or None for one to raise as it is (segaug's own, an
    absent object).

    ``url`` is the object or prefix asked for, ``location`` how the user named the folder it lies in
    (``OUT s3://bucket/prefix``). A fault of the bucket, the store, the credentials or the options
    names the folder; so does any fault of segaug's own hidden objects (``.segaug-lock/out.json``),
    which the user never typed; a fault of one visible object names that object. URLs are stripped
    of any user:password@. The exception's own text is never part of it: it may quote an option.
    """
    folder = public(location or url)
    if isinstance(exc, (StorageError, PairError)):
        return None
    if isinstance(exc, FileNotFoundError):
        return StorageError(f"{folder}: the bucket does not exist") if error_code(exc) == "NoSuchBucket" else None
    return _one_line(exc, folder, folder if hidden(url) else public(url))


def _one_line(exc: Exception, folder: str, item: str) -> StorageError:
    """The sentence for a store's exception: what went wrong, in words of segaug's own."""
    code = error_code(exc)
    if code in ("PreconditionFailed", "412") or isinstance(exc, FileExistsError):
        return PreconditionFailed(f"{item}: changed by another writer")
    if _named(exc, {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}):
        return StorageError(
            f"{folder}: no usable credentials (give them in the environment, ~/.aws, or as storage options)"
        )
    if code in _DENIED or isinstance(exc, PermissionError) or _login_refused(exc):
        return StorageError(f"{item}: access denied (check the credentials and the bucket's policy)")
    if _unreachable(exc):
        return StorageError(f"{folder}: cannot reach the store ({failure_kind(exc)}, after the backend's retries)")
    if code:
        return StorageError(f"{item}: the store answered {code}")
    option = _unknown_option(exc)
    if option is not None:
        return StorageError(f"{folder}: the backend does not take the storage option {option}")
    return StorageError(
        f"{folder}: the backend failed ({type(exc).__name__}); check the storage options "
        "(segaug never shows their values)"
    )


_UNEXPECTED = re.compile(r"unexpected keyword argument '([A-Za-z_][A-Za-z0-9_]*)'")


def _unknown_option(exc: BaseException) -> str | None:
    """The option a backend was given and has no parameter for: a name, which Python's TypeError
    quotes (a name, never a value)."""
    match = _UNEXPECTED.search(str(exc)) if isinstance(exc, TypeError) else None
    return match.group(1) if match else None


def _login_refused(exc: BaseException) -> bool:
    """An FTP server's "530 Login incorrect" (ftplib's ``error_perm``)."""
    return _named(exc, {"error_perm"}) and str(exc).startswith("530")


def hidden(url: str) -> bool:
    """Whether a URL names something segaug keeps for itself in a hidden folder or file (``.segaug-...``)."""
    return any(part.startswith(".") for part in url.split("://", 1)[-1].split("/"))


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
            "gaierror",
        },
    )


def failure_kind(exc: BaseException) -> str:
    """What kept the store from answering, in words: host name not found, connection refused, no answer."""
    if _named(exc, {"gaierror"}):
        return "host name not found"
    # botocore's, aiohttp's, the Azure SDK's: no answer to the connection itself
    if _named(exc, {"ConnectTimeoutError", "ConnectionTimeoutError", "ServiceRequestTimeoutError"}):
        return "connection timed out"
    text = " ".join(str(e) for e in (exc, exc.__cause__) if e).lower()
    return "connection refused" if "refused" in text or "connect" in text else "no answer"
