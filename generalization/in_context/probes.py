"""How far a model trained on a sparse contextual bigram is from the task's P and q, read off
its predictions.

Ren, Wang & Lee (2024) measure the distance of a one-layer linear transformer's value and
attention matrices to P and q, because that model's parameters are P and q when it is
Bayes-optimal. Our models (embeddings, LayerNorm, MLPs, any attention family) have no such
parameters, so we measure the same two objects through the model's output distribution p(.|x)
at the last token, which any model has:

- transitions: on the constant sequence (a, a, .., a) every read position holds a, so the
  Bayes-optimal prediction is P(a, .) whatever q is. Distance = the mean over tokens a of the
  total variation 1/2 |p(.|a..a) - P(a, .)|_1 (0 for a Bayes-optimal model; at most 1).
- positions: the Bayes-optimal prediction is linear in q(k): p*(.|x) = sum_w q(k)_w P(x_(pos
  w), .) with k the last token. For each k, the least-squares weights q_hat(k) in R^W that best
  explain the model's predictions on the sequences ending in k, given the true P. Distance =
  the mean over k of 1/2 |q_hat(k) - q(k)|_1 (0 when the model reads positions as q does).
  Tokens k that end fewer than 2W of the sequences are left out; None when none is left.

For a one-layer linear model with P and q as its parameters both are exactly 0, as the
parameter distances are; they are our substitute for those, not the paper's figures.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from generalization.tasks.in_context.scb import SparseContextualBigram


def constant_sequences(task: SparseContextualBigram, length: int) -> np.ndarray:
    """int32[N, length]: row a is token a repeated."""
    return np.repeat(np.arange(task.vocab_size, dtype=np.int32)[:, None], length, axis=1)


def transition_distance(task: SparseContextualBigram, predicted: np.ndarray) -> float:
    """Mean total variation between `predicted` float[N, N] (row a: the model's next-token
    distribution after `constant_sequences`' row a) and P."""
    return float(0.5 * np.abs(predicted - task.transitions).sum(axis=1).mean())


def position_distance(task: SparseContextualBigram, tokens: np.ndarray,
                      predicted: np.ndarray) -> Optional[float]:
    """Mean over last tokens k of 1/2 |q_hat(k) - q(k)|_1 (module docstring), from sequences
    `tokens` int[B, T] and the model's next-token distributions `predicted` float[B, N]."""
    read = tokens[:, task.positions(tokens.shape[1])]                       # [B, W]
    features = task.transitions[read]                                       # [B, W, N]
    distances = []
    for token in range(task.vocab_size):
        rows = np.flatnonzero(tokens[:, -1] == token)
        if len(rows) < 2 * task.window:
            continue
        design = features[rows].transpose(0, 2, 1).reshape(-1, task.window)   # [B_k N, W]
        weights, *_ = np.linalg.lstsq(design, predicted[rows].reshape(-1), rcond=None)
        distances.append(0.5 * np.abs(weights - task.position_weights[token]).sum())
    return float(np.mean(distances)) if distances else None
