"""The host's side of training: each seed's batches, drawn from its own stream (`streams`) and
stacked into the arrays [steps, seeds, batch, length] that one jitted call consumes."""

from __future__ import annotations

import numpy as np

from generalization import streams
from generalization.models.config import ModelConfig
from generalization.models.positions import position_ids
from generalization.tasks.data import TaskData
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
    batch = data.batch(rng, batch_size, lengths, width=data.task.input_width(lengths))
    lengths = batch.mask.sum(axis=1)
    longest = int(lengths.max(initial=0))
    positions = np.zeros_like(batch.tokens)
    positions[:, :longest] = position_ids(model_config.positions, rng, batch_size, longest,
                                          model_config.max_position, training, lengths)
    return batch.tokens, positions, batch.mask, batch.labels


def empty_batch(batch_size: int, width: int) -> tuple[np.ndarray, ...]:
    """(tokens, positions, mask, labels) of a batch that is all padding: the stand-in for a
    frozen seed's batch, which the vmapped programs need but whose results are discarded."""
    zeros = np.zeros((batch_size, width), np.int32)
    return zeros, zeros, zeros.astype(bool), np.full_like(zeros, IGNORE_LABEL)


def chunk_batches(data: TaskData, model_config: ModelConfig, config: TrainConfig,
                  lengths: tuple[int, int], start: int, count: int,
                  frozen: list[bool]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The batches [K, S, B, T] of steps start .. start+count-1 and the active mask [K, S].

    Frozen seeds and the steps past `count` get empty batches (all padding) and are inactive,
    so no data is generated for them."""
    empty = empty_batch(config.batch_size, data.task.input_width(lengths))
    steps = []
    active = np.zeros((config.steps_per_call, len(config.seeds)), bool)
    for i in range(config.steps_per_call):
        seeds = []
        for j, seed in enumerate(config.seeds):
            active[i, j] = i < count and not frozen[j]
            seeds.append(seed_batch(data, model_config, streams.training_batch(seed, start + i),
                                    config.batch_size, lengths, training=True)
                         if active[i, j] else empty)
        steps.append([np.stack(arrays) for arrays in zip(*seeds)])
    return tuple(np.stack(arrays) for arrays in zip(*steps)), active
