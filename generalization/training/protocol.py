"""Seeds until enough fit: the protocol of Huang et al. (2025), whose figures are means over 5
seeds that fitted the training lengths (their `run_multiple_seeds.py` tries seeds 0, 1, 2, ..
until 5 runs reach exact match 1.0 in distribution).

`train_until_fitted` trains `TrainConfig.seeds` (one `loop.train`, every seed vmapped); while
fewer than `fitted_seeds` fitted and fewer than `max_seeds` were tried, it trains a round of the
next unused seeds, as many as fits are missing (never more than are left to try), each round a
`loop.train` of its own with its own checkpoints (`<checkpoint_dir>/round-<r>`, round 0 in the
folder itself, so a killed run resumes in the round it was in). Seeds are tried in increasing
order and a seed's result does not depend on the round it is in (its data and initialisation
come from the seed alone), so the fitted seeds are those the protocol would find one at a time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp

from generalization import streams
from generalization.models.config import ModelConfig
from generalization.tasks.data import TaskData
from generalization.training.config import TrainConfig
from generalization.training.loop import TrainResult, train


def train_until_fitted(model_config: ModelConfig, train_config: TrainConfig, data: TaskData,
                       train_lengths: tuple[int, int], checkpoint_dir: Path | None = None,
                       progress: bool = True,
                       initial_params: hk.Params | None = None) -> TrainResult:
    """`loop.train`, then further rounds of seeds while fits are missing (module docstring);
    the result lists every seed tried, in the order tried."""
    results, seeds = [], list(train_config.seeds)
    round_config = train_config
    while True:
        folder = checkpoint_dir if checkpoint_dir is None or not results else \
            checkpoint_dir / f"round-{len(results)}"
        results.append(train(model_config, round_config, data, train_lengths, folder, progress,
                             initial_params))
        fitted = sum(sum(result.fitted) for result in results)
        missing = train_config.fitted_seeds - fitted
        room = train_config.seed_limit - len(seeds)
        if missing <= 0 or room <= 0:
            break
        more = _next_seeds(seeds, min(missing, room))
        seeds += more
        round_config = dataclasses.replace(train_config, seeds=tuple(more))
    return _joined(results) if len(results) > 1 else results[0]


def _next_seeds(tried: list[int], count: int) -> list[int]:
    """The `count` smallest seeds above every seed tried, skipping the evaluation sets' seed."""
    seeds, candidate = [], max(tried) + 1
    while len(seeds) < count:
        if candidate != streams.EVALUATION_SET:
            seeds.append(candidate)
        candidate += 1
    return seeds


def _joined(results: list[TrainResult]) -> TrainResult:
    """The rounds' results as one, seeds in the order tried. Checks are joined by step: a
    round that ended before a step shows the figures of its last check there (its seeds were
    fitted and frozen, or out of steps)."""
    params = jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *(r.params for r in results))
    steps = sorted({check["step"] for r in results for check in r.history})
    history = []
    for step in steps:
        joined: dict[str, Any] = {"step": step, "loss": [], "exact_match": [], "fitted": []}
        for result in results:
            done = [c for c in result.history if c["step"] <= step] or result.history[:1]
            for key in ("loss", "exact_match", "fitted"):
                joined[key] += done[-1][key]
        history.append(joined)
    return TrainResult(
        seeds=[seed for r in results for seed in r.seeds], params=params, steps=[s for r in results for s in r.steps],
        final_loss=[v for r in results for v in r.final_loss],
        in_distribution_exact_match=[v for r in results for v in r.in_distribution_exact_match],
        fitted=[v for r in results for v in r.fitted], seconds=sum(r.seconds for r in results),
        history=history)
