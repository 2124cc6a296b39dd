"""The elementwise operations of RASP, defined once, over numpy arrays.

Every elementwise meaning in the language lives here: the batched interpreter
applies these functions to whole `[batch, length]` arrays, plain values go
through them as 0-d arrays (`apply_scalar`), and the compiler uses
`apply_scalar` to build the scalar functions of tracr `Map`s. Values follow
Python's semantics, as the original implementation's did:

* four element types, told apart by numpy dtype: int64, float64, bool, str;
  a sequence of ints at some positions and floats at others is a
  `rasp.mixed.Mixed`, and `apply` gives each of its elements the type Python would;
* ints have 64 bits where Python's are unbounded: a result beyond them is an
  error, never a wrapped-around number;
* `/` is true division, `%` takes the divisor's sign, `^` is `pow`
  (a negative integer exponent gives a float), `round` rounds half to even;
* `and`, `or`, `not`, `indicator` and the ternary test Python truthiness;
* `==`/`!=` between strings and numbers are False/True; ordering them is an error.

Operations raise `OpError` (a plain message) on a type error and its subclass
`BadValue` on a value error; the caller turns them into the located `RaspError`
of their `rasp_error` class, naming the program place and input.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from rasp import mixed
from rasp.errors import RaspTypeError, RaspValueError
from rasp.mixed import Array


class OpError(Exception):
    """A type or value error inside an elementwise operation."""

    rasp_error = RaspTypeError  # what the caller reports it as, once located


class BadValue(OpError):
    """Values of the right types that the operation cannot take (division by zero, overflow)."""

    rasp_error = RaspValueError


INT, FLOAT, BOOL, STR, NUMBER = "int", "float", "bool", "str", "number"

# The ints that int64 holds (Python's are unbounded: larger results are refused).
INT_MIN, INT_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


def element_type(array: Array) -> str:
    if isinstance(array, mixed.Mixed):
        return NUMBER
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
        if not INT_MIN <= value <= INT_MAX:
            raise _overflow(str(value))
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


def _overflow(what: str) -> BadValue:
    return BadValue(f"integer overflow: {what} is beyond the 64-bit range of ints")


# Operands all below 2**bits in magnitude cannot overflow: the common case, checked cheaply.
_SAFE_BITS = {"+": 62, "-": 62, "*": 31}


def _checked_ints(op: str, function: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`function` (+, -, * or ^) of int64 arrays, refused where the exact result needs
    more than 64 bits: numpy would silently wrap around, Python ints would not."""
    bits = _SAFE_BITS.get(op)
    if bits and _below(a, bits) and _below(b, bits):
        return function(a, b)
    with np.errstate(over="ignore", invalid="ignore"):
        estimate = np.abs(function(a.astype(np.float64), b.astype(np.float64)))
    # The float estimate is off by far less than a factor 2: it settles every element
    # except those near 2**63, which exact Python ints settle.
    near = estimate >= 2.0 ** 62
    if near.any():
        if np.any(estimate[near] >= 2.0 ** 64):
            raise _overflow(f"the result of `{op}`")
        a_near, b_near = (np.broadcast_to(x, near.shape)[near].astype(object) for x in (a, b))
        if any(not INT_MIN <= value <= INT_MAX for value in function(a_near, b_near)):
            raise _overflow(f"the result of `{op}`")
    return function(a, b)


def _below(array: np.ndarray, bits: int) -> bool:
    return array.size == 0 or (-(1 << bits) < array.min() and array.max() < 1 << bits)


def _int_arithmetic(op: str, function: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "i" and b.dtype.kind == "i":
        return _checked_ints(op, function, a, b)
    return function(a, b)


def _arith_operands(op: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not (_is_number(a) and _is_number(b)):
        raise OpError(f"cannot apply `{op}` to {element_type(a)} and {element_type(b)}")
    return _numeric(a), _numeric(b)


def _add(a, b):
    if a.dtype.kind == "U" and b.dtype.kind == "U":
        return np.char.add(a, b)
    a, b = _arith_operands("+", a, b)
    return _int_arithmetic("+", np.add, a, b)


def _sub(a, b):
    a, b = _arith_operands("-", a, b)
    return _int_arithmetic("-", np.subtract, a, b)


def _mul(a, b):
    a, b = _arith_operands("*", a, b)
    return _int_arithmetic("*", np.multiply, a, b)


def _check_nonzero(op: str, b: np.ndarray) -> None:
    if np.any(b == 0):
        raise BadValue(f"division by zero in `{op}`")


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
    if np.any((a == 0) & (b < 0)):
        raise BadValue("0 cannot be raised to a negative power")
    if a.dtype.kind == "i" and b.dtype.kind == "i":
        return _int_pow(a, b)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.power(a, b)


def _int_pow(a: np.ndarray, b: np.ndarray) -> Array:
    """Python's int ** int: an int for a non-negative exponent, a float for a negative one."""
    negative = b < 0
    ints = _checked_ints("^", np.power, a, np.where(negative, 0, b))
    if not negative.any():
        return ints
    floats = np.power(a.astype(np.float64), b.astype(np.float64))
    return mixed.combine(ints, floats, ~negative)


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
    a = _numeric(a)
    if a.dtype.kind == "i" and np.any(a == INT_MIN):
        raise _overflow("the result of `-`")
    return -a


def _pos(a):
    if not _is_number(a):
        raise OpError(f"cannot apply unary `+` to {element_type(a)}")
    return _numeric(a)


def _round(a):
    if not _is_number(a):
        raise OpError(f"cannot round {element_type(a)}")
    if a.dtype.kind == "f":
        if not np.all(np.abs(a) < 2.0 ** 63):  # also false for infinities and NaN
            if not np.all(np.isfinite(a)):
                raise BadValue("cannot round an infinite or undefined number")
            raise _overflow("the result of `round`")
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


def _ternary(cond: Array, then: Array, otherwise: Array) -> Array:
    if not mixed.ints_and_floats(then, otherwise):
        then, otherwise = unify(mixed.float_view(then), mixed.float_view(otherwise))
    # Each element keeps the type of the branch it comes from, as in Python.
    return mixed.where(truthy(mixed.float_view(cond)), then, otherwise)


def is_in(values: Array, container: list) -> np.ndarray:
    """Elementwise `value in container` for a list of atoms."""
    return elementwise(functools.partial(_is_in, container=container), values)


def _is_in(values: np.ndarray, container: list) -> np.ndarray:
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


def apply(op: str, *args: Array) -> Array:
    """Apply a named elementwise operation to arrays."""
    if op == "if":
        return TERNARY(*args)
    return elementwise(UNARY[op] if len(args) == 1 else BINARY[op], *args)


def elementwise(function: Callable[..., Array], *args: Array) -> Array:
    """`function` of plain arrays, applied to arrays of which some may be `Mixed`.

    An element is computed from ints where every argument holds an int (or a
    non-number) and from floats elsewhere, so that it gets the type Python would
    give it. Both are computed on whole arrays, which is fast, though the int
    arrays hold stand-in values at the float positions; an error that may come
    from a stand-in (a divisor of 0, say) sends the work to `_apart`.
    """
    if not mixed.is_mixed(*args):
        return function(*args)
    is_int = functools.reduce(np.logical_and, map(mixed.int_mask, args))
    at_floats = function(*map(mixed.float_view, args))
    if not is_int.any():
        return at_floats
    try:
        at_ints = function(*map(mixed.int_view, args))
    except BadValue:
        return _apart(function, args, is_int)
    return mixed.where(is_int, at_ints, at_floats)


def _apart(function: Callable[..., Array], args: tuple[Array, ...],
           is_int: np.ndarray) -> Array:
    """`function` on the int positions alone and on the float positions alone, so that
    every error it raises is about a real element."""
    shape = np.broadcast_shapes(*(arg.shape for arg in args))
    is_int = np.broadcast_to(is_int, shape)
    at_ints = function(*(np.broadcast_to(mixed.int_view(a), shape)[is_int] for a in args))
    at_floats = function(*(np.broadcast_to(mixed.float_view(a), shape)[~is_int] for a in args))
    return mixed.scatter(is_int, at_ints, at_floats)


def to_python(array: np.ndarray) -> Any:
    """A 0-d array back to a Python atom (int, float, bool or str)."""
    return array.item() if array.dtype.kind != "U" else str(array)


def apply_scalar(op: str, *values: Any) -> Any:
    """The same operation on plain Python atoms, returning a plain atom."""
    return to_python(apply(op, *(as_array(v) for v in values)))
