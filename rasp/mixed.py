"""Sequences of numbers that are ints at some positions and floats at others.

The original RASP computes with Python values, one element at a time: an
`aggregate` that selects one position copies its int while one that selects
several gives a float mean, `a if c else b` keeps the type of the branch it
picks, and `x ^ -1` is a float where `x ^ 2` is an int. A numpy array has a
single dtype, so an s-op whose elements are of both kinds is a `Mixed`: an
int64 array, a float64 array and a mask saying which of the two holds each
element. `rasp.ops` computes on it by running the plain operation once on the
int positions and once on the float positions, so every element gets the
value and type Python would give it, whatever else is in the batch.

`combine` is the one way to build a `Mixed`: it returns a plain array when
every element is of one kind, so plain arrays stay the fast common case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np


@dataclass(frozen=True)
class Mixed:
    """Numbers, each an int where `is_int` holds and a float elsewhere."""

    ints: np.ndarray    # int64: the value at the int positions (a stand-in elsewhere)
    floats: np.ndarray  # float64: the value at every position, as a float
    is_int: np.ndarray  # bool

    @property
    def shape(self) -> tuple[int, ...]:
        return self.is_int.shape

    def __getitem__(self, index: Any) -> "Mixed":
        return Mixed(self.ints[index], self.floats[index], self.is_int[index])

    def tolist(self) -> list:
        """Python ints and floats, nested like `np.ndarray.tolist`."""
        values = self.floats.astype(object)
        values[self.is_int] = self.ints[self.is_int].astype(object)
        return values.tolist()


Array = Union[np.ndarray, Mixed]


def combine(ints: np.ndarray, floats: np.ndarray, is_int: np.ndarray) -> Array:
    """Ints where `is_int`, floats elsewhere: a plain array when all are of one kind.

    The three broadcast together, so a 0-d default or a mask of one row will do.
    """
    shape = np.broadcast_shapes(np.shape(ints), np.shape(floats), np.shape(is_int))
    is_int = np.broadcast_to(is_int, shape)
    ints = np.broadcast_to(np.asarray(ints, dtype=np.int64), shape)
    floats = np.broadcast_to(np.asarray(floats, dtype=np.float64), shape)
    if is_int.all():
        return ints
    if not is_int.any():
        return floats
    return Mixed(ints, floats, is_int)


def is_mixed(*values: Any) -> bool:
    return any(isinstance(value, Mixed) for value in values)


def kinds(value: Array) -> set[str]:
    """The numpy kinds of the elements; booleans count as ints, as in Python arithmetic."""
    if isinstance(value, Mixed):
        return {"i", "f"}
    kind = value.dtype.kind
    return {"i" if kind in "bu" else kind}


def float_view(value: Array) -> np.ndarray:
    """Every element as the float it stands for (a plain array unchanged)."""
    return value.floats if isinstance(value, Mixed) else value


def int_view(value: Array) -> np.ndarray:
    """The elements at int positions, stand-ins elsewhere (a plain array unchanged)."""
    return value.ints if isinstance(value, Mixed) else value


def int_mask(value: Array) -> np.ndarray:
    """Where the elements are ints (or booleans or strings: anything but a float)."""
    if isinstance(value, Mixed):
        return value.is_int
    return np.asarray(value.dtype.kind != "f")


def take(values: Array, positions: np.ndarray) -> Array:
    """`values[b, positions[b, q]]` for every row b and query q."""
    if isinstance(values, Mixed):
        return Mixed(*(np.take_along_axis(part, positions, axis=-1)
                       for part in (values.ints, values.floats, values.is_int)))
    return np.take_along_axis(values, positions, axis=-1)


def ints_and_floats(*values: Array) -> bool:
    """Whether the values hold ints (or booleans) beside floats, and nothing else."""
    return set().union(*map(kinds, values)) == {"i", "f"}


def where(pick: np.ndarray, first: Array, second: Array) -> Array:
    """Elements of `first` where `pick` holds and of `second` elsewhere, each keeping its kind."""
    if not ints_and_floats(first, second):
        return np.where(pick, first, second)
    (ints, floats, is_int), (other_ints, other_floats, other_is_int) = \
        _parts(first), _parts(second)
    # Skip choosing where one side has no ints: its stand-ins may be anything.
    if ints is None or other_ints is None:
        ints = other_ints if ints is None else ints
    else:
        ints = np.where(pick, ints, other_ints)
    return combine(ints, np.where(pick, floats, other_floats), np.where(pick, is_int, other_is_int))


def scatter(is_int: np.ndarray, at_ints: Array, at_floats: Array) -> Array:
    """Results computed apart for the int positions and the float positions, put in place."""
    if not ints_and_floats(at_ints, at_floats):
        result = np.empty(is_int.shape, dtype=np.result_type(at_ints, at_floats))
        result[is_int] = at_ints
        result[~is_int] = at_floats
        return result
    parts = [np.zeros(is_int.shape, dtype) for dtype in (np.int64, np.float64, bool)]
    for positions, values in ((is_int, at_ints), (~is_int, at_floats)):
        for part, value in zip(parts, _parts(values)):
            if value is not None:
                part[positions] = value
    return combine(*parts)


def _parts(numbers: Array) -> tuple[Any, Any, Any]:
    """`Mixed`'s three fields for any numbers; a float array has no ints (None)."""
    if isinstance(numbers, Mixed):
        return numbers.ints, numbers.floats, numbers.is_int
    if numbers.dtype.kind == "f":
        return None, numbers, np.False_
    return numbers, numbers, np.True_
