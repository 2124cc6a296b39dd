"""Where every random draw of a run comes from: one numpy generator per purpose, seeded by a
documented sequence, so that each draw depends on what it is for alone and a resumed or
repeated run sees exactly the same data.

| purpose                                      | generator                                  |
|----------------------------------------------|--------------------------------------------|
| training batch of seed s at step t           | default_rng([s, t])                        |
| in-distribution fit check of seed s at step t | default_rng([s, t, FIT_CHECK])             |
| length bucket of training block b (all seeds) | default_rng([LENGTH_BUCKET, b, 0])         |
| evaluation set of length n (inputs)          | default_rng([EVALUATION_SET, n])           |
| evaluation position ids at length n          | default_rng(n)                             |
| position ids of predictions and generation   | default_rng(0)                             |

Seed s's initial parameters come from `jax.random.PRNGKey(s)` (`training.steps.seed_keys`).
Sequences of different lengths never give the same stream, so the only two that could meet are
a training batch and an evaluation set: seed EVALUATION_SET (7919) at step n would train on the
evaluation inputs of length n. `TrainConfig` refuses that seed, so no two purposes share a
stream (the values are kept as they were so that earlier runs reproduce).
"""

from __future__ import annotations

import numpy as np

# Third word of the seed sequence of the in-distribution checks.
FIT_CHECK = 1
# First word of the seed sequence of the evaluation sets.
EVALUATION_SET = 7919
# First word of the seed sequence of the length buckets: three words starting with a seed
# that no training run may use, and a third word other than FIT_CHECK, so it meets no other.
LENGTH_BUCKET = EVALUATION_SET


def training_batch(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def fit_check(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step, FIT_CHECK])


def length_bucket(block: int) -> np.random.Generator:
    return np.random.default_rng([LENGTH_BUCKET, block, 0])


def evaluation_set(length: int) -> np.random.Generator:
    return np.random.default_rng([EVALUATION_SET, length])


def evaluation_positions(length: int) -> np.random.Generator:
    return np.random.default_rng(length)


def prediction_positions() -> np.random.Generator:
    return np.random.default_rng(0)
