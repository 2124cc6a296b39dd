"""Labelling speed of autoregressive tasks, and the padding of a training epoch, in one run.

(a) Labelled sequences per second, batches of 64 prompts at task lengths uniform in 1..--top,
    as training labels them now: a chunk of --pool batches (the steps x seeds of one jitted
    call) labelled in one interpreter call (`TaskData.examples_of_many`), with the samplers'
    proposals confirmed in one pass (`TaskData._confirmed_proposals`), against the loop
    before: each batch on its own, continued token by token (`propose=False`: the interpreter
    re-run on every prefix). For the published tasks unique_copy, sort and majority
    (examples/published/cpu, with a vocabulary as large as --top). Both label the same
    prompts, and the labels are checked to be identical. Target: at least 20x.
(b) Padding: the fraction of the tokens computed in --steps training steps (batch 64, lengths
    1..--top) that are padding, with every batch padded to the longest training input and with
    length buckets (`TrainConfig.bucket_padding` = 0.2). Target: at most 25%.

    python bench/bench_labelling.py [--top 50] [--pool 75] [--batches 5] [--steps 2000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

import compiler
import rasp
from generalization import load_config, streams
from generalization.tasks import TaskData
from generalization.training.batches import block_lengths, length_buckets

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


def labelling(name: str, top: int, pool: int, batches: int) -> tuple[float, float]:
    """(pooled one pass, each batch token by token) labelled sequences per second on the
    same prompts: `pool` batches, and the first `batches` of them for the slow loop."""
    rates, outputs = [], []
    for propose in (True, False):
        data = task_data(name, top, propose)
        data.examples(np.random.default_rng(99), 8, (1, top))   # warm-up
        count = pool if propose else batches
        rngs = [np.random.default_rng(i) for i in range(count)]
        start = time.perf_counter()
        labelled = data.examples_of_many(rngs, BATCH, (1, top)) if propose else \
            [data.examples(rng, BATCH, (1, top)) for rng in rngs]
        rates.append(count * BATCH / (time.perf_counter() - start))
        outputs.append([(e.inputs, e.outputs) for e in labelled[:batches]])
    if outputs[0] != outputs[1]:
        raise SystemExit(f"{name}: the one-pass labels differ from the continuation's")
    return rates[0], rates[1]


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
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    print(f"(a) labelled sequences per second, batches of {BATCH}, lengths 1-{args.top}")
    print(f"{'task':<12} {'pooled, one pass':>17} {'per batch, token by token':>26} "
          f"{'ratio':>7}")
    ratios = []
    for name in TASKS[:3]:
        fast, slow = labelling(name, args.top, args.pool, args.batches)
        ratios.append(fast / slow)
        print(f"{name:<12} {fast:>17.0f} {slow:>26.0f} {fast / slow:>6.1f}x")
    print(f"smallest ratio {min(ratios):.1f}x (target >= 20x)")
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
