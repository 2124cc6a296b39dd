"""Samplers of plain token sequences: independent uniform tokens, or distinct tokens."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from generalization.tasks.samplers.base import Sampler, SamplerError


@dataclass(frozen=True)
class Uniform(Sampler):
    """Tokens drawn independently and uniformly from the vocabulary."""

    name = "uniform"

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        return [vocab[i] for i in rng.integers(len(vocab), size=length).tolist()]

    def sample_batch(self, rng: np.random.Generator, lengths: Sequence[int],
                     vocab: Sequence) -> list[list]:
        # One draw for the whole batch: a third of the time of one draw per input.
        flat = self.sample(rng, sum(lengths), vocab)
        ends = itertools.accumulate(lengths)
        return [flat[end - n:end] for end, n in zip(ends, lengths)]


@dataclass(frozen=True)
class Unique(Sampler):
    """Distinct tokens: a uniformly random arrangement of `length` vocabulary tokens."""

    name = "unique"

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        self.check(vocab, length, length)
        return [vocab[i] for i in rng.permutation(len(vocab))[:length].tolist()]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        if longest > len(vocab):
            raise SamplerError("name", f"`unique` needs inputs no longer than the vocabulary "
                               f"({len(vocab)} tokens), but lengths go up to {longest}",
                               hint="use a larger vocab, shorter lengths or another sampler")
