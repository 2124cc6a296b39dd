"""Tasks from programs: input samplers, the task description, and batches labelled by the program.

A task is a RASP program's s-op, a vocabulary, a training and a test range of input lengths, and
a sampler saying what an input of a given length looks like. Samplers are small classes in a
registry (after the task classes of DeepMind's neural_networks_chomsky_hierarchy), all with one
interface, `sample(rng, length, vocab) -> list`, and options that come from the experiment config:

    sampler = make_sampler("dyck", {"imbalance": 0.5})
    sampler.sample(np.random.default_rng(0), 6, ["(", ")"])    # e.g. ['(', '(', ')', ')', '(', ')']

`TaskData` turns inputs into arrays for a learned model. Input ids: 0 is padding, 1..V the vocab
tokens in the task's order. Output classes: every value the s-op can output (taken from the
compiled model), sorted by (type name, value) so the order does not depend on how the compiler
listed them; a label is an index into that list, and padded positions get label -1. Labels come
from the batched interpreter (`Program.run`), one call per batch.

Autoregressive tasks (`Task.format == "autoregressive"`) learn a causal program that computes
the next token from the prefix. Their sampler is a `PromptSampler`: it draws the prompt of a
task of length n (its own notion of length: numbers to count, tokens to copy) from the
vocabulary less the end token, and bounds the whole sequence at `max_sequence(n)` tokens.
`continue_prompts` appends the program's output at the last position until the end token, so
a whole sequence is s = prompt + continuation, its last token the end token. As the program is
causal, one pass over s[:-1] gives every next-token target at once (teacher forcing): the
model's input is s[:-1] and its labels are the outputs at positions len(prompt) - 1 ..
len(s) - 2 (the continuation's tokens, end token included), -1 over the rest of the prompt.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from compiler.model import CompiledModel
from rasp.values import value_key as token_key
from rasp.errors import RaspValueError, did_you_mean
from rasp.evaluate import normalise_input
from rasp.program import Program

# Padding id of the input tokens and label of padded positions (ignored by losses and metrics).
PAD_ID = 0
IGNORE_LABEL = -1


class SamplerError(RaspValueError):
    """A sampler that cannot be built or cannot serve a vocabulary; `key` is the bad option."""

    def __init__(self, key: str, message: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.key = key


# ---------------------------------------------------------------------------------- samplers


@dataclass(frozen=True)
class Sampler:
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
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}


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


@dataclass(frozen=True)
class Digits(Sampler):
    """A number written in base `base`: tokens are the vocabulary's digits ("0".."9" or 0..9)
    below `base`; without `leading_zeros` the first digit of a number longer than 1 is not 0."""

    name = "digits"
    base: int = 10
    leading_zeros: bool = True

    def __post_init__(self):
        if not 2 <= self.base <= 10:
            raise SamplerError("base", f"must be between 2 and 10, got {self.base}")

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
    base: int = field(default=2, init=False)


@dataclass(frozen=True)
class Addition(Sampler):
    """Two numbers around an operator, "a+b": the operands' digits (base 10) fill the other
    length - 1 positions, split at a uniformly random point so each has at least one digit."""

    name = "addition"
    operator: str = "+"
    leading_zeros: bool = True

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


# Bracket pairs `dyck` looks for in the vocabulary when no `pairs` are given.
KNOWN_PAIRS = ("()", "[]", "{}", "<>")


@dataclass(frozen=True)
class Dyck(Sampler):
    """Balanced-ish brackets. A random walk that never closes more than it opened and closes
    everything by the end (an odd length leaves one bracket open), each opener of a random
    kind and each closer matching its opener; then, with probability `imbalance`, one random
    position is overwritten by another bracket, which breaks the balance (or the nesting)."""

    name = "dyck"
    pairs: tuple[str, ...] = ()
    imbalance: float = 0.25

    def __post_init__(self):
        if not 0.0 <= self.imbalance <= 1.0:
            raise SamplerError("imbalance", f"must be a probability in [0, 1], got "
                               f"{self.imbalance}")
        for pair in self.pairs:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise SamplerError("pairs", f"each pair must be two different characters, "
                                   f"opener then closer, got {pair!r}", hint='e.g. ["()"]')

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


@dataclass(frozen=True)
class PromptSampler(Sampler):
    """The prompt of an autoregressive task of a given length, over the vocabulary less the
    end token; `max_sequence(length)` bounds the whole sequence (prompt, continuation and end
    token), which sizes the models and stops a program that never ends."""

    def max_sequence(self, length: int) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class CountPrompt(PromptSampler):
    """Zhou et al. (2023)'s counting "from a to b": the prompt [a, b, separator] with
    b - a + 1 = length, a uniform among the starts whose span a..b the vocabulary's numbers
    cover; the sequence is a, a+1, .., b, the end token: at most length + 4 tokens."""

    name = "count_prompt"
    separator: str = "|"

    def sample(self, rng: np.random.Generator, length: int, vocab: Sequence) -> list:
        numbers = self.numbers(vocab)
        starts = self.starts(numbers, length)
        if not starts:
            self.check(vocab, length, length)
        a = starts[int(rng.integers(len(starts)))]
        return [numbers[a], numbers[a + length - 1], self.separator]

    def max_sequence(self, length: int) -> int:
        return length + 4

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
    unique: bool = False
    separator: str = "|"

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


SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (Uniform, Unique, Digits, Binary, Addition, Dyck, CountPrompt,
                              CopyPrompt)}


def make_sampler(name: str, options: Mapping[str, Any] | None = None) -> Sampler:
    """The registered sampler `name` with `options`; `SamplerError` names a bad name or option."""
    cls = SAMPLERS.get(name)
    if cls is None:
        raise SamplerError("name", f"unknown sampler `{name}`",
                           hint=did_you_mean(name, SAMPLERS) or f"samplers: {', '.join(SAMPLERS)}")
    types = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    values = {}
    for key, value in (options or {}).items():
        if key not in known:
            raise SamplerError(key, f"the `{name}` sampler has no option `{key}`",
                               hint=did_you_mean(key, known) or
                               (f"its options: {', '.join(known)}" if known else
                                "it takes no options"))
        values[key] = _option_value(key, value, types[key])
    return cls(**values)


def _option_value(key: str, value: Any, expected: Any) -> Any:
    """`value` as the option's type; TOML gives lists where options hold tuples."""
    if expected is bool and isinstance(value, bool) or \
            expected is str and isinstance(value, str) or \
            expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected == tuple[str, ...] and isinstance(value, (list, tuple)) and \
            all(isinstance(v, str) for v in value):
        return tuple(value)
    wanted = {bool: "true or false", str: "a string", int: "an integer", float: "a number",
              tuple[str, ...]: "a list of strings"}[expected]
    raise SamplerError(key, f"must be {wanted}, got {value!r}")


def _number_value(token: Any) -> int | None:
    """The value of a non-negative integer token written in decimal ("12" or 12), else None."""
    if isinstance(token, str) and token.isdecimal() and token.isascii() and \
            (token == "0" or not token.startswith("0")):
        return int(token)
    if isinstance(token, int) and not isinstance(token, bool) and token >= 0:
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


def _digit_value(token: Any) -> int | None:
    if isinstance(token, str) and len(token) == 1 and token.isdigit():
        return int(token)
    if isinstance(token, int) and not isinstance(token, bool) and 0 <= token <= 9:
        return token
    return None


# -------------------------------------------------------------------------------------- task


# Task formats: a label at every position of an input, or next tokens after a prompt.
PER_POSITION = "per_position"
AUTOREGRESSIVE = "autoregressive"
FORMATS = (PER_POSITION, AUTOREGRESSIVE)


@dataclass(frozen=True)
class Task:
    """What to learn: a program's s-op on inputs over `vocab` drawn by `sampler`; train on
    lengths in `train_lengths`, test on `test_lengths` (both inclusive ranges). An
    autoregressive task (`format`) continues the sampler's prompts up to `end_token`."""

    name: str
    program: Path
    sop: str
    vocab: tuple
    train_lengths: tuple[int, int]
    test_lengths: tuple[int, int]
    causal: bool = False
    sampler: Sampler = Uniform()
    format: str = PER_POSITION
    end_token: Any = None

    @property
    def autoregressive(self) -> bool:
        return self.format == AUTOREGRESSIVE

    @property
    def sampler_vocab(self) -> tuple:
        """The tokens the sampler draws from: the vocabulary, less an autoregressive task's
        end token (which only the program writes)."""
        if not self.autoregressive:
            return self.vocab
        return tuple(t for t in self.vocab if token_key(t) != token_key(self.end_token))

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
                "sampler": {"name": self.sampler.name, **{
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in self.sampler.options().items()}}}


Runner = Callable[[list[list]], Sequence[Sequence[Any]]]
# A runner told which prompts its rows grew from (their indices), for a model whose inputs
# carry something drawn once per sequence (the learned model's index hints).
IndexedRunner = Callable[[list[int], list[list]], Sequence[Sequence[Any]]]


def continue_prompts(run: IndexedRunner, prompts: Sequence[Sequence[Any]], end_token: Any,
                     budgets: Sequence[int], vocab: Sequence[Any]) -> list[list]:
    """Greedy continuation by `run` (the indices of a batch of prompts and their token lists
    -> each list's outputs per position): prompt p grows by t_{k+1} = run([p + t_1..t_k])[-1],
    the output at its last position, until t_k is `end_token`, a token outside `vocab` (it
    cannot be read back), or k = budgets[i]. Returns each prompt's appended tokens t_1..t_k,
    the last one included. Each round runs, in one batch, only the rows still growing."""
    rows = [list(prompt) for prompt in prompts]
    added: list[list] = [[] for _ in rows]
    known = _Ids(vocab, first=0)
    end = token_key(end_token)
    growing = [i for i, budget in enumerate(budgets) if budget > 0]
    while growing:
        outputs = run(growing, [rows[i] for i in growing])
        still = []
        for i, output in zip(growing, outputs):
            token = output[-1]
            rows[i].append(token)
            added[i].append(token)
            if token_key(token) != end and known.has(token) and len(added[i]) < budgets[i]:
                still.append(i)
        growing = still
    return added


class Examples(NamedTuple):
    """Model inputs with their outputs: `inputs` token lists, `outputs` an s-op's output on
    each (per position), `labelled_from` the first position of each input that has a label
    (0; for an autoregressive task the prompt's last token)."""

    inputs: list[list]
    outputs: list[list]
    labelled_from: list[int]


class Batch(NamedTuple):
    """Inputs as arrays: `tokens` int32[B, T] (0 = PAD), `labels` int32[B, T] (-1 at padding),
    `mask` bool[B, T] (True at real tokens), and the inputs as token lists."""

    tokens: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    inputs: list[list]


class TaskData:
    """Encodes a task's inputs and outputs as ids and draws labelled batches from it."""

    def __init__(self, task: Task, program: Program, output_values: Iterable[Any]):
        program.sop(task.sop)  # a RaspNameError with a did-you-mean if the s-op is missing
        self.task = task
        self.program = program
        self.vocab = list(task.vocab)
        self.classes = sorted(output_values, key=_class_order)
        self._token_ids = _Ids(self.vocab, first=PAD_ID + 1)
        self._class_ids = _Ids(self.classes, first=0)
        # The class of an autoregressive task's end token, which its metrics score apart.
        self.end_class: int | None = None
        if task.autoregressive:
            if not self._class_ids.has(task.end_token):
                raise RaspValueError(
                    f"{task.name}: `{task.sop}` never outputs the end token "
                    f"{task.end_token!r}; its output values are {self.classes!r}",
                    hint="an autoregressive program outputs the end token once the sequence "
                         "is complete")
            self.end_class = self._class_ids.of([task.end_token])[0]

    @classmethod
    def from_model(cls, task: Task, program: Program, model: CompiledModel) -> TaskData:
        """The task's data with the compiled model's output values as classes."""
        if model.output_encoding != "categorical":
            raise RaspValueError(
                f"`{task.sop}` has a numerical output, but the harness trains classifiers and "
                f"needs an s-op with a categorical output (one of a fixed set of values)",
                hint="choose an s-op whose values are tokens, booleans or counts")
        return cls(task, program, model.output_values)

    @property
    def vocab_size(self) -> int:
        """Number of input ids, PAD included."""
        return len(self.vocab) + 1

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def examples(self, rng: np.random.Generator, batch_size: int,
                 lengths: tuple[int, int]) -> Examples:
        """`batch_size` samples, each of a task length drawn uniformly from the inclusive
        range, as model inputs labelled by the interpreter (`labelled`)."""
        drawn = rng.integers(lengths[0], lengths[1] + 1, size=batch_size).tolist()
        samples = self.task.sampler.sample_batch(rng, drawn, list(self.task.sampler_vocab))
        return self.labelled(samples, drawn)

    def labelled(self, samples: Sequence[list], lengths: Sequence[int],
                 run: Runner | None = None) -> Examples:
        """The sampler's `samples` (of task lengths `lengths`) as model inputs with the
        outputs of `run` (default: the interpreter) on them. A per-position sample is the
        input; an autoregressive one is a prompt, continued by the interpreter to a whole
        sequence s (`continuations`), and the input is s[:-1], labelled from the prompt's
        last position on."""
        if not self.task.autoregressive:
            run = run or functools.partial(self.program.run, self.task.sop)
            return Examples(list(samples), run(samples), [0] * len(samples))
        last_outputs: dict[int, list] = {}
        inputs = [prompt + continuation[:-1] for prompt, continuation in
                  zip(samples, self.continuations(samples, lengths, last_outputs))]
        # The continuation's last round ran the interpreter on each whole input already.
        outputs = run(inputs) if run else [last_outputs[i] for i in range(len(inputs))]
        return Examples(inputs, outputs, [len(prompt) - 1 for prompt in samples])

    def continuations(self, prompts: Sequence[list], lengths: Sequence[int],
                      last_outputs: dict[int, list] | None = None) -> list[list]:
        """The interpreter's continuation of each prompt (of task length lengths[i]), end
        token included; `RaspValueError` naming the task when one does not end within the
        sampler's bound on the whole sequence. `last_outputs`, when given, receives for each
        prompt index the interpreter's outputs on the prompt and its continuation without
        the end token (the input an autoregressive model is trained on)."""
        sampler, end = self.task.sampler, self.task.end_token
        budgets = [sampler.max_sequence(n) - len(p) for p, n in zip(prompts, lengths)]
        recorded = {} if last_outputs is None else last_outputs

        def interpreter(indices: list[int], rows: list[list]) -> list[list]:
            outputs = self.program.run(self.task.sop, rows)
            recorded.update(zip(indices, outputs))
            return outputs

        added = continue_prompts(interpreter, prompts, end, budgets, self.vocab)
        for prompt, n, budget, continuation in zip(prompts, lengths, budgets, added):
            if not continuation or token_key(continuation[-1]) != token_key(end):
                raise RaspValueError(
                    f"{self.task.name}: `{self.task.sop}` continues the prompt {prompt!r} with "
                    f"{continuation!r}, without the end token {end!r} within the {budget} "
                    f"tokens that `{sampler.name}` allows at length {n}",
                    hint="the program must output the end token once the sequence is "
                         "complete, and only tokens of the vocabulary before it")
        return added

    def batch(self, rng: np.random.Generator, batch_size: int, lengths: tuple[int, int],
              width: int | None = None) -> Batch:
        """A fresh batch labelled by the interpreter; T = `width` or the longest input."""
        examples = self.examples(rng, batch_size, lengths)
        return self._batch(examples.inputs, examples.outputs, width, examples.labelled_from)

    def fixed(self, inputs: Sequence[Any], expected_outputs: Sequence[Sequence[Any]],
              width: int | None = None, labelled_from: Sequence[int] | None = None) -> Batch:
        """Given inputs (strings or token lists) with given expected outputs, as a batch;
        positions before labelled_from[i] of input i get no label."""
        if len(inputs) != len(expected_outputs):
            raise RaspValueError(f"{len(inputs)} inputs but {len(expected_outputs)} outputs")
        return self._batch([normalise_input(t) for t in inputs], expected_outputs, width,
                           labelled_from)

    def encode_inputs(self, inputs: Sequence[Any],
                      width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids int32[B, T] (PAD after each input; T = `width` or the longest input) and
        the mask of real tokens bool[B, T]."""
        return self._encode([normalise_input(t) for t in inputs], width)

    def decode(self, label_ids: Sequence[int] | np.ndarray, length: int) -> list:
        """The output values of the first `length` predicted class ids."""
        return [self.classes[i] for i in np.asarray(label_ids)[:length].tolist()]

    def _batch(self, rows: list[list], outputs: Sequence[Sequence[Any]], width: int | None,
               labelled_from: Sequence[int] | None = None) -> Batch:
        tokens, mask = self._encode(rows, width)
        for row, row_outputs in zip(rows, outputs):
            if len(row_outputs) != len(row):
                raise RaspValueError(f"{len(row_outputs)} outputs for input {row!r} of length "
                                     f"{len(row)}")
        labels = np.full(tokens.shape, IGNORE_LABEL, dtype=np.int32)
        try:
            labels[mask] = self._class_ids.of(list(itertools.chain.from_iterable(outputs)))
        except KeyError:
            row, bad = _first_unknown(self._class_ids, rows, outputs)
            raise RaspValueError(
                f"`{self.task.sop}` outputs {bad!r} on input {row!r}, which is not one of its "
                f"output values {self.classes!r} (from the compiled model)",
                hint=f"the classes come from a model compiled for lengths up to "
                     f"{self.task.input_width(self.task.test_lengths)} over the task's vocab; "
                     f"longer inputs or other tokens can give values it never outputs") from None
        if labelled_from is not None:
            labels[np.arange(tokens.shape[1]) < np.asarray(labelled_from)[:, None]] = \
                IGNORE_LABEL
        return Batch(tokens, labels, mask, rows)

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
            row, bad = _first_unknown(self._token_ids, rows, rows)
            raise RaspValueError(f"token {bad!r} of input {row!r} is not in the task's "
                                 f"vocabulary {self.vocab!r}",
                                 hint="add it to [task] vocab") from None
        return tokens, mask


def _first_unknown(ids: _Ids, rows: list[list], values: Sequence[Sequence[Any]]) -> tuple:
    """The first input whose values include one without an id, and that value."""
    return next((row, v) for row, row_values in zip(rows, values)
                for v in row_values if not ids.has(v))


def _class_order(value: Any) -> tuple[str, Any]:
    """A stable order for output values of mixed types: by type name, then value."""
    return type(value).__name__, value


class _Ids:
    """Consecutive ids of distinct values that tell True from 1 (as `token_key` does) yet let
    1 and 1.0 match. Ids run every batch, so a sequence whose element types all belong to the
    values' single type family (str, bool, or int/float) is looked up by value, which cannot
    confuse bools with numbers there and is several times faster than building keys."""

    def __init__(self, values: Sequence[Any], first: int):
        self._keyed = {token_key(v): first + i for i, v in enumerate(values)}
        self._plain = {v: first + i for i, v in enumerate(values)}
        families = {token_key(v)[0] for v in values}
        self._fast_types = _FAMILY_TYPES[families.pop()] if len(families) == 1 else frozenset()

    def of(self, values: Sequence[Any]) -> list[int]:
        """The ids of `values`; KeyError if one is unknown."""
        if set(map(type, values)) <= self._fast_types:
            plain = self._plain
            return [plain[v] for v in values]
        keyed = self._keyed
        return [keyed[token_key(v)] for v in values]

    def has(self, value: Any) -> bool:
        return token_key(value) in self._keyed


_FAMILY_TYPES = {"str": frozenset({str}), "bool": frozenset({bool}),
                 "number": frozenset({int, float})}
