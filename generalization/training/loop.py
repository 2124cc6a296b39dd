"""The training loop: every seed of one model configuration trained together, with early
stopping and checkpoints. (The maths of a step is in `steps.py`, the data in `batches.py`.)

Seeds. Seed s starts from `init(PRNGKey(s))`, or every seed from the same `initial_params` when
they are given (a model initialised from compiled weights, see `models/from_compiled.py`). Its
batch at step t is drawn from `streams.training_batch(s, t)`: the data of a step depends on
(s, t) alone, so a resumed run regenerates exactly the batches it would have seen. Each jitted
call runs a chunk of up to `steps_per_call` steps as a `lax.scan` over `vmap(step)` across the
seeds; every batch is padded to the longest training input so all chunks have one shape and
compile once (or, with length buckets, to its bucket's longest input, one shape per bucket:
`batches.py`). Chunks end at evaluation and checkpoint steps and at the end of a bucket's block
of steps; a shorter chunk is filled with
inactive steps that leave the state untouched, so the result does not depend on how the steps
are cut into calls.

Early stopping. At every multiple of `eval_every` (and at the last step) each seed still
training is measured on a fresh batch of the training lengths (`streams.fit_check(s, t)`,
positions as at evaluation). A seed whose exact match reaches `fit_threshold` is fitted and
*freezes*: its later updates are masked out, so its parameters, step count and metrics stay
those of the check at which it fitted, however long the other seeds go on. (A seed's numbers
do not depend on its companions except through floating-point rounding: vmapping over another
number of seeds can round differently, and Adam magnifies that in near-zero gradients.)
Training ends when every seed is fitted or after `steps` steps. Seeds that start from given
`initial_params` (a compiled model, which fits before any step) are fine-tuned instead: they are
measured at step 0 too but never freeze, so they train all `steps` steps and `fitted` says
whether the last check passed. The check is one batch of
`eval_batch_size` inputs: a model that gets a fraction e of inputs wrong passes a threshold of 1
with probability (1 - e)^n, hence the default n = 1024 (e = 1% passes with probability 4e-5).

Checkpoints (see `checkpoint`) at every multiple of `checkpoint_every` and at the end hold the
state, the step and the bookkeeping; `train` resumes from one found in `checkpoint_dir`, and the
resumed run ends with bit-identical parameters and metrics to an uninterrupted one.

Throughput: the host builds the next chunk's batches while the device runs the current chunk
(jax dispatch is asynchronous; losses are read one chunk late, for the progress bar only), or
`label_workers` processes build the next chunks ahead (`prefetch.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import haiku as hk
import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from generalization import streams
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.tasks.data import TaskData
from generalization.training import checkpoint
from generalization.training.batches import (block_lengths, empty_batch, length_buckets,
                                             seed_batch)
from generalization.training.config import TrainConfig
from generalization.training.prefetch import ChunkSource
from generalization.training.steps import (make_chunk_step, make_init, make_measure,
                                           make_optimizer, seed_keys)


@dataclass
class TrainResult:
    """Outcome of `train`; every list has one entry per seed, in `TrainConfig.seeds` order.

    `steps`: optimiser steps the seed took (fewer than configured when it fitted early).
    `final_loss`, `in_distribution_exact_match`: its last in-distribution check.
    `history`: every check, {"step", "loss", "exact_match", "fitted"} (lists over seeds)."""

    seeds: list[int]
    params: Any
    steps: list[int]
    final_loss: list[float]
    in_distribution_exact_match: list[float]
    fitted: list[bool]
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Bookkeeping:
    """Everything besides the arrays that a checkpoint must restore (plain JSON data)."""

    step: int
    trained: list[int]
    fitted: list[bool]
    loss: list[float]
    exact_match: list[float]
    history: list[dict[str, Any]]
    seconds: float

    @classmethod
    def fresh(cls, seeds: int) -> _Bookkeeping:
        nan = float("nan")
        return cls(0, [0] * seeds, [False] * seeds, [nan] * seeds, [nan] * seeds, [], 0.0)


def train(model_config: ModelConfig, train_config: TrainConfig, data: TaskData,
          train_lengths: tuple[int, int], checkpoint_dir: Path | None = None,
          progress: bool = True, initial_params: hk.Params | None = None) -> TrainResult:
    """Train every seed of `train_config` on `data` at lengths in `train_lengths` (inclusive);
    see the module docstring for the maths, the seeding, early stopping and resumption.

    `initial_params` (one seed's, of the model's own structure) start every seed instead of
    the random init; the seeds then differ in their data only."""
    started = time.perf_counter()
    lo, hi = train_lengths
    if not 0 <= lo <= hi or hi < 1:
        raise ValueError(f"train_lengths must be an inclusive range lo <= hi, got {train_lengths}")
    chunk_step, measure, init = _compiled(model_config, _optimiser_only(train_config), hi)
    seeds = train_config.seeds
    params, opt_state = init(seed_keys(seeds), initial_params)
    book = _Bookkeeping.fresh(len(seeds))
    saved_at = -1   # step of the checkpoint on disk
    identity = _identity(model_config, train_config, data, train_lengths, initial_params)
    if checkpoint_dir is not None:
        loaded = checkpoint.load(checkpoint_dir, (params, opt_state))
        if loaded is not None:
            _, state, meta = loaded
            params, opt_state = jax.device_put(state)
            if meta["identity"] != identity:
                raise checkpoint.CheckpointError(
                    f"{checkpoint_dir}: the checkpoint is of a different configuration",
                    hint="use another run directory, or delete the checkpoint to start afresh")
            book = _Bookkeeping(**meta["bookkeeping"])
            saved_at = book.step
    # Seeds from given weights (a compiled model's) fit before any step; stopping them there
    # would leave nothing fine-tuned, so they train every step and only report their fit.
    early_stop = initial_params is None
    if not early_stop and not book.history:
        _check_fit(book, params, measure, data, model_config, train_config, train_lengths,
                   early_stop)
    seconds_before = book.seconds

    def save() -> None:
        nonlocal saved_at
        saved_at = book.step
        book.seconds = seconds_before + time.perf_counter() - started
        checkpoint.save(checkpoint_dir, book.step, (params, opt_state),
                        {"identity": identity, "bookkeeping": dataclasses.asdict(book)})

    buckets = length_buckets(data, train_lengths, train_config.bucket_padding) \
        if train_config.bucket_padding else []

    def plan(start: int) -> tuple[int, tuple[int, int]]:
        lengths = block_lengths(buckets, start, train_config.bucket_steps) if buckets \
            else train_lengths
        return _chunk_end(start, train_config), lengths

    source = ChunkSource(data, model_config, train_config, plan, train_config.label_workers)
    console = Console(stderr=True)
    bar = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                   console=console, disable=not (progress and console.is_terminal))
    with bar, source:
        task = bar.add_task("train", total=train_config.steps, completed=book.step,
                            status=_status(book, None))
        pending: tuple[jax.Array, np.ndarray] | None = None   # losses not yet shown
        while book.step < train_config.steps and not (early_stop and all(book.fitted)):
            start = book.step
            end = _chunk_end(start, train_config)
            frozen = list(book.fitted) if early_stop else [False] * len(seeds)
            # Built while the device still runs the previous chunk (or ahead, by workers).
            batches, active = source.chunk(start, frozen)
            if pending is not None and not bar.disable:
                bar.update(task, completed=start, status=_status(book, pending))
            params, opt_state, losses = chunk_step(params, opt_state, batches, active)
            pending = (losses, active)
            book.step = end
            book.trained = [t if f else end for t, f in zip(book.trained, frozen)]
            if end % train_config.eval_every == 0 or end == train_config.steps:
                _check_fit(book, params, measure, data, model_config, train_config,
                           train_lengths, early_stop)
            if end % train_config.checkpoint_every == 0 and checkpoint_dir is not None:
                save()
        if not bar.disable:
            bar.update(task, completed=book.step, status=_status(book, pending))
    if checkpoint_dir is not None and saved_at != book.step:
        save()   # the final state
    return TrainResult(seeds=list(seeds), params=params, steps=list(book.trained),
                       final_loss=list(book.loss),
                       in_distribution_exact_match=list(book.exact_match),
                       fitted=list(book.fitted),
                       seconds=seconds_before + time.perf_counter() - started,
                       history=list(book.history))


def _optimiser_only(config: TrainConfig) -> TrainConfig:
    """`config` with every field that does not shape the optimiser at its default."""
    return TrainConfig(steps=config.steps, learning_rate=config.learning_rate,
                       warmup_steps=config.warmup_steps, schedule=config.schedule,
                       weight_decay=config.weight_decay,
                       grad_clip=config.grad_clip)


@functools.lru_cache(maxsize=8)
def _compiled(model_config: ModelConfig, optimiser_config: TrainConfig,
              length: int) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """(chunk_step, measure, init) of a model and optimiser, cached so that another `train`
    of them in this process (a resume, other seeds, another experiment) reuses the jitted
    functions, which jax recompiles only for new shapes."""
    model, optimizer = build_model(model_config), make_optimizer(optimiser_config)
    return (make_chunk_step(model, optimizer), make_measure(model, model_config),
            make_init(model, optimizer, length))


def _chunk_end(start: int, config: TrainConfig) -> int:
    """The step at which the chunk beginning at `start` ends: after steps_per_call steps, or at
    the next evaluation step, checkpoint step, block of a length bucket or the last step,
    whichever comes first."""
    def next_multiple(every: int) -> int:
        return (start // every + 1) * every

    return min(start + config.steps_per_call, next_multiple(config.eval_every),
               next_multiple(config.checkpoint_every), config.steps,
               next_multiple(config.bucket_steps) if config.bucket_padding else config.steps)


def _check_fit(book: _Bookkeeping, params: Any, measure: Callable[..., Any], data: TaskData,
               model_config: ModelConfig, config: TrainConfig,
               lengths: tuple[int, int], early_stop: bool = True) -> None:
    """Measure the seeds still training at step `book.step`, freeze those that fit (with
    `early_stop`; else every seed is measured and `fitted` says whether it fits now), and append
    the check to the history. Frozen seeds keep the metrics of the check at which they fitted."""
    frozen = book.fitted if early_stop else [False] * len(book.fitted)
    per_seed = [empty_batch(config.eval_batch_size, data.task.input_width(lengths)) if fitted else
                seed_batch(data, model_config,
                           streams.fit_check(seed, book.step),
                           config.eval_batch_size, lengths, training=False)
                for seed, fitted in zip(config.seeds, frozen)]
    losses, exact = measure(params, *(np.stack(arrays) for arrays in zip(*per_seed)))
    for j, (loss, accuracy) in enumerate(zip(losses.tolist(), exact.tolist())):
        if not frozen[j]:
            book.loss[j], book.exact_match[j] = loss, accuracy
            book.fitted[j] = accuracy >= config.fit_threshold
    book.history.append({"step": book.step, "loss": list(book.loss),
                         "exact_match": list(book.exact_match), "fitted": list(book.fitted)})


def _status(book: _Bookkeeping, pending: tuple[jax.Array, np.ndarray] | None) -> str:
    """Progress text: mean training loss of the last chunk over its active steps, the seeds'
    last in-distribution exact match, and how many have fitted."""
    parts = []
    if pending is not None and pending[1].any():
        parts.append(f"loss {float(np.asarray(pending[0])[pending[1]].mean()):.4f}")
    if book.history:
        parts.append("acc " + " ".join(f"{a:.2f}" for a in book.exact_match))
    parts.append(f"fitted {sum(book.fitted)}/{len(book.fitted)}")
    return "  ".join(parts)


# Options recorded in a checkpoint's identity only when they differ from their defaults.
LATER_MODEL_OPTIONS = ("layer_norm", "activation", "bos", "init", "tied_classes", "attention",
                       "linear_normalise", "mesa_unit_norm", "input_dim", "scores_vocabulary")
LATER_TRAIN_OPTIONS = ("schedule", "fitted_seeds", "max_seeds", "bucket_padding",
                       "bucket_steps", "init_from")
# Options that change where the work is done, never the result: a run resumes under others.
SPEED_ONLY_OPTIONS = ("label_workers",)


def _identity(model_config: ModelConfig, train_config: TrainConfig, data: TaskData,
              train_lengths: tuple[int, int], initial_params: hk.Params | None) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be resumed (plain JSON data).

    The options added after the first checkpoints (LATER_*_OPTIONS) and the initial parameters
    are recorded only when set, so that checkpoints written before they existed still resume."""
    task = data.task
    defaults = ModelConfig(vocab_size=1, num_classes=1, num_layers=0, num_heads=1)
    model = {key: value for key, value in dataclasses.asdict(model_config).items()
             if key not in LATER_MODEL_OPTIONS or value != getattr(defaults, key)}
    train_defaults = TrainConfig()
    training = {key: value for key, value in dataclasses.asdict(train_config).items()
                if key not in SPEED_ONLY_OPTIONS and
                (key not in LATER_TRAIN_OPTIONS or value != getattr(train_defaults, key))}
    identity = {
        "model": model, "train": training,
        "train_lengths": list(train_lengths), "program": Path(task.program).name, "sop": task.sop,
        "vocab": data.vocab, "classes": data.classes, "sampler": task.to_dict()["sampler"]}
    if initial_params is not None:
        digest = hashlib.sha256()
        for leaf in jax.tree.leaves(initial_params):
            digest.update(np.asarray(leaf, np.float32).tobytes())
        identity["initial_params"] = digest.hexdigest()
    return json.loads(json.dumps(identity, default=repr))
