"""Prompt samplers of autoregressive tasks: counting from a to b, and copying."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from generalization.settings import boolean, is_int, setting, string
from generalization.tasks.samplers.base import PromptSampler, SamplerError


@dataclass(frozen=True)
class CountPrompt(PromptSampler):
    """Zhou et al. (2023)'s counting "from a to b": the prompt [a, b, separator] with
    b - a + 1 = length, a uniform among the starts whose span a..b the vocabulary's numbers
    cover; the sequence is a, a+1, .., b, the end token: at most length + 4 tokens."""

    name = "count_prompt"
    separator: str = setting("|", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        numbers = self.numbers(vocab)
        starts = self.starts(numbers, length)
        if not starts:
            self.check(vocab, length, length)
        a = starts[int(rng.integers(len(starts)))]
        return [numbers[a], numbers[a + length - 1], self.separator]

    def max_sequence(self, length: int) -> int:
        return length + 4

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        """a, a+1, .., b and the end token, as the vocabulary writes numbers."""
        first, last = _number_value(prompt[0]), _number_value(prompt[1])
        text = isinstance(prompt[0], str)
        return [str(v) if text else v for v in range(first, last + 1)] + [end_token]

    def numbers(self, vocab: Sequence) -> dict[int, Any]:
        """The vocabulary's number tokens ("12" or 12) by value."""
        return {value: t for t in vocab if (value := _number_value(t)) is not None}

    @staticmethod
    def starts(numbers: Mapping[int, Any], length: int) -> list[int]:
        """Every a with a, a+1, .., a+length-1 all among `numbers`, ascending."""
        return [a for a in sorted(numbers) if all(a + k in numbers for k in range(length))]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        if self.separator not in vocab:
            raise SamplerError("separator", f"the separator {self.separator!r} is not in the "
                               f"vocabulary (less the end token)")
        numbers = self.numbers(vocab)
        if not self.starts(numbers, longest):
            raise SamplerError("name", f"`count_prompt` needs {longest} consecutive numbers in "
                               f"the vocabulary for lengths up to {longest}, but its longest "
                               f"run of consecutive numbers has {_longest_run(numbers)}",
                               hint=f'add numbers to the vocab (e.g. "0" .. "{longest + 10}") '
                                    f'or use shorter lengths')


@dataclass(frozen=True)
class CopyPrompt(PromptSampler):
    """Copying: the prompt is `length` tokens (all different when `unique`, else independent
    and uniform) from the vocabulary less the separator, then the separator; the sequence is
    the tokens again and the end token: at most 2 * length + 2 tokens."""

    name = "copy_prompt"
    unique: bool = setting(False, boolean)
    separator: str = setting("|", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        tokens = self.tokens(vocab)
        if self.unique:
            self.check(vocab, length, length)
            picks = rng.permutation(len(tokens))[:length]
        else:
            picks = rng.integers(len(tokens), size=length)
        return [tokens[i] for i in picks.tolist()] + [self.separator]

    def max_sequence(self, length: int) -> int:
        return 2 * length + 2

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        """The prompt's tokens again and the end token."""
        return prompt[:-1] + [end_token]

    def tokens(self, vocab: Sequence) -> list:
        """The tokens to copy: the vocabulary less the separator."""
        return [t for t in vocab if t != self.separator]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        if self.separator not in vocab:
            raise SamplerError("separator", f"the separator {self.separator!r} is not in the "
                               f"vocabulary (less the end token)")
        tokens = self.tokens(vocab)
        if not tokens:
            raise SamplerError("name", "`copy_prompt` has no tokens to copy: the vocabulary "
                               "holds only the separator and the end token")
        if self.unique and longest > len(tokens):
            raise SamplerError("unique", f"unique copies need prompts no longer than the "
                               f"{len(tokens)} tokens to copy (the vocabulary less separator and "
                               f"end token), but lengths go up to {longest}",
                               hint="use a larger vocab or shorter lengths")


def _number_value(token: Any) -> int | None:
    """The value of a non-negative integer token written in decimal ("12" or 12), else None."""
    if isinstance(token, str) and token.isdecimal() and token.isascii() and \
            (token == "0" or not token.startswith("0")):
        return int(token)
    if is_int(token) and token >= 0:
        return token
    return None


def _longest_run(values: Iterable[int]) -> int:
    """The most consecutive integers among `values` (3 for {0, 1, 2, 5})."""
    best = run = 0
    previous = None
    for value in sorted(values):
        run = run + 1 if previous is not None and value == previous + 1 else 1
        best, previous = max(best, run), value
    return best
