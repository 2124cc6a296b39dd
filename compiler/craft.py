"""From lowered tracr expressions to a craft model (tracr's residual-stream blocks).

We run tracr's own stages (graph extraction, craft blocks, layer allocation)
with three changes that make the result exact:

* value sets come from our lowering (the interpreter's semantics) rather than
  tracr's inference, which lists only x/n for numerical means instead of k/n;
* `mlp_exactness`, the slope L of tracr's discretising MLPs, is chosen from the
  value sets: a step of width 1/L must fit in half the smallest gap between two
  input values, so L = 4 / gap (never below tracr's 100);
* default-fill blocks: an MLP that copies a categorical aggregate's one-hot
  value and writes the default where the aggregate wrote nothing
  (hidden unit relu(1 - sum of the one-hot), using tracr's "one" direction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
from tracr.compiler import craft_graph_to_model, expr_to_craft_graph, nodes, rasp_to_graph
from tracr.craft import bases, transformers, vectorspace_fns
from tracr.rasp import rasp as tracr

from compiler.lower import Lowering

BOS, PAD = "compiler_bos", "compiler_pad"
ONE = bases.BasisDirection("one")


@dataclass
class CraftModel:
    model: transformers.SeriesWithResiduals
    graph: nx.DiGraph
    sink: dict
    layer_of: dict[str, int]   # tracr label -> tracr layer number (even: attention)
    mlp_exactness: float


def build(tip: tracr.SOp, lowering: Lowering, vocab: list, max_seq_len: int,
          causal: bool) -> CraftModel:
    extracted = rasp_to_graph.extract_rasp_graph(tip)
    graph, sources, sink = extracted.graph, extracted.sources, extracted.sink
    _set_value_sets(graph, lowering, vocab, max_seq_len)
    exactness = mlp_exactness(graph, max_seq_len)
    expr_to_craft_graph.add_craft_components_to_rasp_graph(
        graph, bos_dir=bases.BasisDirection(tracr.tokens.label, BOS), one_dir=ONE,
        causal=causal, mlp_exactness=exactness)
    for label, default in lowering.fills.items():
        graph.nodes[label][nodes.MODEL_BLOCK] = _default_fill(graph, label, default)
    layer_of = dict(craft_graph_to_model._allocate_modules_to_layers(graph, sources))
    model = craft_graph_to_model.craft_graph_to_model(graph, sources)
    return CraftModel(model, graph, sink, layer_of, exactness)


def _set_value_sets(graph: nx.DiGraph, lowering: Lowering, vocab: list,
                    max_seq_len: int) -> None:
    for label, node in graph.nodes.items():
        expr = node[nodes.EXPR]
        if not isinstance(expr, tracr.SOp):
            continue
        if isinstance(expr, tracr.TokensType):
            values = set(vocab)
        elif isinstance(expr, tracr.IndicesType):
            values = set(range(max_seq_len))
        else:
            values = lowering.values[label]
        node[nodes.VALUE_SET] = values
        if tracr.is_categorical(expr):
            space = bases.VectorSpaceWithBasis.from_values(label, values)
        else:
            space = bases.VectorSpaceWithBasis.from_names([label])
        node[nodes.OUTPUT_BASIS] = space.basis


def mlp_exactness(graph: nx.DiGraph, max_seq_len: int) -> float:
    """The slope that separates the closest two inputs of every discretising MLP."""
    gaps = [1 / max_seq_len - 1 / (max_seq_len + 1)] if max_seq_len > 0 else []
    for label, node in graph.nodes.items():
        expr = node[nodes.EXPR]
        if isinstance(expr, tracr.Map) and tracr.is_numerical(expr.inner):
            values = sorted(graph.nodes[expr.inner.label][nodes.VALUE_SET])
            gaps.extend(b - a for a, b in zip(values, values[1:]) if b > a)
    return max(100.0, 4.0 / min(gaps)) if gaps else 100.0


def _default_fill(graph: nx.DiGraph, label: str, default: Any) -> transformers.MLP:
    expr = graph.nodes[label][nodes.EXPR]
    input_space = bases.VectorSpaceWithBasis(graph.nodes[expr.inner.label][nodes.OUTPUT_BASIS])
    output_space = bases.VectorSpaceWithBasis(graph.nodes[label][nodes.OUTPUT_BASIS])
    empty = bases.BasisDirection(f"_{label}_empty")
    copies = [bases.BasisDirection(f"_{label}_copy", d.value) for d in input_space.basis]
    hidden_space = bases.VectorSpaceWithBasis(copies + [empty])
    first_input = bases.join_vector_spaces(input_space, bases.VectorSpaceWithBasis([ONE]))

    def first(direction: bases.BasisDirection) -> bases.VectorInBasis:
        if direction == ONE:
            return hidden_space.vector_from_basis_direction(empty)
        copy = bases.BasisDirection(f"_{label}_copy", direction.value)
        return hidden_space.vector_from_basis_direction(copy) - \
            hidden_space.vector_from_basis_direction(empty)

    def second(direction: bases.BasisDirection) -> bases.VectorInBasis:
        value = default if direction == empty else direction.value
        return output_space.vector_from_basis_direction(bases.BasisDirection(label, value))

    return transformers.MLP(
        vectorspace_fns.Linear.from_action(first_input, hidden_space, first),
        vectorspace_fns.Linear.from_action(hidden_space, output_space, second))


def tokens_space(vocab: list) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis.from_values(tracr.tokens.label, [*vocab, BOS, PAD])


def indices_space(max_seq_len: int) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis.from_values(tracr.indices.label, range(max_seq_len))


def output_space(craft: CraftModel) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis(craft.sink[nodes.OUTPUT_BASIS])
