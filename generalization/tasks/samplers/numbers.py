"""Samplers of numbers written as digit tokens: one number in a base, or "a+b"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from generalization.settings import Invalid, boolean, is_int, setting, show, string
from generalization.tasks.samplers.base import Sampler, SamplerError


def digit_base(value: Any) -> int:
    """A base from 2 to 10 (the digits are single tokens "0".."9")."""
    if not is_int(value) or not 2 <= value <= 10:
        raise Invalid(f"must be between 2 and 10, got {show(value)}")
    return value


@dataclass(frozen=True)
class Digits(Sampler):
    """A number written in base `base`: tokens are the vocabulary's digits ("0".."9" or 0..9)
    below `base`; without `leading_zeros` the first digit of a number longer than 1 is not 0."""

    name = "digits"
    base: int = setting(10, digit_base)
    leading_zeros: bool = setting(True, boolean)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        digits = self.digits(vocab)
        picks = rng.integers(len(digits), size=length)
        if not self.leading_zeros and length > 1:
            picks[0] = rng.integers(1, len(digits))
        return [digits[i] for i in picks.tolist()]

    def digits(self, vocab: Sequence) -> list:
        """The vocabulary's digit tokens in numeric order; every one of 0..base-1 is needed."""
        found = {_digit_value(t): t for t in vocab if _digit_value(t) is not None}
        missing = [d for d in range(self.base) if d not in found]
        if missing:
            raise SamplerError("name", f"`{self.name}` needs the digits 0..{self.base - 1} in "
                               f"the vocabulary, which lacks {', '.join(map(str, missing))}",
                               hint='write them as characters ("0123456789") or ints')
        return [found[d] for d in range(self.base)]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        self.digits(vocab)


@dataclass(frozen=True)
class Binary(Digits):
    """A number in base 2 (the `digits` sampler with `base` fixed to 2)."""

    name = "binary"
    base: int = setting(2, digit_base, init=False)


@dataclass(frozen=True)
class Addition(Sampler):
    """Two numbers around an operator, "a+b": the operands' digits (base 10) fill the other
    length - 1 positions, split at a uniformly random point so each has at least one digit."""

    name = "addition"
    operator: str = setting("+", string)
    leading_zeros: bool = setting(True, boolean)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        self.check(vocab, length, length)
        left = int(rng.integers(1, length - 1))
        number = Digits(leading_zeros=self.leading_zeros)
        return (number.sample(rng, left, vocab) + [self.operator] +
                number.sample(rng, length - 1 - left, vocab))

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        Digits().digits(vocab)
        if self.operator not in vocab:
            raise SamplerError("operator", f"the operator {self.operator!r} is not in the "
                               f"vocabulary")
        if shortest < 3:
            raise SamplerError("name", f"`addition` inputs need at least 3 tokens (\"1+2\"), "
                               f"but lengths start at {shortest}", hint="start lengths at 3")


def _digit_value(token: Any) -> int | None:
    if isinstance(token, str) and len(token) == 1 and token.isdigit():
        return int(token)
    if is_int(token) and 0 <= token <= 9:
        return token
    return None
