"""A task's inputs and outputs as arrays for a learned model, labelled by the program.

The ids are `encoding.py`'s; the classes are every value the s-op can output (taken from the
compiled model). Labels come from the batched interpreter (`Program.run`), one call per batch.

Autoregressive tasks (`Task.format == "autoregressive"`) learn a causal program that computes
the next token from the prefix. Their sampler is a `PromptSampler`: it draws the prompt of a
task of length n (its own notion of length: numbers to count, tokens to copy) from the
vocabulary less the end token, and bounds the whole sequence at `max_sequence(n)` tokens.
`continue_prompts` appends the program's output at the last position until the end token, so
a whole sequence is s = prompt + continuation, its last token the end token. A sampler that
knows its task's answer proposes the continuation instead, and one pass of the program over
prompt + proposal confirms it (`_confirmed_proposals`): the same labels, in one pass instead of
one per token. As the program is
causal, one pass over s[:-1] gives every next-token target at once (teacher forcing): the
model's input is s[:-1] and its labels are the outputs at positions len(prompt) - 1 ..
len(s) - 2 (the continuation's tokens, end token included), -1 over the rest of the prompt.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from generalization.tasks.continuation import Runner, continue_prompts
from generalization.tasks.encoding import IGNORE_LABEL, Encoding, first_unknown
from generalization.tasks.task import Task
from rasp.errors import RaspValueError
from rasp.evaluate import normalise_input
from rasp.program import Program
from rasp.values import value_key

if TYPE_CHECKING:   # the compiled model is only read from; importing it would import JAX
    from compiler.model import CompiledModel


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (unless it was off already).

    A labelling pass allocates tens of thousands of lists (inputs, outputs, proposals) that
    live until the pass ends, and none of them is in a reference cycle: reference counting
    frees them all. Left on, the collector counts them as survivors and every second pool or so
    scans the whole heap, which JAX and the compiled model make large: 80 ms for 160K objects
    here, a third of majority's pass at lengths 1-50 (`bench/bench_labelling.py`)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


class TaskData(Encoding):
    """A task's inputs and outputs as ids (`Encoding`), and labelled batches drawn from it."""

    def __init__(self, task: Task, program: Program, output_values: Iterable[Any],
                 propose: bool = True):
        """`propose=False` continues every prompt token by token, ignoring the sampler's
        proposals (the reference that `bench/bench_labelling.py` measures against)."""
        program.sop(task.sop)  # a RaspNameError with a did-you-mean if the s-op is missing
        super().__init__(task.vocab, output_values)
        self.task = task
        self.program = program
        self.propose = propose
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

    def examples(self, rng: np.random.Generator, batch_size: int,
                 lengths: tuple[int, int]) -> Examples:
        """`batch_size` samples, each of a task length drawn uniformly from the inclusive
        range, as model inputs labelled by the interpreter (`labelled`)."""
        return self.examples_of_many([rng], batch_size, lengths)[0]

    def examples_of_many(self, rngs: Sequence[np.random.Generator], batch_size: int,
                         lengths: tuple[int, int]) -> list[Examples]:
        """`examples` of each generator, labelled together: the interpreter evaluates a
        batch one input length at a time, so labelling many batches in one call spreads its
        cost per length over more inputs (several times faster for short programs)."""
        samples, drawn, sizes = [], [], []
        with _cycle_collection_paused():
            for rng in rngs:
                some = rng.integers(lengths[0], lengths[1] + 1, size=batch_size).tolist()
                samples += self.task.sampler.sample_batch(rng, some,
                                                          list(self.task.sampler_vocab))
                drawn += some
                sizes.append(len(some))
            together = self.labelled(samples, drawn)
        split, start = [], 0
        for size in sizes:
            split.append(Examples(*(part[start:start + size] for part in together)))
            start += size
        return split

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
        added = self._confirmed_proposals(prompts, budgets, recorded)
        growing = [i for i, continuation in enumerate(added) if continuation is None]

        def interpreter(indices: list[int], rows: list[list]) -> list[list]:
            outputs = self.program.run(self.task.sop, rows)
            recorded.update(zip((growing[i] for i in indices), outputs))
            return outputs

        if growing:
            grown = continue_prompts(interpreter, [prompts[i] for i in growing], end,
                                     [budgets[i] for i in growing], self.vocab)
            for i, continuation in zip(growing, grown):
                added[i] = continuation
        for prompt, n, budget, continuation in zip(prompts, lengths, budgets, added):
            if not continuation or value_key(continuation[-1]) != value_key(end):
                raise RaspValueError(
                    f"{self.task.name}: `{self.task.sop}` continues the prompt {prompt!r} with "
                    f"{continuation!r}, without the end token {end!r} within the {budget} "
                    f"tokens that `{sampler.name}` allows at length {n}",
                    hint="the program must output the end token once the sequence is "
                         "complete, and only tokens of the vocabulary before it")
        return added

    def _confirmed_proposals(self, prompts: Sequence[list], budgets: Sequence[int],
                             recorded: dict[int, list]) -> list[list | None]:
        """Each prompt's proposed continuation (`PromptSampler.proposal`) where one pass of the
        program over prompt + proposal (less its end token) confirms it, else None.

        Confirmed means: at every position j from the prompt's last token on, the program's
        output is the token at j + 1, and the end token comes last. Since the program is
        causal (its output at j reads positions <= j only), its output at j on the whole
        sequence is its output on the prefix up to j, so greedy continuation writes exactly
        the proposal: the labels are the program's, in one pass instead of one per token.
        (A proposal the program does not confirm is continued token by token instead.)"""
        if not self.propose:
            return [None] * len(prompts)
        end_token = self.task.end_token
        # What the program must write for a proposal to stand: the proposal itself when it is
        # strings alone (the usual vocabulary), compared with `==`, since a string equals only
        # the same string; else its `value_key`s, which tell True from 1.
        strings = {t for t in self.vocab if type(t) is str} if type(end_token) is str else set()
        end, known = value_key(end_token), {value_key(token) for token in self.vocab}
        proposals: list[list | None] = []
        expected: dict[int, list] = {}
        for i, (prompt, budget) in enumerate(zip(prompts, budgets)):
            proposal = self.task.sampler.proposal(list(prompt), end_token)
            wanted = None
            if proposal is not None and 0 < len(proposal) <= budget:
                if set(proposal) <= strings:
                    if proposal[-1] == end_token and end_token not in proposal[:-1]:
                        wanted = proposal
                else:
                    keys = [value_key(token) for token in proposal]
                    if keys[-1] == end and end not in keys[:-1] and set(keys) <= known:
                        wanted = keys
            proposals.append(None if wanted is None else proposal)
            if wanted is not None:
                expected[i] = wanted
        if not expected:
            return proposals
        rows = [list(prompts[i]) + proposals[i][:-1] for i in expected]
        for (i, wanted), outputs in zip(expected.items(), self.program.run(self.task.sop, rows)):
            written = outputs[len(prompts[i]) - 1:]
            if wanted is not proposals[i]:
                written = [value_key(value) for value in written]
            if written == wanted:
                recorded[i] = outputs
            else:
                proposals[i] = None
        return proposals

    def batch(self, rng: np.random.Generator, batch_size: int, lengths: tuple[int, int],
              width: int | None = None) -> Batch:
        """A fresh batch labelled by the interpreter; T = `width` or the longest input."""
        return self.batch_of(self.examples(rng, batch_size, lengths), width)

    def batch_of(self, examples: Examples, width: int | None = None) -> Batch:
        """Labelled examples as a batch; T = `width` or the longest input."""
        return self._batch(examples.inputs, examples.outputs, width, examples.labelled_from)

    def fixed(self, inputs: Sequence[Any], expected_outputs: Sequence[Sequence[Any]],
              width: int | None = None, labelled_from: Sequence[int] | None = None) -> Batch:
        """Given inputs (strings or token lists) with given expected outputs, as a batch;
        positions before labelled_from[i] of input i get no label."""
        if len(inputs) != len(expected_outputs):
            raise RaspValueError(f"{len(inputs)} inputs but {len(expected_outputs)} outputs")
        return self._batch([normalise_input(t) for t in inputs], expected_outputs, width,
                           labelled_from)

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
            row, bad = first_unknown(self._class_ids, rows, outputs)
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
