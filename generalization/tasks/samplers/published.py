"""Prompt samplers of the tasks of Huang et al. (2025), "A Formal Framework for Understanding
Length Generalization in Transformers", drawing exactly their training distributions (read from
their code, lacoco-lab/length_generalization, `algorithmic/language_modeling_train.py`). Every
sequence is `x <sep> y <end>`; the prompt is x and the separator, and `proposal` is y and the
end token, the plain-Python answer that the task's RASP program must confirm.

| sampler           | task (theirs)             | x of task length n                           | y                 |
|-------------------|---------------------------|----------------------------------------------|-------------------|
| `majority_prompt` | majority, bin_majority    | n tokens iid uniform, redrawn on a tie for    | the most frequent |
|                   |                           | the most frequent (`counts = "uniform"`:      | token             |
|                   |                           | bin_majority's number of zeros uniform in     |                   |
|                   |                           | {0..n}, redrawn on a tie, then shuffled)      |                   |
| `parity_prompt`   | parity                    | the number of ones uniform in {0..n}, shuffled| `even` or `odd`   |
| `sort_prompt`     | sort                      | n distinct tokens, a uniform sample           | x sorted          |
| `binary_addition_prompt` | addition           | "a+b=" of n tokens: |a| uniform in 1..n-3,    | a + b, most       |
|                   |                           | |b| = n - 2 - |a|, leading digits 1          | significant first |

Copying (unique_copy, repeat_copy) is `copy_prompt` and counting (Zhou et al. 2023) is
`count_prompt`, in `prompts.py`. Differences from theirs, on purpose: parity's lengths start at
1 here (theirs at 0, the prompt being the separator alone), because every task length is >= 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from generalization.settings import one_of, setting, string
from generalization.tasks.samplers.base import PromptSampler, SamplerError
from rasp.values import value_order


def _tokens(vocab: Sequence, *special: Any) -> list:
    """The vocabulary less the sampler's special tokens."""
    return [t for t in vocab if t not in special]


def _check_special(vocab: Sequence, **special: Any) -> None:
    for key, token in special.items():
        if token not in vocab:
            raise SamplerError(key, f"the {key} {token!r} is not in the vocabulary (less the "
                                    f"end token)")


def _rows(picks: np.ndarray, lengths: list[int]) -> list[list[int]]:
    """Row r's first lengths[r] picks, as lists."""
    return [pick[:n] for pick, n in zip(picks.tolist(), lengths)]


def _real(width: int, lengths: list[int]) -> np.ndarray:
    """bool[rows, width]: whether position i is one of row r's first lengths[r]."""
    return np.arange(width)[None, :] < np.asarray(lengths)[:, None]


def _tied(row: list[int]) -> bool:
    """Whether two tokens are the most frequent in `row` (a short one: counted by list.count,
    faster than a Counter at these lengths)."""
    counts = sorted(map(row.count, set(row)))
    return len(counts) > 1 and counts[-1] == counts[-2]


@dataclass(frozen=True)
class MajorityPrompt(PromptSampler):
    """x: n tokens whose most frequent token is unique (module docstring), then the separator;
    the answer is that token. `counts = "iid"` draws each token uniformly and redraws the whole
    of x on a tie (their majority); `counts = "uniform"` needs two tokens and draws the number
    of the first uniformly from 0..n, redrawing on a tie, then shuffles (their bin_majority)."""

    name = "majority_prompt"
    counts: str = setting("iid", one_of(("iid", "uniform")))
    separator: str = setting("|", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        return self.sample_batch(rng, [length], vocab)[0]

    def sample_batch(self, rng: np.random.Generator, lengths: Sequence[int],
                     vocab: Sequence) -> list[list]:
        """Every input at once, the tied ones redrawn until none is left."""
        tokens = _tokens(vocab, self.separator)
        drawn: list[list] = [[] for _ in lengths]
        # Plain lists, not arrays: after the first round a few short rows are redrawn for
        # many rounds (two tokens tie 25 times in 26), where numpy's per-call cost dominates.
        rows = list(range(len(lengths)))
        while rows:
            picks, tied = self._draw(rng, [lengths[row] for row in rows], len(tokens))
            left = []
            for row, pick, tie in zip(rows, picks, tied):
                if tie:
                    left.append(row)
                else:
                    drawn[row] = [tokens[i] for i in pick] + [self.separator]
            rows = left
        return drawn

    def _draw(self, rng: np.random.Generator, lengths: list[int],
              size: int) -> tuple[list[list[int]], list[bool]]:
        """Token indices below `size`, a list of lengths[r] for row r, and which rows tie for
        the most frequent token. (The calls on `rng` fix the draws of every seed: the bundled
        runs were trained on them.)"""
        width = max(lengths, default=0)
        if self.counts == "uniform":
            row_lengths = np.asarray(lengths, dtype=np.int64)
            real = _real(width, lengths)
            first = rng.integers(0, row_lengths + 1)
            # A uniform shuffle of the row's real positions: sort random keys, padding last.
            order = np.argsort(np.where(real, rng.random(real.shape), np.inf), axis=1)
            picks = (np.argsort(order, axis=1) >= first[:, None]).astype(np.int64)
            return _rows(picks, lengths), (2 * first == row_lengths).tolist()
        picks = rng.integers(size, size=(len(lengths), width))
        rows = _rows(picks, lengths)
        if size < 2:
            return rows, [False] * len(rows)
        if picks.size <= 64:
            # The last redraws are a few short rows: counted in Python, faster than numpy.
            return rows, [_tied(row) for row in rows]
        cells = (np.arange(len(lengths))[:, None] * size + picks)[_real(width, lengths)]
        counts = np.bincount(cells, minlength=len(lengths) * size).reshape(-1, size)
        top = np.partition(counts, size - 2, axis=1)[:, -2:]
        return rows, (top[:, 0] == top[:, 1]).tolist()

    def max_sequence(self, length: int) -> int:
        return length + 3

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        return [Counter(prompt[:-1]).most_common(1)[0][0], end_token]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        _check_special(vocab, separator=self.separator)
        tokens = _tokens(vocab, self.separator)
        if self.counts == "uniform" and len(tokens) != 2:
            raise SamplerError("counts", f'`counts = "uniform"` draws binary inputs, but the '
                                         f'vocabulary has {len(tokens)} tokens besides the '
                                         f'separator', hint='use counts = "iid"')
        if len(tokens) < 2 and shortest <= 2:
            raise SamplerError("name", "majority needs two tokens besides the separator")


@dataclass(frozen=True)
class ParityPrompt(PromptSampler):
    """x: n bits (`zero`, `one`) whose number of ones is uniform in 0..n, shuffled; then the
    separator; the answer is `even` or `odd`, the parity of the number of ones."""

    name = "parity_prompt"
    zero: str = setting("0", string)
    one: str = setting("1", string)
    even: str = setting("e", string)
    odd: str = setting("o", string)
    separator: str = setting("|", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        ones = int(rng.integers(0, length + 1))
        bits = rng.permutation(np.repeat([0, 1], [length - ones, ones]))
        return [(self.zero, self.one)[b] for b in bits.tolist()] + [self.separator]

    def max_sequence(self, length: int) -> int:
        return length + 3

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        return [self.odd if prompt.count(self.one) % 2 else self.even, end_token]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        _check_special(vocab, zero=self.zero, one=self.one, even=self.even, odd=self.odd,
                       separator=self.separator)


@dataclass(frozen=True)
class SortPrompt(PromptSampler):
    """x: n distinct tokens, a uniform sample of the vocabulary less the separator, then the
    separator; the answer is x in the language's value order (numbers by value, strings
    alphabetically: write "007" for 7 to sort number strings by value)."""

    name = "sort_prompt"
    separator: str = setting("|", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        tokens = _tokens(vocab, self.separator)
        return [tokens[i] for i in rng.permutation(len(tokens))[:length].tolist()] + \
            [self.separator]

    def max_sequence(self, length: int) -> int:
        return 2 * length + 2

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        return sorted(prompt[:-1], key=value_order) + [end_token]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        _check_special(vocab, separator=self.separator)
        if longest > len(_tokens(vocab, self.separator)):
            raise SamplerError("name", f"sorting distinct tokens needs prompts no longer than "
                                       f"the {len(_tokens(vocab, self.separator))} tokens "
                                       f"besides the separator, but lengths go up to {longest}",
                               hint="use a larger vocab or shorter lengths")


@dataclass(frozen=True)
class BinaryAdditionPrompt(PromptSampler):
    """The prompt "a+b=" of n tokens (their addition): |a| uniform in 1..n-3, |b| = n-2-|a|,
    each operand's bits uniform but its first bit 1 when it has more than one; the answer is
    a + b in binary, most significant bit first. Task lengths start at 4."""

    name = "binary_addition_prompt"
    plus: str = setting("+", string)
    equals: str = setting("=", string)

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        first = int(rng.integers(1, length - 2))
        return (self._operand(rng, first) + [self.plus] +
                self._operand(rng, length - 2 - first) + [self.equals])

    @staticmethod
    def _operand(rng: np.random.Generator, digits: int) -> list:
        bits = rng.integers(0, 2, size=digits).tolist()
        if digits > 1:
            bits[0] = 1
        return [str(b) for b in bits]

    def max_sequence(self, length: int) -> int:
        return 2 * length - 1    # n tokens, at most n - 2 sum bits (|a|, |b| <= n - 3), "$"

    def proposal(self, prompt: list, end_token: Any) -> list | None:
        plus = prompt.index(self.plus)
        a, b = "".join(prompt[:plus]), "".join(prompt[plus + 1:-1])
        return list(bin(int(a, 2) + int(b, 2))[2:]) + [end_token]

    def check(self, vocab: Sequence, shortest: int, longest: int) -> None:
        _check_special(vocab, zero="0", one="1", plus=self.plus, equals=self.equals)
        if shortest < 4:
            raise SamplerError("name", f'"a+b=" has at least 4 tokens, but lengths start at '
                                       f'{shortest}', hint="start the lengths at 4")
