"""Samplers of bracket sequences (Dyck languages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from generalization.settings import Invalid, number, setting, show
from generalization.tasks.samplers.base import Sampler, SamplerError

# Bracket pairs `dyck` looks for in the vocabulary when no `pairs` are given.
KNOWN_PAIRS = ("()", "[]", "{}", "<>")


def bracket_pairs(value: Any) -> tuple[str, ...]:
    """A list of two-character strings, opener then closer."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"must be a list of strings, got {show(value)}", hint='e.g. ["()"]')
    for pair in value:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise Invalid(f"each pair must be two different characters, opener then closer, "
                          f"got {pair!r}", hint='e.g. ["()"]')
    return tuple(value)


@dataclass(frozen=True)
class Dyck(Sampler):
    """Balanced-ish brackets. A random walk that never closes more than it opened and closes
    everything by the end (an odd length leaves one bracket open), each opener of a random
    kind and each closer matching its opener; then, with probability `imbalance`, one random
    position is overwritten by another bracket, which breaks the balance (or the nesting)."""

    name = "dyck"
    pairs: tuple[str, ...] = setting((), bracket_pairs)
    imbalance: float = setting(0.25, number("a number, a probability in [0, 1]",
                                            lambda x: 0 <= x <= 1))

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        pairs = self.pairs_in(vocab)
        # All randomness drawn up front: the walk below is then plain Python, fast per token.
        opens = (rng.random(length) < 0.5).tolist()
        kinds = rng.integers(len(pairs), size=length).tolist()
        stack: list[str] = []
        out = []
        for i in range(length):
            remaining = length - i
            if stack and (len(stack) >= remaining - 1 or not opens[i]):
                out.append(stack.pop())
            else:
                out.append(pairs[kinds[i]][0])
                stack.append(pairs[kinds[i]][1])
        if rng.random() < self.imbalance:
            position = int(rng.integers(length))
            others = [b for b in "".join(pairs) if b != out[position]]
            out[position] = others[int(rng.integers(len(others)))]
        return out

    def pairs_in(self, vocab: Sequence) -> tuple[str, ...]:
        """The bracket pairs to use: the option, or every known pair the vocabulary holds."""
        pairs = self.pairs or tuple(p for p in KNOWN_PAIRS if p[0] in vocab and p[1] in vocab)
        if not pairs:
            raise SamplerError("pairs", "the vocabulary holds no bracket pair",
                               hint='add e.g. "(" and ")" to the vocab, or set pairs = ["()"]')
        for pair in pairs:
            if pair[0] not in vocab or pair[1] not in vocab:
                raise SamplerError("pairs", f"the pair {pair!r} is not in the vocabulary")
        return pairs

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        self.pairs_in(vocab)
