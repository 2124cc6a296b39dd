"""The elementwise operations of RASP, defined once, over numpy arrays.

Every elementwise meaning in the language lives here: the batched interpreter
applies these functions to whole `[batch, length]` arrays, plain values go
through them as 0-d arrays (`apply_scalar`), and the compiler uses
`apply_scalar` to build the scalar functions of tracr `Map`s. Values follow
Python's semantics, as the original implementation's did:

* four element types, told apart by numpy dtype: int64, float64, bool, str;
* `/` is true division, `%` takes the divisor's sign, `^` is `pow`
  (a negative integer exponent gives a float), `round` rounds half to even;
* `and`, `or`, `not`, `indicator` and the ternary test Python truthiness;
* `==`/`!=` between strings and numbers are False/True; ordering them is an error.

Operations raise `OpError` (a plain message) on a type or value error; the
caller turns it into a located `RaspError` naming the program place and input.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class OpError(Exception):
    """A type or value error inside an elementwise operation."""


INT, FLOAT, BOOL, STR = "int", "float", "bool", "str"


def element_type(array: np.ndarray) -> str:
    kind = array.dtype.kind
    if kind == "b":
        return BOOL
    if kind in "iu":
        return INT
    if kind == "f":
        return FLOAT
    if kind == "U":
        return STR
    raise OpError(f"unsupported element dtype {array.dtype}")


def as_array(value: Any) -> np.ndarray:
    """A plain atom or an array as a typed numpy array (atoms become 0-d)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, bool):
        return np.asarray(value, dtype=bool)
    if isinstance(value, int):
        return np.asarray(value, dtype=np.int64)
    if isinstance(value, float):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, str):
        return np.asarray(value, dtype=str)
    raise OpError(f"expected a number, string or boolean, got {type_name(value)}")


def type_name(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return element_type(value)
    for python_type, name in ((bool, BOOL), (int, INT), (float, FLOAT), (str, STR),
                              (list, "list"), (dict, "dict")):
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _is_number(array: np.ndarray) -> bool:
    return array.dtype.kind in "iufb"


def _numeric(array: np.ndarray) -> np.ndarray:
    """Booleans take part in arithmetic as 0/1, as in Python."""
    return array.astype(np.int64) if array.dtype.kind == "b" else array


def truthy(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "U":
        return np.char.str_len(array) > 0
    return array.astype(bool)


# ------------------------------------------------------------------ arithmetic


def _arith_operands(op: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not (_is_number(a) and _is_number(b)):
        raise OpError(f"cannot apply `{op}` to {element_type(a)} and {element_type(b)}")
    return _numeric(a), _numeric(b)


def _add(a, b):
    if a.dtype.kind == "U" and b.dtype.kind == "U":
        return np.char.add(a, b)
    a, b = _arith_operands("+", a, b)
    return a + b


def _sub(a, b):
    a, b = _arith_operands("-", a, b)
    return a - b


def _mul(a, b):
    a, b = _arith_operands("*", a, b)
    return a * b


def _check_nonzero(op: str, b: np.ndarray) -> None:
    if np.any(b == 0):
        raise OpError(f"division by zero in `{op}`")


def _div(a, b):
    a, b = _arith_operands("/", a, b)
    _check_nonzero("/", b)
    return np.true_divide(a, b)


def _mod(a, b):
    a, b = _arith_operands("%", a, b)
    _check_nonzero("%", b)
    return np.mod(a, b)


def _pow(a, b):
    a, b = _arith_operands("^", a, b)
    if a.dtype.kind == "i" and b.dtype.kind == "i" and np.any(b < 0):
        a = a.astype(np.float64)
    if np.any((a == 0) & (b < 0)):
        raise OpError("0 cannot be raised to a negative power")
    with np.errstate(over="ignore", invalid="ignore"):
        return np.power(a, b)


# ------------------------------------------------------------------ comparison


def _comparable(op: str, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a and b are of comparable kinds; `==`/`!=` tolerate mismatches."""
    if (a.dtype.kind == "U") == (b.dtype.kind == "U"):
        return True
    if op in ("==", "!="):
        return False
    raise OpError(f"cannot compare {element_type(a)} and {element_type(b)} with `{op}`")


def _comparison(op: str, compare: Callable) -> Callable:
    def apply(a, b):
        if not _comparable(op, a, b):
            shape = np.broadcast_shapes(a.shape, b.shape)
            return np.full(shape, op == "!=", dtype=bool)
        if a.dtype.kind == "U" and b.dtype.kind == "U":
            a, b = string_codes(a, b)
        return compare(a, b)
    return apply


def string_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers ordered as the strings are, since numpy compares strings slowly.

    Single characters (the usual tokens) are their code points; longer strings
    get their rank among the distinct strings of both arrays.
    """
    if a.dtype.itemsize == b.dtype.itemsize == 4:
        return a.view(np.uint32), b.view(np.uint32)
    distinct, codes = np.unique(np.concatenate([a.ravel(), b.ravel()]), return_inverse=True)
    return codes[:a.size].reshape(a.shape), codes[a.size:].reshape(b.shape)


# -------------------------------------------------------------------- logical


def _not(a):
    return ~truthy(a)


def _and(a, b):
    return truthy(a) & truthy(b)


def _or(a, b):
    return truthy(a) | truthy(b)


def _neg(a):
    if not _is_number(a):
        raise OpError(f"cannot negate {element_type(a)}")
    return -_numeric(a)


def _pos(a):
    if not _is_number(a):
        raise OpError(f"cannot apply unary `+` to {element_type(a)}")
    return _numeric(a)


def _round(a):
    if not _is_number(a):
        raise OpError(f"cannot round {element_type(a)}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise OpError("cannot round an infinite or undefined number")
        return np.rint(a).astype(np.int64)
    return _numeric(a)


def _indicator(a):
    return truthy(a).astype(np.int64)


def unify(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bring two arrays to one element type, as a sequence mixing them would have."""
    if a.dtype == b.dtype:
        return a, b
    if a.dtype.kind == "U" and b.dtype.kind == "U":
        return a, b
    if _is_number(a) and _is_number(b):
        if a.dtype.kind == "b" or b.dtype.kind == "b":
            a, b = _numeric(a), _numeric(b)
        kind = np.result_type(a, b)
        return a.astype(kind), b.astype(kind)
    raise OpError(f"a sequence cannot mix {element_type(a)} and {element_type(b)} values")


def _ternary(cond, then, otherwise):
    then, otherwise = unify(then, otherwise)
    return np.where(truthy(cond), then, otherwise)


def is_in(values: np.ndarray, container: list) -> np.ndarray:
    """Elementwise `value in container` for a list of atoms."""
    result = np.zeros(values.shape, dtype=bool)
    for item in container:
        result |= _comparison("==", np.equal)(values, as_array(item))
    return result


UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "not": _not, "-": _neg, "+": _pos, "round": _round, "indicator": _indicator,
}

BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": _add, "-": _sub, "*": _mul, "/": _div, "%": _mod, "^": _pow,
    "==": _comparison("==", np.equal), "!=": _comparison("!=", np.not_equal),
    "<": _comparison("<", np.less), ">": _comparison(">", np.greater),
    "<=": _comparison("<=", np.less_equal), ">=": _comparison(">=", np.greater_equal),
    "and": _and, "or": _or,
}

TERNARY = _ternary


def apply(op: str, *args: np.ndarray) -> np.ndarray:
    """Apply a named elementwise operation to arrays."""
    if op == "if":
        return TERNARY(*args)
    if len(args) == 1:
        return UNARY[op](args[0])
    return BINARY[op](*args)


def to_python(array: np.ndarray) -> Any:
    """A 0-d array back to a Python atom (int, float, bool or str)."""
    return array.item() if array.dtype.kind != "U" else str(array)


def apply_scalar(op: str, *values: Any) -> Any:
    """The same operation on plain Python atoms, returning a plain atom."""
    return to_python(apply(op, *(as_array(v) for v in values)))
