"""Our Haiku-free assembly writes exactly tracr's weights, and our forward pass is tracr's.

For a few programs the craft model is built the way `compiler.compile` builds it (analysis,
lowering, craft), then assembled twice: by `compiler.assemble.assemble` and by tracr's
`assemble_craft_model` (which initialises a Haiku model and overwrites its parameters).
Every matrix must be identical, tracr's biases all zero, and both forward passes (our jitted
batched one, tracr's Haiku `forward`) must give the same residual stream and the same outputs
on the same token ids.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tracr.compiler import assemble as tracr_assemble
from tracr.rasp import rasp as tracr_rasp

import compiler
import rasp
from compiler import analysis, craft
from compiler.assemble import assemble
from compiler.weights import Weights, from_dense
from compiler.compile import _check_vocab
from compiler.lower import Lowering

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


@dataclass
class Assembled:
    ours: Weights
    tracr: tracr_assemble.AssembledTransformerModel
    model: compiler.CompiledModel   # what compiler.compile returns for the same program
    compiled: Weights               # its own weights (compiles are deterministic: these)
    vocab: Sequence[Any]
    max_seq_len: int


def assemble_both(program: rasp.Program, sop: str, vocab: Sequence[Any], max_seq_len: int,
                  causal: bool = False) -> Assembled:
    node = program.sop(sop)
    tokens = _check_vocab(vocab, max_seq_len)
    selectors = analysis.profile(node, analysis.sample_inputs(tokens, max_seq_len))
    lowering = Lowering(tokens, max_seq_len, selectors, causal=causal)
    tip = lowering.lower_output(node)
    built = craft.build(tip, lowering, tokens, max_seq_len, causal)
    spaces = (craft.tokens_space(tokens), craft.indices_space(max_seq_len),
              craft.output_space(built))
    ours = assemble(built.model, *spaces).dense()
    theirs = tracr_assemble.assemble_craft_model(
        built.model, *spaces, categorical_output=tracr_rasp.is_categorical(tip), causal=causal)
    # The model `compiler.compile` returns for the program, with the weights assembled here.
    compiled = compiler.compile(program, sop, vocab, max_seq_len, causal=causal, verify=False)
    model = dataclasses.replace(compiled, blocks=from_dense(ours), _dense=ours, _params=None)
    return Assembled(ours, theirs, model, compiled.weights, list(vocab), max_seq_len)


CASES = {
    # id: (source file or text, s-op, vocabulary, max_seq_len, causal)
    "reverse": ("reverse.rasp", "reverse", "abc", 5, False),
    "sort": ("sort.rasp", "sort_tokens", "abc", 5, False),
    "frac_prevs_numerical": ("frac_prevs.rasp", "frac_prevs", "xa", 6, False),
    "dyck1": ("dyck1.rasp", "dyck1", "()", 6, False),
    "shift_default_fill": ("shift.rasp", "shift_right", "abc", 5, False),
    "double_histogram": ("double_histogram.rasp", "hist2", "abc", 5, False),
    "two_heads_in_a_layer": ('a = selector_width(select(tokens, "a", ==));\n'
                             'b = aggregate(select(indices, indices, <=), indicator(tokens == "b"));\n'
                             "x = a + b;", "x", "ab", 4, False),
    "causal_prefix_count": ('x = selector_width(select(tokens, "a", ==) and '
                            "select(indices, indices, <=));", "x", "ab", 5, True),
    # our own blocks: a signed categorical-to-numerical map, an MLP reading an aggregate
    # that can select nothing (with a select reading `indices + 1` through `indices`), and
    # two selector widths in one layer (each with its own BOS-cleaning unit)
    "negative_numerical_map": ("x = numerical(indices - 2) + 1;", "x", "ab", 4, False),
    "empty_aggregate_read_by_an_mlp": ('x = shift(tokens, 1, "-") == tokens;', "x", "ab", 5,
                                       False),
    "two_selector_widths": ('a = selector_width(select(tokens, "a", ==));\n'
                            'b = selector_width(select(tokens, "b", ==));\n'
                            "x = a + b;", "x", "ab", 4, False),
}


def _load(source: str) -> rasp.Program:
    return rasp.load(EXAMPLES_DIR / source) if source.endswith(".rasp") else rasp.loads(source)


# Compared in the default run (tracr's lookup head, a causal count, our numerical map and our
# MLP over an aggregate that can select nothing); the others in the slow run, each costing
# 3-6 s of tracr assembly.
DEFAULT_CASES = {"reverse", "causal_prefix_count", "negative_numerical_map",
                 "empty_aggregate_read_by_an_mlp"}


@pytest.fixture(scope="module", ids=sorted(CASES), params=[
    pytest.param(name, marks=() if name in DEFAULT_CASES else pytest.mark.slow)
    for name in sorted(CASES)])
def assembled(request) -> Assembled:
    source, sop, vocab, max_seq_len, causal = CASES[request.param]
    return assemble_both(_load(source), sop, vocab, max_seq_len, causal)


def _tracr_matrix(params: dict, module: str, name: str = "w") -> np.ndarray:
    return np.asarray(params[module][name])


def test_embeddings_equal_tracrs(assembled):
    params = assembled.tracr.params
    # tracr's params are float32 copies of the float64 matrices both assemblies compute
    assert np.array_equal(assembled.ours.token_embed.astype(np.float32),
                          _tracr_matrix(params, "token_embed", "embeddings"))
    assert np.array_equal(assembled.ours.pos_embed.astype(np.float32),
                          _tracr_matrix(params, "pos_embed", "embeddings"))
    assert assembled.ours.residual_labels == assembled.tracr.residual_labels


def test_compile_returns_these_weights(assembled):
    ours, compiled = assembled.ours, assembled.compiled
    assert compiled.residual_labels == ours.residual_labels
    assert np.array_equal(compiled.token_embed, ours.token_embed)
    assert np.array_equal(compiled.unembed, ours.unembed)
    assert len(compiled.layers) == len(ours.layers)
    for mine, theirs in zip(compiled.layers, ours.layers):
        assert all(np.array_equal(mine[name], theirs[name]) for name in theirs)


def test_layer_weights_equal_tracrs(assembled):
    params = assembled.tracr.params
    layers = assembled.ours.layers
    assert len(layers) == assembled.tracr.model_config.num_layers
    assert assembled.ours.num_heads == assembled.tracr.model_config.num_heads
    assert assembled.ours.key_size == assembled.tracr.model_config.key_size
    assert assembled.ours.mlp_hidden_size == assembled.tracr.model_config.mlp_hidden_size
    for i, layer in enumerate(layers):
        modules = {
            "query": f"transformer/layer_{i}/attn/query",
            "key": f"transformer/layer_{i}/attn/key",
            "value": f"transformer/layer_{i}/attn/value",
            "linear": f"transformer/layer_{i}/attn/linear",
            "linear_1": f"transformer/layer_{i}/mlp/linear_1",
            "linear_2": f"transformer/layer_{i}/mlp/linear_2",
        }
        assert set(layer) == set(modules)
        for ours_name, tracr_name in modules.items():
            theirs = _tracr_matrix(params, tracr_name)
            assert layer[ours_name].shape == theirs.shape, (i, ours_name)
            assert np.array_equal(layer[ours_name].astype(np.float32), theirs), (i, ours_name)
            assert not np.any(_tracr_matrix(params, tracr_name, "b")), (i, ours_name, "bias")


def _inputs(vocab: Sequence[Any], max_seq_len: int) -> list[list]:
    short = [list(c) for n in range(1, 3) for c in itertools.product(vocab, repeat=n)]
    full = [list(c) for c in itertools.product(vocab, repeat=max_seq_len)]
    return short + full[::max(1, len(full) // 12)]


def _tracr_forward(assembled: Assembled, ids: np.ndarray):
    """tracr's Haiku forward on one unpadded row of token ids (BOS first)."""
    forward = jax.jit(assembled.tracr.forward)
    return forward(assembled.tracr.params, jnp.asarray(ids)[None])


def test_forward_pass_equals_tracrs_on_the_same_token_ids(assembled):
    model = assembled.model
    rows = _inputs(assembled.vocab, assembled.max_seq_len)
    ids, _ = model.encode(rows)
    residuals = model.residuals(rows)
    ours_out = model.raw_outputs(rows)
    categorical = model.output_encoding == "categorical"
    for i, row in enumerate(rows):
        width = len(row) + 1   # BOS and the tokens: tracr runs without padding
        output = _tracr_forward(assembled, ids[i, :width])
        tracr_residuals = [np.asarray(r[0]) for r in output.transformer_output.residuals]
        assert len(tracr_residuals) == len(residuals)
        for ours_r, tracr_r in zip(residuals, tracr_residuals):
            assert np.allclose(ours_r[i, :width], tracr_r, rtol=1e-5, atol=1e-4), row
        unembedded = np.asarray(output.unembedded_output[0])
        if categorical:
            assert np.array_equal(ours_out[i, 1:width].argmax(-1), unembedded[1:]), row
        else:
            assert np.allclose(ours_out[i, 1:width, 0], unembedded[1:], atol=1e-4), row


def test_decoded_outputs_equal_tracrs_decoded_outputs(assembled):
    model = assembled.model
    rows = _inputs(assembled.vocab, assembled.max_seq_len)
    ids, _ = model.encode(rows)
    decoded = model.run(rows)
    for i, row in enumerate(rows):
        output = _tracr_forward(assembled, ids[i, :len(row) + 1])
        unembedded = np.asarray(output.unembedded_output[0])[1:]
        if model.output_encoding == "categorical":
            tracr_decoded = [model.output_values[int(k)] for k in unembedded]
        else:
            values = np.asarray(model.output_values, dtype=np.float64)
            tracr_decoded = [model.output_values[int(np.abs(values - v).argmin())]
                             for v in unembedded.reshape(-1)]
        assert decoded[i] == tracr_decoded, row
