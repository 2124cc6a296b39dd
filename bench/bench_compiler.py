"""Compiler speed against tracr's own compiler, and compiled-model throughput, in one run.

(a) Cold compile time: the first compile of each program in this process, ours
    (`compiler.compile(..., verify=False)`) against tracr's `compile_rasp_to_model`:
    * `examples/tracr_lib/*.rasp` against the equivalent program of `tracr.compiler.lib`;
    * `examples/*.rasp` against tracr compiling the program our lowering hands it (the same
      tracr RASP expression, with tracr inferring value sets itself): tracr's time excludes
      our lowering; where tracr cannot compile it, the row says why.
    Imports and one warm-up compile of a tiny program on each side (JAX and Haiku start-up)
    happen before any timing, and JAX's caches of compiled functions are cleared before each
    timed compile (otherwise tracr reuses the Haiku initialisation traced for an earlier
    program with the same parameter shapes and takes ~0.01 s). Ratio = tracr's time / ours; the target is at least 4x.
(b) Throughput of compiled models: our `model.run` on a batch of inputs (best of --repeats,
    after a warm-up run) against tracr's `model.apply`, which takes one input at a time,
    timed on --tracr-inputs inputs (after one warm-up apply per input length) and
    extrapolated to the batch size. The target is at least 1000x.

    python bench/bench_compiler.py [--max-seq-len 6] [--batch 1024] [--tracr-inputs 64]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

warnings.filterwarnings("ignore")

import jax  # noqa: E402
from tracr.compiler import compiling  # noqa: E402
from tracr.compiler import lib  # noqa: E402
from tracr.rasp import rasp as tracr  # noqa: E402

import compiler  # noqa: E402
import rasp  # noqa: E402
from compiler import analysis  # noqa: E402
from compiler.compile import _check_vocab  # noqa: E402
from compiler.lower import Lowering  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TRACR_LIB = EXAMPLES / "tracr_lib"
BOS = "BOS"

# name: (our file, its s-op, tracr's equivalent program, vocabulary).
TRACR_LIB_PROGRAMS: dict[str, tuple[str, str, Callable[[], tracr.SOp], Any]] = {
    "length": ("length.rasp", "make_length", lib.make_length, "abc"),
    "reverse": ("reverse.rasp", "make_reverse", lambda: lib.make_reverse(tracr.tokens), "abc"),
    "hist": ("hist.rasp", "make_hist", lib.make_hist, "abc"),
    "sort_unique": ("sort_unique.rasp", "make_sort_unique",
                    lambda: lib.make_sort_unique(tracr.tokens, tracr.tokens), [1, 2, 3, 4]),
    "sort": ("sort.rasp", "make_sort",
             lambda: lib.make_sort(tracr.tokens, tracr.tokens, max_seq_len=64, min_key=1),
             [1, 2, 3, 4]),
    "sort_freq": ("sort_freq.rasp", "make_sort_freq", lambda: lib.make_sort_freq(64), "abc"),
    "frac_prevs": ("frac_prevs.rasp", "make_frac_prevs",
                   lambda: lib.make_frac_prevs(tracr.tokens == "x"), "ax"),
    "pair_balance": ("pair_balance.rasp", "make_pair_balance",
                     lambda: lib.make_pair_balance(tracr.tokens, "(", ")"), "()"),
    "shuffle_dyck": ("shuffle_dyck.rasp", "make_shuffle_dyck",
                     lambda: lib.make_shuffle_dyck(["()"]), "()"),
    "shuffle_dyck2": ("shuffle_dyck2.rasp", "make_shuffle_dyck2", lib.make_shuffle_dyck2,
                      "(){}"),
    "detect_pattern": ("detect_pattern.rasp", "make_detect_pattern",
                       lambda: lib.detect_pattern(tracr.tokens, "abc"), "abc"),
    "count_less_freq": ("count_less_freq.rasp", "make_count_less_freq",
                        lambda: lib.make_count_less_freq(2), "abc"),
}

# examples/*.rasp: file -> (s-op, small vocabulary).
EXAMPLE_PROGRAMS: dict[str, tuple[str, Any]] = {
    "addition.rasp": ("sum_digits", "01+"),
    "copy.rasp": ("copy", "abc"),
    "count_token.rasp": ("count_a", "abc"),
    "distinct.rasp": ("distinct", "abc"),
    "double_histogram.rasp": ("hist2", "abc"),
    "dyck1.rasp": ("dyck1", "()"),
    "dyck2.rasp": ("dyck2", "(){}"),
    "frac_prevs.rasp": ("frac_prevs", "xa"),
    "histogram.rasp": ("hist", "abc"),
    "length.rasp": ("seq_length", "ab"),
    "majority.rasp": ("majority", "abc"),
    "max_token.rasp": ("max_token", [1, 3, 5]),
    "most_frequent.rasp": ("most_frequent", "abc"),
    "palindrome.rasp": ("palindrome", "ab"),
    "parity.rasp": ("parity", "01"),
    "reverse.rasp": ("reverse", "abc"),
    "seen_before.rasp": ("seen_before", "abc"),
    "shift.rasp": ("shift_right", "abc"),
    "sort.rasp": ("sort_tokens", "abc"),
    "sort_by_freq.rasp": ("sort_by_freq", "abc"),
    "sort_unique.rasp": ("sort_unique", [1, 2, 5, 8]),
}

# Programs whose throughput is measured (both compilers must compile them).
THROUGHPUT = ["reverse", "hist", "sort", "sort_freq", "frac_prevs", "count_less_freq"]


def _timed(run: Callable[[], Any], cold: bool = False) -> tuple[float, Any, Optional[str]]:
    """(seconds, result, error) of one call; an exception is reported, not raised.

    `cold`: clear JAX's caches of compiled functions first, so that a compile does not reuse
    the Haiku initialisation traced for an earlier program of the same shapes.
    """
    if cold:
        jax.clear_caches()
    start = time.perf_counter()
    try:
        result = run()
    except Exception as error:  # noqa: BLE001 - a failing compile is a row of the table
        return time.perf_counter() - start, None, _short(error)
    return time.perf_counter() - start, result, None


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:70]


def _tracr_compile(program: tracr.SOp, vocab: Any, max_seq_len: int):
    tokens = set(vocab)
    return compiling.compile_rasp_to_model(program, tokens, max_seq_len, compiler_bos=BOS)


def _lowered(program: rasp.Program, sop: str, vocab: Any, max_seq_len: int) -> tracr.SOp:
    """The tracr expression our compiler builds for `sop` (before its own craft stage)."""
    node = program.sop(sop)
    tokens = _check_vocab(vocab, max_seq_len)
    sample = analysis.sample_inputs(tokens, max_seq_len)
    lowering = Lowering(tokens, max_seq_len, analysis.profile(node, sample))
    return lowering.lower_output(node)


def _warm_up(max_seq_len: int) -> None:
    program = rasp.loads("w = aggregate(select(indices, indices, ==), tokens);", "warm.rasp")
    compiler.compile(program, "w", "ab", max_seq_len, verify=False).run(["ab"])
    warm = tracr.Aggregate(tracr.Select(tracr.indices, tracr.indices, tracr.Comparison.EQ),
                           tracr.tokens)
    _tracr_compile(tracr.categorical(warm), "ab", max_seq_len).apply([BOS, "a", "b"])


def _row(name: str, ours: float, ours_error: Optional[str], theirs: Optional[float],
         theirs_error: Optional[str], ratios: list[float]) -> None:
    ours_text = f"{ours:8.3f}s" if ours_error is None else "  refused"
    if theirs is None:
        theirs_text, ratio_text = "        -", "      -"
    elif theirs_error is not None:
        theirs_text, ratio_text = "   failed", "      -"
    else:
        theirs_text = f"{theirs:8.3f}s"
        ratio_text = "      -"
        if ours_error is None:
            ratio = theirs / ours
            ratios.append(ratio)
            ratio_text = f"{ratio:6.1f}x"
    note = (ours_error or theirs_error or "")[:60]
    print(f"{name:<24} {ours_text} {theirs_text} {ratio_text}  {note}")


def compile_times(max_seq_len: int, only: Optional[set[str]]) -> list[float]:
    all_ratios: list[float] = []
    print(f"(a) cold compile time, max_seq_len {max_seq_len} (ours with verify=False)")
    print(f"{'program':<24} {'ours':>9} {'tracr':>9} {'ratio':>7}")
    print("-- examples/tracr_lib/*.rasp vs tracr.compiler.lib")
    ratios: list[float] = []
    for name, (file, sop, make_tracr, vocab) in TRACR_LIB_PROGRAMS.items():
        if only and name not in only:
            continue
        program = rasp.load(TRACR_LIB / file)
        ours, _, ours_error = _timed(
            lambda: compiler.compile(program, sop, vocab, max_seq_len, verify=False), cold=True)
        tracr_program = make_tracr()
        theirs, _, theirs_error = _timed(
            lambda: _tracr_compile(tracr_program, vocab, max_seq_len), cold=True)
        _row(name, ours, ours_error, theirs, theirs_error, ratios)
    if ratios:
        print(f"{'geometric mean':<24} {'':>9} {'':>9} {statistics.geometric_mean(ratios):6.1f}x")
    all_ratios += ratios
    print("-- examples/*.rasp vs tracr compiling our lowered program")
    ratios = []
    for file, (sop, vocab) in EXAMPLE_PROGRAMS.items():
        if only and file.removesuffix(".rasp") not in only:
            continue
        program = rasp.load(EXAMPLES / file)
        ours, _, ours_error = _timed(
            lambda: compiler.compile(program, sop, vocab, max_seq_len, verify=False), cold=True)
        if ours_error is not None:
            _row(file.removesuffix(".rasp"), ours, ours_error, None, None, ratios)
            continue
        lowered = _lowered(program, sop, vocab, max_seq_len)
        theirs, _, theirs_error = _timed(lambda: _tracr_compile(lowered, vocab, max_seq_len),
                                         cold=True)
        _row(file.removesuffix(".rasp"), ours, None, theirs, theirs_error, ratios)
    if ratios:
        print(f"{'geometric mean':<24} {'':>9} {'':>9} {statistics.geometric_mean(ratios):6.1f}x")
    all_ratios += ratios
    if all_ratios:
        print(f"overall geometric mean ratio: {statistics.geometric_mean(all_ratios):.1f}x over "
              f"{len(all_ratios)} programs (target: at least 4x); slowest ratio "
              f"{min(all_ratios):.1f}x")
    return all_ratios


def throughput(max_seq_len: int, batch: int, tracr_inputs: int, repeats: int,
               seed: int, only: Optional[set[str]]) -> list[float]:
    print(f"\n(b) compiled-model throughput, inputs of length 1..{max_seq_len}: ours "
          f"`model.run` on {batch:,} inputs (best of {repeats}); tracr `model.apply` one "
          f"input at a time on {tracr_inputs} inputs, extrapolated to {batch:,}")
    print(f"{'program':<16} {'ours (inputs/s)':>16} {'tracr (inputs/s)':>17} "
          f"{'ours batch':>11} {'tracr batch*':>13} {'ratio':>8}")
    rng = random.Random(seed)
    ratios = []
    for name in THROUGHPUT:
        if only and name not in only:
            continue
        file, sop, make_tracr, vocab = TRACR_LIB_PROGRAMS[name]
        tokens = list(vocab)
        inputs = [[rng.choice(tokens) for _ in range(rng.randint(1, max_seq_len))]
                  for _ in range(batch)]
        ours_model = compiler.compile(rasp.load(TRACR_LIB / file), sop, vocab, max_seq_len,
                                      verify=False)
        ours_model.run(inputs)  # jit compile
        ours = min(_timed(lambda: ours_model.run(inputs))[0] for _ in range(repeats))
        tracr_model = _tracr_compile(make_tracr(), vocab, max_seq_len)
        for length in range(1, max_seq_len + 1):  # warm the per-shape caches of apply
            tracr_model.apply([BOS, *tokens[:1] * length])
        sample = inputs[:tracr_inputs]
        theirs, _, _ = _timed(lambda: [tracr_model.apply([BOS, *x]) for x in sample])
        theirs_batch = theirs / len(sample) * batch
        ratio = theirs_batch / ours
        ratios.append(ratio)
        print(f"{name:<16} {batch / ours:>16,.0f} {len(sample) / theirs:>17,.1f} "
              f"{ours:>10.4f}s {theirs_batch:>12.2f}s {ratio:>7,.0f}x")
    if ratios:
        print(f"* extrapolated from {tracr_inputs} inputs. geometric mean ratio: "
              f"{statistics.geometric_mean(ratios):,.0f}x (target: at least 1000x); "
              f"smallest {min(ratios):,.0f}x")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seq-len", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--tracr-inputs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="program names (e.g. reverse hist)")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    only = set(args.only) if args.only else None

    _warm_up(args.max_seq_len)
    if not args.skip_compile:
        compile_times(args.max_seq_len, only)
    if not args.skip_throughput:
        throughput(args.max_seq_len, args.batch, args.tracr_inputs, args.repeats, args.seed,
                   only)


if __name__ == "__main__":
    main()
