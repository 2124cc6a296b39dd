"""What the compiler needs to know about a program's graph before lowering it.

* `sample_inputs`: every input up to a small length, plus random inputs up to
  `max_seq_len` (seeded), the set on which selectors are profiled and the
  compiled model is verified.
* `profile`: for every selector, the most positions any query selects, whether
  a query can select nothing and whether a query selects a later position,
  as observed by the interpreter on the sample.
* `value_sets`: for every s-op, the set of values it can take for inputs over
  the vocabulary of length at most `max_seq_len`, computed with the
  interpreter's own scalar operations (`rasp.ops`).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

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
                               f"{error.message}", error.span, hint=error.hint) from None
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


def value_sets(root: graph.Node, vocab: Sequence[Any], max_seq_len: int,
               selectors: dict[int, SelectorProfile]) -> dict[int, set]:
    """The values each s-op can take, keyed by node id."""
    sets: dict[int, set] = {}
    for node in graph.topological_order([root]):
        if node.is_selector:
            continue
        sets[node.id] = _value_set(node, sets, vocab, max_seq_len, selectors)
    return sets


def _value_set(node: graph.Node, sets: dict[int, set], vocab: Sequence[Any],
               max_seq_len: int, selectors: dict[int, SelectorProfile]) -> set:
    children = [sets.get(child.id) for child in node.children]
    if isinstance(node, graph.Tokens):
        return {convert_token(token, node.conversion, node) for token in vocab}
    if isinstance(node, graph.Indices):
        return set(range(max_seq_len))
    if isinstance(node, (graph.Length, graph.SelectorWidth)):
        return set(range(max_seq_len + 1))
    if isinstance(node, graph.Constant):
        return {node.value}
    if isinstance(node, graph.Hint):
        return set(children[0])
    if isinstance(node, (graph.Map, graph.InList)):
        result = set()
        for combo in itertools.product(*children):
            try:
                result.add(apply_elementwise(node, combo))
            except ops.OpError:
                continue  # the interpreter fails on such inputs too; nothing to encode
        return result
    if isinstance(node, graph.Aggregate):
        selector = selectors[node.children[0].id]
        result = set(children[1])
        if selector.max_width > 1:
            result = mean_values(max_seq_len)
        if selector.can_be_empty:
            result.add(node.default)
        return result
    raise TypeError(f"no value set for {node!r}")


def apply_elementwise(node: graph.Node, args: Sequence[Any]) -> Any:
    """An elementwise node on scalar arguments, with the interpreter's semantics."""
    if isinstance(node, graph.InList):
        return bool(ops.is_in(ops.as_array(args[0]), list(node.items)))
    return ops.apply_scalar(node.op, *args)


def convert_token(token: Any, conversion: str, node: graph.Node) -> Any:
    """One vocabulary token as the interpreter converts it for `tokens_<conversion>`."""
    try:
        converted = evaluate.convert_tokens(np.array([token]), conversion)
    except (TypeError, ValueError, OverflowError):
        raise CompileError(f"`tokens_{conversion}` cannot convert the vocabulary token "
                           f"{token!r}", node.span,
                           hint="choose a vocabulary the program can read") from None
    return ops.to_python(converted[0])
