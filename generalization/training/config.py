"""The training settings: the `[training]` section of an experiment config, and what `train`
takes. Plain data with each constraint beside its field (`generalization.settings`); no JAX
here, so that checking a config does not load it."""

from __future__ import annotations

from dataclasses import dataclass

from generalization import streams
from generalization.settings import (Checked, Invalid, distinct, fraction, is_int,
                                          non_negative_int, non_negative_number, one_of,
                                          positive_int, positive_number, setting, show,
                                          text)

# Learning-rate schedules after the warm-up (`steps.make_optimizer` has the maths).
SCHEDULES = ("cosine", "linear")


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
    # "cosine": decay to a tenth of the peak (nanoGPT); "linear": to 0 (Hugging Face's default,
    # which Huang et al. 2025 train with).
    schedule: str = setting("cosine", one_of(SCHEDULES))
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
    # Processes that build the next chunks' batches while this one trains (0: this process
    # builds each between calls): speed only, the batches are the same (`prefetch.py`).
    label_workers: int = setting(0, non_negative_int)
    # Inputs of each in-distribution check.
    eval_batch_size: int = setting(1024, positive_int)
    # Length buckets (`batches.length_buckets`): 0 pads every batch to the longest training
    # input; a fraction f > 0 cuts the training lengths into buckets each padded at most f,
    # and every `bucket_steps` consecutive steps draw their lengths from one bucket.
    bucket_padding: float = setting(0.0, non_negative_number)    # below 1 (check)
    bucket_steps: int = setting(25, positive_int)
    # Seeds until this many fit (0: train `seeds` only): after `seeds`, the next unused seeds
    # are trained in rounds, as many as fits are missing, until `fitted_seeds` seeds fitted or
    # `max_seeds` were tried (Huang et al. 2025 kept 5 fitted seeds; `protocol.py`).
    fitted_seeds: int = setting(0, non_negative_int)
    max_seeds: int = setting(0, non_negative_int)    # 0: as many as `seeds`
    # A run folder whose saved model of the same encoding starts every seed (fine-tuning, as
    # from compiled weights: every step is trained); "" starts from random weights. Relative
    # to the config file; `experiment.transferred_start` picks the seed.
    init_from: str = setting("", text)

    def cross_check(self) -> None:
        if self.bucket_padding >= 1:
            raise Invalid(f"must be below 1 (a fraction of the tokens computed), got "
                          f"{self.bucket_padding}", hint="e.g. bucket_padding = 0.2",
                          key="bucket_padding")
        if self.fitted_seeds > self.seed_limit:
            raise Invalid(f"must not exceed the seeds that may be tried ({self.seed_limit}: "
                          f"max_seeds, or the number of seeds), got {self.fitted_seeds}",
                          hint=f"e.g. max_seeds = {4 * self.fitted_seeds}", key="fitted_seeds")
        if self.max_seeds and self.max_seeds < len(self.seeds):
            raise Invalid(f"must be at least the number of seeds ({len(self.seeds)}), got "
                          f"{self.max_seeds}", key="max_seeds")
        if self.warmup_steps >= self.steps:
            raise Invalid(f"must be less than [training] steps ({self.steps}), got "
                          f"{self.warmup_steps}", hint=f"e.g. warmup_steps = {self.steps // 10}",
                          key="warmup_steps")

    @property
    def seed_limit(self) -> int:
        """The most seeds a run may train: `max_seeds`, or the seeds listed."""
        return self.max_seeds or len(self.seeds)
