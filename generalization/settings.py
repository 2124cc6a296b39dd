"""Declarative settings: every constraint stated once, beside the field it constrains.

A section of a config (the training settings, a model's shape, a sampler's options, ...) is a
frozen dataclass deriving from `Checked`, whose fields are `setting(default, rule)`. A rule
takes the value as given (in Python, or as TOML writes it) and returns the field's value
(a list becomes a tuple, an int a float where a number is wanted) or raises `Invalid` saying
what is wrong. Rules that relate several fields go in the class's `cross_check`:

    @dataclass(frozen=True)
    class Training(Checked):
        steps: int = setting(2000, positive_int)
        warmup_steps: int = setting(100, non_negative_int)

        def cross_check(self) -> None:
            if self.warmup_steps >= self.steps:
                raise Invalid(f"must be less than steps ({self.steps})", key="warmup_steps")

Constructing the dataclass applies the rules, so a config built in Python obeys exactly what a
file does (`Training(steps=0)` raises `Invalid`, a `ValueError`). A file is read through a
`Table`, whose `build(Training)` rejects unknown and missing keys and turns an `Invalid` into
a `ConfigError` naming the file, the section and the key:

    exp.toml: [training] steps: must be a positive integer, got -3

This module imports no JAX (nor anything that does), so checking a config is quick.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

from rasp.ast import Span
from rasp.errors import RaspError, did_you_mean

Rule = Callable[[Any], Any]
C = TypeVar("C", bound="Checked")


class ConfigError(RaspError):
    """A rejected config or sweep file; `section` and `key` say where (None for the whole file)."""

    kind = "config error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 section: str | None = None, key: str | None = None):
        super().__init__(message, span, hint)
        self.section = section
        self.key = key


class Invalid(ValueError):
    """A value that a rule refuses: the problem, a hint, and where once known (the key within
    its section, and `section` when a rule speaks for a sub-table such as `task.sampler`)."""

    def __init__(self, problem: str, hint: str | None = None, key: str | None = None,
                 section: str | None = None):
        super().__init__(problem)
        self.problem, self.hint, self.key, self.section = problem, hint, key, section
        self.owner: str | None = None     # the dataclass it was raised for, in Python

    def at(self, key: str, owner: str | None = None) -> Invalid:
        """This error, placed at `key` unless a rule placed it already."""
        self.key = self.key or key
        self.owner = self.owner or owner
        return self

    def __str__(self) -> str:
        place = f"{self.owner}.{self.key} " if self.owner and self.key else \
            f"{self.key}: " if self.key else ""
        return place + self.problem + (f" (hint: {self.hint})" if self.hint else "")


_REQUIRED = dataclasses.MISSING


def setting(default: Any = _REQUIRED, rule: Rule | None = None, init: bool = True) -> Any:
    """A dataclass field whose values `rule` checks (no default: the setting is required)."""
    return dataclasses.field(default=default, init=init, metadata={"rule": rule})


class Checked:
    """Base of the frozen dataclasses whose fields are settings (module docstring)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):   # type: ignore[arg-type]
            rule = field.metadata.get("rule")
            if rule is None:
                continue
            try:
                value = rule(getattr(self, field.name))
            except Invalid as invalid:
                raise invalid.at(field.name, type(self).__name__) from None
            object.__setattr__(self, field.name, value)
        try:
            self.cross_check()
        except Invalid as invalid:
            invalid.owner = invalid.owner or type(self).__name__
            raise

    def cross_check(self) -> None:
        """The rules that relate several fields; raise `Invalid` with the key at fault."""

    @classmethod
    def keys(cls) -> list[str]:
        """The settings a table of this section may give, in declaration order."""
        return [field.name for field in dataclasses.fields(cls) if field.init]  # type: ignore

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain data (tuples as lists), in declaration order."""
        return {key: plain(getattr(self, key)) for key in self.keys()}


def plain(value: Any) -> Any:
    """`value` as JSON or TOML would hold it: tuples as lists, sections as dicts."""
    if isinstance(value, Checked):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


class Table:
    """One table of a TOML file being read: lookups checked by rules, then unknown keys
    rejected; every error a `ConfigError` naming the file, this table and the key."""

    def __init__(self, source: str, section: str | None, data: Mapping[str, Any]):
        self.source, self.section, self.data = source, section, data
        self.known: list[str] = []

    def get(self, key: str, default: Any = _REQUIRED, rule: Rule | None = None) -> Any:
        """The checked value of `key`, or `default` when absent (required when no default)."""
        self.known.append(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.missing(key, table=rule is table)
            return default
        try:
            return rule(self.data[key]) if rule else self.data[key]
        except Invalid as invalid:
            raise self.error(invalid.key or key, invalid.problem, invalid.hint,
                             invalid.section) from None

    def sub(self, key: str, default: Any = _REQUIRED) -> Table:
        """The sub-table at `key` (`[section.key]`), checked to be a table."""
        name = f"{self.section}.{key}" if self.section else key
        return Table(self.source, name, self.get(key, default, table))

    def build(self, cls: type[C], given: Mapping[str, Any] | None = None,
              defaults: Mapping[str, Any] | None = None) -> C:
        """The section `cls` from this table: its keys are cls's settings less those `given`
        by the caller (the table may not set them); `defaults` replace cls's own defaults."""
        given = dict(given or {})
        keys = [key for key in cls.keys() if key not in given]
        self.known.extend(keys)
        self.finish()
        fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore
        values = {**(defaults or {}), **{k: v for k, v in self.data.items()}, **given}
        for key in keys:
            if key not in values and fields[key].default is _REQUIRED:
                raise self.missing(key)
        try:
            return cls(**values)
        except Invalid as invalid:
            raise self.error(invalid.key, invalid.problem, invalid.hint,
                             invalid.section) from None

    def finish(self) -> None:
        """Reject keys that no lookup asked for."""
        for key in self.data:
            if key not in self.known:
                what = "unknown section" if isinstance(self.data[key], dict) else "unknown key"
                raise self.error(key, what, did_you_mean(key, self.known) or
                                 f"{self.where()} takes: {', '.join(self.known)}")

    def missing(self, key: str, table: bool = False) -> ConfigError:
        return self.error(key, "missing", f"add a [{key}] table" if table else
                          f"add `{key} = ...` to {self.where()}")

    def error(self, key: str | None, problem: str, hint: str | None = None,
              section: str | None = None) -> ConfigError:
        """The ConfigError at `key` of this table (or of its sub-table `section`)."""
        section = section or self.section
        data = self.data if section == self.section else {}
        if isinstance(data.get(key), dict):   # a sub-table is named as its header
            place = f"[{section}.{key}]" if section else f"[{key}]"
        else:
            place = f"[{section}] {key}" if section else key
        message = f"{place}: {problem}" if place else problem
        return ConfigError(message, Span(self.source, 0, 0, 0, 0), hint, section, key)

    def where(self) -> str:
        return f"[{self.section}]" if self.section else "the top level"


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML file (a config or a sweep); `ConfigError` at file:line:col."""
    source = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: cannot read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        text = str(error)
        match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", text, re.DOTALL)
        if match is None:
            raise ConfigError(f"{source}: invalid TOML: {text}") from None
        line, column = int(match[2]), int(match[3])
        raise ConfigError(f"invalid TOML: {match[1]}",
                          Span(source, line, column, line, column + 1)) from None


# ------------------------------------------------------------------------------------ rules


def show(value: Any, limit: int | None = None) -> str:
    """A value as TOML or JSON would write it, for messages; cut to `limit` characters."""
    text = json.dumps(plain(value), default=str)
    return text if limit is None or len(text) <= limit else text[:limit - 3] + "..."


def is_int(value: Any) -> bool:
    """An int that is not a bool (`true` where a number belongs is a mistake)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or a float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(value: Any) -> dict:
    if not isinstance(value, dict):
        raise Invalid(f"must be a table, got {show(value)}")
    return value


def string(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    return value


def text(value: Any) -> str:
    """Any string, empty included."""
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {show(value)}")
    return value


def safe_name(value: Any) -> str:
    """A name that is safe in a file name: letters, digits, '_', '-' and '.'."""
    if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value):
        raise Invalid(f"must be a name of letters, digits, '_', '-' or '.', got {show(value)}",
                      hint="it names the run's files")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


# The largest count a setting may hold: the training loop counts in 32-bit integers, and no
# run of this harness needs more (a larger value is a typo, not a wish).
MAX_COUNT = 2 ** 31 - 1


def _count(value: Any) -> int:
    if value > MAX_COUNT:
        raise Invalid(f"must be at most {MAX_COUNT:,}, got {show(value)}")
    return value


def positive_int(value: Any) -> int:
    if not is_int(value) or value < 1:
        raise Invalid(f"must be a positive integer, got {show(value)}")
    return _count(value)


def non_negative_int(value: Any) -> int:
    if not is_int(value) or value < 0:
        raise Invalid(f"must be a non-negative integer, got {show(value)}")
    return _count(value)


def at_least(low: int) -> Rule:
    """An integer >= low (and at most MAX_COUNT)."""
    def rule(value: Any) -> int:
        if not is_int(value) or value < low:
            raise Invalid(f"must be >= {low}, got {show(value)}")
        return _count(value)
    return rule


def number(description: str, accept: Callable[[float], bool]) -> Rule:
    """A number (int or float, not bool) that `accept`s, as a float; `description` says which."""
    def rule(value: Any) -> float:
        if not is_number(value) or not accept(value):
            raise Invalid(f"must be {description}, got {show(value)}")
        return float(value)
    return rule


positive_number = number("a positive number", lambda x: 0 < x < float("inf"))
non_negative_number = number("a non-negative number", lambda x: 0 <= x < float("inf"))
fraction = number("a number in (0, 1]", lambda x: 0 < x <= 1)
probability = number("a probability in [0, 1]", lambda x: 0 <= x <= 1)


def one_of(options: Iterable[str]) -> Rule:
    """One of the given strings."""
    options = tuple(options)

    def rule(value: Any) -> str:
        if value not in options:
            raise Invalid(f"must be one of {', '.join(map(show, options))}, got {show(value)}",
                          hint=did_you_mean(value, options) if isinstance(value, str) else None)
        return value
    return rule


def optional(rule: Rule) -> Rule:
    """None, or what `rule` accepts."""
    return lambda value: None if value is None else rule(value)


def distinct(values: Iterable[Any], what: str, key: Callable[[Any], Any] = lambda v: v) -> None:
    """Refuse a list that names the same thing twice ("lists a seed twice: [0, 0]")."""
    seen = set()
    for value in values:
        if key(value) in seen:
            raise Invalid(f"lists {what} twice: {show(list(values))}")
        seen.add(key(value))
