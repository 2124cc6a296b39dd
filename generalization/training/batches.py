"""The host's side of training: each seed's batches, drawn from its own stream (`streams`) and
stacked into the arrays [steps, seeds, batch, length] that one jitted call consumes.

Length buckets (`TrainConfig.bucket_padding` = f > 0). Padding every batch to the longest
training input wastes about half of the tokens computed when lengths are uniform in 1..n.
`length_buckets` cuts the training lengths [lo, hi] into ranges, from the top down, each as
wide as it can be while the tokens it pads are at most f of those it computes (the input width
w(n) of a task length n standing for its tokens: 1 - mean_{n in B} w(n) / w(max B) <= f).
Training steps come in blocks of `bucket_steps`; block b draws one bucket, with probability
proportional to its number of lengths (`streams.length_bucket(b)`, the same for every seed, so
the seeds' batches share one shape), and its steps draw their lengths uniformly from it, padded
to its widest input. Each length is then drawn with probability 1 / (hi - lo + 1) at every
step, as without buckets; a block's steps see lengths of one range, and the jitted step
compiles once per bucket.

The cost: a block's steps are not independent draws of the training distribution, and Adam
follows each bucket for `bucket_steps` steps. Measured on the published unique_copy (CPU
preset, one seed, lengths 1-10, lr 1e-3 decaying linearly over 12,000 steps): in-distribution
exact match at steps 1,000 / 2,000 / 4,000 / 12,000 was 35.5 / 55.4 / 53.7 / 96.9% with
buckets of 25-step blocks, oscillating (65.2% at 10,000), against 55.4 / 75.7 / 79.2 / 99.5%,
rising steadily, with every batch padded to the longest input; at these short lengths the
buckets saved a tenth of the time (164 s against 183 s for the 12,000 steps). The presets
of the reproduction therefore train without buckets; `bucket_steps = 1` keeps the steps
independent at the price of one jitted call per step.
"""

from __future__ import annotations

import numpy as np

from generalization import streams
from generalization.models.config import ModelConfig
from generalization.models.positions import position_ids
from generalization.tasks.data import Examples, TaskData
from generalization.tasks.encoding import IGNORE_LABEL
from generalization.training.config import TrainConfig


def seed_batch(data: TaskData, model_config: ModelConfig, rng: np.random.Generator,
               batch_size: int, lengths: tuple[int, int],
               training: bool) -> tuple[np.ndarray, ...]:
    """(tokens, positions, mask, labels) of one batch padded to the task's input width at
    `lengths` (lengths[1], or an autoregressive task's longest sequence): the batch of
    `data.batch`, then position ids drawn from the same rng for the unpadded length, offsets
    bounded by each row's length (padded positions get id 0; they are masked keys and
    unlabelled)."""
    return _arrays(data, model_config, rng, data.examples(rng, batch_size, lengths), lengths,
                   training)


def _arrays(data: TaskData, model_config: ModelConfig, rng: np.random.Generator,
            examples: Examples, lengths: tuple[int, int],
            training: bool) -> tuple[np.ndarray, ...]:
    """`seed_batch` of examples drawn (and labelled) from `rng` already."""
    batch = data.batch_of(examples, width=data.task.input_width(lengths))
    rows = batch.mask.sum(axis=1)
    longest = int(rows.max(initial=0))
    positions = np.zeros_like(batch.tokens)
    positions[:, :longest] = position_ids(model_config.positions, rng, len(rows), longest,
                                          model_config.max_position, training, rows)
    return batch.tokens, positions, batch.mask, batch.labels


def empty_batch(batch_size: int, width: int) -> tuple[np.ndarray, ...]:
    """(tokens, positions, mask, labels) of a batch that is all padding: the stand-in for a
    frozen seed's batch, which the vmapped programs need but whose results are discarded."""
    zeros = np.zeros((batch_size, width), np.int32)
    return zeros, zeros, zeros.astype(bool), np.full_like(zeros, IGNORE_LABEL)


def length_buckets(data: TaskData, lengths: tuple[int, int],
                   max_padding: float) -> list[tuple[int, int]]:
    """The training lengths cut into buckets padded at most `max_padding` (module docstring),
    from the shortest up."""
    def width(n: int) -> int:
        return data.task.input_width((n, n))

    buckets = []
    high = lengths[1]
    while high >= lengths[0]:
        low, real = high, width(high)
        while low > lengths[0] and \
                1 - (real + width(low - 1)) / ((high - low + 2) * width(high)) <= max_padding:
            low -= 1
            real += width(low)
        buckets.append((low, high))
        high = low - 1
    return buckets[::-1]


def block_lengths(buckets: list[tuple[int, int]], step: int, block_steps: int) -> tuple[int, int]:
    """The bucket of the block of training steps that holds `step` (module docstring)."""
    sizes = np.array([high - low + 1 for low, high in buckets], dtype=float)
    rng = streams.length_bucket(step // block_steps)
    return buckets[int(rng.choice(len(buckets), p=sizes / sizes.sum()))]


def chunk_batches(data: TaskData, model_config: ModelConfig, config: TrainConfig,
                  lengths: tuple[int, int], start: int, count: int,
                  frozen: list[bool]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The batches [K, S, B, T] of steps start .. start+count-1 and the active mask [K, S];
    `lengths` are the lengths these steps draw from (one bucket, with buckets).

    Frozen seeds and the steps past `count` get empty batches (all padding) and are inactive,
    so no data is generated for them."""
    empty = empty_batch(config.batch_size, data.task.input_width(lengths))
    active = np.zeros((config.steps_per_call, len(config.seeds)), bool)
    for i in range(config.steps_per_call):
        for j in range(len(config.seeds)):
            active[i, j] = i < count and not frozen[j]
    # Every active batch of the chunk is labelled in one call (`examples_of_many`); each
    # batch's inputs and positions still come from its own (seed, step) stream.
    cells = [(i, j) for i in range(config.steps_per_call) for j in range(len(config.seeds))
             if active[i, j]]
    rngs = {cell: streams.training_batch(config.seeds[cell[1]], start + cell[0])
            for cell in cells}
    labelled = dict(zip(cells, data.examples_of_many([rngs[cell] for cell in cells],
                                                     config.batch_size, lengths)))
    steps = []
    for i in range(config.steps_per_call):
        seeds = [_arrays(data, model_config, rngs[i, j], labelled[i, j], lengths, training=True)
                 if active[i, j] else empty for j in range(len(config.seeds))]
        steps.append([np.stack(arrays) for arrays in zip(*seeds)])
    return tuple(np.stack(arrays) for arrays in zip(*steps)), active
