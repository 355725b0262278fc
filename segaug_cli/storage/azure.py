"""Azure Blob Storage (``az://container/prefix``, or ``abfs://``): uploads the service checks against
their MD5, one paginated listing, and the conditional requests (``If-None-Match: *``, ``If-Match:
<etag>``) the OUT lock is built on.

adlfs reaches the account from its storage options (``connection_string``, ``account_name``,
``account_key``, ``sas_token``, ``credential``, ``anon``, ``account_host``...), so segaug takes the
same options as any fsspec user. adlfs makes an asynchronous ``BlobServiceClient`` from them with
the SDK's default retries and timeouts (a refused connection tried again after about 18, 24 and 42 s,
a connection nobody answers waited for 20 s each time), and takes no option to change them;
``bounded_filesystem`` puts in its place one with the same account and credentials and the bounds
``s3.py`` gives S3 (``BOUNDS``), or those of the storage option ``client_kwargs``. Each request,
segaug's and adlfs's, goes through that client, on adlfs's event loop: one client, one connection pool.

Azure answers a write with the ETag quoted (``"0x8DC..."``) and lists it unquoted; both are quoted
here, so a receipt and a listing compare equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import posixpath
from typing import Any

from . import fsspec_ro
from .base import ConditionalLocation, Entry, PendingWrite, PreconditionFailed, Receipt, StorageError, public
from .fsspec_ro import ObjectLocation

# How long a store that cannot be reached, or that goes away mid-run, may hold a command up: as on S3
# (``s3.CONNECT_TIMEOUT_S``, ``s3.ATTEMPTS``), a connection must be made within a second, and a request
# is tried twice in all, the retry within a second of the first try (the SDK waits ``initial_backoff``
# plus ``increment_base`` to the power of the retry's number, give or take ``random_jitter_range``).
BOUNDS: dict[str, Any] = {
    "connection_timeout": 1.0,
    "retry_total": 1,
    "initial_backoff": 0.5,
    "increment_base": 0,
    "random_jitter_range": 0.5,
}
OVERRIDES = "client_kwargs"  # segaug's storage option, never given to adlfs: the client's arguments over BOUNDS
_TIMEOUTS = ("connection_timeout", "read_timeout")  # adlfs's options, which it gives to some requests only


def bounded_filesystem(protocol: str, options: dict[str, Any], url: str, label: str) -> Any:
    """adlfs's filesystem for ``url``, its ``service_client`` replaced by one with the same account and
    credentials and bounded retries and timeouts (``BOUNDS``, the options' ``client_kwargs`` over them).
    Every request goes through that client: segaug's own, and adlfs's (its listing, its ``exists``).

    Raises:
        StorageError: adlfs does not start with these options, or ``client_kwargs`` is no mapping:
            one line naming ``label``, never an option's value.
    """
    overrides = options.get(OVERRIDES) or {}
    if not isinstance(overrides, dict):
        raise StorageError(f"{public(label)}: the storage option {OVERRIDES} must be a mapping (give it in a file)")
    backend = {name: value for name, value in options.items() if name != OVERRIDES}
    timeouts = {name: options[name] for name in _TIMEOUTS if options.get(name) is not None}
    settings = {**BOUNDS, **timeouts, **overrides}
    fs = fsspec_ro.filesystem(protocol, backend, url, label)
    if getattr(fs, "_segaug_bounds", settings) != settings:
        # fsspec's cached instance for these options has a client with other bounds, that its locations use
        fs = fsspec_ro.filesystem(protocol, {**backend, "skip_instance_cache": True}, url, label)
    if getattr(fs, "_segaug_bounds", None) != settings:
        with explained(url, label):
            _rebound(fs, settings)
    return fs


def _rebound(fs: Any, settings: dict[str, Any]) -> None:
    """Put in adlfs's place a client of the same endpoint (its SAS token included), credential and
    location mode, with these settings; adlfs's own client, which has made no request yet, is closed."""
    from azure.storage.blob.aio import BlobServiceClient
    from fsspec.asyn import sync

    made = fs.service_client
    fs.service_client = BlobServiceClient(
        account_url=made.primary_endpoint,
        credential=made.credential,
        secondary_hostname=made.secondary_hostname,
        _location_mode=made.location_mode,
        **settings,
    )
    fs._segaug_bounds = settings
    sync(fs.loop, made.close)


class AzureLocation(ObjectLocation, ConditionalLocation):
    """A prefix of an Azure Blob Storage container: MD5-checked whole uploads, one paginated listing
    with ETags and sizes, and conditional creates, replaces and deletes."""

    def __init__(self, fs: Any, root: str, label: str | None = None):
        super().__init__(fs, root, label)
        self.container, self.key = fs.split_path(root)[:2]

    def _key(self, name: str) -> str:
        return posixpath.join(self.key, name) if self.key else name

    def _blob(self, name: str) -> Any:
        return self.fs.service_client.get_blob_client(self.container, self._key(name))

    def _run(self, coroutine: Any) -> Any:
        from fsspec.asyn import sync

        async def awaited() -> Any:
            return await coroutine

        return sync(self.fs.loop, awaited)

    def list(self, prefix: str = "") -> list[Entry]:
        """One List Blobs call per 5,000 names, continued by marker; no request per blob."""
        base = posixpath.join(self.key, prefix) if prefix else self.key
        start = f"{base.rstrip('/')}/" if base else ""
        strip = len(self.key) + 1 if self.key else 0

        async def listing() -> list[Entry]:
            container = self.fs.service_client.get_container_client(self.container)
            return [
                _entry(blob, strip)
                async for blob in container.list_blobs(name_starts_with=start)
                if not blob.name.endswith("/")  # a folder marker of a hierarchical namespace, no file
            ]

        with explained(self.join(prefix) if prefix else self.url, self.label):
            found: list[Entry] = self._run(listing())
        return sorted(found, key=lambda e: e.name)

    def read(self, name: str) -> bytes:
        found = self.read_tagged(name)
        if found is None:
            raise FileNotFoundError(self.join(name))
        return found[0]

    def read_tagged(self, name: str) -> tuple[bytes, str] | None:
        """The blob's bytes and the ETag they had (None when absent); one GET for a blob under 32 MiB."""

        async def download() -> tuple[bytes, str]:
            downloader = await self._blob(name).download_blob()
            return await downloader.readall(), _quoted(downloader.properties.etag)

        try:
            with explained(self.join(name), self.label):
                found: tuple[bytes, str] = self._run(download())
        except FileNotFoundError:
            return None
        return found

    def exists(self, name: str) -> bool:
        try:
            with explained(self.join(name), self.label):
                self._run(self._blob(name).get_blob_properties())
        except FileNotFoundError:
            return False
        return True

    def write(self, name: str, data: bytes) -> Receipt:
        return self._put(name, data, overwrite=True)

    def write_soon(self, name: str, data: bytes) -> Upload:
        """Start ``write`` on adlfs's event loop and return at once, so the caller computes the next
        output while this one uploads; ``PendingWrite.result()`` waits for the receipt."""
        future = asyncio.run_coroutine_threadsafe(self._upload(name, data, overwrite=True), self.fs.loop)
        return Upload(self, name, future)

    def create(self, name: str, data: bytes) -> Receipt:
        return self._put(name, data, overwrite=False)  # the SDK sends If-None-Match: *

    def replace(self, name: str, data: bytes, etag: str) -> Receipt:
        from azure.core import MatchConditions

        return self._put(name, data, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError), explained(self.join(name), self.label):
            self._run(self._blob(name).delete_blob())

    def remove_if(self, name: str, etag: str) -> None:
        from azure.core import MatchConditions

        delete = self._blob(name).delete_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
        with contextlib.suppress(FileNotFoundError, PreconditionFailed), explained(self.join(name), self.label):
            self._run(delete)

    def _put(self, name: str, data: bytes, **conditions: Any) -> Receipt:
        with explained(self.join(name), self.label):
            receipt: Receipt = self._run(self._upload(name, data, **conditions))
        return receipt

    async def _upload(self, name: str, data: bytes, **conditions: Any) -> Receipt:
        """One Put Blob: the request's Content-MD5 is what the service checks the body against (a
        mismatch is refused, nothing stored), and the same MD5 is kept as the blob's property."""
        from azure.storage.blob import ContentSettings

        md5 = bytearray(hashlib.md5(data).digest())
        answer = await self._blob(name).upload_blob(
            data, validate_content="md5", content_settings=ContentSettings(content_md5=md5), **conditions
        )
        self.fs.invalidate_cache(self.join(name))
        # the service checked the MD5 of these very bytes, so their SHA-256 is the object's
        return Receipt(_quoted(answer["etag"]), hashlib.sha256(data).hexdigest(), len(data))


class Upload(PendingWrite):
    """A whole-blob write under way (``AzureLocation.write_soon``)."""

    def __init__(self, location: AzureLocation, name: str, future: Any):  # a concurrent.futures.Future of a Receipt
        self.location, self.name, self._future = location, name, future

    def result(self) -> Receipt:
        """Wait for the write; its receipt, or the one-line ``StorageError`` that ``write`` raises."""
        with explained(self.location.join(self.name), self.location.label):
            receipt: Receipt = self._future.result()
        return receipt


def _entry(blob: Any, strip: int) -> Entry:
    return Entry(blob.name[strip:], int(blob.size), _quoted(blob.etag))


def _quoted(etag: str) -> str:
    return f'"{etag.strip(chr(34))}"'


def explained(url: str, location: str) -> contextlib.AbstractContextManager[None]:
    """Turn the Azure SDK's exception into one line, as ``fsspec_ro.explained`` does for the other
    backends: a fault of the container, the store or the credentials names the folder as the user
    typed it (``location``), as does a fault of segaug's hidden objects; a fault of one visible blob
    names that blob. Never the exception's text, nor the request's URL, which may carry a SAS token.
    An absent blob stays ``FileNotFoundError``."""
    return fsspec_ro.explained_by(explanation, url, location)


def explanation(exc: Exception, url: str, location: str) -> Exception | None:
    """The one line an exception of the Azure SDK becomes (None: raise it as it is); any other
    exception is ``fsspec_ro.explanation``'s."""
    from azure.core import exceptions as azure

    if not isinstance(exc, azure.AzureError):
        return fsspec_ro.explanation(exc, url, location)
    folder = public(location)
    item = folder if fsspec_ro.hidden(url) else public(url)
    raw = getattr(exc, "error_code", None)
    code = str(getattr(raw, "value", raw) or "")  # a StorageErrorCode's value, or the header's text
    status = getattr(exc, "status_code", None)
    if isinstance(exc, azure.ResourceNotFoundError):
        if code == "ContainerNotFound":
            return StorageError(f"{folder}: the container does not exist")
        return FileNotFoundError(public(url))
    if isinstance(exc, (azure.ResourceExistsError, azure.ResourceModifiedError)):
        return PreconditionFailed(f"{item}: changed by another writer")  # 409 BlobAlreadyExists, 412
    if isinstance(exc, azure.ClientAuthenticationError) or status == 403:
        return StorageError(f"{item}: access denied (check the credentials and the container's access policy)")
    if isinstance(exc, (azure.ServiceRequestError, azure.ServiceResponseError)):
        kind = fsspec_ro.failure_kind(exc)
        return StorageError(f"{folder}: cannot reach the store ({kind}, after the backend's retries)")
    if isinstance(exc, azure.HttpResponseError):
        return StorageError(f"{item}: the store answered {code or status}")
    return StorageError(f"{folder}: the backend failed ({type(exc).__name__})")
