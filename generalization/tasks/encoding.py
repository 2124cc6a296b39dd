"""Inputs and outputs as ids: the one encoding of tokens and output values for learned models.

Input ids: 0 is padding, 1..V the vocabulary's tokens in its order. Output classes: every value
the s-op can output, in the language's value order (`rasp.values.value_order`), so the order
does not depend on how the compiler listed them; a label is an index into that list, and
padded positions get label -1. Ids tell True from 1 and let 1 and 1.0 match, as the
interpreter does.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Sequence

import numpy as np

from rasp.errors import RaspValueError
from rasp.evaluate import normalise_input
from rasp.values import value_key, value_kind, value_order

# Padding id of the input tokens and label of padded positions (ignored by losses and metrics).
PAD_ID = 0
IGNORE_LABEL = -1


class Encoding:
    """The ids of a vocabulary's tokens and of an s-op's output values (module docstring)."""

    def __init__(self, vocab: Sequence[Any], output_values: Iterable[Any]):
        self.vocab = list(vocab)
        self.classes = sorted(output_values, key=value_order)
        self._token_ids = _Ids(self.vocab, first=PAD_ID + 1)
        self._class_ids = _Ids(self.classes, first=0)

    @property
    def vocab_size(self) -> int:
        """Number of input ids, PAD included."""
        return len(self.vocab) + 1

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_tokens(self) -> tuple[int, ...]:
        """Per output class, the input id of the token it is, or -1 when it is no input token
        (for a model whose output layer is tied to its token embedding)."""
        return tuple(self._token_ids.of([value])[0] if self._token_ids.has(value) else -1
                     for value in self.classes)

    def encode_inputs(self, inputs: Sequence[Any],
                      width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids int32[B, T] (PAD after each input; T = `width` or the longest input) and
        the mask of real tokens bool[B, T]."""
        return self._encode([normalise_input(t) for t in inputs], width)

    def decode(self, label_ids: Sequence[int] | np.ndarray, length: int) -> list:
        """The output values of the first `length` predicted class ids."""
        return [self.classes[i] for i in np.asarray(label_ids)[:length].tolist()]

    def _encode(self, rows: list[list], width: int | None) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(row) for row in rows], dtype=np.int32)
        longest = int(lengths.max(initial=0))
        width = longest if width is None else width
        if longest > width:
            raise RaspValueError(f"an input of length {longest} does not fit in width {width}")
        # Boolean-mask assignment fills row by row, so one flat lookup fills every input.
        mask = np.arange(width) < lengths[:, None]
        tokens = np.full(mask.shape, PAD_ID, dtype=np.int32)
        try:
            tokens[mask] = self._token_ids.of(list(itertools.chain.from_iterable(rows)))
        except KeyError:
            row, bad = first_unknown(self._token_ids, rows, rows)
            raise RaspValueError(f"token {bad!r} of input {row!r} is not in the task's "
                                 f"vocabulary {self.vocab!r}",
                                 hint="add it to [task] vocab") from None
        return tokens, mask


def first_unknown(ids: _Ids, rows: list[list], values: Sequence[Sequence[Any]]) -> tuple:
    """The first input whose values include one without an id, and that value."""
    return next((row, v) for row, row_values in zip(rows, values)
                for v in row_values if not ids.has(v))


class _Ids:
    """Consecutive ids of distinct values that tell True from 1 (as `value_key` does) yet let
    1 and 1.0 match. Ids run every batch, so a sequence whose element types all belong to the
    values' single type family (str, bool, or int/float) is looked up by value, which cannot
    confuse bools with numbers there and is several times faster than building keys."""

    def __init__(self, values: Sequence[Any], first: int):
        self._keyed = {value_key(v): first + i for i, v in enumerate(values)}
        self._plain = {v: first + i for i, v in enumerate(values)}
        families = {value_kind(v) for v in values}
        self._fast_types = _FAMILY_TYPES[families.pop()] if len(families) == 1 else frozenset()

    def of(self, values: Sequence[Any]) -> list[int]:
        """The ids of `values`; KeyError if one is unknown."""
        if set(map(type, values)) <= self._fast_types:
            plain = self._plain
            return [plain[v] for v in values]
        keyed = self._keyed
        return [keyed[value_key(v)] for v in values]

    def has(self, value: Any) -> bool:
        return value_key(value) in self._keyed


_FAMILY_TYPES = {"str": frozenset({str}), "bool": frozenset({bool}),
                 "number": frozenset({int, float})}
