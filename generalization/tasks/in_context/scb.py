"""The sparse contextual bigram (SCB) of Ren, Wang & Lee (2024), "Learning and Transferring
Sparse Contextual Bigrams with Linear Transformers" (arXiv 2410.23438).

A task is a vocabulary [N], a transition matrix P (row a: the distribution of the next token
when the token read is a) and, for every token k, a sparse distribution q(k) over context
positions with at most Q non-zeros. A sequence x_1..x_T has iid tokens from mu, the
stationary distribution of P; the last token k = x_T chooses a position s ~ q(k), and the
next token is x_o ~ P(x_s, .). The Bayes-optimal predictor of x_o is therefore

    p*(j | x) = sum_s q(x_T)_s P(x_s, j),

and a model's excess loss is its cross-entropy on x_o minus E[-log p*(x_o | x)].

Positions. q(k) is over W positions: counted from the start (s = 1..W, the paper's setting as
we read it) or, with `from_end`, counted back from the last token (s = T, T-1, .., T-W+1), so
that the task is the same at every length T >= W and a model trained at T can be tested at 2T
and 4T. In both, the tokens beyond the W positions are context the answer never reads.

What we could not confirm from the paper (only its abstract and secondary summaries were
readable here): how P and the supports of q are drawn, whether they index positions from 1 or
from the end, and the exact loss. Our choices: rows of P and the weights of each q(k) from a
flat Dirichlet, each q(k)'s support Q positions drawn uniformly without replacement from the W;
everything from the task's `seed`, so that one seed is one task (`transition_seed` draws P
from a seed of its own, for a related task with the same q).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from generalization.settings import Checked, Invalid, at_least, boolean, non_negative_int, setting


class ScbBatch(NamedTuple):
    """Sequences `tokens` int[B, T] (ids 0..N-1), the next token `target` int[B], and the
    position `source` int[B] (0-based) whose token it was drawn from."""

    tokens: np.ndarray
    target: np.ndarray
    source: np.ndarray


@dataclass(frozen=True)
class SparseContextualBigram(Checked):
    """One SCB task, drawn from `seed` (module docstring)."""

    name = "scb"

    vocab_size: int = setting(10, at_least(2))     # N
    sparsity: int = setting(2, at_least(1))        # Q: non-zeros of each q(k), at most
    window: int = setting(8, at_least(1))          # W: positions q(k) ranges over
    from_end: bool = setting(False, boolean)
    seed: int = setting(0, non_negative_int)
    # >= 0: P from this seed instead (q still from `seed`): tasks that share their position
    # distributions and differ in P, for fine-tuning transfer (Ren et al.'s related tasks).
    transition_seed: int = setting(-1, at_least(-1))
    transitions: np.ndarray = field(init=False, repr=False, compare=False)   # P, [N, N]
    position_weights: np.ndarray = field(init=False, repr=False, compare=False)  # q, [N, W]
    stationary: np.ndarray = field(init=False, repr=False, compare=False)   # mu, [N]

    def cross_check(self) -> None:
        if self.sparsity > self.window:
            raise Invalid(f"must not exceed the window ({self.window}), got {self.sparsity}",
                          key="sparsity")
        rng = np.random.default_rng([self.seed, 0x5CB])
        n, w = self.vocab_size, self.window
        transitions = rng.dirichlet(np.ones(n), size=n)
        weights = np.zeros((n, w))
        for k in range(n):
            support = rng.choice(w, size=self.sparsity, replace=False)
            weights[k, support] = rng.dirichlet(np.ones(self.sparsity))
        if self.transition_seed >= 0:
            transitions = np.random.default_rng([self.transition_seed, 0x5CB, 1]).dirichlet(
                np.ones(n), size=n)
        object.__setattr__(self, "transitions", transitions)
        object.__setattr__(self, "position_weights", weights)
        object.__setattr__(self, "stationary", stationary_distribution(transitions))

    def positions(self, length: int) -> np.ndarray:
        """int[W]: the 0-based sequence position of each of q's W entries at this length."""
        if length < self.window:
            raise ValueError(f"SCB sequences must be at least the window ({self.window}) long, "
                             f"got {length}")
        offsets = np.arange(self.window)
        return length - 1 - offsets if self.from_end else offsets

    def draw(self, rng: np.random.Generator, batch: int, length: int) -> ScbBatch:
        """`batch` sequences of `length` tokens with their next token (module docstring)."""
        tokens = rng.choice(self.vocab_size, size=(batch, length), p=self.stationary)
        weights = self.position_weights[tokens[:, -1]]                      # [B, W]
        entry = (weights.cumsum(axis=1) > rng.random((batch, 1))).argmax(axis=1)
        source = self.positions(length)[entry]
        source_token = tokens[np.arange(batch), source]
        cumulative = self.transitions[source_token].cumsum(axis=1)
        target = (cumulative > rng.random((batch, 1))).argmax(axis=1)
        return ScbBatch(tokens, target, source)

    def bayes(self, tokens: np.ndarray) -> np.ndarray:
        """float[B, N]: p*(. | x) of every sequence of `tokens` int[B, T]."""
        length = tokens.shape[1]
        weights = self.position_weights[tokens[:, -1]]                      # [B, W]
        read = tokens[:, self.positions(length)]                            # [B, W]
        return np.einsum("bw,bwj->bj", weights, self.transitions[read])

    def bayes_loss(self, batch: ScbBatch) -> float:
        """The Bayes-optimal predictor's mean cross-entropy on the batch's next tokens."""
        probabilities = self.bayes(batch.tokens)[np.arange(len(batch.target)), batch.target]
        return float(-np.log(probabilities).mean())


def stationary_distribution(transitions: np.ndarray) -> np.ndarray:
    """mu with mu P = mu, sum 1: the left eigenvector of P for eigenvalue 1."""
    values, vectors = np.linalg.eig(transitions.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    return vector / vector.sum()
