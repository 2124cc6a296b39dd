"""The compile check of the paper preset on this machine's backend, measured in one run.

    python bench/bench_compiled_check.py [--tasks bin_majority sort] [--per-length 40]

Before any training, a run of the paper preset (examples/published/paper/) runs its compiled
model on every evaluation input (`per-length` inputs of each length 1-50 and 51-150, as the
interpreter continues them, `generalization.experiment.evaluation_sets`). What that costs
depends on the shapes the model is called at: XLA compiles each new input shape, and on a GPU
autotunes its matmuls too. For each task this prints:

* tracr: building the model (`compiler.compile` without its own check), and the interpreter's
  labelling of the inputs, the host work both sides below share;
* the model's runs over all the inputs, each policy from empty compilation caches, counting
  the distinct shapes it called the model at, compilation included:
  - one shape: every call at max_seq_len + 1 positions and a full chunk of rows (what
    `CompiledModel.run` does off the CPU, `compiler.model.SHAPE_SAVING_BACKENDS`);
  - by size: widths by length and batches by count (what it does on the CPU);
  the one-shape policy runs first, so the other may find some autotuning done for it, a
  bias in the peer's favour;
* one call of 40 inputs of the longest length, best of 5 after compiling, at full float32
  precision (HIGHEST, what the compiled model uses) and at the backend's default (TF32 on an
  NVIDIA GPU, under which tracr's weights are not exact: `compiler.model.EXACT`).

XLA autotunes as XLA_FLAGS say (by default it does; a sweep turns it off,
`generalization.sweep.share_the_device`): run it with `XLA_FLAGS=--xla_gpu_autotune_level=0`
to measure what a sweep's runs see.

It is meant for an accelerator. On the CPU the one-shape policy pads every call to a full chunk
(256 rows for bin_majority), which is why the CPU runs by size: `--tasks bin_majority
--per-length 8` took 5.5 minutes on 2 cores (one shape 302 s, by size 15 s).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import jax  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402
import rasp  # noqa: E402
from compiler import model as model_module  # noqa: E402
from generalization import streams  # noqa: E402
from generalization.config.experiment import load_config  # noqa: E402
from generalization.experiment import evaluation_lengths  # noqa: E402
from generalization.tasks.data import TaskData  # noqa: E402

PRESET = ROOT / "examples" / "published" / "paper"


def check_inputs(name: str, per_length: int) -> tuple[compiler.CompiledModel, list[list[list]],
                                                      float, float]:
    """The task's compiled model (unchecked), its evaluation inputs grouped by length, and the
    seconds tracr and the interpreter took."""
    task = load_config(PRESET / f"{name}.toml").task
    program = rasp.load(task.program)
    started = time.perf_counter()
    model = compiler.compile(program, task.sop, task.vocab, task.input_width(task.test_lengths),
                             causal=task.compile_causal, verify=False)
    built = time.perf_counter()
    data = TaskData.from_model(task, program, model)
    groups = [data.examples(streams.evaluation_set(length), per_length, (length, length)).inputs
              for length in evaluation_lengths(task)]
    return model, groups, built - started, time.perf_counter() - built


def timed_runs(model: compiler.CompiledModel, groups: list[list[list]], one_shape: bool
               ) -> tuple[float, int]:
    """Seconds to run the model on every group, from empty caches, and the shapes it used."""
    model_module.SHAPE_SAVING_BACKENDS = () if one_shape else (jax.default_backend(),)
    jax.clear_caches()
    shapes: set[tuple[int, int]] = set()
    forward = model_module.CompiledModel._forward

    def recorded(self, ids, mask):
        shapes.add(ids.shape)
        return forward(self, ids, mask)

    model_module.CompiledModel._forward = recorded
    try:
        started = time.perf_counter()
        for inputs in groups:
            model.run(inputs)
        return time.perf_counter() - started, len(shapes)
    finally:
        model_module.CompiledModel._forward = forward


def call_seconds(model: compiler.CompiledModel, inputs: list[list], precision: str) -> float:
    """Best of 5 calls on `inputs` at `precision`, after one that compiles."""
    model_module.EXACT = getattr(jax.lax.Precision, precision)
    jax.clear_caches()
    model.run(inputs)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        model.run(inputs)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["bin_majority", "sort"],
                        choices=sorted(path.stem for path in PRESET.glob("*.toml")))
    parser.add_argument("--per-length", type=int, default=40)
    args = parser.parse_args()
    if args.per_length < 1:
        parser.error(f"--per-length must be at least 1, got {args.per_length} (hint: 40)")
    backend = jax.default_backend()
    print(f"{jax.devices()[0].device_kind} ({backend}), the paper preset's compile check, "
          f"{args.per_length} inputs per length")
    jax.jit(lambda x: x + 1)(1.0).block_until_ready()   # the backend started before any timing
    saved = model_module.SHAPE_SAVING_BACKENDS, model_module.EXACT
    for name in args.tasks:
        model, groups, tracr_seconds, label_seconds = check_inputs(name, args.per_length)
        count = sum(len(inputs) for inputs in groups)
        print(f"\n{name}: {model.parameter_count():,} parameters, inputs up to "
              f"{model.max_seq_len} tokens, {count:,} inputs; tracr {tracr_seconds:.1f} s, "
              f"interpreter {label_seconds:.1f} s")
        one, one_shapes = timed_runs(model, groups, one_shape=True)
        by_size, size_shapes = timed_runs(model, groups, one_shape=False)
        this = "one shape" if backend not in saved[0] else "by size"
        for policy, seconds, shapes in (("one shape", one, one_shapes),
                                        ("by size", by_size, size_shapes)):
            print(f"  {policy:10s} {seconds:8.1f} s  {shapes:3d} shape(s)"
                  f"{'   (this backend runs it)' if policy == this else ''}")
        print(f"  one shape is {by_size / one:.2f}x as fast as by size")
        model_module.SHAPE_SAVING_BACKENDS = saved[0]
        longest = groups[-1]
        highest = call_seconds(model, longest, "HIGHEST")
        default = call_seconds(model, longest, "DEFAULT")
        model_module.EXACT = saved[1]
        print(f"  a call of the {len(longest)} inputs of the longest length: HIGHEST "
              f"{highest * 1e3:.1f} ms, DEFAULT {default * 1e3:.1f} ms ({highest / default:.2f}x)")


if __name__ == "__main__":
    main()
