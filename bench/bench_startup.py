"""How long the `rasp` command takes to start, against Python itself starting, in one run.

    python bench/bench_startup.py [--repeats 10]

Each command runs `--repeats` times as a fresh process; the table shows the median wall time,
the time above `python -c pass` (the interpreter's own start, measured in the same run), and
whether the commands that should start fast (`rasp run`, `rasp repl`: no JAX, no tracr) stay
under the 0.5 s target. `rasp compile` is shown for contrast: it needs JAX and tracr.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASP = [sys.executable, "-m", "command_line.main"]
TARGET_SECONDS = 0.5

COMMANDS = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "rasp --version": ([*RASP, "--version"], None),
    "rasp run reverse": ([*RASP, "run", "examples/reverse.rasp", "--sop", "reverse", '"abc"'],
                         None),
    "rasp repl (one entry)": ([*RASP, "repl"], "x = 1;\n"),
    "rasp compile reverse": ([*RASP, "compile", "examples/reverse.rasp", "--sop", "reverse",
                              "--vocab", '"abc"', "--max-len", "3"], None),
}
FAST = ("rasp run reverse", "rasp repl (one entry)")


def median_seconds(command: list[str], stdin: str | None, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True,
                       check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    seconds = {name: median_seconds(command, stdin, args.repeats if name != "rasp compile "
                                    "reverse" else max(2, args.repeats // 5))
               for name, (command, stdin) in COMMANDS.items()}
    python = seconds["python -c pass"]
    print(f"median of {args.repeats} fresh processes each (compile: fewer)")
    print(f"{'command':24} {'seconds':>8} {'above python':>13} {'x python':>9}")
    for name, value in seconds.items():
        print(f"{name:24} {value:8.3f} {value - python:13.3f} {value / python:9.1f}")
    slow = [name for name in FAST if seconds[name] >= TARGET_SECONDS]
    print(f"target: {', '.join(FAST)} under {TARGET_SECONDS} s: "
          + ("met" if not slow else f"NOT met by {', '.join(slow)}"))


if __name__ == "__main__":
    main()
