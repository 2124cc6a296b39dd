"""Random well-typed programs: the compiler refuses them or compiles them exactly.

For every generated program (`program_strategies.programs`) the compiler either raises
`CompileError` (counted: e.g. a mean of non-0/1 values is rightly refused) or returns a model
that agrees with the interpreter on EVERY input of length 1..5 over the program's vocabulary
(max_seq_len 5, compiled with verify=False so that the comparison here is the only check;
a quarter of them with causal=True, where programs that read later positions must be refused).
Nothing but a `RaspError` may escape.

The compiled model must also keep the BOS position clean: after every sub-layer it holds only
its embedding (`one` and the BOS token), which tracr's attention relies on (BOS is selected,
with value 0, exactly where a query selects nothing). MLPs that wrote there were the cause of
wrong keys and wrong defaults.
"""

from __future__ import annotations

import collections
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings

import compiler
import rasp
from compiler.verify import outputs_equal
from program_strategies import RandomProgram, programs

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
MAX_SEQ_LEN = 5
CHECKED_LENGTH = 5   # every input the model accepts
BOS_CHECKED = 8      # inputs whose BOS position is checked after every sub-layer

def all_inputs(vocab, max_len: int) -> list[list]:
    return [list(combo) for length in range(1, max_len + 1)
            for combo in itertools.product(vocab, repeat=length)]


# ------------------------------------------------------------------ clean BOS


def residuals(model: compiler.CompiledModel, inputs: list[list]) -> list[np.ndarray]:
    """The residual stream after every sub-layer, [batch, position, residual] (BOS first):
    the model's forward pass in numpy (it is the same as `model.residuals`, and JAX
    dispatching it op by op would take most of this module's time)."""
    ids, mask = model.encode(inputs)
    ids, mask = ids[:len(inputs)], mask[:len(inputs)]
    w = model.weights
    batch, width = ids.shape
    x = w.token_embed[ids] + w.pos_embed[None, :width]
    allowed = mask[:, None, None, :]
    if model.causal:
        allowed = allowed & np.tril(np.ones((width, width), dtype=bool))[None, None]
    result = []
    for layer in w.layers:
        def heads(matrix):
            return (x @ matrix).reshape(batch, width, w.num_heads, w.key_size)
        logits = np.einsum("bthd,bThd->bhtT", heads(layer["query"]), heads(layer["key"]))
        logits = np.where(allowed, logits / np.sqrt(w.key_size), -1e30)
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        attended = np.einsum("bhtT,bThd->bthd", weights, heads(layer["value"]))
        x = x + attended.reshape(batch, width, -1) @ layer["linear"]
        result.append(x)
        x = x + np.maximum(x @ layer["linear_1"], 0) @ layer["linear_2"]
        result.append(x)
    return result


def assert_bos_is_clean(model: compiler.CompiledModel, inputs: list[list]) -> None:
    """After every sub-layer the BOS position holds its embedding alone: 1 on `one` (when the
    model uses it) and on the BOS token, 0 elsewhere. One exception, tracr's design: a
    selector width's head writes at BOS into a scratch dimension of its own, which only its
    MLP reads, and which that MLP (the next sub-layer) clears."""
    labels = model.weights.residual_labels
    embedding = np.array([1.0 if label in ("one", f"tokens:{model.bos}") else 0.0
                          for label in labels])
    scratch = np.array([label.endswith("_selector_width_attn_output") for label in labels])
    for sub_layer, residual in enumerate(residuals(model, inputs)):
        dirty = np.abs(residual[:, 0, :] - embedding).max(axis=0) > 1e-4
        if sub_layer % 2 == 0:
            dirty &= ~scratch
        assert not dirty.any(), (f"sub-layer {sub_layer} writes at BOS: "
                                 f"{[label for label, d in zip(labels, dirty) if d]}")


# ----------------------------------------------------------------- the check


def check_program(generated: RandomProgram, stats: collections.Counter) -> None:
    try:
        program = rasp.loads(generated.source, filename="random.rasp")
    except rasp.RaspError as error:  # the generator promises well-typed programs
        pytest.fail(f"generated program does not load: {error}\n{generated.source}")
    try:
        model = compiler.compile(program, "out", generated.vocab, MAX_SEQ_LEN,
                                 causal=generated.causal, verify=False)
    except compiler.CompileError as error:
        stats["refused"] += 1
        event(f"refused: {error.message.split(',')[0][:60]}")
        return
    inputs = all_inputs(generated.vocab, CHECKED_LENGTH)
    expected = program.run("out", inputs)
    actual = model.run(inputs)
    wrong = [(tokens, want, got) for tokens, want, got in zip(inputs, expected, actual)
             if not outputs_equal(want, got)]
    assert not wrong, (f"compiled model disagrees with the interpreter on {len(wrong)} of "
                       f"{len(inputs)} inputs, e.g. (input, interpreter, model): {wrong[:3]}\n"
                       f"vocab {''.join(generated.vocab)!r}, max_seq_len {MAX_SEQ_LEN}\n"
                       f"{generated.source}")
    assert_bos_is_clean(model, inputs[-BOS_CHECKED:])
    stats["compiled"] += 1
    event("compiled and matches")


def run_random_programs(examples: int) -> collections.Counter:
    stats: collections.Counter = collections.Counter()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(programs())
    def check(generated: RandomProgram) -> None:
        stats["programs"] += 1
        check_program(generated, stats)

    check()
    summary = ", ".join(f"{key}: {value}" for key, value in sorted(stats.items()))
    print(f"\nrandom programs: {summary}; compiled fraction "
          f"{stats['compiled'] / max(1, stats['programs']):.2f}")
    return stats


def test_random_programs_are_refused_or_compiled_exactly():
    stats = run_random_programs(60)
    # the generator must keep producing programs that compile, or it tests nothing
    assert stats["compiled"] >= 0.5 * stats["programs"], stats


@pytest.mark.slow
def test_many_random_programs_are_refused_or_compiled_exactly():
    stats = run_random_programs(5000)
    assert stats["compiled"] >= 0.5 * stats["programs"], stats


# ------------------------------------------------ the BOS check's own checks


@pytest.mark.parametrize("source", [
    'y = shift(tokens, 1, "-");\nx = aggregate(select(indices, indices + 1, ==), y, "z");',
    'f = aggregate(select(tokens, "a", ==), 1) > 0;\nx = selector_width(select(f, False, ==));',
    'a = selector_width(select(tokens, "a", ==));\nb = selector_width(select(tokens, "b", ==));\n'
    "x = a + b;",
    "x = numerical(indices - 2) + 1;",
], ids=["double_shift", "bos_key", "two_selector_widths_in_a_layer", "numerical_maps"])
def test_models_that_used_to_write_at_bos_keep_it_clean(source):
    program = rasp.loads(source)
    model = compiler.compile(program, "x", "ab", MAX_SEQ_LEN, verify=False)
    inputs = all_inputs("ab", CHECKED_LENGTH)
    assert model.run(inputs) == program.run("x", inputs)
    assert_bos_is_clean(model, inputs[-BOS_CHECKED:])


def test_numpy_residuals_are_the_models():
    program = rasp.load(EXAMPLES_DIR / "sort.rasp")
    model = compiler.compile(program, "sort_tokens", "abc", MAX_SEQ_LEN, verify=False)
    inputs = all_inputs("abc", 3)
    for ours, its in zip(residuals(model, inputs), model.residuals(inputs)):
        assert np.allclose(ours, its[:len(inputs)], atol=1e-4)


def test_bos_check_notices_a_sub_layer_that_writes_at_bos():
    # the default fill of `shift` writes its default at BOS without the BOS rows of the
    # first MLP layer, which switch its hidden units off there
    program = rasp.loads('x = shift(tokens, 1, "-");')
    model = compiler.compile(program, "x", "ab", MAX_SEQ_LEN, verify=False)
    bos_row = model.weights.residual_labels.index(f"tokens:{model.bos}")
    for layer in model.weights.layers:
        layer["linear_1"][bos_row, :] = 0.0
    model._params = None
    with pytest.raises(AssertionError, match="writes at BOS"):
        assert_bos_is_clean(model, all_inputs("ab", 2))
