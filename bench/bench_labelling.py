"""Labelling speed of autoregressive tasks, and the padding of a training epoch, in one run.

(a) Labelled sequences per second, batches of 64 prompts at task lengths uniform in 1..--top,
    for the published tasks unique_copy, sort and majority (examples/published/cpu, with a
    vocabulary as large as --top), three ways:
    - token by token, the loop before: each batch on its own, continued token by token
      (`propose=False`: the interpreter re-run on every prefix);
    - one pass, pooled, in this process: a chunk of --pool batches (the steps x seeds of one
      jitted call) labelled in one interpreter call (`TaskData.examples_of_many`), the
      samplers' proposals confirmed in one pass (`TaskData._confirmed_proposals`). Both label
      the same prompts, and the labels are checked to be identical; the two are timed in
      turn --repeats times and the best of each kept (the machine is shared). This process
      keeps freed memory mapped as training's chunk builder does (`rasp.heap`), for both;
    - in --workers processes (default: one per CPU core), as training with `label_workers`
      builds them (`training/prefetch.py`): --chunks chunks of --pool batches, each labelled
      as above and encoded as arrays with its position ids. Timed between the deliveries of
      chunk --workers + 1 and of the last, so that the workers' start and the chunks they
      began during it are left out of the steady rate.
    Target: at least 20x the loop before.
(b) Padding: the fraction of the tokens computed in --steps training steps (batch 64, lengths
    1..--top) that are padding, with every batch padded to the longest training input and with
    length buckets (`TrainConfig.bucket_padding` = 0.2). Target: at most 25%.

    python bench/bench_labelling.py [--top 50] [--pool 75] [--batches 5] [--repeats 5]
                                    [--workers CPUS] [--chunks 12] [--steps 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np

import compiler
import rasp
from generalization import load_config, streams
from generalization.models.config import ModelConfig
from generalization.tasks import TaskData
from generalization.training.batches import block_lengths, length_buckets
from generalization.training.config import TrainConfig
from generalization.training.prefetch import ChunkSource
from rasp.heap import keep_freed_memory

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("unique_copy", "sort", "majority", "repeat_copy", "count")
BATCH = 64


def task_data(name: str, top: int, propose: bool) -> TaskData:
    config = load_config(ROOT / "examples" / "published" / "cpu" / f"{name}.toml")
    task = config.task
    vocab = task.vocab
    if name in ("unique_copy", "sort"):   # distinct tokens: as many as the longest length
        vocab = tuple(f"{i:03d}" for i in range(top + 1)) + ("|", "$")
    elif name == "count":
        vocab = tuple(str(i) for i in range(top + 11)) + ("|", "$")
    task = dataclasses.replace(task, vocab=vocab, train_lengths=(1, top),
                               test_lengths=(top + 1, top + 1))
    program = rasp.load(task.program)
    model = compiler.compile(program, task.sop, task.vocab, 8, causal=task.compile_causal,
                             verify=False)   # only the output values are needed
    values = set(model.output_values) | set(task.vocab) | {"-", "$"}
    return TaskData(task, program, values, propose=propose)


def labelling(name: str, top: int, pool: int, batches: int,
              repeats: int) -> tuple[float, float]:
    """(pooled one pass, each batch token by token) labelled sequences per second on the
    same prompts: `pool` batches, and the first `batches` of them for the slow loop. The two
    are timed in turn `repeats` times and the best of each kept: this machine is shared, and
    its load changes the slow loop's rate by up to a factor of two from one run to the next."""
    data = {propose: task_data(name, top, propose) for propose in (True, False)}
    best = {True: float("inf"), False: float("inf")}
    outputs = {}
    for _ in range(repeats):
        for propose, labeller in data.items():
            labeller.examples(np.random.default_rng(99), 8, (1, top))   # warm-up
            rngs = [np.random.default_rng(i) for i in range(pool if propose else batches)]
            start = time.perf_counter()
            labelled = labeller.examples_of_many(rngs, BATCH, (1, top)) if propose else \
                [labeller.examples(rng, BATCH, (1, top)) for rng in rngs]
            best[propose] = min(best[propose], time.perf_counter() - start)
            outputs[propose] = [(e.inputs, e.outputs) for e in labelled[:batches]]
    if outputs[True] != outputs[False]:
        raise SystemExit(f"{name}: the one-pass labels differ from the continuation's")
    return pool * BATCH / best[True], batches * BATCH / best[False]


def in_workers(name: str, top: int, pool: int, chunks: int, workers: int) -> float:
    """Labelled sequences per second of chunks of `pool` batches (3 seeds) built by `workers`
    processes, in the steady state (module docstring)."""
    data = task_data(name, top, True)
    seeds = (0, 1, 2)
    per_call = pool // len(seeds)
    steps = per_call * chunks
    config = TrainConfig(steps=steps, batch_size=BATCH, seeds=seeds, steps_per_call=per_call,
                         warmup_steps=0, eval_every=steps, checkpoint_every=steps)
    width = data.task.input_width((1, top))
    model = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes, num_layers=1,
                        num_heads=1, positions="offset", max_position=2 * width, causal=True)
    delivered = []
    with ChunkSource(data, model, config, lambda start: (min(start + per_call, steps), (1, top)),
                     workers) as source:
        for start in range(0, steps, per_call):
            source.chunk(start, [False] * len(seeds))
            delivered.append(time.perf_counter())
    first = workers + 1
    return (chunks - 1 - first) * per_call * len(seeds) * BATCH / (delivered[-1] - delivered[first])


def padding(name: str, top: int, steps: int, max_padding: float) -> float:
    """The padded fraction of the tokens computed in `steps` steps of lengths 1..top."""
    data = task_data(name, top, True)
    buckets = length_buckets(data, (1, top), max_padding) if max_padding else [(1, top)]
    real = computed = 0
    for step in range(steps):
        low, high = block_lengths(buckets, step, 25)
        lengths = streams.training_batch(0, step).integers(low, high + 1, size=BATCH)
        real += sum(data.task.input_width((n, n)) for n in lengths.tolist())
        computed += BATCH * data.task.input_width((low, high))
    return 1 - real / computed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--pool", type=int, default=75)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    keep_freed_memory()   # as `ChunkSource` does in the process that labels
    print(f"(a) labelled sequences per second, batches of {BATCH}, lengths 1-{args.top}")
    print(f"{'task':<12} {'token by token':>15} {'one pass, pooled':>17} {'ratio':>7} "
          f"{f'in {args.workers} workers':>13} {'ratio':>7}")
    ratios: dict[str, list[float]] = {"one process": [], "workers": []}
    for name in TASKS[:3]:
        fast, slow = labelling(name, args.top, args.pool, args.batches, args.repeats)
        parallel = in_workers(name, args.top, args.pool, args.chunks, args.workers)
        ratios["one process"].append(fast / slow)
        ratios["workers"].append(parallel / slow)
        print(f"{name:<12} {slow:>15.0f} {fast:>17.0f} {fast / slow:>6.1f}x {parallel:>13.0f} "
              f"{parallel / slow:>6.1f}x")
    print(f"smallest ratio {min(ratios['one process']):.1f}x in this process, "
          f"{min(ratios['workers']):.1f}x in {args.workers} worker processes (target >= 20x; "
          f"{os.cpu_count()} CPU cores)")
    print(f"\n(b) padding of {args.steps} training steps, lengths 1-{args.top} "
          f"(upper bound: each input as wide as its task length allows)")
    print(f"{'task':<12} {'longest input':>14} {'buckets (20%)':>14}")
    worst = 0.0
    for name in TASKS:
        plain, bucketed = (padding(name, args.top, args.steps, f) for f in (0.0, 0.2))
        worst = max(worst, bucketed)
        print(f"{name:<12} {plain:>14.1%} {bucketed:>14.1%}")
    print(f"largest padding with buckets {worst:.1%} (target <= 25%)")


if __name__ == "__main__":
    main()
