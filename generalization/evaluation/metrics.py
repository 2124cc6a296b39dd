"""The metrics of the harness, and the seed statistics of a metric (numpy only).

For one seed on a set of N inputs, with predictions p[n, i] = argmax_c logits[n, i, c] and
expected labels y[n, i] (-1 at padding, so position i of input n is real when y[n, i] != -1):

    exact_match    = (1/N) sum_n  prod_{i real} [p[n, i] == y[n, i]]
    token_accuracy = sum_{n, i real} [p[n, i] == y[n, i]]  /  #{(n, i) real}

i.e. exact match counts whole outputs and token accuracy pools every real position of the set.

Autoregressive tasks label only the continuation (content tokens, then the end token e at one
position E(n)), so the two metrics above are over the continuation, and the end is scored apart:

    content_exact_match = (1/N) sum_n  prod_{i real, y[n, i] != e} [p[n, i] == y[n, i]]
    end_accuracy        = (1/N) sum_n  [p[n, E(n)] == e] * prod_{i real, i != E(n)} [p[n, i] != e]

i.e. the model would stop exactly at the end: it predicts e there and at no earlier position.
These are teacher-forced (one pass over the whole sequence), and for a causal model whose
targets are deterministic the exact match is that of greedy generation from the prompt
(`predict.generate`): generation stays on the reference sequence exactly as long as every next
token is right.

Over seeds, `mean_ci95` gives the mean and the Student-t 95% interval of the mean.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy import stats

from generalization.tasks.encoding import IGNORE_LABEL

# The per-length metrics of autoregressive tasks besides exact match and token accuracy.
AUTOREGRESSIVE_METRICS = ("content_exact_match", "end_accuracy")


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
