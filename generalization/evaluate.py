"""Evaluation of trained seeds against expected outputs, and the seed statistics of a metric.

For one seed on a set of N inputs, with predictions p[n, i] = argmax_c logits[n, i, c] and
expected labels y[n, i] (-1 at padding, so position i of input n is real when y[n, i] != -1):

    exact_match    = (1/N) sum_n  prod_{i real} [p[n, i] == y[n, i]]
    token_accuracy = sum_{n, i real} [p[n, i] == y[n, i]]  /  #{(n, i) real}

i.e. exact match counts whole outputs and token accuracy pools every real position of the set.
The expected labels are whatever the caller encoded into the `Batch` (the experiment passes the
compiled model's outputs through `TaskData.fixed`).

Autoregressive tasks label only the continuation (content tokens, then the end token e at one
position E(n)), so the two metrics above are over the continuation, and the end is scored apart:

    content_exact_match = (1/N) sum_n  prod_{i real, y[n, i] != e} [p[n, i] == y[n, i]]
    end_accuracy        = (1/N) sum_n  [p[n, E(n)] == e] * prod_{i real, i != E(n)} [p[n, i] != e]

i.e. the model would stop exactly at the end: it predicts e there and at no earlier position.
These are teacher-forced (one pass over the whole sequence), and for a causal model whose
targets are deterministic the exact match is that of greedy generation from the prompt
(`generate`): generation stays on the reference sequence exactly as long as every next token
is right.

Over seeds, `mean_ci95` gives the mean and the Student-t 95% interval of the mean.

All seeds are evaluated in one jitted call: the stacked parameters (leading axis S) are vmapped
over while the inputs are shared.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from generalization.model import ModelConfig, build_model
from generalization.positions import position_ids
from generalization.tasks import IGNORE_LABEL, Batch, TaskData, continue_prompts

# The per-length metrics of autoregressive tasks besides exact match and token accuracy.
AUTOREGRESSIVE_METRICS = ("content_exact_match", "end_accuracy")
# Rows evaluated per jitted call: bounds the attention activations (S x rows x H x T x T floats)
# and gives every call of one evaluation the same shape, hence one compilation.
EVAL_ROWS = 256


def exact_match(predictions: Any, labels: Any) -> Any:
    """Per input, whether every real position is right: prod_i [p_i == y_i or y_i == -1].

    Works on numpy and jax arrays alike (bool[..., N] from int[..., N, T])."""
    return ((predictions == labels) | (labels == IGNORE_LABEL)).all(axis=-1)


def correct_tokens(predictions: Any, labels: Any) -> Any:
    """Per input, the number of real positions predicted right: sum_i [p_i == y_i != -1]."""
    return ((predictions == labels) & (labels != IGNORE_LABEL)).sum(axis=-1)


def mean_ci95(values: Sequence[float],
              bounds: tuple[float, float] | None = (0.0, 1.0)) -> tuple[float, tuple[float, float]]:
    """The mean of `values` and its 95% confidence interval from the Student t distribution:

        m = (1/n) sum_k v_k,   s^2 = 1/(n - 1) sum_k (v_k - m)^2,
        interval = m -+ t_{0.975, n-1} * s / sqrt(n),

    clipped to `bounds` (default [0, 1], for accuracies; None for no clipping). A single value
    v gives (v, (v, v)): one seed says nothing about the spread.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("mean_ci95 needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return mean, (mean, mean)
    half = float(stats.t.ppf(0.975, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = min(max(low, bounds[0]), bounds[1]), min(max(high, bounds[0]), bounds[1])
    return mean, (low, high)


@functools.lru_cache(maxsize=None)
def _predictor(model_config: ModelConfig) -> Callable[..., jax.Array]:
    """jit(vmap over seeds) of argmax logits: (params[S], tokens, positions, mask) -> int32[S,B,T].

    Cached per configuration so that repeated evaluations reuse one compiled function."""
    model = build_model(model_config)

    def one_seed(params, tokens, positions, mask):
        return jnp.argmax(model.apply(params, tokens, positions, mask), axis=-1).astype(jnp.int32)

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
    (index hints) from `default_rng(length)` so that a rerun sees the same ids. The sets come
    encoded, labels included; `data` gives the end token's class.
    """
    width = max((batch.tokens.shape[1] for batch in sets.values()), default=0)
    results: dict[int, dict[str, Any]] = {}
    for length, batch in sets.items():
        tokens, labels, mask = (_pad(a, width, fill) for a, fill in
                                ((batch.tokens, 0), (batch.labels, IGNORE_LABEL),
                                 (batch.mask, False)))
        positions = evaluation_positions(model_config, mask, np.random.default_rng(length))
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


def end_scores(predictions: np.ndarray, labels: np.ndarray,
               end_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Per input (bool[..., N] from int[..., N, T]): whether every content position (labelled,
    not the end) is right, and whether the end class is predicted at the end position and at
    no other labelled one (module docstring)."""
    is_end = labels == end_class
    content = (labels != IGNORE_LABEL) & ~is_end
    content_right = ((predictions == labels) | ~content).all(axis=-1)
    says_end = predictions == end_class
    end_right = (says_end | ~is_end).all(axis=-1) & ~(says_end & content).any(axis=-1)
    return content_right, end_right


def predict(model_config: ModelConfig, params_stacked: Any, data: TaskData,
            inputs: Sequence[Any], rng: np.random.Generator | None = None,
            width: int | None = None, positions: np.ndarray | None = None) -> list[list[list]]:
    """Every seed's decoded outputs for `inputs`: result[s][n] is seed s's output on input n.

    Positions as at evaluation; the random kinds (index hints) draw from `rng`, by default
    `default_rng(0)`, unless `positions` gives each input's ids (int32[N, >= width]). Inputs
    are padded to `width` (default: the longest; a fixed width keeps one compiled shape across
    calls). To ask one seed, pass its slice of the stack
    (`jax.tree.map(lambda x: x[s:s + 1], params)`)."""
    tokens, mask = data.encode_inputs(inputs, width)
    if positions is None:
        positions = evaluation_positions(model_config, mask, np.random.default_rng(0)
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
    sequence (from `default_rng(0)`): a sequence keeps its index hints while it grows."""
    width = data.task.sampler.max_sequence(length) - 1
    budgets = [width + 1 - len(prompt) for prompt in prompts]
    ids = position_ids(model_config.positions, np.random.default_rng(0), len(prompts), width,
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


def _pad(array: np.ndarray, width: int, fill: Any) -> np.ndarray:
    """`array` [B, T] widened to [B, width] with `fill`."""
    out = np.full((array.shape[0], width), fill, dtype=array.dtype)
    out[:, :array.shape[1]] = array
    return out
