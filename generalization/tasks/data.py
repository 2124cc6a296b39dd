"""A task's inputs and outputs as arrays for a learned model, labelled by the program.

Input ids: 0 is padding, 1..V the vocab tokens in the task's order. Output classes: every value
the s-op can output (taken from the compiled model), in the language's value order
(`rasp.values.value_order`), so the order does not depend on how the compiler listed them; a
label is an index into that list, and padded positions get label -1. Labels come from the
batched interpreter (`Program.run`), one call per batch.

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

import functools
import itertools
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

import numpy as np

from generalization.tasks.continuation import Runner, continue_prompts
from generalization.tasks.task import Task
from rasp.errors import RaspValueError
from rasp.evaluate import normalise_input
from rasp.program import Program
from rasp.values import value_key, value_kind, value_order

if TYPE_CHECKING:   # the compiled model is only read from; importing it would import JAX
    from compiler.model import CompiledModel

# Padding id of the input tokens and label of padded positions (ignored by losses and metrics).
PAD_ID = 0
IGNORE_LABEL = -1


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
        self.classes = sorted(output_values, key=value_order)
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
            if not continuation or value_key(continuation[-1]) != value_key(end):
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
