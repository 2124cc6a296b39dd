"""Each positional encoding has its defining property, and masking does what it promises.

- NoPE: a bidirectional model without positions is permutation-equivariant (permuting the input
  permutes the output) and ignores the position ids altogether.
- RoPE: attention scores depend only on offsets between positions, so a model whose only
  position signal is RoPE (or ALiBi) gives the same outputs when every position shifts by k;
  the absolute encodings (learned, offset, sinusoidal, randomized, index hints) do not.
- ALiBi: the bias is -m_h |i - j| (m_h (j - i) when causal), with the paper's head slopes.
- Sinusoidal: the table is Vaswani et al.'s formula.
- Randomized ids: sorted, distinct, below max_position in training; 0..T-1 at evaluation.
- Index hints: consecutive ids from a random offset, in range, in training and evaluation.
- Offset ids: consecutive from a random start in training (every row of the table is reached),
  0..T-1 at evaluation.
- Masks: with a causal model, outputs at i ignore later tokens; with any model, outputs at real
  positions ignore appended padding.

Models are tiny (width 8, two heads, two layers) and run eagerly, which is faster than
compiling a program for the few calls each test makes.
"""

from __future__ import annotations

import functools

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generalization.models import positions as pos
from generalization.models.config import POSITION_KINDS
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model

# One size for vocabulary, classes, width, MLP width and position table, so that every weight
# matrix has one shape, and few batch shapes: eager JAX compiles each operation once per shape,
# which dominates the run time of these tests.
VOCAB = WIDTH = MAX_POSITION = 8
BATCH, LENGTH, PADDED = 2, 5, 8
RELATIVE = ("nope", "rope", "alibi")
ABSOLUTE = ("learned", "offset", "sinusoidal", "randomized", "index_hints")
FAST = settings(max_examples=50, deadline=None)


@functools.lru_cache(maxsize=None)
def model(kind: str, causal: bool = False) -> tuple[hk.Transformed, hk.Params]:
    """A tiny model of `kind` with parameters from a fixed seed."""
    config = ModelConfig(vocab_size=VOCAB, num_classes=WIDTH, num_layers=2, num_heads=2,
                         width=WIDTH, mlp_width=WIDTH, positions=kind,
                         max_position=MAX_POSITION, causal=causal)
    net = build_model(config)
    tokens, ids, mask = batch(kind, seed=0)
    return net, net.init(jax.random.key(0), tokens, ids, mask)


def batch(kind: str, seed: int, length: int = LENGTH) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Random real tokens (ids 1..VOCAB-1), training position ids of `kind`, an all-True mask."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, VOCAB, size=(BATCH, length), dtype=np.int32)
    ids = pos.position_ids(kind, rng, BATCH, length, MAX_POSITION, training=True)
    return jnp.asarray(tokens), jnp.asarray(ids), jnp.ones((BATCH, length), dtype=bool)


def logits(kind: str, tokens: jax.Array, ids: jax.Array, mask: jax.Array,
           causal: bool = False) -> np.ndarray:
    net, params = model(kind, causal)
    return np.asarray(net.apply(params, tokens, ids, mask))


# ------------------------------------------------------------------ NoPE


def test_nope_bidirectional_model_is_permutation_equivariant():
    tokens, ids, mask = batch("nope", seed=1)
    permutation = np.random.default_rng(2).permutation(LENGTH)
    original = logits("nope", tokens, ids, mask)
    permuted = logits("nope", tokens[:, permutation], ids, mask)
    np.testing.assert_allclose(permuted, original[:, permutation], atol=1e-5)


def test_nope_ignores_position_ids():
    tokens, ids, mask = batch("nope", seed=1)
    scrambled = jnp.asarray(np.random.default_rng(3).integers(0, MAX_POSITION, ids.shape))
    np.testing.assert_allclose(logits("nope", tokens, scrambled, mask),
                               logits("nope", tokens, ids, mask), atol=1e-6)


# ------------------------------------------------------------------ shifts: relative vs absolute


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", RELATIVE)
def test_relative_encodings_are_invariant_to_shifting_all_positions(kind, causal):
    tokens, ids, mask = batch(kind, seed=4)
    np.testing.assert_allclose(logits(kind, tokens, ids + 9, mask, causal),
                               logits(kind, tokens, ids, mask, causal), atol=1e-4)


@pytest.mark.parametrize("kind", ABSOLUTE)
def test_absolute_encodings_change_when_positions_shift(kind):
    tokens, ids, mask = batch(kind, seed=4)
    shifted = jnp.minimum(ids + 3, MAX_POSITION - 1)
    difference = np.abs(logits(kind, tokens, shifted, mask) - logits(kind, tokens, ids, mask))
    assert difference.max() > 1e-3


# ------------------------------------------------------------------ RoPE


def rope_scores(q: jax.Array, k: jax.Array, ids: jax.Array) -> np.ndarray:
    """Scores <R_(p_i) q_i, R_(p_j) k_j> per head, [B, H, T, T]."""
    return np.asarray(jnp.einsum("bihd,bjhd->bhij", pos.rotate(q, ids), pos.rotate(k, ids)))


def test_rope_scores_depend_only_on_relative_offsets():
    rng = np.random.default_rng(5)
    q, k = rng.normal(size=(2, BATCH, LENGTH, 2, WIDTH // 2)).astype(np.float32)
    ids = pos.position_ids("randomized", rng, BATCH, LENGTH, 40, training=True)
    scores = rope_scores(q, k, ids)
    for shift in (1, 17, 100):
        np.testing.assert_allclose(rope_scores(q, k, ids + shift), scores, atol=1e-4)
    # Stretching changes offsets, so scores change: the property above is not vacuous.
    assert np.abs(rope_scores(q, k, 2 * ids) - scores).max() > 1e-2


def test_rope_rotates_each_pair_by_position_times_frequency():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(BATCH, LENGTH, 2, WIDTH // 2)).astype(np.float32)
    ids = rng.integers(0, 40, size=(BATCH, LENGTH), dtype=np.int32)
    rotated = np.asarray(pos.rotate(jnp.asarray(x), jnp.asarray(ids)))
    theta = pos.BASE ** (-np.arange(0, WIDTH // 2, 2) / (WIDTH // 2))   # one per pair
    angle = ids[:, :, None, None] * theta                              # [B, T, 1, pairs]
    even, odd = x[..., 0::2], x[..., 1::2]
    np.testing.assert_allclose(rotated[..., 0::2], even * np.cos(angle) - odd * np.sin(angle),
                               atol=1e-5)
    np.testing.assert_allclose(rotated[..., 1::2], even * np.sin(angle) + odd * np.cos(angle),
                               atol=1e-5)


# ------------------------------------------------------------------ ALiBi


@pytest.mark.parametrize("heads", [1, 2, 4, 8, 16])
def test_alibi_slopes_are_the_geometric_sequence(heads):
    ratio = 2.0 ** (-8.0 / heads)
    np.testing.assert_allclose(pos.alibi_slopes(heads), ratio ** np.arange(1, heads + 1),
                               rtol=1e-6)


def test_alibi_slopes_for_eight_and_six_heads_match_the_paper():
    np.testing.assert_allclose(pos.alibi_slopes(8), [2.0 ** -k for k in range(1, 9)])
    # Not a power of two: the 4-head slopes, then every other 8-head slope.
    np.testing.assert_allclose(pos.alibi_slopes(6),
                               [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3])


@pytest.mark.parametrize("causal", [False, True])
def test_alibi_bias_is_linear_in_distance(causal):
    heads = 2
    ids = pos.position_ids("randomized", np.random.default_rng(8), BATCH, LENGTH, 40, True)
    bias = np.asarray(pos.alibi_bias(jnp.asarray(ids), heads, causal))    # [B, H, i, j]
    offsets = ids[:, None, None, :] - ids[:, None, :, None]              # p_j - p_i
    distance = offsets if causal else -np.abs(offsets)
    expected = pos.alibi_slopes(heads)[None, :, None, None] * distance
    if causal:  # keys after the query are masked, so only j <= i is specified
        bias, expected = np.tril(bias), np.tril(expected)
    np.testing.assert_allclose(bias, expected, atol=1e-5)


# ------------------------------------------------------------------ sinusoidal


@pytest.mark.parametrize("width", [8, 7])
def test_sinusoidal_matches_the_formula(width):
    ids = np.random.default_rng(9).integers(0, 40, size=(BATCH, LENGTH))
    table = np.asarray(pos.sinusoidal(jnp.asarray(ids), width))
    for (b, t), p in np.ndenumerate(ids):
        for d in range(width):
            angle = p / pos.BASE ** (2 * (d // 2) / width)
            expected = np.sin(angle) if d % 2 == 0 else np.cos(angle)
            assert table[b, t, d] == pytest.approx(expected, abs=1e-5)


# ------------------------------------------------------------------ position ids

sizes = st.tuples(st.integers(0, 5), st.integers(0, 40), st.integers(1, 40)).filter(
    lambda s: s[1] <= s[2])


@FAST
@given(sizes=sizes, seed=st.integers(0, 2 ** 32 - 1))
def test_randomized_ids_are_a_sorted_subset_in_training_and_arange_at_evaluation(sizes, seed):
    batch_size, length, max_position = sizes
    ids = pos.position_ids("randomized", np.random.default_rng(seed), batch_size, length,
                           max_position, training=True)
    assert ids.shape == (batch_size, length) and ids.dtype == np.int32
    assert np.all(np.diff(ids, axis=1) > 0)  # sorted and distinct
    assert np.all((ids >= 0) & (ids < max_position))
    again = pos.position_ids("randomized", np.random.default_rng(seed), batch_size, length,
                             max_position, training=True)
    np.testing.assert_array_equal(ids, again)
    evaluation = pos.position_ids("randomized", np.random.default_rng(seed), batch_size, length,
                                  max_position, training=False)
    np.testing.assert_array_equal(evaluation, np.tile(np.arange(length), (batch_size, 1)))


def test_randomized_ids_reach_beyond_the_training_length():
    ids = pos.position_ids("randomized", np.random.default_rng(0), 64, 5, 32, True)
    assert ids.max() >= 20 and len(np.unique(ids)) > 20


@FAST
@given(sizes=sizes, seed=st.integers(0, 2 ** 32 - 1), training=st.booleans())
def test_index_hints_are_consecutive_from_a_random_offset(sizes, seed, training):
    batch_size, length, max_position = sizes
    ids = pos.position_ids("index_hints", np.random.default_rng(seed), batch_size, length,
                           max_position, training)
    assert ids.shape == (batch_size, length) and ids.dtype == np.int32
    assert np.all(np.diff(ids, axis=1) == 1)
    assert np.all((ids >= 0) & (ids < max_position))
    # Training and evaluation draw hints the same way.
    other = pos.position_ids("index_hints", np.random.default_rng(seed), batch_size, length,
                             max_position, not training)
    np.testing.assert_array_equal(ids, other)


@FAST
@given(sizes=sizes, seed=st.integers(0, 2 ** 32 - 1))
def test_offset_ids_are_consecutive_from_a_random_start_in_training_and_arange_at_evaluation(
        sizes, seed):
    batch_size, length, max_position = sizes
    ids = pos.position_ids("offset", np.random.default_rng(seed), batch_size, length,
                           max_position, training=True)
    assert ids.shape == (batch_size, length) and ids.dtype == np.int32
    assert np.all(np.diff(ids, axis=1) == 1)
    assert np.all((ids >= 0) & (ids < max_position))
    evaluation = pos.position_ids("offset", np.random.default_rng(seed), batch_size, length,
                                  max_position, training=False)
    np.testing.assert_array_equal(evaluation, np.tile(np.arange(length), (batch_size, 1)))


def test_offset_training_reaches_every_row_of_the_table():
    """The point of offsets: rows past the training length get trained too."""
    ids = pos.position_ids("offset", np.random.default_rng(0), 256, 5, 32, True)
    assert set(np.unique(ids)) == set(range(32))


def test_index_hint_offsets_vary_between_examples():
    ids = pos.position_ids("index_hints", np.random.default_rng(0), 16, 5, 32, False)
    assert len(np.unique(ids[:, 0])) > 4


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("kind", ["learned", "nope", "sinusoidal", "rope", "alibi"])
def test_deterministic_kinds_use_arange(kind, training):
    ids = pos.position_ids(kind, np.random.default_rng(0), 3, 5, MAX_POSITION, training)
    np.testing.assert_array_equal(ids, np.tile(np.arange(5, dtype=np.int32), (3, 1)))
    assert ids.dtype == np.int32


def test_position_ids_reject_unknown_kinds_and_overlong_inputs():
    with pytest.raises(ValueError, match="'absolute'.*learned"):
        pos.position_ids("absolute", np.random.default_rng(0), 1, 3, 8, True)
    with pytest.raises(ValueError, match="'rope'.*length 9 exceeds max_position 8"):
        pos.position_ids("rope", np.random.default_rng(0), 1, 9, 8, True)


# ------------------------------------------------------------------ masks


@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_causal_outputs_ignore_later_tokens(kind):
    tokens, ids, mask = batch(kind, seed=8)
    cut = 3
    changed = tokens.at[:, cut + 1:].set((tokens[:, cut + 1:] % (VOCAB - 1)) + 1)
    assert bool(jnp.any(changed != tokens))
    before = logits(kind, tokens, ids, mask, causal=True)
    after = logits(kind, changed, ids, mask, causal=True)
    np.testing.assert_allclose(after[:, :cut + 1], before[:, :cut + 1], atol=1e-5)
    assert np.abs(after[:, cut + 1:] - before[:, cut + 1:]).max() > 1e-4


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_outputs_at_real_positions_ignore_appended_padding(kind, causal):
    # Position ids of the padded batch; the unpadded input takes the same ids for its tokens.
    tokens, ids, _ = batch(kind, seed=9, length=PADDED)
    mask = jnp.arange(PADDED)[None, :] < LENGTH
    padded = jnp.where(mask, tokens, 0)
    short = logits(kind, tokens[:, :LENGTH], ids[:, :LENGTH],
                   jnp.ones((BATCH, LENGTH), dtype=bool), causal)
    long = logits(kind, padded, ids, jnp.broadcast_to(mask, padded.shape), causal)
    np.testing.assert_allclose(long[:, :LENGTH], short, atol=1e-5)
