"""Counterexamples: minimal inputs of a given length on which a learned model and the program
disagree, found and shrunk by Hypothesis.

Inputs are drawn by the task's own sampler, so every counterexample lies in the input
distribution (unique tokens stay unique, numbers keep their format, brackets stay balanced-ish):
the sampler is handed a stand-in for `np.random.Generator` whose every random choice is a
Hypothesis draw (`DrawnGenerator`). Hypothesis shrinks those choices towards their lower
bounds (integers towards the low end, floats towards 0, permutations towards the identity), so
a shrunk counterexample is made of the earliest vocabulary tokens wherever the disagreement
allows: for a uniform sampler, the shortlex-smallest disagreeing token-index sequence that
Hypothesis's shrinker reaches.

The search is reproducible: derandomized (its random stream is fixed by the search itself), no
example database, no deadline.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from generalization.tasks.samplers import Sampler
from rasp.files import hypothesis_scratch

Predictor = Callable[[list[list]], list[list]]


class DrawnGenerator:
    """The part of `np.random.Generator` that samplers use, with every choice drawn by
    Hypothesis (`draw` is the draw function of a composite strategy)."""

    def __init__(self, draw: Callable[[st.SearchStrategy], Any]):
        self._draw = draw

    def integers(self, low: int, high: int | None = None, size: int | None = None,
                 dtype: Any = np.int64, endpoint: bool = False) -> Any:
        """Uniform integers in [low, high) ([0, low) when high is None; high included when
        `endpoint`), shrinking towards low."""
        if high is None:
            low, high = 0, low
        if np.ndim(low) or np.ndim(high):   # bounds per element, as numpy broadcasts them
            lows, highs = np.broadcast_arrays(np.asarray(low), np.asarray(high))
            return np.array([self.integers(a, b, dtype=dtype, endpoint=endpoint)
                             for a, b in zip(lows.ravel().tolist(), highs.ravel().tolist())],
                            dtype=dtype).reshape(lows.shape)
        top = int(high) if endpoint else int(high) - 1
        strategy = st.integers(int(low), top)
        if size is None:
            return dtype(self._draw(strategy))
        return np.array([self._draw(strategy) for _ in range(int(np.prod(size)))],
                        dtype=dtype).reshape(size)

    def random(self, size: int | None = None) -> Any:
        """Floats in [0, 1), shrinking towards 0."""
        strategy = st.floats(0.0, 1.0, exclude_max=True)
        if size is None:
            return self._draw(strategy)
        return np.array([self._draw(strategy) for _ in range(int(np.prod(size)))]).reshape(size)

    def permutation(self, n: int | np.ndarray) -> np.ndarray:
        """A permutation of range(n), or of the array n, shrinking towards the identity."""
        if np.ndim(n):
            return np.asarray(n)[self.permutation(len(n))]
        return np.array(self._draw(st.permutations(range(int(n)))), dtype=np.int64)

    def choice(self, options: Sequence[Any] | int, size: int | None = None) -> Any:
        """Uniform picks from `options` (or range(options)), with replacement."""
        pool = list(range(options)) if isinstance(options, int) else list(options)
        picks = self.integers(len(pool), size=size)
        return pool[picks] if size is None else np.array([pool[i] for i in picks.tolist()])


def sampler_inputs(sampler: Sampler, vocab: Sequence[Any], length: int) -> st.SearchStrategy:
    """The strategy of the sampler's inputs of exactly `length` tokens."""

    @st.composite
    def inputs(draw: Callable[[st.SearchStrategy], Any]) -> list:
        return list(sampler.sample(DrawnGenerator(draw), length, list(vocab)))

    return inputs()


def find_counterexamples(predict: Predictor, reference: Predictor, sampler: Sampler,
                         vocab: Sequence[Any], length: int, max_examples: int,
                         limit: int = 1) -> list[dict[str, Any]]:
    """Up to `limit` distinct inputs of `length` tokens on which `predict` and `reference`
    (each: batch of inputs -> batch of outputs) disagree, each shrunk to a minimal one, as
    [{"input", "expected" (reference's output), "predicted"}]; [] when `max_examples`
    inputs per search turn up no disagreement. Each further search skips the inputs already
    found, so the list holds the minimal counterexample, then the next, and so on."""
    found: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def disagrees(tokens: list) -> bool:
        return tuple(tokens) not in seen and predict([tokens])[0] != reference([tokens])[0]

    search = settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
                      phases=(Phase.generate, Phase.shrink),
                      suppress_health_check=list(HealthCheck))
    for _ in range(limit):
        try:
            with hypothesis_scratch():   # no .hypothesis/ left in the user's folder
                tokens = find(sampler_inputs(sampler, vocab, length), disagrees,
                              settings=search)
        except NoSuchExample:
            break
        seen.add(tuple(tokens))
        found.append({"input": tokens, "expected": reference([tokens])[0],
                      "predicted": predict([tokens])[0]})
    return found
