"""The one exception family for every mistake a user can make in RASP.

A `RaspError` carries the span it is about and renders as::

    file:line:col: message
        the source line
        ^^^^^^^^
    hint: did you mean `selector_width`?

`str(error)` is the first line alone, so command-line tools can print one
located line; `error.render()` adds the source excerpt and the hint.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Optional

from rasp.ast import NO_SPAN, Span


class RaspError(Exception):
    """A located error in a RASP program or its use."""

    kind = "error"

    def __init__(self, message: str, span: Optional[Span] = None, hint: Optional[str] = None,
                 source: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.span = span if span is not None else NO_SPAN
        self.hint = hint
        self.source = source

    def located(self) -> str:
        if self.span is NO_SPAN or self.span.line == 0:
            place = self.span.file if self.span.file != NO_SPAN.file else None
        else:
            place = str(self.span)
        return f"{place}: {self.message}" if place else self.message

    def __str__(self) -> str:
        line = self.located()
        return f"{line} (hint: {self.hint})" if self.hint else line

    def render(self) -> str:
        """The located message, the offending source line underlined, and the hint."""
        lines = [f"{self.located()}"]
        text = _source_line(self.source, self.span)
        if text is not None:
            start = self.span.column - 1
            end = self.span.end_column - 1 if self.span.end_line == self.span.line else len(text)
            width = max(1, end - start)
            lines.append("    " + text)
            lines.append("    " + " " * start + "^" * width)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def with_source(self, source: str) -> "RaspError":
        if self.source is None:
            self.source = source
        return self


class RaspSyntaxError(RaspError):
    kind = "syntax error"


class RaspNameError(RaspError):
    kind = "name error"


class RaspTypeError(RaspError):
    kind = "type error"


class RaspValueError(RaspError):
    kind = "value error"


def _source_line(source: Optional[str], span: Span) -> Optional[str]:
    if source is None or span.line <= 0:
        return None
    lines = source.splitlines()
    if span.line > len(lines):
        return None
    return lines[span.line - 1].expandtabs(1)


def with_article(noun: str) -> str:
    """`a str`, `an int`: the article chosen by the first letter, right for type names."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def did_you_mean(name: str, candidates: Iterable[str]) -> Optional[str]:
    """A hint naming the closest known name, if one is close enough."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{matches[0]}`?" if matches else None
