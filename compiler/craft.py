"""From lowered tracr expressions to a craft model (tracr's residual-stream blocks).

We run tracr's own stages (graph extraction, craft blocks) with these changes,
which make the result exact and smaller:

* value sets come from our lowering (the interpreter's semantics) rather than
  tracr's inference, which lists only x/n for numerical means instead of k/n;
* discretising MLPs (maps of numerical s-ops, selector widths) are ours
  (`discretise`): units only where the function changes, each threshold with the
  slope its own gap needs (L = 4 / gap, never below tracr's 100); `mlp_exactness`
  is the largest slope used;
* our own tables (`_table`) where tracr's are wrong or lack what we need:
  categorical-to-numerical maps keep negative values (tracr's ReLU clips them),
  and MLPs reading a categorical aggregate that can select nothing (it writes
  nothing there) read that as the aggregate's default, through tracr's "one"
  direction (the default fill is the identity map of such an aggregate);
* the BOS position stays clean: its residual is exactly `one + bos` after
  every layer, which is what tracr's attention assumes (BOS is attended to, with
  value 0, only when a query selects nothing). tracr's MLPs that read `one`
  write at BOS too, and two selector widths in one layer share the unit that
  cleans BOS (so each subtracts twice); both are repaired here;
* layers are allocated as early as the inputs allow (tracr's depth heuristic
  can leave a half-layer unused), MLPs of one layer are combined as block
  matrices (tracr builds every row from one-hot vectors, quadratic in the width)
  and share their equal hidden units;
* functions of an integer linear form of several s-ops (index arithmetic) get an
  MLP that discretises the form (`linear_form`), not a table of every combination;
* conjunctions of selects over different s-ops get one head adding the conjuncts'
  scores (`conjunction`), not a select over tuples;
* attention logits are scaled so that softmaxes stay hard in wide heads.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass
from typing import Any, Optional

import networkx as nx
import numpy as np
from tracr.compiler import expr_to_craft_graph, nodes, rasp_to_graph
from tracr.craft import bases, transformers, vectorspace_fns
from tracr.rasp import rasp as tracr

from compiler import conjunction, discretise, linear_form
from compiler import tracr_speedups  # noqa: F401  (installs tracr's faster one-hot vectors)
from compiler.assemble import sizes
from compiler.lower import Lowering
from rasp.values import value_order

BOS, PAD = "compiler_bos", "compiler_pad"
ONE = bases.BasisDirection("one")
BOS_DIRECTION = bases.BasisDirection(tracr.tokens.label, BOS)
# The hidden unit tracr's selector width uses to clean the BOS position.
SELECTOR_WIDTH_CLEANER = bases.BasisDirection("_hidden_clean_bos_")


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
    graph, sink = extracted.graph, extracted.sink
    _set_value_sets(graph, lowering, vocab, max_seq_len)
    with discretise.in_tracr() as slopes:
        expr_to_craft_graph.add_craft_components_to_rasp_graph(
            graph, bos_dir=BOS_DIRECTION, one_dir=ONE, causal=causal)
    for label, node in graph.nodes.items():
        block = conjunction.scored_head(node.get(nodes.MODEL_BLOCK), node[nodes.EXPR], graph,
                                        ONE, BOS_DIRECTION)
        node[nodes.MODEL_BLOCK] = _clean_at_bos(
            linear_form.mlp(graph, label, ONE) or _table(graph, label, lowering.defaults) or
            block, label)
    layer_of = allocate_layers(graph)
    model = _series(graph, layer_of)
    _keep_attention_hard(model)
    return CraftModel(model, graph, sink, layer_of, max(slopes, default=discretise.MIN_SLOPE))


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
            # tracr sorts the basis with a comparison that is not a total order on mixed
            # types, so the result depends on the order given: make that order fixed.
            space = bases.VectorSpaceWithBasis.from_values(label, sorted(values, key=value_order))
        else:
            space = bases.VectorSpaceWithBasis.from_names([label])
        node[nodes.OUTPUT_BASIS] = space.basis


def _table(graph: nx.DiGraph, label: str, defaults: dict[str, Any]
           ) -> Optional[transformers.MLP]:
    """Our MLP for a map of categorical s-ops, where tracr's is wrong or lacks defaults:
    categorical-to-numerical maps, and maps reading an aggregate that can select
    nothing (in `defaults`). None where tracr's is right."""
    expr = graph.nodes[label][nodes.EXPR]
    if isinstance(expr, tracr.Map) and tracr.is_categorical(expr.inner):
        read = _Input.of(graph, expr.inner, defaults)
        if tracr.is_numerical(expr):
            return _signed_lookup(graph, label, read)
        return _lookup(graph, label, read) if read.default is not _NONE else None
    if isinstance(expr, tracr.SequenceMap) and not isinstance(expr, tracr.LinearSequenceMap):
        reads = [_Input.of(graph, e, defaults) for e in (expr.fst, expr.snd)]
        if any(read.default is not _NONE for read in reads):
            return _pair_table(graph, label, reads)
    return None


_NONE = object()   # an input that cannot be empty has no default


@dataclass
class _Input:
    """A categorical input of an MLP, as its cases: one per value (its direction is 1),
    and `empty` (every direction 0; an aggregate that selected nothing) read as
    `default`. Each case is (value, weights on the input directions, weight on `one`),
    the weights making the case's indicator: x_v for a value, 1 - sum_v x_v for empty."""

    space: bases.VectorSpaceWithBasis
    default: Any

    @classmethod
    def of(cls, graph: nx.DiGraph, expr: tracr.SOp, defaults: dict[str, Any]) -> "_Input":
        return cls(bases.VectorSpaceWithBasis(graph.nodes[expr.label][nodes.OUTPUT_BASIS]),
                   defaults.get(expr.label, _NONE))

    def cases(self) -> list[tuple[Any, dict[bases.BasisDirection, float], float]]:
        cases = [(d.value, {d: 1.0}, 0.0) for d in self.space.basis]
        if self.default is not _NONE:
            cases.append((self.default, {d: -1.0 for d in self.space.basis}, 1.0))
        return cases


def _lookup(graph: nx.DiGraph, label: str, read: _Input) -> transformers.MLP:
    """Categorical f(x) of a categorical x that may be empty, f(default) there.

    Hidden unit o (one per output value) is the sum of the indicators of the cases
    that f maps to o: 1 for f(x) and 0 for the other values, so the ReLU passes it
    and the second layer copies it.
    """
    expr = graph.nodes[label][nodes.EXPR]
    output_space = bases.VectorSpaceWithBasis(graph.nodes[label][nodes.OUTPUT_BASIS])
    input_space = bases.join_vector_spaces(read.space, bases.VectorSpaceWithBasis([ONE]))
    first = np.zeros((input_space.num_dims, output_space.num_dims))
    for value, weights, constant in read.cases():
        out = bases.BasisDirection(label, expr.f(value))
        if out in output_space:   # f fails on values that never occur (it gives None)
            column = output_space.index_by_direction[out]
            for direction, weight in weights.items():
                first[input_space.index_by_direction[direction], column] += weight
            first[input_space.index_by_direction[ONE], column] += constant
    return transformers.MLP(vectorspace_fns.Linear(input_space, output_space, first),
                            vectorspace_fns.project(output_space, output_space))


def _pair_table(graph: nx.DiGraph, label: str, reads: list[_Input]) -> transformers.MLP:
    """Categorical f(x, y) of two categorical s-ops, either of which may be empty.

    tracr's table with a row and a column for the empty cases: hidden unit (i, j) is
    relu(a_i + b_j - 1) for the case indicators a_i of x and b_j of y, which is 1
    exactly when both hold, and writes f of the two cases' values.
    """
    expr = graph.nodes[label][nodes.EXPR]
    output_space = bases.VectorSpaceWithBasis(graph.nodes[label][nodes.OUTPUT_BASIS])
    input_space = bases.join_vector_spaces(*(r.space for r in reads),
                                           bases.VectorSpaceWithBasis([ONE]))
    pairs = list(itertools.product(enumerate(reads[0].cases()), enumerate(reads[1].cases())))
    hidden_space = bases.VectorSpaceWithBasis.from_values(
        f"_hidden_{label}_", [(i, j) for (i, _), (j, _) in pairs])
    first = np.zeros((input_space.num_dims, hidden_space.num_dims))
    second = np.zeros((hidden_space.num_dims, output_space.num_dims))
    for (i, (x, x_weights, x_constant)), (j, (y, y_weights, y_constant)) in pairs:
        unit = hidden_space.index_by_direction[bases.BasisDirection(f"_hidden_{label}_", (i, j))]
        for direction, weight in [*x_weights.items(), *y_weights.items()]:
            first[input_space.index_by_direction[direction], unit] += weight
        first[input_space.index_by_direction[ONE], unit] += x_constant + y_constant - 1
        out = bases.BasisDirection(label, expr.f(x, y))
        if out in output_space:
            second[unit, output_space.index_by_direction[out]] = 1
    return transformers.MLP(vectorspace_fns.Linear(input_space, hidden_space, first),
                            vectorspace_fns.Linear(hidden_space, output_space, second))


def _signed_lookup(graph: nx.DiGraph, label: str, read: _Input) -> transformers.MLP:
    """Numerical f(x) of a categorical x (f(default) where x is empty): hidden units
    relu(+-s) of s = sum over cases of f(value) * indicator, output their difference.

    tracr's one hidden unit is f(x) itself, which the ReLU clips to 0 where f(x) < 0;
    the negative unit is left out when no value is negative. Values where f fails
    (the interpreter fails there too) give 0.
    """
    expr = graph.nodes[label][nodes.EXPR]
    output_space = bases.VectorSpaceWithBasis(graph.nodes[label][nodes.OUTPUT_BASIS])
    input_space = bases.join_vector_spaces(read.space, bases.VectorSpaceWithBasis([ONE])) \
        if read.default is not _NONE else read.space
    cases = [(expr.f(value) or 0, weights, constant) for value, weights, constant in read.cases()]
    signs = [1] + ([-1] if any(value < 0 for value, _, _ in cases) else [])
    hidden_space = bases.VectorSpaceWithBasis.from_values(f"_{label}_signed", signs)
    sign_of = np.array([unit.value for unit in hidden_space.basis], dtype=float)
    total = np.zeros(input_space.num_dims)
    for value, weights, constant in cases:
        for direction, weight in weights.items():
            total[input_space.index_by_direction[direction]] += value * weight
        if constant:
            total[input_space.index_by_direction[ONE]] += value * constant
    return transformers.MLP(
        vectorspace_fns.Linear(input_space, hidden_space, np.outer(total, sign_of)),
        vectorspace_fns.Linear(hidden_space, output_space, sign_of[:, None]))


def _clean_at_bos(block: Optional[transformers.Block], label: str
                  ) -> Optional[transformers.Block]:
    """`block`, changed so that it writes nothing at the BOS position."""
    if isinstance(block, transformers.MLP) and ONE in block.fst.input_space:
        return _silenced_at_bos(block)
    if isinstance(block, transformers.SeriesWithResiduals):   # a selector width
        attention, mlp = block.blocks
        unit = bases.BasisDirection(f"_hidden_clean_bos_{label}_")
        return transformers.SeriesWithResiduals(
            [attention, _renamed_hidden(mlp, SELECTOR_WIDTH_CLEANER, unit)])
    return block


def _silenced_at_bos(mlp: transformers.MLP) -> transformers.MLP:
    """`mlp` with every hidden unit off at the BOS position.

    Every s-op is 0 at BOS (this is what keeps it so), so the residual there is
    one + bos and a hidden unit's pre-activation is its weight w_one. A bos row
    w_bos = -1 - w_one makes it -1, so the unit is 0 after the ReLU; at every
    other position bos is 0 and nothing changes.
    """
    fst = mlp.fst
    space = bases.join_vector_spaces(fst.input_space, bases.VectorSpaceWithBasis([BOS_DIRECTION]))
    rows = [space.index_by_direction[d] for d in fst.input_space.basis]
    matrix = np.zeros((space.num_dims, fst.output_space.num_dims))
    matrix[rows] = fst.matrix
    matrix[space.index_by_direction[BOS_DIRECTION]] = \
        -1 - fst.matrix[fst.input_space.index_by_direction[ONE]]
    return transformers.MLP(vectorspace_fns.Linear(space, fst.output_space, matrix), mlp.snd)


def _renamed_hidden(mlp: transformers.MLP, old: bases.BasisDirection,
                    new: bases.BasisDirection) -> transformers.MLP:
    """`mlp` with hidden unit `old` called `new` (bases are sorted, so columns move)."""
    hidden = mlp.fst.output_space
    renamed = bases.VectorSpaceWithBasis([new if d == old else d for d in hidden.basis])
    order = [hidden.index_by_direction[old if d == new else d] for d in renamed.basis]
    return transformers.MLP(
        vectorspace_fns.Linear(mlp.fst.input_space, renamed, mlp.fst.matrix[:, order]),
        vectorspace_fns.Linear(renamed, mlp.snd.output_space, mlp.snd.matrix[order]))


def allocate_layers(graph: nx.DiGraph) -> dict[str, int]:
    """Each block's half-layer (even: attention, odd: MLP), as early as its inputs allow.

    A block reads what blocks of earlier half-layers wrote; a selector width (head
    and MLP) takes an attention half-layer and the MLP half-layer after it. tracr
    groups blocks by their depth in the graph instead, which can leave a
    half-layer unused (an MLP after an MLP at the same depth as heads).
    """
    written: dict[str, int] = {}    # label -> the half-layer after which its value exists
    layer_of: dict[str, int] = {}
    for label in nx.topological_sort(graph):
        ready = max((written[p] + 1 for p in graph.predecessors(label)), default=0)
        block = graph.nodes[label].get(nodes.MODEL_BLOCK)
        if block is None:
            written[label] = ready - 1
            continue
        half = ready + (ready % 2 != isinstance(block, transformers.MLP))
        layer_of[label] = half
        written[label] = half + isinstance(block, transformers.SeriesWithResiduals)
    return layer_of


def _series(graph: nx.DiGraph, layer_of: dict[str, int]) -> transformers.SeriesWithResiduals:
    """tracr's `craft_graph_to_model` on a given allocation: the blocks of each layer as
    one multi-head attention or one MLP, all over the joint residual space."""
    by_layer: dict[int, list] = collections.defaultdict(list)
    for label, layer in layer_of.items():
        block = graph.nodes[label][nodes.MODEL_BLOCK]
        halves = block.blocks if isinstance(block, transformers.SeriesWithResiduals) else [block]
        for offset, half in enumerate(halves):
            by_layer[layer + offset].append(half)
    residual = bases.join_vector_spaces(
        *[block.residual_space for blocks in by_layer.values() for block in blocks])
    layers: list[transformers.Block] = []
    for layer in sorted(by_layer):
        blocks = by_layer[layer]
        for block in blocks:
            block.residual_space = residual
        layers.append(transformers.MultiAttentionHead(blocks) if layer % 2 == 0 else
                      _shared_units(transformers.MLP(_in_parallel([b.fst for b in blocks]),
                                                     _in_parallel([b.snd for b in blocks]),
                                                     residual)))
    return transformers.SeriesWithResiduals(layers)


def _shared_units(mlp: transformers.MLP) -> transformers.MLP:
    """`mlp` with hidden units of equal input weights merged into one.

    Equal weights give equal activations, so one unit whose output weights are their
    sum writes the same. MLPs of one layer often repeat units: maps of one numerical
    s-op discretise it at the same thresholds, every discretising MLP has relu(one).
    """
    columns, group = np.unique(mlp.fst.matrix, axis=1, return_index=True,
                               return_inverse=True)[1:]
    if len(columns) == mlp.fst.output_space.num_dims:
        return mlp
    group = group.reshape(-1)
    kept = bases.VectorSpaceWithBasis([mlp.fst.output_space.basis[i] for i in columns])
    # the kept unit (in sorted order) that each old unit becomes
    position = {d: i for i, d in enumerate(kept.basis)}
    target = [position[mlp.fst.output_space.basis[columns[g]]] for g in group]
    second = np.zeros((kept.num_dims, mlp.snd.output_space.num_dims))
    np.add.at(second, target, mlp.snd.matrix)
    first = np.zeros((mlp.fst.input_space.num_dims, kept.num_dims))
    first[:, target] = mlp.fst.matrix
    return transformers.MLP(vectorspace_fns.Linear(mlp.fst.input_space, kept, first),
                            vectorspace_fns.Linear(kept, mlp.snd.output_space, second),
                            mlp.residual_space)


def _keep_attention_hard(model: transformers.SeriesWithResiduals) -> None:
    """Scale every W_QK by sqrt(key size), which the forward pass divides logits by.

    tracr's heads give a selected key the logit 100 and BOS 50, for a softmax that
    is hard to e^-50; divided by sqrt(key size) it is not (at key size 152 BOS
    keeps 0.1% of a query's weight, and an MLP reading the result goes wrong).
    """
    factor = np.sqrt(sizes(model.blocks)[1])
    for block in model.blocks:
        if not isinstance(block, transformers.MLP):
            for head in block.as_multi().heads():
                head.w_qk = vectorspace_fns.ScalarBilinear(
                    head.w_qk.left_space, head.w_qk.right_space, head.w_qk.matrix * factor)


def _in_parallel(functions: list[vectorspace_fns.Linear]) -> vectorspace_fns.Linear:
    """tracr's `Linear.combine_in_parallel`: the map from the union of the input spaces to
    the union of the output spaces that sums the functions, as one block matrix."""
    inputs = bases.join_vector_spaces(*[f.input_space for f in functions])
    outputs = bases.join_vector_spaces(*[f.output_space for f in functions])
    matrix = np.zeros((inputs.num_dims, outputs.num_dims))
    for function in functions:
        rows = [inputs.index_by_direction[d] for d in function.input_space.basis]
        columns = [outputs.index_by_direction[d] for d in function.output_space.basis]
        matrix[np.ix_(rows, columns)] += function.matrix
    return vectorspace_fns.Linear(inputs, outputs, matrix)


def tokens_space(vocab: list) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis.from_values(tracr.tokens.label, [*vocab, BOS, PAD])


def indices_space(max_seq_len: int) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis.from_values(tracr.indices.label, range(max_seq_len))


def output_space(craft: CraftModel) -> bases.VectorSpaceWithBasis:
    return bases.VectorSpaceWithBasis(craft.sink[nodes.OUTPUT_BASIS])
