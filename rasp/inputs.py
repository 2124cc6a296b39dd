"""Inputs for RASP programs, written by a person: the one place they become tokens.

An input is a RASP literal: a string `"hello"` stands for its characters, a list
`[3, -1, 4.5, "a", True]` for its elements. Literals are parsed by
`rasp.parser` and evaluated by the interpreter in a scope that knows only
`True` and `False`, so anything that is not a literal (a name, an s-op,
`1 + x`) is a located `RaspError` naming where the input came from (`origin`,
e.g. "argument 2"), with a hint when the person probably forgot the quotes.

Guarantees: every input returned is a list of atoms of one element type (ints
and floats may mix), exactly what `rasp.evaluate.run` accepts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rasp import ast, ops
from rasp.display import format_value
from rasp.errors import RaspError, RaspNameError, RaspSyntaxError, RaspValueError
from rasp.evaluate import normalise_input
from rasp.interpreter import Interpreter, Scope, input_tokens, is_atom
from rasp.parser import parse_expression


def parse_input(text: str, origin: str = "<input>", max_length: int | None = None) -> list:
    """The tokens of an input written as a RASP literal (of at most `max_length` tokens, when
    given); raise `RaspError` otherwise."""
    text = text.strip()
    try:
        expr = parse_expression(text, origin)
    except RaspSyntaxError as error:
        if error.hint is None and not text.startswith(('"', "[")):
            error.hint = f"write strings in double quotes: '\"{text}\"'"
        raise
    try:
        value = Interpreter(_literal_scope()).eval(expr)
    except RaspNameError as error:
        raise _not_a_literal(text, error) from None
    except RaspError as error:
        raise error.with_source(text) from None
    return tokens_of(value, expr.span, source=text, max_length=max_length)


def tokens_of(value: Any, span: ast.Span, source: str | None = None,
              max_length: int | None = None) -> list:
    """An evaluated input (a string or a list of atoms) as tokens; errors located at `span`:
    a token that is no atom, an int beyond 64 bits, more than `max_length` tokens."""
    if not isinstance(value, (str, list)):
        raise RaspValueError(f"an input must be a string or a list of tokens, not "
                             f"{format_value(value)}", span,
                             hint=f"write a list for a single token: '[{format_value(value)}]'"
                             if is_atom(value) else None, source=source)
    for position, token in enumerate(value if isinstance(value, list) else ()):
        if not is_atom(token):
            raise RaspValueError(f"token {position} of the input is {format_value(token)}, but "
                                 f"tokens must be numbers, strings or booleans", span,
                                 source=source)
        if type(token) is int and not ops.INT_MIN <= token <= ops.INT_MAX:
            raise RaspValueError(f"integer overflow: token {position} of the input, {token}, is "
                                 f"beyond the 64-bit range of ints", span, source=source)
    if max_length is not None and len(value) > max_length:
        raise RaspValueError(f"an input of {len(value):,} tokens is longer than the "
                             f"{max_length:,} the interpreter evaluates", span,
                             hint="raise the limit with --max-input-len N", source=source)
    try:
        return normalise_input(input_tokens(value, span))
    except RaspError as error:
        if error.span is ast.NO_SPAN:
            error.span = span
        raise error.with_source(source) if source is not None else error from None


def read_jsonl_inputs(path: str | Path, max_length: int | None = None) -> list[list]:
    """Inputs from a JSON-lines file: per non-empty line a string (its characters), a
    list of tokens, or an object whose key "input" holds one of those (each of at most
    `max_length` tokens, when given)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise RaspValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RaspValueError(f"{path}: cannot read ({error})") from None
    return [_jsonl_input(line, ast.Span(str(path), number, 1, number, len(line) + 1), max_length)
            for number, line in enumerate(lines, start=1) if line.strip()]


def _jsonl_input(line: str, span: ast.Span, max_length: int | None) -> list:
    hint = 'write "hello", ["a", "b"], [1, 2] or {"input": [1, 2]}'
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        at = ast.Span(span.file, span.line, error.colno, span.line, error.colno + 1)
        raise RaspValueError(f"not valid JSON: {error.msg}", at, hint=hint) from None
    if isinstance(value, dict):
        if "input" not in value:
            raise RaspValueError("a JSON object here needs the key \"input\"", span, hint=hint)
        value = value["input"]
    if not isinstance(value, (str, list)):
        raise RaspValueError(f"an input must be a string or a list of tokens, got "
                             f"{json.dumps(value)}", span, hint=hint)
    return tokens_of(value, span, max_length=max_length)


def _literal_scope() -> Scope:
    scope = Scope()
    scope.variables.update({"True": True, "False": False})
    return scope


def _not_a_literal(text: str, error: RaspNameError) -> RaspValueError:
    """A name where a literal belongs: most likely a string written without its quotes."""
    span = error.span
    name = text[span.column - 1:span.end_column - 1] if span.line == 1 else text
    if text.startswith("["):
        hint = "write strings in double quotes, e.g. '[\"a\", \"b\"]'"
    else:
        hint = f"write strings in double quotes: '\"{text}\"'"
    return RaspValueError(f"an input must be a string or a list literal, not the name `{name}`",
                          span, hint=hint, source=text)
