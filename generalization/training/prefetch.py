"""The chunks of training batches, built ahead in worker processes (`TrainConfig.label_workers`).

The host builds each chunk's batches (`batches.chunk_batches`: the sampler draws the inputs,
the interpreter labels them, the arrays are encoded) while the device trains on the previous
chunk. When building is the slower of the two the device waits: labelling majority at lengths
1-50 costs about 30 us per sequence on one core, so a chunk of the paper preset (50 steps x 5
seeds x 64 sequences) takes about half a second, longer than a GPU needs to train on it.

With w > 0 workers the next w chunks are built in w processes while this one trains. Each
worker runs `chunk_batches` itself on the same arguments, and every batch comes from its own
(seed, step) stream, so the arrays are those the loop would build, whichever process builds
them; the training is identical (a test compares the parameters bit for bit). A chunk is built
for the seeds not frozen when it is requested; a seed that fits at a check in between has its
steps marked inactive, so its batches are ignored as the loop ignores a frozen seed's.

Workers start with `spawn`, not `fork`: the parent runs JAX, whose threads a fork would copy in
whatever state they are. Each start imports the harness and loads the program again (about
two seconds), so workers pay off for long runs on hosts with spare cores, not for short ones.
Workers end with the training process, also when it is killed (`worker_processes`).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

import numpy as np

from generalization.models.config import ModelConfig
from generalization.tasks.data import TaskData
from generalization.training.batches import chunk_batches
from generalization.training.config import TrainConfig
from generalization.worker_processes import exit_with_parent
from rasp.heap import keep_freed_memory

Chunk = tuple[tuple[np.ndarray, ...], np.ndarray]
# The chunk beginning at a step: (the step it ends at, the lengths its steps draw from).
Plan = Callable[[int], tuple[int, tuple[int, int]]]


class ChunkSource:
    """`chunk_batches` of every chunk of a training run, built in this process (no workers)
    or ahead in worker processes; use as a context manager, which stops the workers.

    The process that builds the chunks keeps freed memory mapped (`rasp.heap`): the
    interpreter's selectors then reuse pages instead of faulting them in again."""

    def __init__(self, data: TaskData, model_config: ModelConfig, config: TrainConfig,
                 plan: Plan, workers: int = 0):
        if not workers:
            keep_freed_memory()
        self._arguments = (data, model_config, config)
        self._plan = plan
        self._steps = config.steps
        self._workers = workers
        self._ahead: dict[int, Future] = {}
        self._pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
            initargs=(os.getpid(), *self._arguments)) if workers else None

    def __enter__(self) -> ChunkSource:
        return self

    def __exit__(self, *exception: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def chunk(self, start: int, frozen: list[bool]) -> Chunk:
        """The batches [K, S, B, T] of the chunk beginning at step `start` and its active mask
        [K, S], with the seeds in `frozen` inactive; the chunks after it are started ahead."""
        end, lengths = self._plan(start)
        if self._pool is None:
            return chunk_batches(*self._arguments, lengths, start, end - start, frozen)
        future = self._ahead.pop(start, None) or self._submit(start, frozen)
        self._fill(end, frozen)
        batches, active = future.result()
        return batches, active & ~np.asarray(frozen, bool)[None, :]

    def _submit(self, start: int, frozen: list[bool]) -> Future:
        end, lengths = self._plan(start)
        return self._pool.submit(_build, lengths, start, end - start, list(frozen))

    def _fill(self, start: int, frozen: list[bool]) -> None:
        """Start building the chunks from step `start` on until `workers` are under way."""
        while len(self._ahead) < self._workers and start < self._steps:
            if start not in self._ahead:
                self._ahead[start] = self._submit(start, frozen)
            start = self._plan(start)[0]


# A worker's data, model and training settings, set once when it starts.
_worker_arguments: tuple[TaskData, ModelConfig, TrainConfig] | None = None


def _start(parent: int, data: TaskData, model_config: ModelConfig,
           config: TrainConfig) -> None:
    global _worker_arguments
    exit_with_parent(parent)   # a killed training run leaves no worker behind
    keep_freed_memory()
    _worker_arguments = (data, model_config, config)


def _build(lengths: tuple[int, int], start: int, count: int, frozen: list[bool]) -> Chunk:
    assert _worker_arguments is not None, "a worker builds chunks after `_start`"
    return chunk_batches(*_worker_arguments, lengths, start, count, frozen)
