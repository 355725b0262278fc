"""storage.options: ``--storage-option KEY=VALUE`` parsed as fsspec's command-line tools read it, a
``storage_options:`` file, and the options that may cross a network; no message shows a value."""

from __future__ import annotations

import pytest

from segaug_cli import storage

SECRET = "SeCrEt-do-not-show-4f1c"  # the secret key every client here uses: it must appear nowhere


def test_storage_options_parse_like_fsspecs_command_line():
    parsed = storage.parse_storage_options(
        [
            "endpoint_url=http://127.0.0.1:9000",
            "anon=true",
            "use_ssl=False",
            "max_concurrency=4",
            "timeout=2.5",
            "token=none",
            "key=a=b",
        ]
    )
    assert parsed == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": True,
        "use_ssl": False,
        "max_concurrency": 4,
        "timeout": 2.5,
        "token": None,
        "key": "a=b",
    }


@pytest.mark.parametrize("pair", [SECRET, f"={SECRET}", f" ={SECRET}"])
def test_a_malformed_storage_option_is_one_line_without_its_value(pair):
    with pytest.raises(storage.UsageError) as caught:
        storage.parse_storage_options([pair])
    assert str(caught.value) == "--storage-option: expected KEY=VALUE (for example endpoint_url=http://host:9000)"


def test_storage_options_file(tmp_path):
    path = tmp_path / "store.yaml"
    path.write_text(f"storage_options:\n  endpoint_url: http://127.0.0.1:9000\n  secret: {SECRET}\n  anon: false\n")
    assert storage.load_storage_options(path) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "secret": SECRET,
        "anon": False,
    }
    path.write_text(f"storage_options: [{SECRET}]\n")
    with pytest.raises(storage.UsageError, match=r"store.yaml: storage_options: expected a mapping") as caught:
        storage.load_storage_options(path)
    assert SECRET not in str(caught.value)
    path.write_text(f"storage_options: {{secret: '{SECRET}\n")
    with pytest.raises(storage.UsageError) as caught:
        storage.load_storage_options(path)
    assert str(caught.value) == f"{path}: not valid YAML"


def test_a_missing_storage_options_file_is_one_line(tmp_path):
    with pytest.raises(storage.UsageError) as caught:
        storage.load_storage_options(tmp_path / "none.yaml")
    assert str(caught.value) == f"{tmp_path / 'none.yaml'}: cannot read (No such file or directory)"


def test_what_may_cross_a_network_leaves_out_every_credential_at_any_depth():
    options = {
        "key": "k",
        "secret": SECRET,
        "token": "t",
        "api_key": "a",
        "password": "p",
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": False,
        "keyfile_dir": "/k",
        "client_kwargs": {"region_name": "eu-west-1", "aws_secret_access_key": SECRET, "aws_session_token": "t"},
    }
    assert storage.without_secrets(options) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": False,
        "keyfile_dir": "/k",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
