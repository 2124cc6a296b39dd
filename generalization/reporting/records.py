"""Typed JSON records: dataclasses whose fields define a file format, read and written here.

A record class is a dataclass whose field types say what each JSON value is:

    int, float, bool, str          an integer, a number, true or false, a string
    list[X], dict[str, X]          a list / an object of such values
    X | None (no default)          required, and may be null
    X | None = None                optional: absent (or null) reads as None, None is not written
                                   (the union holds one type besides None)
    another record class           an object of that record
    Annotated[X, Leaf(...)]        X, and the leaf's own test (a range, a split, ...)

`read(cls, data)` checks the data against the types and stops at the first problem with an
`Invalid` (`generalization.settings`) whose key is a path such as
`runs[0].lengths[3].exact_match`; a record may add its own `check(key)` for rules across
fields (one value per seed). `plain(record)` is the
inverse. Readers ignore keys the record does not declare, so a writer may add keys within a
schema version.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, TypeVar, Union

from generalization import settings
from generalization.settings import Invalid, is_int, is_number

R = TypeVar("R")


@dataclass(frozen=True)
class Leaf:
    """A value's own test beyond its type, and what it should be, in words."""

    description: str
    test: Callable[[Any], bool]


def invalid(key: str, reason: str) -> Invalid:
    """A violation of a record's format at a key path such as `runs[0].lengths[2].exact_match`."""
    return Invalid(reason, key=key)


def show(value: Any) -> str:
    """A short rendering of an offending value for a one-line message."""
    return settings.show(value, limit=40)


_SCALARS: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    int: ("an integer", is_int),
    float: ("a number", is_number),
    bool: ("true or false", lambda value: isinstance(value, bool)),
    str: ("a string", lambda value: isinstance(value, str)),
    Any: ("anything", lambda value: True),
}


def read(cls: type[R], data: Any, key: str = "") -> R:
    """The record `cls` from plain data, checked (module docstring)."""
    return _read(data, cls, key)


def plain(value: Any) -> Any:
    """A record (or list or dict of them) as plain JSON data, optional None fields left out."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if item is None and field.default is None:
                continue
            out[field.name] = plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {name: plain(item) for name, item in value.items()}
    return value


def _read(value: Any, hint: Any, key: str) -> Any:
    where = key or "(top level)"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        inner, leaf = args[0], args[1]
        if not leaf.test(value):
            raise invalid(where, f"expected {leaf.description}, got {show(value)}")
        return _read(value, inner, key)
    if origin in (Union, types.UnionType):
        inner, = [arg for arg in args if arg is not type(None)]   # one type, or None
        if value is None:
            return None
        try:
            return _read(value, inner, key)
        except Invalid as problem:
            if problem.key != where:   # a problem inside the value speaks for itself
                raise
            raise invalid(where, f"expected {_describe(inner)} or null, got {show(value)}")
    if dataclasses.is_dataclass(hint):
        return _read_record(value, hint, key)
    if origin is list:
        if not isinstance(value, list):
            raise invalid(where, f"expected a list, got {show(value)}")
        return [_read(item, args[0] if args else Any, f"{key}[{index}]")
                for index, item in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise invalid(where, f"expected an object, got {show(value)}")
        inner = args[1] if args else Any
        return {name: _read(item, inner, f"{key}.{name}" if key else name)
                for name, item in value.items()}
    description, test = _SCALARS[hint]
    if not test(value):
        raise invalid(where, f"expected {description}, got {show(value)}")
    return value


def _read_record(value: Any, cls: type, key: str) -> Any:
    if not isinstance(value, dict):
        raise invalid(key or "(top level)", f"expected an object, got {show(value)}")
    hints = _hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        inner_key = f"{key}.{field.name}" if key else field.name
        if field.name not in value:
            if field.default is dataclasses.MISSING:
                raise invalid(inner_key, "missing")
            continue
        values[field.name] = _read(value[field.name], hints[field.name], inner_key)
    try:
        record = cls(**values)
    except ValueError as error:   # a record whose fields check themselves (`settings.Checked`)
        raise invalid(key or "(top level)", str(error)) from None
    check = getattr(record, "check", None)
    if check is not None:
        check(key)
    return record


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _describe(hint: Any) -> str:
    """What a value of type `hint` should be, in words ("a number")."""
    if typing.get_origin(hint) is Annotated:
        return typing.get_args(hint)[1].description
    if hint in _SCALARS:
        return _SCALARS[hint][0]
    return "a list" if typing.get_origin(hint) is list else "an object"
