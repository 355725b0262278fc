"""Storage options: ``--storage-option key=value``, a ``storage_options:`` file, and what of them may
cross a network."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError

# connection_string: an Azure connection string holds the account key or a SAS token
_SECRET = re.compile(r"secret|token|password|passwd|credential|sas|signature|connection_str|(^|_)key$", re.IGNORECASE)


def without_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """The options minus those that look like credentials (``key``, ``secret``, ``token``...), nested
    mappings included: what may cross a network to workers that take credentials from their own
    environment."""
    return {
        name: without_secrets(value) if isinstance(value, dict) else value
        for name, value in options.items()
        if not _SECRET.search(name)
    }


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


def load_storage_options(path: str | os.PathLike[str]) -> dict[str, Any]:
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
