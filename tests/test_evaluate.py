"""Evaluation: the seed statistics, the metrics, and that evaluating padded, chunked sets of
several lengths gives what each input's own prediction gives."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import pytest

import rasp
from generalization.evaluation import predict as evaluate
from generalization.evaluation.metrics import correct_tokens, exact_match, mean_ci95
from generalization.evaluation.predict import evaluate_lengths, predict
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.tasks import Task, TaskData

REVERSE = Path(__file__).resolve().parent.parent / "examples" / "reverse.rasp"


@pytest.fixture(scope="module")
def data() -> TaskData:
    task = Task("reverse", REVERSE, "reverse", tuple("abc"), (1, 4), (5, 8))
    return TaskData(task, rasp.load(REVERSE), list("abc"))


def random_params(config: ModelConfig, seeds: int = 2):
    """Freshly initialised parameters of `seeds` seeds, stacked."""
    model = build_model(config)
    tokens = np.zeros((1, 4), np.int32)
    keys = jax.numpy.stack([jax.random.PRNGKey(s) for s in range(seeds)])
    # jitted: op-by-op initialisation dispatches hundreds of small ops and is slow
    return jax.jit(jax.vmap(lambda key: model.init(key, tokens, tokens, tokens == 0)))(keys)


def test_mean_ci95_single_value_is_its_own_interval():
    assert mean_ci95([0.7]) == (0.7, (0.7, 0.7))


def test_mean_ci95_student_t():
    # Three values with s = 0.1: half width t_{0.975, 2} * 0.1 / sqrt(3), t_{0.975, 2} = 4.3027.
    mean, (low, high) = mean_ci95([0.4, 0.5, 0.6])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert mean == pytest.approx(0.5)
    assert (low, high) == pytest.approx((0.5 - half, 0.5 + half))
    # Equal values: no spread, a point interval.
    assert mean_ci95([1.0, 1.0, 1.0]) == (1.0, (1.0, 1.0))


def test_mean_ci95_clips_to_bounds():
    # Two values 0 and 1: t_{0.975, 1} = 12.706, half width 12.706 * 0.7071 / 1.4142 = 6.353.
    assert mean_ci95([0.0, 1.0]) == (0.5, (0.0, 1.0))
    mean, (low, high) = mean_ci95([0.0, 1.0], bounds=None)
    assert (low, high) == pytest.approx((0.5 - 6.353102, 0.5 + 6.353102))
    with pytest.raises(ValueError):
        mean_ci95([])


def test_metrics_ignore_padding():
    labels = np.array([[0, 1, -1], [2, 2, 2], [1, -1, -1]])
    predictions = np.array([[0, 1, 2], [2, 0, 2], [0, 0, 0]])
    assert exact_match(predictions, labels).tolist() == [True, False, False]
    assert correct_tokens(predictions, labels).tolist() == [2, 2, 0]


def test_evaluate_lengths_matches_predictions_of_each_input(data, monkeypatch):
    """Sets of lengths 2 and 7 (padded to 7, in chunks of 16 rows with a padded last chunk)
    give the metrics computed from `predict` on each set alone. Index hints: the positions
    that evaluation draws are those of the same rng, and padding must not shift them."""
    monkeypatch.setattr(evaluate, "EVAL_ROWS", 16)
    config = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes, num_layers=1,
                         num_heads=2, width=16, max_position=16, positions="index_hints")
    params = random_params(config)
    sets = {n: data.batch(np.random.default_rng(n), 40, (n, n)) for n in (2, 7)}
    results = evaluate_lengths(config, params, data, sets)
    assert set(results) == {2, 7}
    for n, batch in sets.items():
        expected = rasp.load(REVERSE).run("reverse", batch.inputs)
        outputs = predict(config, params, data, batch.inputs, np.random.default_rng(n))
        assert len(outputs) == 2
        exact = [np.mean([o == e for o, e in zip(seed, expected)]) for seed in outputs]
        tokens = [np.mean([a == b for o, e in zip(seed, expected) for a, b in zip(o, e)])
                  for seed in outputs]
        assert results[n]["examples"] == 40
        assert results[n]["exact_match"] == pytest.approx(exact)
        assert results[n]["token_accuracy"] == pytest.approx(tokens)
    # A random model gets some but not all tokens right: the comparison above is not vacuous.
    assert 0 < results[7]["token_accuracy"][0] < 1
