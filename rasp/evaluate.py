"""Batched evaluation of the computation graph on inputs: the semantics of s-ops.

Inputs are grouped by length (and element type); each group of B inputs of
length N is evaluated at once, node by node in topological order:

* an s-op is an array `[B, N]` of int64, float64, bool or str, or a
  `rasp.mixed.Mixed` where its numbers are ints at some positions and floats
  at others;
* a selector is a boolean array `[B, N, N]`, entry [b, q, k] = `keys[b, k] op queries[b, q]`;
* `aggregate` at query q: no selected key gives the default; exactly one gives
  that key's value (any type, an int stays an int); several give the mean, a
  float, which needs numbers (booleans are not numbers here, as in the original);
* `selector_width` counts the selected keys per query.

Grouping does not pad and every element has its own type, so the result for
an input never depends on the other inputs in its batch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from rasp import graph, limits, mixed, ops
from rasp.errors import RaspTypeError, RaspValueError, with_article
from rasp.mixed import Array

Atom = int | float | str | bool
Input = Sequence[Atom]


def run(node: graph.Node, inputs: Iterable[Input],
        max_length: int = limits.MAX_INPUT_LENGTH) -> list[Any]:
    """Evaluate an s-op (list of values per input) or selector (matrix per input); inputs
    longer than `max_length` tokens are refused before anything is evaluated (`limits`)."""
    rows, types = [], []
    for tokens in inputs:
        row, element_type = checked_input(tokens)
        if len(row) > max_length:
            raise RaspValueError(f"an input of {len(row):,} tokens is longer than the "
                                 f"{max_length:,} the interpreter evaluates",
                                 hint="raise the limit: `rasp run --max-input-len N`, or "
                                      "Program.run(..., max_length=N)")
        rows.append(row)
        types.append(element_type)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (row, element_type) in enumerate(zip(rows, types)):
        groups[(len(row), element_type)].append(i)
    results: list[Any] = [None] * len(rows)
    for (length, _), group in groups.items():
        # Selectors are [rows, length, length]: fewer rows at a time for long inputs.
        size = max(1, min(_CHUNK, limits.CELLS_PER_CHUNK // max(1, length * length)))
        for start in range(0, len(group), size):
            chunk = group[start:start + size]
            values = evaluate_group(node, [rows[i] for i in chunk])
            for i, value in zip(chunk, values.tolist()):
                results[i] = value
    return results


# Inputs evaluated together: small enough that a chunk's selectors stay in cache.
_CHUNK = 128


_ELEMENT_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


def normalise_input(tokens: Any) -> list[Atom]:
    """An input as a list of atoms: a string stands for its characters."""
    return list(checked_input(tokens)[0])


def checked_input(tokens: Any) -> tuple[Sequence[Atom], str | None]:
    """An input as a sequence of atoms of one element type (ints and floats mix as floats).

    A string is kept whole: it stands for its characters, and stays a string so
    that a batch of them converts to an array quickly.
    """
    if isinstance(tokens, str):
        return tokens, "str"
    if isinstance(tokens, np.ndarray):
        tokens = tokens.tolist()
    if not isinstance(tokens, (list, tuple)):
        raise RaspValueError(f"an input must be a string or a list of tokens, got {tokens!r}")
    python_types = set(map(type, tokens))
    if len(python_types) == 1 and (only := _ELEMENT_TYPES.get(next(iter(python_types)))):
        return list(tokens), only   # the usual input, checked at once
    if not python_types <= _ELEMENT_TYPES.keys():
        bad = next(t for t in tokens if type(t) not in _ELEMENT_TYPES)
        raise RaspValueError(f"input tokens must be numbers, strings or booleans, "
                             f"got {bad!r} in {_show(tokens)}")
    types = {_ELEMENT_TYPES[t] for t in python_types}
    if types == {"int", "float"}:
        types = {"float"}
    if len(types) > 1:
        raise RaspValueError(f"an input cannot mix token types ({', '.join(sorted(types))}): "
                             f"{_show(tokens)}")
    return list(tokens), (types.pop() if types else None)


def evaluate_group(root: graph.Node, rows: list[list[Atom]]) -> Array:
    """Evaluate one node on inputs of equal length; returns its array."""
    return evaluate_nodes([root], rows)[root.id]


def evaluate_nodes(roots: list[graph.Node], rows: list[list[Atom]]) -> dict[int, Array]:
    """Arrays for every node the roots depend on, keyed by node id.

    An s-op whose numbers are ints at some positions and floats at others is a
    `rasp.mixed.Mixed`: it indexes like an array and `tolist()` gives Python values.
    """
    batch = _Batch(rows)
    values: dict[int, Array] = {}
    for node in graph.topological_order(roots):
        args = [values[child.id] for child in node.children]
        values[node.id] = batch.evaluate(node, args)
    return values


def elementwise(node: graph.Map | graph.InList, args: list[Array]) -> Array:
    """A map or membership node on its children's arrays (of any shape, 0-d included): the
    one rule for both, which the compiler's value tables use too."""
    if isinstance(node, graph.InList):
        return ops.is_in(args[0], list(node.items))
    return ops.apply(node.op, *args)


class _Batch:
    """B inputs of length N and the rules that evaluate each node kind on them."""

    def __init__(self, rows: list[list[Atom]]):
        self.rows = rows
        self.shape = (len(rows), len(rows[0]) if rows else 0)
        self._base: np.ndarray | None = None

    def evaluate(self, node: graph.Node, args: list[Array]) -> Array:
        try:
            return self._evaluate(node, args)
        except ops.OpError as error:
            row = self._failing_row(node, args)
            raise error.rasp_error(f"{error} in `{node.name()}`{self._on_input(row)}",
                                   node.span) from None

    def _evaluate(self, node: graph.Node, args: list[Array]) -> Array:
        if isinstance(node, graph.Tokens):
            return self._tokens(node)
        if isinstance(node, graph.Indices):
            return np.broadcast_to(np.arange(self.shape[1], dtype=np.int64), self.shape)
        if isinstance(node, graph.Length):
            return np.full(self.shape, self.shape[1], dtype=np.int64)
        if isinstance(node, graph.Constant):
            return np.broadcast_to(ops.as_array(node.value), self.shape)
        if isinstance(node, (graph.Map, graph.InList)):
            return elementwise(node, args)
        if isinstance(node, graph.Hint):
            return args[0]
        if isinstance(node, graph.Select):
            keys, queries = args
            return _compared(node.op, keys[:, None, :], queries[:, :, None])
        if isinstance(node, graph.SelectAnd):
            return args[0] & args[1]
        if isinstance(node, graph.SelectOr):
            return args[0] | args[1]
        if isinstance(node, graph.SelectNot):
            return ~args[0]
        if isinstance(node, graph.SelectorWidth):
            return _widths(args[0])
        if isinstance(node, graph.Aggregate):
            return self._aggregate(node, *args)
        raise TypeError(f"unknown graph node {node!r}")

    def _tokens(self, node: graph.Tokens) -> np.ndarray:
        """The input converted as `str()`, `int()`, `float()`, `bool()` would, or as is."""
        if self._base is None:
            self._base = _token_array(self.rows, self.shape)
        try:
            return convert_tokens(self._base, node.conversion)
        except (TypeError, ValueError, OverflowError):
            rows = [i for i, row in enumerate(self.rows) if not _converts(row, node.conversion)]
            raise RaspValueError(f"`tokens_{node.conversion}` cannot convert the tokens"
                                 f"{self._on_input(rows[0] if rows else None)}",
                                 node.span) from None

    def _aggregate(self, node: graph.Aggregate, selector: np.ndarray, values: Array) -> Array:
        if not self.shape[1]:
            return values
        counts = _widths(selector)
        result = self._selected(node, selector, values, counts)
        empty = counts == 0
        if not empty.any():
            return result
        default = ops.as_array(node.default)
        try:
            return ops.apply("if", empty, default, result)
        except ops.OpError:
            row = int(np.argwhere(empty)[0][0])
            raise RaspTypeError(
                f"`{node.name()}` selects nothing at some position and its default "
                f"{node.default!r} is not {with_article(ops.element_type(values))} like its "
                f"values{self._on_input(row)}", node.span,
                hint="give aggregate a default of the same type, e.g. aggregate(sel, seq, \"-\")"
            ) from None

    def _selected(self, node: graph.Aggregate, selector: np.ndarray, values: Array,
                  counts: np.ndarray) -> Array:
        """At each query, the one selected value (any type) or the mean of several (a float).

        Where nothing is selected the value is meaningless: the caller puts the default there.
        """
        several = counts > 1
        if not several.any():
            return mixed.take(values, selector.argmax(axis=-1))
        if not (isinstance(values, mixed.Mixed) or values.dtype.kind in "if"):
            row, query = np.argwhere(several)[0]
            raise RaspValueError(
                f"`{node.name()}` asked to average multiple values, but they are "
                f"non-numbers ({ops.element_type(values)}): query position {query} selects "
                f"{counts[row, query]} positions{self._on_input(row)}", node.span,
                hint="make the selector pick at most one position, or aggregate numbers")
        if isinstance(values, np.ndarray) and values.dtype.kind == "i" and \
                not any(values.strides) and abs(int(values.flat[0])) * self.shape[1] <= 2 ** 53:
            # One int v everywhere (a constant, as in has_focus): the sum is count * v, exact,
            # so the result below is the same without the [B, N, N] product.
            sums = counts * values.flat[0]
            return mixed.combine(sums, sums / np.maximum(counts, 1), ~several)
        numbers = mixed.float_view(values).astype(np.float64)
        sums = np.matmul(selector.astype(np.float64), numbers[..., None])[..., 0]
        means = sums / np.maximum(counts, 1)
        if mixed.kinds(values) == {"f"}:
            return means  # a float selected alone is its own mean
        # An int selected alone stays an int (and as a float it is its own mean).
        if isinstance(values, np.ndarray) and _exact_as_floats(values):
            return mixed.combine(sums.astype(np.int64), means, ~several)
        single = mixed.take(values, selector.argmax(axis=-1))
        return mixed.combine(mixed.int_view(single), means, ~several & mixed.int_mask(single))

    def _failing_row(self, node: graph.Node, args: list[Array]) -> int | None:
        """The first input on which the node fails on its own, to name it in the error."""
        for row in range(self.shape[0]):
            try:
                _Batch([self.rows[row]])._evaluate(node, [a[row:row + 1] for a in args])
            except (ops.OpError, RaspValueError, RaspTypeError):
                return row
        return None

    def _on_input(self, row: int | None) -> str:
        if row is None or not self.rows:
            return ""
        return f" (on input {_show(self.rows[int(row)])})"


def _compared(op: str, keys: Array, queries: Array) -> Array:
    """The selector [B, N, N] of `keys` [B, 1, N] compared with `queries` [B, N, 1].

    Computed only along the axes on which one of them varies, then broadcast (a read-only
    view): a selector of indices alone is the same for every input, one of keys against a
    constant the same for every query. The values are those of the whole comparison.
    """
    if not (isinstance(keys, np.ndarray) and isinstance(queries, np.ndarray)):
        return ops.apply(op, keys, queries)
    shape = np.broadcast_shapes(keys.shape, queries.shape)
    keys, queries = _varying(keys), _varying(queries)
    if np.prod(shape) >= _NARROW_CELLS:
        keys, queries = _narrowed(keys, queries)
    result = ops.apply(op, keys, queries)
    return result if result.shape == shape else np.broadcast_to(result, shape)


# A broadcast comparison runs an inner loop per query row, faster the narrower its ints (more
# of them per instruction: int8 about 3x int64 at N = 50); narrowing costs a pass over the
# [B, N] operands, which pays from about this many selector cells on.
_NARROW_CELLS = 1 << 15


def _narrowed(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both in the narrowest int type that holds the values of both (strings as their codes,
    ordered as the strings), when both are ints; else as they are. Comparisons are unchanged."""
    if keys.dtype.kind == "U" and queries.dtype.kind == "U":
        keys, queries = ops.string_codes(keys, queries)
    if keys.dtype.kind not in "iu" or queries.dtype.kind not in "iu" or \
            not keys.size or not queries.size:
        return keys, queries
    low = min(int(keys.min()), int(queries.min()))
    high = max(int(keys.max()), int(queries.max()))
    for narrow in (np.int8, np.int16, np.int32):
        if np.iinfo(narrow).min <= low and high <= np.iinfo(narrow).max:
            return keys.astype(narrow), queries.astype(narrow)
    return keys, queries


def _varying(array: np.ndarray) -> np.ndarray:
    """The array less the axes along which it repeats one value (a zero stride), kept at 1."""
    return array[tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None)
                       for stride, size in zip(array.strides, array.shape))]


def _widths(selector: np.ndarray) -> np.ndarray:
    """The number of keys each query selects.

    A float32 product counts exactly (up to 2**24 keys) and is several times faster
    than numpy's sum over a short last axis.
    """
    ones = np.ones(selector.shape[-1], dtype=np.float32)
    return np.matmul(selector.astype(np.float32), ones).astype(np.int64)


def _exact_as_floats(ints: np.ndarray) -> bool:
    """Whether float sums of the ints are exact, so that one int's sum is the int itself."""
    return -2 ** 53 <= ints.min() and ints.max() <= 2 ** 53


def _token_array(rows: list, shape: tuple[int, int]) -> np.ndarray:
    if shape[1] and all(isinstance(row, str) for row in rows):
        # Strings of equal length become one character per position without a Python loop.
        return np.array(rows, dtype=f"<U{shape[1]}").view("<U1").reshape(shape)
    width = _string_width(rows) if shape[1] else None
    if width:
        # Lists of strings all `width` long: joined, each row is one string of N * width
        # characters, which numpy converts ten times faster than a list of N strings.
        joined = np.array(["".join(row) for row in rows], dtype=f"<U{shape[1] * width}")
        return joined.view(f"<U{width}").reshape(shape)
    base = np.array([list(row) for row in rows]).reshape(shape)
    # numpy keeps ints beyond int64 as uint64, objects or (beside small ints) floats.
    if base.dtype.kind in "uO" or (base.dtype.kind == "f" and np.any(np.abs(base) >= 2.0 ** 63)):
        _refuse_big_ints(rows)
    return base


def _string_width(rows: list) -> int | None:
    """The length of every token when all are strings of one non-zero length, else None."""
    widths: set[int] = set()
    for row in rows:
        try:
            widths.update(map(len, row))
        except TypeError:   # numbers or booleans
            return None
        if len(widths) > 1:
            return None
    return widths.pop() or None   # empty strings: the general path


def _refuse_big_ints(rows: list) -> None:
    """Ints are 64-bit here, where the original's were unbounded: refuse larger ones."""
    for row in rows:
        for token in row:
            if type(token) is int and not ops.INT_MIN <= token <= ops.INT_MAX:
                raise RaspValueError(f"input token {token} is beyond the 64-bit range of ints, "
                                     f"in {_show(row)}")


def convert_tokens(base: np.ndarray, conversion: str) -> np.ndarray:
    """Tokens as `str()`, `int()`, `float()`, `bool()` would convert them, or as they are.

    Raises TypeError/ValueError/OverflowError when a token does not convert.
    """
    if conversion == "asis":
        return base
    if conversion == "bool":
        return truthy_tokens(base)
    if conversion == "int" and base.dtype.kind == "f":
        _check_float_to_int(base)
    return base.astype({"str": str, "int": np.int64, "float": np.float64}[conversion])


def _check_float_to_int(floats: np.ndarray) -> None:
    """Raise as Python's `int()` would, or where the int needs more than 64 bits."""
    if not np.all(np.isfinite(floats)):
        raise ValueError("cannot convert an infinite or undefined number to an int")
    if np.any(np.abs(np.trunc(floats)) >= 2.0 ** 63):
        raise OverflowError("an int beyond 64 bits")


def truthy_tokens(base: np.ndarray) -> np.ndarray:
    """`bool()` of each token: strings are true when non-empty, numbers when non-zero."""
    if base.dtype.kind == "U":
        return np.char.str_len(base) > 0
    return base.astype(bool)


def _converts(row: list[Atom], conversion: str) -> bool:
    try:
        convert_tokens(_token_array([row], (1, len(row))), conversion)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _show(tokens: Sequence[Atom]) -> str:
    if all(isinstance(t, str) and len(t) == 1 for t in tokens):
        return '"' + "".join(tokens) + '"'
    return "[" + ", ".join(repr(t) if isinstance(t, str) else str(t) for t in tokens) + "]"
