"""The token-norm diagnostic: how large each layer's residual stream is, per position.

For a trained model with L blocks, x_0 is the embedding of the input (token embedding plus the
position signal) and x_l the residual stream leaving block l (`build_model(residuals=True)`).
For every evaluation input, every real position t (padding excluded; a BOS vector, which is no
input position, is left out) and every layer l we take ||x_l[t]||_2, and average:

- by position: over every seed and every evaluation input (all lengths, training and test)
  that has a real token at t: a layer x position map, with the longest training input marked;
- by length: over every seed, input and position of each evaluated length;
- by token frequency: the input's tokens are ranked by how often they occur in the evaluation
  inputs of the training lengths (the training distribution, as the model saw it) and cut into
  three buckets of distinct tokens (rare, middle, frequent thirds; ties keep vocabulary
  order); the mean norm per bucket and layer, at the training lengths and at the test lengths.

Why: Wu & Varshney (2023/2024, "A Meta-Learning Perspective on Transformers for Causal
Language Modeling") read a causal transformer as an inner optimiser and report a regularity
of the norms of learned token representations; this module measures the quantities such a
claim is about (per layer, position and token frequency) on our models, at the training
lengths and beyond them, where a representation that grows or shrinks with position is one
way a model fails to extrapolate. The README says which of their observations our
measurements reproduce.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from generalization import streams
from generalization.evaluation.predict import EVAL_ROWS, evaluation_positions, pad_to_width
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.reporting.results import NormRecord
from generalization.tasks.data import Batch

FREQUENCY_BUCKETS = ("rare", "middle", "frequent")


@functools.lru_cache(maxsize=None)
def _norms_function(model_config: ModelConfig) -> Callable[..., jax.Array]:
    """jit(vmap over seeds) of (params[S], tokens, positions, mask) -> float32[S, L+1, B, T]."""
    model = build_model(model_config, residuals=True)

    def one_seed(params, tokens, positions, mask):
        _, streams_ = model.apply(params, tokens, positions, mask)
        return jnp.linalg.norm(streams_, axis=-1)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, None, None, None)))


def residual_norms(model_config: ModelConfig, params_stacked: Any, tokens: np.ndarray,
                   positions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """||x_l[b, t]||_2 of every seed, layer, input and position: float32[S, L+1, B, T], NaN at
    padded positions. Rows go through in chunks of EVAL_ROWS."""
    norms = _norms_function(model_config)
    chunks = [np.asarray(norms(params_stacked, tokens[start:start + EVAL_ROWS],
                               positions[start:start + EVAL_ROWS], mask[start:start + EVAL_ROWS]))
              for start in range(0, tokens.shape[0], EVAL_ROWS)]
    values = np.concatenate(chunks, axis=2)
    return np.where(mask[None, None], values, np.nan)


def norm_profile(model_config: ModelConfig, params_stacked: Any, sets: dict[int, Batch],
                 train_lengths: tuple[int, int]) -> NormRecord:
    """The diagnostic of one trained encoding over its evaluation sets (module docstring)."""
    low, high = train_lengths
    # Every set padded to the widest, as `evaluate_lengths` does: one compiled function.
    width = max(batch.tokens.shape[1] for batch in sets.values())
    sets = {length: Batch(*(pad_to_width(array, width, fill) for array, fill in
                            ((batch.tokens, 0), (batch.labels, -1), (batch.mask, False))),
                          batch.inputs)
            for length, batch in sorted(sets.items())}
    per_length = {}
    for length, batch in sets.items():
        ids = evaluation_positions(model_config, batch.mask,
                                   streams.evaluation_positions(length))
        per_length[length] = residual_norms(model_config, params_stacked, batch.tokens, ids,
                                            batch.mask)
    layers = model_config.num_layers + 1
    total = np.zeros((layers, width))
    count = np.zeros(width)
    for length, norms in per_length.items():
        real = sets[length].mask
        total += np.nan_to_num(norms).sum(axis=(0, 2))                    # [L+1, T]
        count += real.sum(axis=0) * norms.shape[0]
    by_position = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    train_sets = {n: b for n, b in sets.items() if low <= n <= high}
    buckets = _frequency_buckets(train_sets, model_config.vocab_size)
    return NormRecord(
        layers=["embedding"] + [f"block {layer + 1}" for layer in range(layers - 1)],
        by_position=_rounded(by_position.tolist()),
        lengths=list(per_length),
        by_length=_rounded([np.nanmean(norms, axis=(0, 2, 3)).tolist()
                            for norms in per_length.values()]),
        frequency_buckets=list(FREQUENCY_BUCKETS),
        by_frequency_train=_by_bucket(per_length, sets, buckets, lambda n: low <= n <= high),
        by_frequency_test=_by_bucket(per_length, sets, buckets, lambda n: n > high),
        train_width=max((b.mask.sum(axis=1).max(initial=0) for b in train_sets.values()),
                        default=0).item())


def _frequency_buckets(train_sets: dict[int, Batch], vocab_size: int) -> np.ndarray:
    """int[vocab_size]: each token id's bucket (0 rare, 1 middle, 2 frequent) by its count in
    the training lengths' inputs; -1 for ids that never occur there (and for padding)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for batch in train_sets.values():
        np.add.at(counts, batch.tokens[batch.mask], 1)
    seen = np.flatnonzero(counts)
    order = seen[np.argsort(counts[seen], kind="stable")]
    bucket = np.full(vocab_size, -1)
    for index, part in enumerate(np.array_split(order, len(FREQUENCY_BUCKETS))):
        bucket[part] = index
    return bucket


def _by_bucket(per_length: dict[int, np.ndarray], sets: dict[int, Batch], buckets: np.ndarray,
               chosen: Callable[[int], bool]) -> list[list[float | None]]:
    """[bucket][layer]: the mean norm over every seed and real position of the chosen lengths
    whose token is in the bucket (None where none is)."""
    layers = next(iter(per_length.values())).shape[1]
    total = np.zeros((len(FREQUENCY_BUCKETS), layers))
    count = np.zeros(len(FREQUENCY_BUCKETS))
    for length, norms in per_length.items():
        if not chosen(length):
            continue
        batch = sets[length]
        of_token = buckets[batch.tokens]                                   # [B, T]
        for index in range(len(FREQUENCY_BUCKETS)):
            where = batch.mask & (of_token == index)
            total[index] += norms[:, :, where].sum(axis=(0, 2))
            count[index] += where.sum() * norms.shape[0]
    return [[round(float(v), 6) for v in row] if n else None
            for row, n in zip(total / np.maximum(count, 1)[:, None], count)]


def _rounded(rows: list[list[float]]) -> list[list[float | None]]:
    """Six decimals; NaN (no input reaches that position) as None."""
    return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in rows]
