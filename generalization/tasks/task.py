"""What to learn: a program's s-op, a vocabulary, training and test lengths, a sampler and a
format. `Task` is the `[task]` section of an experiment config too: each constraint is stated
beside its field or in `cross_check`, and a config file and Python code go through them alike.

Formats: `per_position` (the s-op's output at every position is a label) or `autoregressive`
(a causal program that computes the next token from the prefix continues the sampler's
prompts up to `end_token`; see `data.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generalization.settings import (Checked, Invalid, boolean, is_int, one_of, optional,
                                          plain, setting, show, string, table)
from generalization.tasks.samplers import (PromptSampler, Sampler, SamplerError, Uniform,
                                           make_sampler, prompt_samplers)
from rasp import limits
from rasp.errors import RaspError
from rasp.evaluate import checked_input
from rasp.values import value_key

# Task formats: a label at every position of an input, or next tokens after a prompt.
PER_POSITION = "per_position"
AUTOREGRESSIVE = "autoregressive"
FORMATS = (PER_POSITION, AUTOREGRESSIVE)
SAMPLER_SECTION = "task.sampler"


def vocabulary(value: Any) -> tuple:
    """A non-empty string (its characters) or list of distinct tokens of one type."""
    tokens = list(value) if isinstance(value, (str, list, tuple)) else None
    if not tokens:
        raise Invalid(f"must be a non-empty string (its characters) or list of tokens, got "
                      f"{show(value)}", hint='e.g. vocab = "abc" or vocab = [0, 1]')
    try:
        checked_input(tokens)
    except RaspError as error:
        raise Invalid(error.message) from None
    seen = set()
    for token in tokens:
        if value_key(token) in seen:
            raise Invalid(f"lists the token {show(token)} twice")
        seen.add(value_key(token))
    return tuple(tokens)


def length_range(value: Any) -> tuple[int, int]:
    """An inclusive range [lo, hi] of lengths, 1 <= lo <= hi."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_int, value))):
        raise Invalid(f"must be an inclusive range [lo, hi] of two integers, got "
                      f"{show(value)}", hint="e.g. [1, 10]")
    low, high = value
    if low < 1:
        raise Invalid(f"lengths must be at least 1, got {show(value)}")
    if low > high:
        raise Invalid(f"lo must not exceed hi, got {show(value)}", hint=f"write [{high}, {low}]")
    return low, high


def token(value: Any) -> Any:
    """A single token: a non-empty string, an integer or a boolean."""
    if not isinstance(value, (str, int, bool)) or value == "":
        raise Invalid(f"must be a token (a string, integer or boolean), got {show(value)}")
    return value


def sampler_of(value: Any) -> Sampler:
    """A sampler, or its table: `name` (default uniform) and the sampler's options."""
    if isinstance(value, Sampler):
        return value
    options = dict(table(value))
    try:
        name = string(options.pop("name", "uniform"))
    except Invalid as invalid:
        raise invalid.at("name") from None
    try:
        return make_sampler(name, options)
    except SamplerError as error:
        raise Invalid(error.message, error.hint, error.key, SAMPLER_SECTION) from None


@dataclass(frozen=True)
class Task(Checked):
    """What to learn: a program's s-op on inputs over `vocab` drawn by `sampler`; train on
    lengths in `train_lengths`, test on `test_lengths` (both inclusive ranges). An
    autoregressive task (`format`) continues the sampler's prompts up to `end_token`.

    `causal` makes the learned models causal decoders and compiles the reference causally;
    with `reads_ahead` the reference is compiled bidirectionally instead."""

    @property
    def compile_causal(self) -> bool:
        """Whether the reference model is compiled as a causal decoder."""
        return self.causal and not self.reads_ahead

    name: str
    program: Path = setting(rule=Path)
    sop: str = setting(rule=string)
    vocab: tuple = setting(rule=vocabulary)
    train_lengths: tuple[int, int] = setting(rule=length_range)
    test_lengths: tuple[int, int] = setting(rule=length_range)   # after train_lengths
    causal: bool = setting(False, boolean)       # true for an autoregressive task
    sampler: Sampler = setting(Uniform(), sampler_of)
    format: str = setting(PER_POSITION, one_of(FORMATS))
    end_token: Any = setting(None, optional(token))   # in vocab; autoregressive tasks only
    # An autoregressive program whose selects read later positions, but only where no output
    # depends on them (examples/published/sort.rasp): its reference is compiled bidirectionally,
    # and every evaluation input confirms that one pass equals the token-by-token continuation.
    reads_ahead: bool = setting(False, boolean)

    def cross_check(self) -> None:
        train, test = self.train_lengths, self.test_lengths
        if test[0] <= train[1]:
            raise Invalid(f"must start after the training lengths end ({train[1]}), got "
                          f"{show(test)}", hint=f"e.g. test_lengths = [{train[1] + 1}, "
                                                f"{2 * train[1]}]", key="test_lengths")
        self._check_format()
        try:
            if isinstance(self.sampler, PromptSampler) != self.autoregressive:
                raise self._wrong_sampler()
            self.sampler.check(self.sampler_vocab, train[0], test[1])
        except SamplerError as error:
            raise Invalid(error.message, error.hint, error.key, SAMPLER_SECTION) from None
        if self.input_width(test) > limits.MAX_COMPILE_LENGTH:
            raise Invalid(f"the longest test input ({self.input_width(test):,} tokens) is "
                          f"longer than the compiler's limit of {limits.MAX_COMPILE_LENGTH:,} "
                          f"(the reference model is compiled for it)",
                          hint="test shorter lengths", key="test_lengths")

    def _check_format(self) -> None:
        if not self.autoregressive:
            if self.reads_ahead:
                raise Invalid('only an autoregressive program\'s outputs can be checked not to '
                              'depend on the positions it reads ahead', key="reads_ahead",
                              hint='set format = "autoregressive" or drop reads_ahead')
            if self.end_token is not None:
                raise Invalid(f'only autoregressive tasks end with a token, but format is '
                              f'"{self.format}"', hint='set format = "autoregressive" or drop '
                                                   'end_token', key="end_token")
            return
        if self.end_token is None:
            raise Invalid("missing: an autoregressive task continues its prompts up to an end "
                          "token", hint='add e.g. end_token = "$"', key="end_token")
        if value_key(self.end_token) not in {value_key(t) for t in self.vocab}:
            raise Invalid(f"{show(self.end_token)} is not in the vocab",
                          hint="add it to [task] vocab", key="end_token")
        if not self.causal:
            raise Invalid("must be true for an autoregressive task: each next token is "
                          "computed from the prefix alone", hint="set causal = true",
                          key="causal")

    def _wrong_sampler(self) -> SamplerError:
        name = self.sampler.name
        if self.autoregressive:
            return SamplerError("name", f"`{name}` draws whole inputs, but an autoregressive "
                                f"task needs a prompt sampler",
                                hint=f"use one of {', '.join(prompt_samplers())}")
        return SamplerError("name", f"`{name}` draws the prompts of autoregressive tasks",
                            hint='set [task] format = "autoregressive" and an end_token')

    @property
    def autoregressive(self) -> bool:
        return self.format == AUTOREGRESSIVE

    @property
    def sampler_vocab(self) -> tuple:
        """The tokens the sampler draws from: the vocabulary, less an autoregressive task's
        end token (which only the program writes)."""
        if not self.autoregressive:
            return self.vocab
        return tuple(t for t in self.vocab if value_key(t) != value_key(self.end_token))

    def input_width(self, lengths: tuple[int, int]) -> int:
        """The most tokens a model input of a task length in `lengths` has: the top length
        for a per-position task; for an autoregressive one the longest whole sequence less
        its end token, max_n sampler.max_sequence(n) - 1."""
        if not self.autoregressive:
            return lengths[1]
        return max(self.sampler.max_sequence(n) - 1 for n in range(lengths[0], lengths[1] + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for results.json); `format` and `end_token` only for an autoregressive
        task, so that a per-position task's record is what it was before formats existed."""
        return {"name": self.name, "program": str(self.program), "sop": self.sop,
                "vocab": list(self.vocab), "train_lengths": list(self.train_lengths),
                "test_lengths": list(self.test_lengths), "causal": self.causal,
                **({"format": self.format, "end_token": self.end_token}
                   if self.autoregressive else {}),
                **({"reads_ahead": True} if self.reads_ahead else {}),
                "sampler": {"name": self.sampler.name, **plain(self.sampler.options())}}
