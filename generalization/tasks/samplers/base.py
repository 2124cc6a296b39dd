"""What every sampler is: one random input of a given length over a vocabulary.

A sampler is a small frozen dataclass whose fields are its options, each a `setting` with the
rule that checks it (`generalization.settings`), so `Dyck(imbalance=1.5)` and
`imbalance = 1.5` in a config are refused by the same rule. Every sampler has the one interface

    sample(rng, length, vocab) -> list          one input of `length` tokens
    sample_batch(rng, lengths, vocab)           one input per length (may be faster)
    check(vocab, shortest, longest)             SamplerError unless every length can be drawn

Prompt samplers draw the prompt of an autoregressive task instead and bound its whole
sequence (`PromptSampler.max_sequence`); one that knows its task's answer also proposes each
prompt's continuation (`PromptSampler.proposal`), which the labels check in one pass of the
program instead of continuing the prompt token by token (`tasks/data.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from generalization.settings import Checked
from rasp.errors import RaspValueError


class SamplerError(RaspValueError):
    """A sampler that cannot be built or cannot serve a vocabulary; `key` is the bad option."""

    def __init__(self, key: str, message: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.key = key


@dataclass(frozen=True)
class Sampler(Checked):
    """One random input of a given length over a vocabulary. Subclasses' fields are options."""

    name: ClassVar[str]

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        raise NotImplementedError

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        """Raise `SamplerError` unless every length in [shortest, longest] can be sampled."""

    def sample_batch(self, rng: np.random.Generator, lengths: Sequence[int],
                     vocab: Sequence) -> list[list]:
        """One input per length; subclasses may draw them all at once for speed."""
        return [self.sample(rng, n, vocab) for n in lengths]

    def options(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.keys()}


@dataclass(frozen=True)
class PromptSampler(Sampler):
    """The prompt of an autoregressive task of a given length, over the vocabulary less the
    end token; `max_sequence(length)` bounds the whole sequence (prompt, continuation and end
    token), which sizes the models and stops a program that never ends."""

    def max_sequence(self, length: int) -> int:
        raise NotImplementedError

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        """The continuation this task's plain-Python answer gives `prompt`, end token
        included, or None when the sampler has no answer to propose. A proposal never becomes
        a label by itself: the program's outputs on prompt + proposal must confirm it."""
        return None
