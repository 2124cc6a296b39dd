"""Attention forms: the parallel and the recurrent (`lax.scan`) form of linear and mesa
attention, forward and backward, measured in one run.

    python bench/bench_attention.py            # about 1 minute on a 2-core CPU
    python bench/bench_attention.py --repeats 5

Each row times one jitted gradient of sum(o^2) with respect to q, k and v (a forward and a
backward pass, as a training step pays them), causal, float32, every position real, at the
shapes of the bundled attention study (`examples/reports/attention_study.md`): batch 64,
2 heads of size 32 at lengths 20 and 80 (the regression's training and longest test
lengths), and 4 heads of size 64 at length 41. The two forms of a family take turns for
--repeats rounds of 10 calls each and the best round counts, so that a burst of load on a
shared machine does not land on one side only. The last column is parallel time over
recurrent time: above 1, the scan is faster. The model uses the faster form measured here on
a 2-core CPU (`generalization/models/attention.py` says which).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

warnings.filterwarnings("ignore")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generalization.models import attention  # noqa: E402

SHAPES = ((64, 20, 2, 32), (64, 80, 2, 32), (64, 41, 4, 64))       # (B, T, H, d)
CALLS_PER_ROUND = 10

FORMS: dict[str, tuple[Callable, Callable]] = {
    "linear": (lambda q, k, v, mask, lam: attention.linear_attention(q, k, v, mask, True),
               lambda q, k, v, mask, lam: attention.linear_attention_recurrent(
                   q, k, v, mask, True)),
    "mesa": (lambda q, k, v, mask, lam: attention.mesa_attention(q, k, v, mask, True, lam),
             lambda q, k, v, mask, lam: attention.mesa_attention_recurrent(
                 q, k, v, mask, True, lam)),
}


def gradient_step(form: Callable, shape: tuple[int, int, int, int]) -> Callable[[], None]:
    """A compiled call of the gradient of sum(form(q, k, v)^2), already run once."""
    batch, length, heads, _ = shape
    q, k, v = (jax.random.normal(key, shape) for key in jax.random.split(jax.random.key(0), 3))
    mask = jnp.ones((batch, length), bool)
    lam = jnp.ones((heads,))
    grad = jax.jit(jax.grad(lambda q, k, v: jnp.sum(form(q, k, v, mask, lam) ** 2),
                            argnums=(0, 1, 2)))
    jax.block_until_ready(grad(q, k, v))
    return lambda: jax.block_until_ready(grad(q, k, v))


def best_round_seconds(calls: list[Callable[[], None]], repeats: int) -> list[float]:
    """Per call, the best over `repeats` rounds of the mean time of CALLS_PER_ROUND calls; the
    calls take turns round by round."""
    best = [float("inf")] * len(calls)
    for _ in range(repeats):
        for index, call in enumerate(calls):
            start = time.perf_counter()
            for _ in range(CALLS_PER_ROUND):
                call()
            best[index] = min(best[index], (time.perf_counter() - start) / CALLS_PER_ROUND)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()}; forward + backward, causal, float32")
    print(f"{'family':8} {'B x T x H x d':16} {'parallel':>10} {'recurrent':>10} {'ratio':>7}")
    for family, (parallel, recurrent) in FORMS.items():
        for shape in SHAPES:
            seconds = best_round_seconds([gradient_step(parallel, shape),
                                          gradient_step(recurrent, shape)], args.repeats)
            label = " x ".join(map(str, shape))
            print(f"{family:8} {label:16} {seconds[0] * 1e3:8.1f}ms {seconds[1] * 1e3:8.1f}ms "
                  f"{seconds[0] / seconds[1]:6.2f}x")


if __name__ == "__main__":
    main()
