"""Running trained seeds: predictions, greedy generation, and the metrics of every length.

All seeds are evaluated in one jitted call: the stacked parameters (leading axis S) are vmapped
over while the inputs are shared. The expected labels are whatever the caller encoded into the
`Batch` (the experiment passes the compiled model's outputs through `TaskData.fixed`); the
metrics are those of `metrics.py`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from generalization import streams
from generalization.evaluation.metrics import (AUTOREGRESSIVE_METRICS, correct_tokens,
                                               end_scores, exact_match)
from generalization.models.config import ModelConfig
from generalization.models.positions import position_ids
from generalization.models.transformer import build_model, class_logits
from generalization.tasks.continuation import continue_prompts
from generalization.tasks.data import Batch, TaskData
from generalization.tasks.encoding import IGNORE_LABEL, Encoding

# Rows evaluated per jitted call: bounds the attention activations (S x rows x H x T x T floats)
# and gives every call of one evaluation the same shape, hence one compilation.
EVAL_ROWS = 256


@functools.lru_cache(maxsize=None)
def _predictor(model_config: ModelConfig) -> Callable[..., jax.Array]:
    """jit(vmap over seeds) of argmax logits: (params[S], tokens, positions, mask) -> int32[S,B,T].

    Cached per configuration so that repeated evaluations reuse one compiled function."""
    model = build_model(model_config)

    def one_seed(params, tokens, positions, mask):
        logits = class_logits(model_config, model.apply(params, tokens, positions, mask))
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, None, None, None)))


def evaluation_positions(model_config: ModelConfig, mask: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """Position ids int32[B, W] of an evaluation batch whose mask is bool[B, W].

    The ids are those of the unpadded batch (length T = its longest input), padded with 0 to the
    width W: padded positions are masked keys, so their ids never reach a real position."""
    batch, width = mask.shape
    longest = int(mask.sum(axis=1).max(initial=0))
    ids = np.zeros((batch, width), dtype=np.int32)
    ids[:, :longest] = position_ids(model_config.positions, rng, batch, longest,
                                    model_config.max_position, training=False)
    return ids


def predict_ids(model_config: ModelConfig, params_stacked: Any, tokens: np.ndarray,
                mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Predicted class ids int32[S, B, W] of every seed for one batch of token ids int32[B, W]
    at position ids int32[B, W], in chunks of EVAL_ROWS rows (the last chunk padded with empty
    rows)."""
    predictor = _predictor(model_config)
    rows, width = tokens.shape
    if rows == 0:
        seeds = jax.tree.leaves(params_stacked)[0].shape[0]
        return np.zeros((seeds, 0, width), dtype=np.int32)
    # Rows rounded up to a power of two: calls with few rows (generation, counterexample
    # searches) share a handful of compiled shapes.
    chunk = min(1 << (rows - 1).bit_length(), EVAL_ROWS)
    padded = -(-rows // chunk) * chunk
    arrays = []
    for source in (tokens, positions, mask):
        array = np.zeros((padded, width), dtype=source.dtype)
        array[:rows] = source
        arrays.append(array)
    outputs = [np.asarray(predictor(params_stacked, *(a[start:start + chunk] for a in arrays)))
               for start in range(0, padded, chunk)]
    return np.concatenate(outputs, axis=1)[:, :rows]


def evaluate_lengths(model_config: ModelConfig, params_stacked: Any, data: TaskData,
                     sets: dict[int, Batch]) -> dict[int, dict[str, Any]]:
    """Exact match and token accuracy of every seed on each length's evaluation set, and for
    an autoregressive task (`data.end_class` set) content exact match and end accuracy.

    Returns {length: {"exact_match": [per seed], "token_accuracy": [per seed], "examples": N}},
    plus "content_exact_match" and "end_accuracy" (per seed) for an autoregressive task.
    Every set is padded to the width of the longest one so that all lengths share one compiled
    function; positions are the evaluation ids (`training=False`), drawn for the random kinds
    (index hints) from `streams.evaluation_positions(length)` so that a rerun sees the same
    ids. The sets come encoded, labels included; `data` gives the end token's class.
    """
    width = max((batch.tokens.shape[1] for batch in sets.values()), default=0)
    results: dict[int, dict[str, Any]] = {}
    for length, batch in sets.items():
        tokens, labels, mask = (pad_to_width(a, width, fill) for a, fill in
                                ((batch.tokens, 0), (batch.labels, IGNORE_LABEL),
                                 (batch.mask, False)))
        positions = evaluation_positions(model_config, mask, streams.evaluation_positions(length))
        predictions = predict_ids(model_config, params_stacked, tokens, mask, positions)
        real = max(int((labels != IGNORE_LABEL).sum()), 1)
        results[length] = {
            "exact_match": [float(v) for v in exact_match(predictions, labels).mean(axis=-1)],
            "token_accuracy": [float(v) / real
                               for v in correct_tokens(predictions, labels).sum(axis=-1)],
            "examples": int(tokens.shape[0]),
        }
        if data.end_class is not None:
            content, end = end_scores(predictions, labels, data.end_class)
            for metric, right in zip(AUTOREGRESSIVE_METRICS, (content, end)):
                results[length][metric] = [float(v) for v in right.mean(axis=-1)]
    return results


def predict(model_config: ModelConfig, params_stacked: Any, data: Encoding,
            inputs: Sequence[Any], rng: np.random.Generator | None = None,
            width: int | None = None, positions: np.ndarray | None = None) -> list[list[list]]:
    """Every seed's decoded outputs for `inputs`: result[s][n] is seed s's output on input n.

    Positions as at evaluation; the random kinds (index hints) draw from `rng`, by default
    `streams.prediction_positions()`, unless `positions` gives each input's ids
    (int32[N, >= width]). Inputs are padded to `width` (default: the longest; a fixed width
    keeps one compiled shape across calls). To ask one seed, pass its slice of the stack
    (`jax.tree.map(lambda x: x[s:s + 1], params)`)."""
    tokens, mask = data.encode_inputs(inputs, width)
    if positions is None:
        positions = evaluation_positions(model_config, mask, streams.prediction_positions()
                                         if rng is None else rng)
    positions = np.where(mask, positions[:, :mask.shape[1]], 0)
    predictions = predict_ids(model_config, params_stacked, tokens, mask, positions)
    lengths = mask.sum(axis=1).tolist()
    return [[data.decode(row, n) for row, n in zip(seed_predictions, lengths)]
            for seed_predictions in predictions]


def generate(model_config: ModelConfig, params_stacked: Any, data: TaskData,
             prompts: Sequence[list], length: int) -> list[list[list]]:
    """Greedy generation: every seed's continuation of each prompt of an autoregressive task
    (all of task length `length`), result[s][n]: the argmax next token appended until the end
    token, a prediction that is no input token, or the sampler's bound on the whole sequence
    (`tasks.continue_prompts`). Every step runs at the width of the longest whole sequence, so
    that the steps share a few compiled shapes. Positions as at evaluation, drawn once per
    sequence (from `streams.prediction_positions()`): a sequence keeps its index hints while
    it grows."""
    width = data.task.sampler.max_sequence(length) - 1
    budgets = [width + 1 - len(prompt) for prompt in prompts]
    ids = position_ids(model_config.positions, streams.prediction_positions(), len(prompts), width,
                       model_config.max_position, training=False)
    seeds = jax.tree.leaves(params_stacked)[0].shape[0]
    generated = []
    for seed in range(seeds):
        one_seed = jax.tree.map(lambda leaf, s=seed: leaf[s:s + 1], params_stacked)
        generated.append(continue_prompts(
            lambda indices, rows, p=one_seed: predict(model_config, p, data, rows, width=width,
                                                      positions=ids[indices])[0],
            prompts, data.task.end_token, budgets, data.vocab))
    return generated


def pad_to_width(array: np.ndarray, width: int, fill: Any) -> np.ndarray:
    """`array` [B, T] widened to [B, width] with `fill`."""
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, :array.shape[1]] = array
    return out
