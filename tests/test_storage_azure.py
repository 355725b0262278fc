"""An az:// location (``storage/azure.py``) and the OUT lock held in one (``storage/objectlock.py``),
against the session's Azurite (the ``azurite`` fixture of tests/conftest.py): conditional create,
replace and delete on the ETag, uploads the service checks against their MD5, one listing with ETags
and sizes that match the writes' receipts, one line per store error; and the lock: a second writer
refused, a lease renewed with If-Match (the rest of the lock runs on Azurite in
test_storage_objectlock.py, beside S3)."""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
import types

import pytest

from segaug_cli import storage
from segaug_cli.storage import lock, objectlock
from segaug_cli.storage.azure import AzureLocation


def test_adlfs_credential_options_never_cross_to_dask_workers():
    options = {
        "connection_string": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k",
        "account_name": "a",
        "account_key": "k",
        "sas_token": "sv=x&sig=y",
        "client_secret": "s",
        "credential": "c",
        "account_host": "a.blob.core.windows.net",
        "anon": False,
    }
    assert storage.without_secrets(options) == {
        "account_name": "a",
        "account_host": "a.blob.core.windows.net",
        "anon": False,
    }


@pytest.mark.parametrize("options", [{}, {"connection_string": "no-such-form;AccountKey=SeCrEt-az-77"}])
def test_options_that_reach_no_account_are_one_line_without_their_values(options, monkeypatch):
    pytest.importorskip("adlfs")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(storage.StorageError) as caught:
        storage.open_location("az://container/out", {**options, "skip_instance_cache": True})
    assert str(caught.value) == (
        "az://container/out: the backend failed (ValueError); check the storage options (segaug never shows "
        "their values)"
    )  # adlfs's own message may quote the connection string
    assert "SeCrEt" not in "".join(traceback.format_exception(caught.value))  # nor anything chained to it


def test_an_az_url_opens_a_conditional_location(az_out):
    assert isinstance(az_out, AzureLocation) and isinstance(az_out, storage.base.ConditionalLocation)
    assert az_out.container == "segaug-test" and az_out.url.startswith("az://segaug-test/")


def test_the_listing_shows_the_etag_and_size_each_write_answered(az_out):
    first = az_out.write("images/a.png", b"first")
    second = az_out.create("masks/b.png", b"second!")
    assert first.sha256 == hashlib.sha256(b"first").hexdigest()
    listed = {e.name: e for e in az_out.list()}
    assert sorted(listed) == ["images/a.png", "masks/b.png"]
    assert (listed["images/a.png"].etag, listed["images/a.png"].size) == (first.etag, 5)
    assert (listed["masks/b.png"].etag, listed["masks/b.png"].size) == (second.etag, 7)
    assert first.etag.startswith('"') and first.etag.endswith('"')  # quoted, as S3's are, whatever Azure sends
    assert (first.size, second.size) == (5, 7)  # a receipt vouches for the etag and size a listing shows
    assert [e.name for e in az_out.list("masks")] == ["masks/b.png"]
    assert az_out.read_tagged("images/a.png") == (b"first", first.etag)
    assert az_out.read_tagged("images/none.png") is None
    assert az_out.exists("images/a.png") and not az_out.exists("images/none.png")


def test_create_replace_and_remove_hold_only_on_their_condition(az_out):
    made = az_out.create("lock.json", b"one")
    with pytest.raises(storage.PreconditionFailed, match="changed by another writer"):
        az_out.create("lock.json", b"two")  # If-None-Match: *
    replaced = az_out.replace("lock.json", b"two", made.etag)
    assert replaced.etag != made.etag
    with pytest.raises(storage.PreconditionFailed):
        az_out.replace("lock.json", b"three", made.etag)  # If-Match on a stale ETag
    az_out.remove_if("lock.json", made.etag)  # stale: nothing done
    assert az_out.read("lock.json") == b"two"
    az_out.remove_if("lock.json", replaced.etag)
    assert not az_out.exists("lock.json")
    with pytest.raises(storage.PreconditionFailed):
        az_out.replace("lock.json", b"four", replaced.etag)  # gone: the condition fails too
    az_out.remove_if("lock.json", replaced.etag)  # gone already: no error
    az_out.remove("lock.json")


def test_an_upload_whose_bytes_do_not_match_their_md5_is_refused_and_stores_nothing(az_out, monkeypatch):
    from segaug_cli.storage import azure

    def corrupted(data: bytes):  # the MD5 of other bytes, as if the body changed on the way
        return hashlib.md5(data + b"!")

    # segaug's own MD5 only: the SDK's transport check keeps the real one, so the blob's MD5 header is
    # what the service refuses
    monkeypatch.setattr(azure, "hashlib", types.SimpleNamespace(md5=corrupted, sha256=hashlib.sha256))
    with pytest.raises(storage.StorageError) as caught:
        az_out.write("images/a.png", b"payload")
    assert str(caught.value) == f"{az_out.url}/images/a.png: the store answered Md5Mismatch"
    assert az_out.list() == []


def test_a_missing_container_is_one_line(azurite):
    options = {"connection_string": azurite.connection_string, "skip_instance_cache": True}
    loc = storage.open_location("az://no-such-container/out", options)
    for action in (loc.list, lambda: loc.write("a.png", b"x"), lambda: loc.read("a.png")):
        with pytest.raises(storage.StorageError) as caught:
            action()
        assert str(caught.value) == "az://no-such-container/out: the container does not exist"
        assert azurite.connection_string not in str(caught.value) and caught.value.__cause__ is None


def test_a_wrong_account_key_is_access_denied_and_never_shown(azurite, caplog):
    caplog.set_level(logging.DEBUG)  # the SDK's own request logging included
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=Zzz8")
    loc = storage.open_location("az://segaug-test/denied", {"connection_string": wrong, "skip_instance_cache": True})
    with pytest.raises(storage.StorageError) as caught:
        loc.list()
    assert str(caught.value) == (
        "az://segaug-test/denied: access denied (check the credentials and the container's access policy)"
    )
    key = wrong.split("AccountKey=")[1].split(";")[0]
    assert caplog.text and key not in caplog.text and key[:12] not in caplog.text


def test_an_unreachable_store_is_one_line_naming_the_folder():
    """The SDK's final error, as it raises it after its retries, becomes one line naming the folder
    (the command line against a closed port and a black hole: tests/test_azure.py)."""
    pytest.importorskip("azure.core")
    from azure.core.exceptions import ServiceRequestError

    from segaug_cli.storage import azure

    with pytest.raises(storage.StorageError) as caught, azure.explained("az://c/out/images/a.png", "az://c/out"):
        raise ServiceRequestError("Cannot connect to host 127.0.0.1:1 ssl:default [Connect call failed]")
    assert str(caught.value) == "az://c/out: cannot reach the store (connection refused, after the backend's retries)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ---------------------------------------------------------------------------------------------
# The lock of an OUT in a container
# ---------------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_with_the_holder_named(az_out):
    with objectlock.hold(az_out) as lease:
        assert objectlock.holder_of(az_out).started == lease.started
        with pytest.raises(lock.OutLocked) as caught, objectlock.hold(az_out):
            pass
    message = str(caught.value)
    assert message.startswith(f"{az_out.url}: another segaug run is writing this folder (host ")
    assert "its lease expires in 60 s" in message and "\n" not in message
    assert objectlock.holder_of(az_out) is None and az_out.list(objectlock.FOLDER) == []  # released


def test_the_holder_renews_its_lease_with_if_match(az_out, azurite):
    # the lock's behaviour on Azure is tested with S3's in test_storage_objectlock.py; here, the request
    with objectlock.hold(az_out, lease_seconds=0.8):
        time.sleep(1.2)  # longer than the lease: only renewal keeps it
    key = az_out.url.split("/", 3)[3]
    log = azurite.log.read_text(errors="replace")
    renewals = [line for line in log.splitlines() if f"{key}/.segaug-lock/out.json" in line and '"if-match"' in line]
    assert renewals  # each renewal was a PUT conditional on the ETag the holder last wrote
