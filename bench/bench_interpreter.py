"""Interpreter throughput against tracr's own RASP evaluator, measured in one run.

For each task, 1,000 random inputs of length 32 go through our batched
interpreter (one `program.run` call) and through `tracr.rasp.rasp.evaluate`
on the equivalent program of `tracr.compiler.lib` (one call per input, as its
API takes). Prints inputs per second for both and their ratio.

    python bench/bench_interpreter.py [--inputs 1000] [--length 32] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Callable

from tracr.compiler import lib
from tracr.rasp import rasp as tracr_rasp

import rasp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# task: (our example file, its s-op, tracr's equivalent program, input alphabet).
# tracr's stable sort needs numeric keys, so its sort sees the digits as ints.
TASKS: dict[str, tuple[str, str, Callable[[], object], str]] = {
    "sort": ("sort.rasp", "sort_tokens",
             lambda: lib.make_sort(tracr_rasp.tokens, tracr_rasp.tokens, max_seq_len=64,
                                   min_key=1), "12345678"),
    "histogram": ("histogram.rasp", "hist", lib.make_hist, "abcdefgh"),
    "reverse": ("reverse.rasp", "reverse", lambda: lib.make_reverse(tracr_rasp.tokens),
                "abcdefgh"),
    "dyck1": ("dyck1.rasp", "dyck1", lambda: lib.make_shuffle_dyck(pairs=["()"]), "()"),
}


def _best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    print(f"{args.inputs} inputs of length {args.length}; ours: best of {args.repeats}, "
          f"tracr: one pass")
    print(f"{'task':<10} {'ours (inputs/s)':>16} {'tracr (inputs/s)':>17} {'ratio':>8}")
    ratios = []
    for task, (file, sop, make_tracr, alphabet) in TASKS.items():
        inputs = ["".join(rng.choice(alphabet) for _ in range(args.length))
                  for _ in range(args.inputs)]
        program = rasp.load(EXAMPLES / file)
        program.run(sop, inputs[:8])  # warm caches of both sides alike
        ours = _best_seconds(lambda: program.run(sop, inputs), args.repeats)
        tracr_program = make_tracr()
        tracr_inputs = [[int(c) if c.isdigit() else c for c in x] for x in inputs]
        tracr_rasp.evaluate(tracr_program, tracr_inputs[0])
        theirs = _best_seconds(
            lambda: [tracr_rasp.evaluate(tracr_program, x) for x in tracr_inputs], 1)
        ratio = theirs / ours
        ratios.append(ratio)
        print(f"{task:<10} {args.inputs / ours:>16,.0f} {args.inputs / theirs:>17,.0f} "
              f"{ratio:>7.0f}x")
    print(f"geometric mean ratio: {statistics.geometric_mean(ratios):.0f}x "
          f"(target: at least 100x on every task)")


if __name__ == "__main__":
    main()
