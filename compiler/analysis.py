"""What the compiler needs to know about a program's graph before lowering it.

* `sample_inputs`: every input up to a small length, plus random inputs up to
  `max_seq_len` (seeded), the set on which selectors are profiled and the
  compiled model is verified.
* `profile`: for every selector, the most positions any query selects, whether
  a query can select nothing and whether a query selects a later position,
  as observed by the interpreter on the sample.
* helpers for the value sets the lowering computes (`lower._Region`) with the
  interpreter's own scalar operations (`rasp.ops`): the means an attention head
  can produce, and `canonical`, which merges float near-duplicates.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from compiler.errors import CompileError
from rasp import evaluate, graph, ops
from rasp.errors import RaspError

# Inputs of every length up to the largest whose exhaustive set stays under this.
EXHAUSTIVE_BUDGET = 2000
RANDOM_INPUTS = 400


def sample_inputs(vocab: Sequence[Any], max_seq_len: int, seed: int = 0) -> list[list]:
    """Every short input, random inputs of every length, and constant inputs at full length."""
    tokens = sorted(vocab, key=repr)
    inputs: list[list] = []
    for length in range(1, max_seq_len + 1):
        if len(inputs) + len(tokens) ** length > EXHAUSTIVE_BUDGET:
            break
        inputs.extend(list(combo) for combo in itertools.product(tokens, repeat=length))
    rng = random.Random(seed)
    for i in range(RANDOM_INPUTS):
        length = max_seq_len if i % 4 == 0 else rng.randint(1, max_seq_len)
        inputs.append([rng.choice(tokens) for _ in range(length)])
    inputs.extend([token] * max_seq_len for token in tokens)
    return inputs


@dataclass(frozen=True)
class SelectorProfile:
    max_width: int
    can_be_empty: bool
    looks_ahead: bool


def profile(root: graph.Node, inputs: list[list]) -> dict[int, SelectorProfile]:
    """Selector behaviour observed on the inputs, keyed by node id."""
    widths: dict[int, int] = defaultdict(int)
    empty: dict[int, bool] = defaultdict(bool)
    ahead: dict[int, bool] = defaultdict(bool)
    by_length: dict[int, list[list]] = defaultdict(list)
    for tokens in inputs:
        by_length[len(tokens)].append(tokens)
    nodes = graph.topological_order([root])
    selectors = [n for n in nodes if n.is_selector]
    for length, rows in by_length.items():
        try:
            values = evaluate.evaluate_nodes([root], rows)
        except RaspError as error:
            raise CompileError(f"the program fails on an input of the vocabulary: "
                               f"{error.message}", error.span,
                               hint=error.hint or "a model computes its s-op on every input "
                               "over the vocabulary: choose tokens the program can read"
                               ) from None
        upper = np.triu(np.ones((length, length), dtype=bool), k=1)
        for node in selectors:
            matrix = values[node.id]
            counts = matrix.sum(axis=-1)
            widths[node.id] = max(widths[node.id], int(counts.max(initial=0)))
            empty[node.id] |= bool((counts == 0).any())
            ahead[node.id] |= bool((matrix & upper).any())
    return {n.id: SelectorProfile(widths[n.id], empty[n.id], ahead[n.id]) for n in selectors}


def mean_values(max_seq_len: int) -> set[float]:
    """Every mean of 0/1 values over 1..max_seq_len positions: k/n."""
    return {k / n for n in range(1, max_seq_len + 1) for k in range(n + 1)}


# Numbers closer than this (relative to their size, or absolutely below 1) are one value.
SAME_NUMBER = 1e-12


def canonical(values: Iterable[Any]) -> dict[Any, Any]:
    """Each value -> its representative: numbers closer than SAME_NUMBER share one, the one
    with the shortest repr (0.3 rather than 0.30000000000000004).

    Float arithmetic gives one real number several nearby values (1/3 - 1/7 computed
    two ways); nothing tells them apart reliably, and an MLP separating them would
    need a slope of ~1e17.
    """
    numbers = sorted(v for v in values if isinstance(v, (int, float)) and
                     not isinstance(v, bool))
    clusters: list[list] = []
    for number in numbers:
        if clusters and number - clusters[-1][-1] <= SAME_NUMBER * max(1.0, abs(number)):
            clusters[-1].append(number)
        else:
            clusters.append([number])
    result = {v: v for v in values}
    for cluster in clusters:
        representative = min(cluster, key=lambda v: len(repr(v)))
        result.update((v, representative) for v in cluster)
    return result


def apply_elementwise(node: graph.Node, args: Sequence[Any]) -> Any:
    """An elementwise node on scalar arguments, with the interpreter's semantics."""
    return ops.to_python(evaluate.elementwise(node, [ops.as_array(a) for a in args]))


def convert_token(token: Any, conversion: str, node: graph.Node) -> Any:
    """One vocabulary token as the interpreter converts it for `tokens_<conversion>`."""
    try:
        converted = evaluate.convert_tokens(np.array([token]), conversion)
    except (TypeError, ValueError, OverflowError):
        raise CompileError(f"`tokens_{conversion}` cannot convert the vocabulary token "
                           f"{token!r}", node.span,
                           hint="choose a vocabulary the program can read") from None
    return ops.to_python(converted[0])
