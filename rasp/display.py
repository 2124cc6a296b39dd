"""How RASP values are shown to a person, following the original RASP REPL.

Guarantees:

* a sequence is `[o, l, l, e, h] (strings)`: atoms unquoted, floats rounded to
  3 decimals, booleans `T`/`F`, then the element type in words (`ints`,
  `floats`, `strings`, `bools`; ints mixed with floats count as `floats`);
  a sequence longer than 1 whose values are all equal is shortened to
  `[0.333]*3 (floats)` unless `full` is asked for;
* a selector is a query-by-key matrix: the input tokens along the top (one
  column per key) and down the side (one row per query), `1` where the query
  selects the key and `0` elsewhere;
* a plain value is written as a RASP literal (`"abc"`, `[1, 2.5, True]`,
  `{"a": 1}`), a function as `function: name(a, b)`;
* a computation graph is an indented text tree, one node per line with its
  value on the example input, each shared node expanded only once.

Everything here is pure formatting: values come in already evaluated.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from rasp import graph
from rasp.interpreter import Builtin, Function, SelectorValue, SequenceValue

INDENT = "  "


def format_atom(value: Any) -> str:
    """One element of a sequence or selector header: unquoted, floats rounded, T/F."""
    value = _plain(value)
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return str(round(value, 3))
    return str(value)


def type_word(values: Sequence[Any]) -> str:
    """The element type of a sequence in the original's words: ints, floats, strings, bools."""
    types = {type(_plain(v)) for v in values}
    if types == {bool}:
        return "bools"
    if types == {str}:
        return "strings"
    if types == {int}:
        return "ints"
    if types <= {int, float}:
        return "floats"
    return "mixed"


def format_sequence(values: Sequence[Any], full: bool = False, suffix: bool = True) -> str:
    """`[o, l, l, e, h] (strings)`; equal values shortened to `[x]*n` unless `full`."""
    values = list(values)
    if not values:
        return "[] (empty)" if suffix else "[]"
    atoms = [format_atom(v) for v in values]
    if not full and len(atoms) > 1 and len(set(atoms)) == 1:
        body = f"[{atoms[0]}]*{len(atoms)}"
    else:
        body = "[" + ", ".join(atoms) + "]"
    return f"{body} ({type_word(values)})" if suffix else body


def format_selector(matrix: Sequence[Sequence[Any]], tokens: Sequence[Any]) -> str:
    """A query-by-key matrix, keys along the top and queries down the side."""
    labels = [format_atom(t) for t in tokens]
    if not labels:
        return "(empty selector)"
    width = max(len(label) for label in labels)
    header = " " * (width + 3) + " ".join(label.rjust(width) for label in labels)
    rows = [label.rjust(width) + " | " +
            " ".join(("1" if selected else "0").rjust(width) for selected in row)
            for label, row in zip(labels, matrix)]
    return "\n".join([header.rstrip()] + rows)


def format_input(tokens: Sequence[Any]) -> str:
    """An input as the RASP literal that gives it: `"hello"` for characters, else a list."""
    tokens = [_plain(t) for t in tokens]
    if tokens and all(isinstance(t, str) and len(t) == 1 and t != '"' for t in tokens):
        return '"' + "".join(tokens) + '"'
    return format_value(tokens)


def format_value(value: Any, full: bool = False) -> str:
    """Any RASP value on one line (a selector evaluated on an input takes several)."""
    value = _plain(value)
    if isinstance(value, (Function, Builtin)):
        return f"function: {value.signature()}"
    if isinstance(value, SequenceValue):
        return format_sequence(value.values, full)
    if isinstance(value, SelectorValue):
        return format_selector(value.matrix, value.input)
    if isinstance(value, graph.Node):
        kind = "selector" if value.is_selector else "s-op"
        return f"<{kind} {value.name()}>"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, full) for v in value) + "]"
    if isinstance(value, tuple):  # the results of a function returning several values
        return "(" + ", ".join(format_value(v, full) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(v, full)}"
                               for k, v in value.items()) + "}"
    return repr(value)


def format_graph(root: graph.Node, values: Mapping[int, Any], tokens: Sequence[Any],
                 full: bool = False) -> str:
    """The graph under `root` as an indented tree, each node with its value on
    `tokens`; `values` maps node ids to those values (a list for an s-op, a
    matrix for a selector)."""
    lines: list[str] = []
    shown: set[int] = set()
    # Iterative, since unrolled loops can make graphs deeper than Python's recursion limit.
    stack: list[tuple[graph.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        pad = INDENT * depth
        title = _node_title(node)
        if isinstance(node, graph.Constant):
            lines.append(pad + title)
            continue
        if node.id in shown and node.children:
            lines.append(f"{pad}{title}  (shown above)")
            continue
        shown.add(node.id)
        if node.is_selector:
            lines.append(pad + title)
            lines.extend(pad + INDENT * 2 + row
                         for row in format_selector(values[node.id], tokens).splitlines())
        else:
            lines.append(f"{pad}{title} = {format_sequence(values[node.id], full)}")
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return "\n".join(lines)


def _node_title(node: graph.Node) -> str:
    description = node.describe()
    kind = "selector" if node.is_selector else "s-op"
    if isinstance(node, graph.Constant):
        return f"constant {description}"
    if node.label and node.label != description:
        return f"{kind} {node.label}: {description}"
    return f"{kind} {description}"


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so formatting never depends on where a value came from."""
    return value.item() if isinstance(value, np.generic) else value
