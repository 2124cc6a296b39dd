"""In-context linear regression and the autoregressive linear dynamical system of von Oswald
et al. (2023), "Uncovering mesa-optimization algorithms in Transformers" (arXiv 2309.05858;
their data: mtavit/transformers_mesa_optimization_paper, `src/data/seq/linear_seq.py`).

Both draw one random orthogonal W (Haar: the Q of a Gaussian matrix's QR, signs fixed) per
sequence, so that what a model must do is learn W in context.

- `LinearDynamics` (their linear sequences): s_1 ~ U(-r, r)^D, s_(t+1) = clip(W s_t + sigma
  eps_t, -c, c), eps_t ~ N(0, I), the states observed directly (their `eye_obs`); the target
  at t is s_(t+1): every position predicts the next state. D = 10, sigma = 0.01, r = 1,
  c = 10 by default, as in their config. Tokens (`tokens`): "constructed", their default
  (`data.construction = True`, `src/data/constr_data.py`'s ConstructedFullSeqGenerator), the
  4D-wide e_t = [0, s_t, s_t, s_(t-1)] with s_0 = 0; or "plain", e_t = s_t.
- `InContextRegression`: pairs (x_i, y_i), x_i ~ U(-r, r)^D, y_i = W x_i + sigma eps_i, the
  sequence x_1, y_1, x_2, y_2, ..; the target at x_i's token is y_i, and y-tokens have no
  target (their evaluation reads the predictions at x-tokens too). Tokens (`tokens`):
  "interleaved", theirs (`src/data/icl/icl_data.py`, `gen_one_seq`), D-wide vectors x_i and
  y_i in the same coordinates, so that only the position tells which is which; or "paired",
  Garg et al. (2022)'s 2D-wide [x, 0] and [0, y]. "Examples" are pairs: a sequence of n
  examples is 2n tokens.

The baseline of both is the ridge regression over the pairs seen so far, applied to the query:
at a query x (x_i, or s_t) after pairs (a_k, b_k), k < i,

    b_hat = B^T A (A^T A + lambda I)^(-1) x,

with lambda = max(sigma^2 D, 1e-8) (the posterior mean when W's entries had variance 1/D, as
an orthogonal matrix's do). With no pair seen it predicts 0. This is the mesa layer's
objective with the true keys and values, and on noiseless data it is exact once D independent
pairs were seen (tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from generalization.settings import Checked, at_least, non_negative_number, one_of, setting


class RegressionBatch(NamedTuple):
    """Inputs float[B, T, d_in], targets float[B, T, d_out], `predicted` bool[B, T] (the
    positions with a target), and each sequence's W float[B, D, D]."""

    inputs: np.ndarray
    targets: np.ndarray
    predicted: np.ndarray
    weights: np.ndarray


def random_orthogonal(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    """float[count, dim, dim], Haar-distributed orthogonal matrices."""
    q, r = np.linalg.qr(rng.normal(size=(count, dim, dim)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def ridge_predictions(keys: np.ndarray, values: np.ndarray, queries: np.ndarray,
                      ridge: float) -> np.ndarray:
    """float[B, T, d_out]: at each t the ridge regression of values on keys over k < t,
    applied to queries[t] (keys, queries float[B, T, d_in], values float[B, T, d_out])."""
    batch, length, dim = keys.shape
    gram = np.zeros((batch, dim, dim)) + ridge * np.eye(dim)
    cross = np.zeros((batch, values.shape[-1], dim))
    out = np.zeros((batch, length, values.shape[-1]))
    for t in range(length):
        out[:, t] = np.einsum("bod,bd->bo", cross,
                              np.linalg.solve(gram, queries[:, t][..., None])[..., 0])
        gram += np.einsum("bd,be->bde", keys[:, t], keys[:, t])
        cross += np.einsum("bo,bd->bod", values[:, t], keys[:, t])
    return out


@dataclass(frozen=True)
class LinearDynamics(Checked):
    """von Oswald et al.'s autoregressive linear dynamical system (module docstring)."""

    name = "lds"

    dim: int = setting(10, at_least(1))
    noise: float = setting(0.01, non_negative_number)
    start_range: float = setting(1.0, non_negative_number)
    clip: float = setting(10.0, non_negative_number)
    tokens: str = setting("constructed", one_of(("constructed", "plain")))

    @property
    def ridge(self) -> float:
        return max(self.noise ** 2 * self.dim, 1e-8)

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> RegressionBatch:
        """`batch` sequences of `length` states (each with its next state as target)."""
        weights = random_orthogonal(rng, batch, self.dim)
        states = np.zeros((batch, length + 1, self.dim))
        states[:, 0] = rng.uniform(-self.start_range, self.start_range, (batch, self.dim))
        for t in range(length):
            step = np.einsum("bij,bj->bi", weights, states[:, t])
            states[:, t + 1] = np.clip(step + self.noise * rng.normal(size=step.shape),
                                       -self.clip, self.clip)
        observed = states[:, :-1]
        inputs = observed
        if self.tokens == "constructed":
            inputs = np.zeros((batch, length, 4 * self.dim))
            inputs[:, :, self.dim:2 * self.dim] = observed
            inputs[:, :, 2 * self.dim:3 * self.dim] = observed
            inputs[:, 1:, 3 * self.dim:] = observed[:, :-1]
        return RegressionBatch(inputs, states[:, 1:], np.ones((batch, length), bool), weights)

    def states(self, batch: RegressionBatch) -> np.ndarray:
        """float[B, T, D]: the state s_t each token shows."""
        return batch.inputs[..., self.dim:2 * self.dim] if self.tokens == "constructed" \
            else batch.inputs

    def baseline(self, batch: RegressionBatch) -> np.ndarray:
        """Ridge over the transitions (s_k, s_(k+1)) seen before t, applied to s_t."""
        states = self.states(batch)
        return ridge_predictions(states, batch.targets, states, self.ridge)


@dataclass(frozen=True)
class InContextRegression(Checked):
    """In-context linear regression over pairs (module docstring); a length is a number of
    examples, 2 tokens each."""

    name = "regression"

    dim: int = setting(10, at_least(1))
    noise: float = setting(0.01, non_negative_number)
    input_range: float = setting(1.0, non_negative_number)
    tokens: str = setting("interleaved", one_of(("interleaved", "paired")))

    @property
    def ridge(self) -> float:
        return max(self.noise ** 2 * self.dim, 1e-8)

    def examples(self, rng: np.random.Generator, batch: int,
                 count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x float[B, n, D], y float[B, n, D] and W float[B, D, D]."""
        weights = random_orthogonal(rng, batch, self.dim)
        x = rng.uniform(-self.input_range, self.input_range, (batch, count, self.dim))
        y = np.einsum("bij,bnj->bni", weights, x) + self.noise * rng.normal(
            size=(batch, count, self.dim))
        return x, y, weights

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> RegressionBatch:
        """`batch` sequences of `length` examples as 2 * length tokens."""
        x, y, weights = self.examples(rng, batch, length)
        paired = self.tokens == "paired"
        inputs = np.zeros((batch, 2 * length, (2 if paired else 1) * self.dim))
        inputs[:, 0::2, :self.dim] = x
        inputs[:, 1::2, self.dim if paired else 0:] = y
        targets = np.zeros((batch, 2 * length, self.dim))
        targets[:, 0::2] = y
        predicted = np.zeros((batch, 2 * length), bool)
        predicted[:, 0::2] = True
        return RegressionBatch(inputs, targets, predicted, weights)

    def baseline(self, batch: RegressionBatch) -> np.ndarray:
        """Ridge over the examples before each x-token, at every token (y-tokens: 0)."""
        x = batch.inputs[:, 0::2, :self.dim]
        y = batch.targets[:, 0::2]
        out = np.zeros_like(batch.targets)
        out[:, 0::2] = ridge_predictions(x, y, x, self.ridge)
        return out
