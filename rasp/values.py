"""How the language tells values apart and orders them: the one definition the packages share.

RASP values are strings, numbers (int or float) and booleans. Python's own `==` makes
`True == 1`, which RASP does not: a boolean is never a number. Two keys follow from that:

    value_key(v)    equality:  value_key(a) == value_key(b)  iff  a and b are the same RASP value
                    (True and 1 differ; 1 and 1.0 are the same number)
    value_order(v)  a total order on every value and tuple of values:
                    booleans < numbers < strings < tuples, each kind in its natural order
                    (False < True, numbers by size, strings lexicographically, tuples
                    element by element); consistent with value_key, so sorting is
                    deterministic whatever order the values came in.
    exact_key(v)    identity of a constant as written: 1, 1.0 and True all differ, because
                    an int and a float constant give s-ops of different types (the
                    computation graph interns its nodes by it).

The interpreter's tokens, the compiler's vocabularies, residual bases and output values, and
the harness's classes are all keyed and sorted with these.
"""

from __future__ import annotations

from typing import Any

# The kinds of value, in the order `value_order` puts them.
_KINDS = ("bool", "number", "str", "tuple")


def value_kind(value: Any) -> str:
    """"bool", "number", "str" or "tuple": the kind of a RASP value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, tuple):
        return "tuple"
    return "number"


def value_key(value: Any) -> tuple:
    """A hashable key equal for the same RASP value: tells True from 1, lets 1 and 1.0 match."""
    return value_kind(value), value


def value_order(value: Any) -> tuple:
    """A sort key that totally orders values of mixed kinds (module docstring)."""
    kind = value_kind(value)
    if kind == "tuple":
        return _KINDS.index(kind), tuple(value_order(item) for item in value)
    return _KINDS.index(kind), value


def exact_key(value: Any) -> tuple:
    """A hashable key that tells 1, 1.0 and True apart (tuples element by element)."""
    if isinstance(value, tuple):
        return tuple(exact_key(item) for item in value)
    return type(value).__name__, value
