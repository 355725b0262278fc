"""Checks shared by the parser and ``Recipe.with_overrides``, and how error messages quote values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_COPIES = 10_000

Fail = Callable[[str], Exception]  # message -> the error to raise, located by the caller


def check_seed(value: Any, fail: Fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**64:
        raise fail(f"must be a whole number from 0 to 2**64-1, got {show(value)}")
    return value


def check_copies(value: Any, fail: Fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COPIES:
        raise fail(f"must be a whole number from 0 to {MAX_COPIES}, got {show(value)}")
    return value


def check_name_suffix(value: Any, fail: Fail) -> str:
    """The end of a file name before its extension (``_leftImg8bit``): text without slashes."""
    if not isinstance(value, str) or "/" in value or "\\" in value:
        raise fail(f"must be text without slashes, got {show(value)}")
    return value


def check_split_file(value: Any, fail: Fail) -> str:
    from pathlib import PurePath  # only recipes with a split file need it

    if not isinstance(value, str) or not value.strip():
        raise fail(f"must be a file of keys, relative to IN, got {show(value)}")
    if PurePath(value).is_absolute() or ".." in PurePath(value).parts:
        raise fail(f"must be a file inside IN (no absolute path, no '..'), got {show(value)}")
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show(value: Any, limit: int = 60) -> str:
    """A value as the message quotes it, cut short: a hostile alias fan-out can be gigabytes long,
    so only its first few levels and items are ever rendered (``repr`` of it all would never end)."""
    import reprlib  # only an error needs it

    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxset = 3, 4, 4, 4
    short.maxstring = short.maxlong = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def kind_of(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(type(value), repr(value))
