"""The learned transformer's contract: shapes, parameter count, config checks, jit and vmap.

Shapes and parameter counts are checked with `jax.eval_shape` (tracing without compiling), so
many configurations cost almost nothing; the few real runs use one tiny configuration whose
weight matrices all have one shape, because compiling dominates these tests' run time.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model, count_parameters
from generalization.models.config import POSITION_KINDS

BATCH, LENGTH = 2, 5
TINY = ModelConfig(vocab_size=8, num_classes=8, num_layers=2, num_heads=2, width=8,
                   mlp_width=8, max_position=8)
LEARNED_TABLES = ("learned", "offset", "randomized", "index_hints", "compiled")


def inputs(config: ModelConfig, seed: int = 0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Random tokens, positions 0..T-1 and a mask with the last token of row 0 padded."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, config.vocab_size, size=(BATCH, LENGTH), dtype=np.int32)
    mask = np.ones((BATCH, LENGTH), dtype=bool)
    mask[0, -1] = False
    tokens[~mask] = 0
    positions = np.tile(np.arange(LENGTH, dtype=np.int32), (BATCH, 1))
    return jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask)


def expected_parameters(config: ModelConfig) -> int:
    """Embeddings (+ a BOS vector and its table row) + L blocks (2 LayerNorms, q/k/v/output
    projections, 2-layer MLP) + final LayerNorm + head, every Linear with a bias."""
    width, hidden = config.width, config.hidden_width
    rows = config.max_position + config.bos
    table = rows * width if config.positions in LEARNED_TABLES else 0
    norm = 2 * width if config.layer_norm else 0
    block = 2 * norm + 4 * (width * width + width) + (width * hidden + hidden) + (
        hidden * width + width)
    head = norm + width * config.num_classes + config.num_classes
    return (config.vocab_size + config.bos) * width + table + config.num_layers * block + head


# ------------------------------------------------------------------ config


def test_config_defaults_and_frozen_plain_data():
    config = ModelConfig(vocab_size=4, num_classes=3, num_layers=2, num_heads=1)
    assert (config.width, config.mlp_width, config.positions, config.max_position,
            config.causal) == (64, 0, "learned", 256, False)
    assert config.hidden_width == 4 * 64
    assert dataclasses.replace(config, mlp_width=100).hidden_width == 100
    assert dataclasses.asdict(config)["positions"] == "learned"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.width = 8  # type: ignore[misc]


@pytest.mark.parametrize("change, message", [
    ({"positions": "absolute"}, "unknown positional encoding 'absolute'"),
    ({"width": 10, "num_heads": 3}, r"width \(10\) must be divisible by num_heads \(3\)"),
    ({"positions": "rope", "width": 6, "num_heads": 2}, "'rope'.*even head size"),
    ({"vocab_size": 0}, "vocab_size must be >= 1, got 0"),
    ({"num_layers": -1}, "num_layers must be >= 0, got -1"),
    ({"mlp_width": -4}, "mlp_width must be >= 0, got -4"),
    ({"activation": "tanh"}, "activation must be one of gelu, relu, got 'tanh'"),
])
def test_build_model_rejects_impossible_configs(change, message):
    with pytest.raises(ValueError, match=message):
        build_model(dataclasses.replace(TINY, **change))


# ------------------------------------------------------------------ shapes and parameters


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_logits_have_one_row_per_token_and_class(kind, causal):
    # Distinct sizes, so that a swapped axis cannot go unnoticed.
    config = ModelConfig(vocab_size=5, num_classes=3, num_layers=2, num_heads=3, width=12,
                         positions=kind, max_position=16, causal=causal)
    net = build_model(config)
    tokens, positions, mask = inputs(config)
    params = jax.eval_shape(net.init, jax.random.key(0), tokens, positions, mask)
    out = jax.eval_shape(net.apply, params, tokens, positions, mask)
    assert out.shape == (BATCH, LENGTH, 3) and out.dtype == jnp.float32


@pytest.mark.parametrize("layers, mlp_width", [(0, 0), (1, 0), (3, 20)])
@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_parameter_count_formula(kind, layers, mlp_width):
    config = ModelConfig(vocab_size=5, num_classes=3, num_layers=layers, num_heads=2, width=12,
                         mlp_width=mlp_width, positions=kind, max_position=16)
    net = build_model(config)
    params = jax.eval_shape(net.init, jax.random.key(0), *inputs(config))
    assert count_parameters(params) == expected_parameters(config)


@pytest.mark.parametrize("kind", ["learned", "rope"])
def test_compiled_maths_options_change_only_what_they_name(kind):
    # No LayerNorm parameters, one BOS vector and one more table row; same logits shape.
    config = ModelConfig(vocab_size=5, num_classes=3, num_layers=2, num_heads=2, width=12,
                         positions=kind, max_position=16, layer_norm=False, activation="relu",
                         bos=True)
    net = build_model(config)
    params = jax.eval_shape(net.init, jax.random.key(0), *inputs(config))
    assert count_parameters(params) == expected_parameters(config)
    assert not any(name.startswith("ln_") or "/ln_" in name for name in params)
    out = jax.eval_shape(net.apply, params, *inputs(config))
    assert out.shape == (BATCH, LENGTH, 3)


def test_bos_is_the_first_token_at_a_training_offset():
    # Huang et al.'s <bos> takes the first position id, so a sequence at offset o reads the
    # table rows o, o+1, ..: the same logits as ids from 0 with the table moved up o rows.
    # (A BOS pinned to row 0 reads different rows in the two runs and fails this.)
    config = dataclasses.replace(TINY, positions="offset", bos=True, init="gpt2",
                                 max_position=LENGTH + 3)
    net = build_model(config)
    tokens, positions, mask = inputs(config)
    params = net.init(jax.random.key(0), tokens, positions, mask)
    offset = 3
    table = params["position_embeddings"]["embeddings"]
    moved = {**params, "position_embeddings": {"embeddings": jnp.roll(table, -offset, axis=0)}}
    np.testing.assert_allclose(np.asarray(net.apply(params, tokens, positions + offset, mask)),
                               np.asarray(net.apply(moved, tokens, positions, mask)),
                               atol=1e-6)


def test_count_parameters_of_real_params():
    net = build_model(TINY)
    params = net.init(jax.random.key(0), *inputs(TINY))
    assert count_parameters(params) == expected_parameters(TINY)


@pytest.mark.parametrize("causal", [False, True])
def test_fully_padded_row_gives_finite_logits(causal):
    config = dataclasses.replace(TINY, causal=causal)
    net = build_model(config)
    tokens, positions, mask = inputs(config)
    mask = mask.at[1].set(False)
    params = net.init(jax.random.key(0), tokens, positions, mask)
    assert np.isfinite(np.asarray(net.apply(params, tokens, positions, mask))).all()


# ------------------------------------------------------------------ jit and vmap over seeds


def test_jit_matches_eager():
    net = build_model(TINY)
    params = net.init(jax.random.key(0), *inputs(TINY))
    np.testing.assert_allclose(np.asarray(jax.jit(net.apply)(params, *inputs(TINY, seed=1))),
                               np.asarray(net.apply(params, *inputs(TINY, seed=1))), atol=1e-5)


def test_vmap_over_seeds_matches_separate_models():
    seeds = 3
    net = build_model(TINY)
    keys = jax.random.split(jax.random.key(0), seeds)
    example = inputs(TINY)
    stacked = jax.vmap(net.init, in_axes=(0, None, None, None))(keys, *example)
    separate = [net.init(key, *example) for key in keys]

    for leaf in jax.tree.leaves(stacked):
        assert leaf.shape[0] == seeds
    # Each seed its own weights (LayerNorm scales and offsets start equal, so look at the rest).
    table = np.asarray(stacked["token_embeddings"]["embeddings"])
    assert not np.allclose(table[0], table[1]) and not np.allclose(table[1], table[2])
    for s in range(seeds):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[s], b, rtol=1e-6),
                     stacked, separate[s])

    # Each seed its own batch, as the trainer feeds them: one program for all seeds.
    batches = [inputs(TINY, seed=10 + s) for s in range(seeds)]
    tokens, positions, mask = (jnp.stack(parts) for parts in zip(*batches))
    together = jax.jit(jax.vmap(net.apply))(stacked, tokens, positions, mask)
    assert together.shape == (seeds, BATCH, LENGTH, TINY.num_classes)
    for s in range(seeds):
        np.testing.assert_allclose(np.asarray(together[s]),
                                   np.asarray(net.apply(separate[s], *batches[s])), atol=1e-5)
