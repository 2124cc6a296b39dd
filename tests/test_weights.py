"""A compiled model's weights as blocks (`compiler/weights.py`), and its size before it is
built (`compiler.compiled_size`): the blocks hold the dense layout's numbers, run to the same
outputs, and are counted as the dry run counts them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp
from compiler import model as model_module
from compiler.weights import from_dense

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASES = [
    # (program, s-op, vocab, max length, causal)
    ("sort.rasp", "sort_tokens", "abc", 6, False),
    ("suite/majority.rasp", "majority", "abc", 8, False),
    ("suite/copy_unique.rasp", "copy_unique", "abc|$", 8, True),
    ("frac_prevs.rasp", "frac_prevs", "xa", 6, False),
]


# sort_tokens and frac_prevs in the default run (categorical and numerical blocks); the larger
# majority and copy_unique (6 s each) in the slow run.
@pytest.fixture(scope="module", ids=[c[1] for c in CASES], params=[
    pytest.param(case, marks=pytest.mark.slow if case[1] in ("majority", "copy_unique") else ())
    for case in CASES])
def compiled(request):
    file, sop, vocab, max_len, causal = request.param
    program = rasp.load(EXAMPLES / file)
    return program, sop, vocab, max_len, causal, compiler.compile(
        program, sop, vocab, max_len, causal=causal)


def test_the_dense_layout_cut_back_into_blocks_runs_to_the_same_outputs(compiled):
    program, sop, vocab, max_len, causal, model = compiled
    dense = model.weights
    again = dataclasses.replace(model, blocks=from_dense(dense), _dense=None, _params=None)
    rng = np.random.default_rng(0)
    inputs = [[str(t) for t in rng.choice(list(vocab), size=rng.integers(1, max_len + 1))]
              for _ in range(64)]
    assert again.run(inputs) == model.run(inputs) == program.run(sop, inputs)
    # cutting keeps every non-zero number and drops only zeros
    for name in ("token_embed", "pos_embed", "unembed"):
        np.testing.assert_array_equal(getattr(again.weights, name), getattr(dense, name))
    for ours, theirs in zip(again.weights.layers, dense.layers):
        for name in ("linear_1", "linear_2"):
            np.testing.assert_array_equal(ours[name], theirs[name])


def test_blocks_hold_fewer_numbers_than_the_dense_layout_and_count_them(compiled):
    *_, model = compiled
    blocks = model.blocks
    assert model.parameter_count() <= model.dense_parameter_count()
    assert model.dense_parameter_count() == model.weights.parameter_count()
    counted = blocks.token_embed.size + blocks.pos_embed.size + blocks.unembed.size + sum(
        sum(w.size for w in (h.w_q, h.w_k, h.w_v, h.w_o)) for layer in blocks.layers
        for h in layer.heads) + sum(layer.mlp.w_1.size + layer.mlp.w_2.size
                                    for layer in blocks.layers if layer.mlp is not None)
    assert model.parameter_count() == counted


def test_compiled_size_is_the_size_compile_gives(compiled):
    program, sop, vocab, max_len, causal, model = compiled
    size = compiler.compiled_size(program, sop, vocab, max_len, causal=causal)
    assert (size.layers, size.heads_per_layer, size.residual_width, size.parameters,
            size.dense_parameters) == (model.num_layers, model.heads_per_layer(),
                                       model.residual_width, model.parameter_count(),
                                       model.dense_parameter_count())
    assert (size.key_size, size.mlp_hidden_size) == (model.weights.key_size,
                                                     model.weights.mlp_hidden_size)


def test_compiled_size_refuses_what_compile_refuses():
    program = rasp.loads("m = numerical(aggregate(select(indices, indices, <=), indices));")
    with pytest.raises(compiler.CompileError, match="average"):
        compiler.compiled_size(program, "m", [1, 2], 4)


def test_the_block_forward_and_the_dense_forward_compute_the_same(compiled, monkeypatch):
    # small models run on the dense layout (`DENSE_RUN_PARAMETERS`), large ones on blocks
    program, sop, vocab, max_len, causal, model = compiled
    rng = np.random.default_rng(1)
    inputs = [[str(t) for t in rng.choice(list(vocab), size=rng.integers(1, max_len + 1))]
              for _ in range(64)]
    dense = dataclasses.replace(model, _params=None)
    assert dense.runs_dense()
    outputs, residuals = dense.raw_outputs(inputs), dense.residuals(inputs[:4])
    monkeypatch.setattr("compiler.model.DENSE_RUN_PARAMETERS", 0)
    on_blocks = dataclasses.replace(model, _params=None)
    assert not on_blocks.runs_dense()
    assert on_blocks.run(inputs) == program.run(sop, inputs)
    np.testing.assert_allclose(on_blocks.raw_outputs(inputs), outputs, atol=1e-4)
    for ours, theirs in zip(on_blocks.residuals(inputs[:4]), residuals):
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_both_forwards_ask_for_full_float32_precision_in_every_matmul(compiled, monkeypatch):
    # On a GPU JAX's default float32 matmul is TF32, under which tracr's weights are not exact
    # (an H200 run disagreed with the interpreter). The CPU computes float32 either way, so the
    # check is on what the lowered program asks for.
    *_, model = compiled
    for on_blocks in (False, True):
        if on_blocks:
            monkeypatch.setattr("compiler.model.DENSE_RUN_PARAMETERS", 0)
        built = dataclasses.replace(model, _params=None)
        assert built.runs_dense() is not on_blocks
        forward = model_module._jitted_block_forward if on_blocks else \
            model_module._jitted_dense_forward
        ids, mask = built.encode([[built.vocab[0]]])
        text = forward.lower(built.params(), ids, mask, built.causal,
                             built.blocks.logit_scale).as_text()
        dots = [line for line in text.splitlines() if "dot_general" in line]
        assert dots and all("precision = [HIGHEST, HIGHEST]" in line for line in dots)


def test_on_an_accelerator_every_call_runs_at_one_shape(compiled, monkeypatch):
    # XLA compiles, and autotunes, each new input shape on a GPU (48-52 s a shape on an H200,
    # against milliseconds a call), so there every call of the model has one shape; the CPU
    # keeps the widths and batch sizes that save positions. Both give the program's outputs.
    program, sop, vocab, max_len, causal, model = compiled
    monkeypatch.setattr("compiler.model.WIDTH_BUCKETING_WORK", 0)   # widths by length on the CPU
    monkeypatch.setattr("compiler.model.ACTIVATION_BUDGET", 0)      # chunks of 8 inputs
    shapes = []
    forward = model_module.CompiledModel._forward

    def recorded(self, ids, mask):
        shapes.append(ids.shape)
        return forward(self, ids, mask)

    monkeypatch.setattr(model_module.CompiledModel, "_forward", recorded)
    rng = np.random.default_rng(2)
    inputs = [[str(t) for t in rng.choice(list(vocab), size=rng.integers(1, max_len + 1))]
              for _ in range(40)]
    batches = [inputs[:1], inputs[1:4], inputs[4:]]
    expected = [program.run(sop, batch) for batch in batches]
    assert [model.run(batch) for batch in batches] == expected
    assert len(set(shapes)) > 1
    shapes.clear()
    monkeypatch.setattr("compiler.model.SHAPE_SAVING_BACKENDS", ())
    assert [model.run(batch) for batch in batches] == expected
    assert set(shapes) == {(8, max_len + 1)}
