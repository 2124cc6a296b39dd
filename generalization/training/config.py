"""The training settings: the `[training]` section of an experiment config, and what `train`
takes. Plain data with each constraint beside its field (`generalization.settings`); no JAX
here, so that checking a config does not load it."""

from __future__ import annotations

from dataclasses import dataclass

from generalization import streams
from generalization.settings import (Checked, Invalid, distinct, fraction, is_int,
                                          non_negative_int, non_negative_number, positive_int,
                                          positive_number, setting, show)


def seed_list(value: object) -> tuple[int, ...]:
    """A non-empty list of distinct non-negative integers."""
    if not isinstance(value, (list, tuple)) or not value or \
            not all(is_int(v) and v >= 0 for v in value):
        raise Invalid(f"must be a non-empty list of non-negative integers, got {show(value)}",
                      hint="e.g. seeds = [0, 1, 2]")
    distinct(value, "a seed")
    if streams.EVALUATION_SET in value:
        raise Invalid(f"must not include {streams.EVALUATION_SET}: that seed's training batches "
                      f"would be the evaluation sets (`generalization.streams`)",
                      hint="choose another seed")
    return tuple(value)


@dataclass(frozen=True)
class TrainConfig(Checked):
    """Optimisation and bookkeeping of one training run (all seeds of one model configuration).

    A seed counts as *fitted* once its in-distribution exact match reaches `fit_threshold`; that
    is the one meaning of "fitted" in every report and study."""

    steps: int = setting(2000, positive_int)
    batch_size: int = setting(64, positive_int)
    learning_rate: float = setting(1e-3, positive_number)
    warmup_steps: int = setting(100, non_negative_int)   # less than steps (check)
    weight_decay: float = setting(0.01, non_negative_number)
    grad_clip: float = setting(1.0, positive_number)
    seeds: tuple[int, ...] = setting((0, 1, 2), seed_list)
    checkpoint_every: int = setting(250, positive_int)
    # In-distribution check for early stopping and progress, every this many steps.
    eval_every: int = setting(100, positive_int)
    # In-distribution exact match at which a seed counts as fitted (and stops early).
    fit_threshold: float = setting(1.0, fraction)
    # Optimiser steps per jitted call: speed only, the results do not depend on it.
    steps_per_call: int = setting(10, positive_int)
    # Inputs of each in-distribution check.
    eval_batch_size: int = setting(1024, positive_int)

    def cross_check(self) -> None:
        if self.warmup_steps >= self.steps:
            raise Invalid(f"must be less than [training] steps ({self.steps}), got "
                          f"{self.warmup_steps}", hint=f"e.g. warmup_steps = {self.steps // 10}",
                          key="warmup_steps")
