"""The token-norm diagnostic (`generalization/evaluation/norms.py`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from generalization.evaluation import norms
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.tasks.data import Batch


def model(layers: int, bos: bool = False) -> tuple[ModelConfig, dict]:
    config = ModelConfig(vocab_size=6, num_classes=4, num_layers=layers, num_heads=1, width=8,
                         max_position=12, positions="learned", causal=True, bos=bos)
    params = build_model(config).init(jax.random.key(1), jnp.ones((1, 4), jnp.int32),
                                      jnp.arange(4)[None], jnp.ones((1, 4), bool))
    return config, jax.tree.map(lambda leaf: leaf[None], params)       # one seed, stacked


def batch(rows: list[list[int]], width: int) -> Batch:
    tokens = np.zeros((len(rows), width), np.int32)
    mask = np.zeros((len(rows), width), bool)
    for index, row in enumerate(rows):
        tokens[index, :len(row)] = row
        mask[index, :len(row)] = True
    return Batch(tokens, np.full(tokens.shape, -1), mask, rows)


@pytest.mark.parametrize("bos", [False, True])
def test_a_model_with_no_layers_gives_the_embedding_norms_exactly_and_nan_at_padding(bos):
    config, params = model(0, bos)
    data = batch([[1, 2, 3], [4, 5]], width=4)
    ids = np.tile(np.arange(4, dtype=np.int32), (2, 1))
    got = norms.residual_norms(config, params, data.tokens, ids, data.mask)
    assert got.shape == (1, 1, 2, 4)
    table = np.asarray(params["token_embeddings"]["embeddings"][0])
    position_table = np.asarray(params["position_embeddings"]["embeddings"][0])
    shift = 1 if bos else 0       # the BOS takes position id 0
    for b, row in enumerate(data.inputs):
        for t, token in enumerate(row):
            expected = np.linalg.norm(table[token] + position_table[t + shift])
            np.testing.assert_allclose(got[0, 0, b, t], expected, rtol=1e-6)
    assert np.isnan(got[0, 0, 0, 3]) and np.all(np.isnan(got[0, 0, 1, 2:]))


def test_the_profile_averages_real_positions_only_and_buckets_tokens_by_frequency():
    config, params = model(2)
    sets = {1: batch([[1], [1], [2]], width=1), 2: batch([[1, 3], [1, 1]], width=2),
            4: batch([[4, 5, 1, 2], [3, 4]], width=4)}
    profile = norms.norm_profile(config, params, sets, (1, 2))
    assert profile.layers == ["embedding", "block 1", "block 2"]
    assert profile.lengths == [1, 2, 4] and profile.train_width == 2
    # Position 3 is real only in the first input of length 4: its mean is that input's norm.
    ids = np.tile(np.arange(4, dtype=np.int32), (2, 1))
    alone = norms.residual_norms(config, params, sets[4].tokens, ids, sets[4].mask)
    for layer in range(3):
        assert profile.by_position[layer][3] == pytest.approx(alone[0, layer, 0, 3], rel=1e-5)
    # Padded positions of the length-4 set do not count: the length mean is over 6 norms.
    np.testing.assert_allclose(profile.by_length[2], np.nanmean(alone[0], axis=(1, 2)),
                               rtol=1e-5)
    # Counts at training lengths: 1 five times, 2 once, 3 once (ids 4, 5 unseen): 3 distinct
    # tokens, one per bucket: 2 or 3 rare (the stable order keeps 2 first), 3 middle, 1 frequent.
    buckets = norms._frequency_buckets({n: sets[n] for n in (1, 2)}, config.vocab_size)
    assert buckets.tolist() == [-1, 2, 0, 1, -1, -1]
    assert profile.by_frequency_train[0] is not None and len(profile.by_frequency_test) == 3
