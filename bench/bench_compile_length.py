"""Compiling the suite's programs at the lengths of published experiments, against an earlier
compiler in the same run.

    python bench/bench_compile_length.py [--lengths 20 40 80 160 304] [--baseline REV]
                                         [--budget 300] [--memory-gb 8] [--only copy_unique]

Each program of the task suite (`examples/suite/`, with its config's vocabulary and causal
setting) is compiled, with its exactness check, at each length N, in a fresh process, for this
checkout and for the compiler at git revision `--baseline` (default: the last commit before
the work on long models; a temporary worktree). A row shows per compiler the wall time, the
peak memory (the process's maximum resident set), the parameters and the residual width; a
compile that passes `--budget` seconds or `--memory-gb` is stopped and shown as such, and the
larger lengths of that program are then skipped for that compiler. Our parameters are those
the model keeps and runs (its blocks, `compiler/weights.py`), with tracr's dense layout
beside them; the baseline kept only the dense layout. Per program the growth in N is the
slope of log(parameters) against log(N) over the lengths ours reached, the ratio is the
baseline's time over ours, and the longest length reached is held against the issue's
targets (60 s, 4 GB, 50M parameters).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the work on compiling long models (issue 12).
DEFAULT_BASELINE = "ba4b8e7"

# (name, program, s-op, vocab, causal): the suite's configs.
PROGRAMS = [
    ("copy_unique", "copy_unique.rasp", "copy_unique", "abcdefghijklmnopqrst|$", True),
    ("copy_repeat", "copy_repeat.rasp", "copy_repeat", "abcdefgh|$", True),
    ("majority", "majority.rasp", "majority", "abc", False),
    ("mode", "mode.rasp", "mode", "abcd", False),
    ("prefix_mode", "mode.rasp", "prefix_mode", "abcd", True),
    ("sort", "sort.rasp", "sort_tokens", "abcdefgh", False),
    ("parity", "parity.rasp", "parity", "01", True),
    ("count", "count.rasp", "count_next", [str(n) for n in range(32)] + ["|", "$"], True),
    ("add_forward", "addition.rasp", "add_forward", "0123456789+", False),
    ("add_reversed", "addition.rasp", "add_reversed", "0123456789+", False),
]

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    sys.path.insert(0, sys.argv[1])
    import rasp, compiler
    program, sop, vocab, length, causal = json.loads(sys.argv[2])
    started = time.perf_counter()
    model = compiler.compile(rasp.load(program), sop, vocab, length, causal=causal,
                             **({"length_limit": length} if "length_limit" in
                                compiler.compile.__code__.co_varnames else {}))
    print(json.dumps({"seconds": time.perf_counter() - started,
                      "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
                      "parameters": model.parameter_count(),
                      "dense": (model.dense_parameter_count()
                                if hasattr(model, "dense_parameter_count")
                                else model.parameter_count()),
                      "residual": model.residual_width}))
""")


def measure(source: Path, case: tuple, length: int, budget: float, memory_gb: float) -> dict:
    """One compile in a fresh process limited to `memory_gb` and `budget` seconds."""
    _, program, sop, vocab, causal = case
    arguments = json.dumps([str(ROOT / "examples" / "suite" / program), sop,
                            list(vocab), length, causal])

    def limit_memory() -> None:
        limit = int(memory_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(source), arguments],
                              capture_output=True, text=True, timeout=budget,
                              preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return {"failed": f">{budget:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": "memory" if "Memory" in last or "RESOURCE" in last else last[:40]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def growth(points: list[tuple[int, int]]) -> float | None:
    """The least-squares slope of log(parameters) against log(N)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(p) for _, p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
            / sum((x - mean_x) ** 2 for x in xs))


def cell(result: dict | None) -> str:
    if result is None:
        return "skipped"
    if "failed" in result:
        return result["failed"]
    dense = f" ({result['dense'] / 1e6:.1f}M dense)" if result["dense"] != \
        result["parameters"] else ""
    return (f"{result['seconds']:.1f} s, {result['peak_gb']:.1f} GB, "
            f"{result['parameters'] / 1e6:.2f}M{dense}, D={result['residual']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 40, 80, 160, 304])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE,
                        help="git revision of the compiler to compare with ('' for none)")
    parser.add_argument("--budget", type=float, default=300, help="seconds per compile")
    parser.add_argument("--memory-gb", type=float, default=8)
    parser.add_argument("--only", nargs="*", help="program names")
    args = parser.parse_args()
    cases = [case for case in PROGRAMS if not args.only or case[0] in args.only]
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"ours": ROOT}
        if args.baseline:
            baseline = Path(scratch) / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                            str(baseline), args.baseline], check=True)
            sources[f"baseline {args.baseline}"] = baseline
        try:
            run(cases, sources, args)
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(baseline)], check=False)


def run(cases: list[tuple], sources: dict[str, Path], args: argparse.Namespace) -> None:
    print(f"budget {args.budget:.0f} s and {args.memory_gb:.0f} GB per compile (with its "
          f"exactness check); cells: time, peak memory, parameters (as blocks, and in the dense layout where that "
          f"differs), residual width")
    for case in cases:
        results: dict[str, dict[int, dict | None]] = {name: {} for name in sources}
        for name, source in sources.items():
            stopped = False
            for length in args.lengths:
                results[name][length] = None if stopped else measure(
                    source, case, length, args.budget, args.memory_gb)
                stopped = stopped or "failed" in (results[name][length] or {"failed": 1})
        print(f"\n{case[0]}")
        for length in args.lengths:
            row = "  ".join(f"{name}: {cell(results[name][length]):32}" for name in sources)
            ours, other = results["ours"][length], next(
                (results[n][length] for n in sources if n != "ours"), None)
            ratio = ""
            if ours and other and "seconds" in ours and "seconds" in other:
                ratio = f"  x{other['seconds'] / ours['seconds']:.1f} faster"
            print(f"  N={length:<4} {row}{ratio}")
        reached = {n: r for n, r in results["ours"].items() if r and "parameters" in r}
        slopes = [growth([(n, r[kind]) for n, r in reached.items()])
                  for kind in ("parameters", "dense")]
        print("  growth in N (ours): " + ", ".join(
            f"{kind} {'n/a' if slope is None else f'N^{slope:.1f}'}"
            for kind, slope in zip(("parameters", "dense layout"), slopes)))
        longest = max(reached, default=None)
        if longest is not None:
            r = reached[longest]
            met = r["seconds"] <= 60 and r["peak_gb"] <= 4 and r["parameters"] <= 50e6
            print(f"  at N={longest}: {'within' if met else 'outside'} the targets "
                  f"(60 s, 4 GB, 50M parameters)")


if __name__ == "__main__":
    main()
