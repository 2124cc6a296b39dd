"""Training throughput: our trainer against a plain Haiku/optax loop, measured in one run.

    python bench/bench_training.py --quick          # 1-2 minutes on a 2-core CPU
    python bench/bench_training.py [--steps 100] [--repeats 3] [--steps-per-call 10]
                                   [--task sort|reverse]

Both train the same model (2 layers, 2 heads, 64 wide, learned positions) with the same
optimiser (`training.steps.make_optimizer`) on the same data source: `TaskData.batch` on
examples/sort.rasp (or reverse.rasp), vocabulary "abcdefgh", every input of length 40,
batch 64. Throughput is training tokens (real input positions) per second of wall time.

* plain loop: one model, one seed; each step draws its batch in Python (`TaskData.batch`,
  position ids) and calls one jitted step (value_and_grad + optimiser update). Dispatch is
  asynchronous and the loss is never read inside the loop, so the host may prepare the next
  batch while the device runs a step (the loop is not handicapped by needless syncs).
* ours: `training.loop.train` as the harness runs it, with 3 seeds vmapped in one program and
  `--steps-per-call` steps per jitted call (`lax.scan`), its in-distribution check at the
  end included. Timed on a second identical run, so that neither side pays compilation.
  A row with 1 seed separates the gain of several steps per call from that of vmapping seeds.

Each variant runs --repeats times, the variants taking turns, and the best time counts: on a
shared machine a burst of load then does not land on one side only.

Attribution, measured last: the same two loops once glibc's malloc is told to keep freed
memory (`mallopt`, Linux only). XLA:CPU mallocs each execution's temporaries; glibc serves those
above 32 MB with fresh pages from the kernel every time, so a loop of one step per call pays
that each step and ours once per call. The row shows how much of the ratio that explains; it
is measured on the CPU only, since a GPU's temporaries come from XLA's own device allocator.

The data-generation time per batch (sampling, labelling by the interpreter, encoding, position
ids: host work both sides do) is measured on its own and reported beside the two.

Fraction of peak, at width 128: the model FLOPs of our trainer per second over the machine's
measured float32 matmul peak (a jitted square matmul, best of several). Model FLOPs per
training token, for N non-embedding parameters (the blocks' and the head's matrices and
biases), L layers, context T and width d:

    6 N + 12 L T d

A forward pass costs 2 N per token in the parameter matmuls and 4 T d per layer in attention
(scores q k^T and the mix of values, 2 T d each); the backward pass costs twice the forward.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rasp  # noqa: E402
from generalization.models.config import ModelConfig  # noqa: E402
from generalization.models.positions import position_ids  # noqa: E402
from generalization.models.transformer import build_model, count_parameters  # noqa: E402
from generalization.tasks import Task, TaskData  # noqa: E402
from generalization.training.config import TrainConfig  # noqa: E402
from generalization.training.loop import train  # noqa: E402
from generalization.training.steps import make_optimizer, masked_cross_entropy  # noqa: E402

LENGTH = 40
BATCH = 64
VOCAB = "abcdefgh"
TASKS = {"sort": ("sort.rasp", "sort_tokens"), "reverse": ("reverse.rasp", "reverse")}
_WARM: set[tuple[ModelConfig, TrainConfig]] = set()   # configurations `train` has compiled


def task_data(name: str) -> TaskData:
    """The task at fixed length 40; its outputs are vocabulary tokens, so the classes are the
    vocabulary (no compiled model needed)."""
    file, sop = TASKS[name]
    path = ROOT / "examples" / file
    task = Task(name, path, sop, tuple(VOCAB), (LENGTH, LENGTH), (LENGTH + 1, LENGTH + 1))
    return TaskData(task, rasp.load(path), list(VOCAB))


def model_config(data: TaskData, width: int) -> ModelConfig:
    return ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes, num_layers=2,
                       num_heads=2, width=width, max_position=64, positions="learned")


def train_config(steps: int, seeds: tuple[int, ...], steps_per_call: int) -> TrainConfig:
    # Checks and checkpoints never interrupt the timed steps; the threshold cannot be reached.
    return TrainConfig(steps=steps, batch_size=BATCH, learning_rate=1e-3,
                       warmup_steps=min(10, steps - 1),
                       seeds=seeds, checkpoint_every=10 ** 9, eval_every=10 ** 9,
                       steps_per_call=steps_per_call, eval_batch_size=BATCH)


def host_batch(data: TaskData, config: ModelConfig, seed: int, step: int) -> tuple:
    """One batch as the plain loop builds it: TaskData.batch then position ids."""
    rng = np.random.default_rng([seed, step])
    batch = data.batch(rng, BATCH, (LENGTH, LENGTH))
    positions = position_ids(config.positions, rng, BATCH, LENGTH, config.max_position, True)
    return batch.tokens, positions, batch.mask, batch.labels


def data_seconds_per_batch(data: TaskData, config: ModelConfig, batches: int) -> float:
    started = time.perf_counter()
    for step in range(batches):
        host_batch(data, config, 0, step)
    return (time.perf_counter() - started) / batches


def plain_loop(data: TaskData, config: ModelConfig, steps: int) -> float:
    """Seconds for `steps` steps of the plain loop, after a compiling warm-up step."""
    model = build_model(config)
    optimizer = make_optimizer(train_config(steps, (0,), 1))
    tokens, positions, mask, _ = host_batch(data, config, 0, 0)
    params = model.init(jax.random.PRNGKey(0), tokens, positions, mask)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, tokens, positions, mask, labels):
        def loss_fn(params):
            return masked_cross_entropy(model.apply(params, tokens, positions, mask), labels)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    params, opt_state, loss = step(params, opt_state, *host_batch(data, config, 0, 0))
    loss.block_until_ready()
    started = time.perf_counter()
    for t in range(1, steps + 1):
        params, opt_state, loss = step(params, opt_state, *host_batch(data, config, 0, t))
    loss.block_until_ready()
    return time.perf_counter() - started


def ours(data: TaskData, config: ModelConfig, steps: int, seeds: tuple[int, ...],
         steps_per_call: int) -> float:
    """Seconds of a `train` run, after an identical run if this configuration has not run yet
    (`train` caches its compiled programs per configuration)."""
    settings = train_config(steps, seeds, steps_per_call)
    if (config, settings) not in _WARM:
        train(config, settings, data, (LENGTH, LENGTH), None, progress=False)
        _WARM.add((config, settings))
    started = time.perf_counter()
    result = train(config, settings, data, (LENGTH, LENGTH), None, progress=False)
    jax.block_until_ready(result.params)
    return time.perf_counter() - started


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve large blocks from its heap and keep freed memory (no fresh
    mmap per allocation); False where that is not glibc. Lasts for the rest of the process."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return all(libc.mallopt(option, 1 << 30) == 1
               for option in (m_mmap_threshold, m_trim_threshold))


def matmul_peak(n: int, repeats: int) -> float:
    """Best float32 FLOP/s of a jitted [n, n] x [n, n] matmul."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.float32)
    matmul = jax.jit(lambda x, y: x @ y)
    matmul(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        matmul(a, a).block_until_ready()
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best


def flops_per_token(config: ModelConfig, params: object) -> float:
    """6 N + 12 L T d with N the non-embedding parameters (module docstring)."""
    embeddings = sum(int(np.prod(leaf.shape)) for name, values in params.items()
                     if "embeddings" in name for leaf in values.values())
    n = count_parameters(params) - embeddings
    return 6 * n + 12 * config.num_layers * LENGTH * config.width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 steps, 2 repeats (1-2 minutes)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--steps-per-call", type=int, default=10)
    parser.add_argument("--task", choices=sorted(TASKS), default="sort")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per variant")
    args = parser.parse_args()
    steps = 20 if args.quick else args.steps
    if args.quick:
        args.repeats = 2
    data = task_data(args.task)
    small, wide = model_config(data, 64), model_config(data, 128)
    tokens_per_step = BATCH * LENGTH
    seeds = (0, 1, 2)

    print(f"{jax.devices()[0].device_kind} ({jax.default_backend()}), task {args.task}, "
          f"length {LENGTH}, batch {BATCH}, {steps} timed steps")
    data_seconds = data_seconds_per_batch(data, small, steps)
    print(f"data generation (host, per batch of {BATCH}x{LENGTH}): {data_seconds * 1e3:.2f} ms "
          f"= {tokens_per_step / data_seconds:,.0f} tokens/s on one core")

    # Best of --repeats, the three measured in turn each round, so that a load spike on a shared
    # machine does not fall on one side only.
    seconds: dict[str, list[float]] = {"plain": [], "one": [], "three": []}
    for _ in range(args.repeats):
        seconds["plain"].append(plain_loop(data, small, steps))
        seconds["one"].append(ours(data, small, steps, (0,), args.steps_per_call))
        seconds["three"].append(ours(data, small, steps, seeds, args.steps_per_call))
    plain = steps * tokens_per_step / min(seconds["plain"])
    one_seed = steps * tokens_per_step / min(seconds["one"])
    three = steps * tokens_per_step * len(seeds) / min(seconds["three"])
    k = args.steps_per_call
    print(f"\nwidth 64, 2 layers: training tokens/s (best of {args.repeats})")
    print(f"  {'plain Haiku/optax loop, 1 seed, 1 step per call':<52}{plain:>10,.0f}")
    print(f"  {f'ours, 1 seed, {k} steps per call':<52}{one_seed:>10,.0f}"
          f"   {one_seed / plain:.2f}x")
    print(f"  {f'ours, 3 seeds vmapped, {k} steps per call':<52}{three:>10,.0f}"
          f"   {three / plain:.2f}x  (target >= 3x)")

    if jax.default_backend() == "cpu" and keep_freed_memory():
        kept = {"plain": [], "three": []}
        for _ in range(args.repeats):
            kept["plain"].append(plain_loop(data, small, steps))
            kept["three"].append(ours(data, small, steps, seeds, args.steps_per_call))
        kept_plain = steps * tokens_per_step / min(kept["plain"])
        kept_three = steps * tokens_per_step * len(seeds) / min(kept["three"])
        print("\nthe same, glibc malloc keeping freed memory (attribution, module docstring)")
        print(f"  {'plain Haiku/optax loop':<52}{kept_plain:>10,.0f}   "
              f"{kept_plain / plain:.2f}x the plain loop above")
        print(f"  {f'ours, 3 seeds vmapped, {k} steps per call':<52}{kept_three:>10,.0f}   "
              f"{kept_three / kept_plain:.2f}x this plain loop")

    peak = matmul_peak(2048 if args.quick else 4096, 3 if args.quick else 5)
    wide_tokens = (steps * tokens_per_step * len(seeds) /
                   ours(data, wide, steps, seeds, args.steps_per_call))
    params = build_model(wide).init(jax.random.PRNGKey(0), *host_batch(data, wide, 0, 0)[:3])
    flops = flops_per_token(wide, params) * wide_tokens
    print(f"\nwidth 128, ours with 3 seeds: {wide_tokens:,.0f} tokens/s, "
          f"{flops_per_token(wide, params):,.0f} FLOPs per token -> {flops / 1e9:.1f} GFLOP/s")
    print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s -> "
          f"{flops / peak:.1%} of peak")


if __name__ == "__main__":
    main()
