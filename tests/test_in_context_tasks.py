"""The in-context tasks (`generalization/tasks/in_context/`): the SCB sampler against its
definition, the linear tasks' matrices and their ridge baselines."""

from __future__ import annotations

import numpy as np
import pytest

from generalization.tasks.in_context import (InContextRegression, LinearDynamics,
                                             SparseContextualBigram, make_in_context_task,
                                             random_orthogonal)
from generalization.tasks.samplers import SamplerError


@pytest.mark.parametrize("from_end", [False, True])
def test_scb_transitions_from_source_to_next_token_follow_p(from_end):
    task = SparseContextualBigram(vocab_size=6, sparsity=3, window=5, from_end=from_end, seed=3)
    draws = task.draw(np.random.default_rng(0), 100_000, 12)
    source_tokens = draws.tokens[np.arange(len(draws.target)), draws.source]
    counts = np.zeros((6, 6))
    np.add.at(counts, (source_tokens, draws.target), 1)
    # The next token given the source token follows P's row (the source token itself is not
    # distributed as mu when the window holds the last token, which chose the position):
    # total variation of the empirical joint against source frequencies times P.
    sources = counts.sum(axis=1, keepdims=True)
    expected = sources / sources.sum() * task.transitions
    assert 0.5 * np.abs(counts / counts.sum() - expected).sum() < 0.02
    positions = task.positions(12)
    assert set(np.unique(draws.source)) <= set(positions.tolist())


def test_scb_position_distributions_are_sparse_and_normalised_and_seeded():
    task = SparseContextualBigram(vocab_size=8, sparsity=2, window=6, seed=1)
    weights = task.position_weights
    assert weights.shape == (8, 6)
    assert np.all((weights > 0).sum(axis=1) <= 2)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    np.testing.assert_allclose(task.transitions.sum(axis=1), 1.0)
    np.testing.assert_allclose(task.stationary @ task.transitions, task.stationary, atol=1e-12)
    same = SparseContextualBigram(vocab_size=8, sparsity=2, window=6, seed=1)
    np.testing.assert_array_equal(same.position_weights, weights)
    first, second = (same.draw(np.random.default_rng(5), 4, 9) for _ in range(2))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other = SparseContextualBigram(vocab_size=8, sparsity=2, window=6, seed=2)
    assert not np.allclose(other.transitions, task.transitions)


def test_scb_bayes_predictor_is_the_q_mixture_of_p_rows_and_its_loss_is_the_lowest():
    task = SparseContextualBigram(vocab_size=5, sparsity=2, window=4, from_end=True, seed=0)
    draws = task.draw(np.random.default_rng(1), 20_000, 10)
    bayes = task.bayes(draws.tokens)
    row = draws.tokens[0]
    expected = sum(task.position_weights[row[-1], w] * task.transitions[row[10 - 1 - w]]
                   for w in range(4))
    np.testing.assert_allclose(bayes[0], expected)
    # The empirical next-token loss of the Bayes predictor beats the bigram of the last token.
    bigram = task.transitions[draws.tokens[:, -1], draws.target]
    assert task.bayes_loss(draws) < float(-np.log(bigram).mean())


def test_scb_is_defined_from_its_window_on_and_its_options_are_checked():
    task = SparseContextualBigram(window=4, from_end=True)
    assert task.positions(4).tolist() == [3, 2, 1, 0]
    assert task.positions(16).tolist() == [15, 14, 13, 12]
    with pytest.raises(ValueError, match="at least the window"):
        task.positions(3)
    with pytest.raises(SamplerError, match="must not exceed the window"):
        make_in_context_task("scb", {"sparsity": 5, "window": 4})
    with pytest.raises(SamplerError, match="no option `windw`"):
        make_in_context_task("scb", {"windw": 4})
    with pytest.raises(SamplerError, match="unknown in-context task `sbc`"):
        make_in_context_task("sbc")


def test_orthogonal_matrices_and_lds_rollout():
    weights = random_orthogonal(np.random.default_rng(0), 50, 10)
    identity = np.einsum("bji,bjk->bik", weights, weights)
    np.testing.assert_allclose(identity, np.broadcast_to(np.eye(10), identity.shape), atol=1e-5)
    task = LinearDynamics(noise=0.0, tokens="plain")
    batch = task.draw(np.random.default_rng(1), 3, 6)
    np.testing.assert_allclose(batch.targets[:, 0],
                               np.einsum("bij,bj->bi", batch.weights, batch.inputs[:, 0]))
    np.testing.assert_allclose(batch.inputs[:, 1:], batch.targets[:, :-1])


def test_lds_constructed_tokens_are_theirs_zero_state_state_previous_state():
    plain = LinearDynamics(dim=3, tokens="plain").draw(np.random.default_rng(4), 2, 5)
    task = LinearDynamics(dim=3)                      # "constructed", their default
    batch = task.draw(np.random.default_rng(4), 2, 5)
    states = plain.inputs
    assert batch.inputs.shape == (2, 5, 12)
    np.testing.assert_allclose(batch.inputs[..., :3], 0.0)
    np.testing.assert_allclose(batch.inputs[..., 3:6], states)
    np.testing.assert_allclose(batch.inputs[..., 6:9], states)
    np.testing.assert_allclose(batch.inputs[:, 0, 9:], 0.0)
    np.testing.assert_allclose(batch.inputs[:, 1:, 9:], states[:, :-1])
    np.testing.assert_allclose(batch.targets, plain.targets)
    np.testing.assert_allclose(task.baseline(batch),
                               LinearDynamics(dim=3, tokens="plain").baseline(plain))


@pytest.mark.parametrize("task", [LinearDynamics(noise=0.0),
                                  LinearDynamics(noise=0.0, tokens="plain"),
                                  InContextRegression(noise=0.0),
                                  InContextRegression(noise=0.0, tokens="paired")])
def test_the_ridge_baseline_is_exact_on_noiseless_data_after_d_examples(task):
    batch = task.draw(np.random.default_rng(2), 8, 16)
    predictions = task.baseline(batch)
    errors = ((predictions - batch.targets) ** 2).sum(axis=-1)
    examples = np.cumsum(batch.predicted, axis=1) - 1        # pairs seen before each query
    after = batch.predicted & (examples >= task.dim + 1)
    before = batch.predicted & (examples < task.dim - 1)
    assert errors[after].max() < 1e-6
    assert errors[before].min() > 1e-3


def test_regression_tokens_interleave_inputs_and_answers():
    task = InContextRegression(dim=2, noise=0.0, tokens="paired")
    batch = task.draw(np.random.default_rng(3), 1, 3)
    assert batch.inputs.shape == (1, 6, 4) and batch.targets.shape == (1, 6, 2)
    assert batch.predicted[0].tolist() == [True, False] * 3
    np.testing.assert_allclose(batch.inputs[0, 1, 2:], batch.targets[0, 0])
    np.testing.assert_allclose(batch.inputs[0, 0, 2:], 0.0)
    # Theirs: x and y in the same D coordinates, told apart only by position.
    theirs = InContextRegression(dim=2, noise=0.0).draw(np.random.default_rng(3), 1, 3)
    assert theirs.inputs.shape == (1, 6, 2)
    np.testing.assert_allclose(theirs.inputs[0, 0::2], batch.inputs[0, 0::2, :2])
    np.testing.assert_allclose(theirs.inputs[0, 1::2], batch.inputs[0, 1::2, 2:])
    np.testing.assert_allclose(theirs.targets, batch.targets)
