"""`A and B and ...` of selects over different s-ops as one head that adds their scores.

tracr compiles a select over one key s-op and one query s-op. A conjunction of selects
that compare different s-ops, such as `select(tokens, tokens, ==) and select(indices,
indices, <)`, would need one key s-op carrying every conjunct's key (tuples: |K_1| |K_2|
values, a residual direction each, an MLP to build them, and a predicate call per pair of
tuples). Here each conjunct keeps its own small spaces and the head adds their scores.

With C the softmax coldness (tracr's 100), conjunct i contributes C [p_i(k_i, q_i)] for the
one-hot key and query directions it reads (a constant operand reads the direction `one`,
which is 1 everywhere). The head's bilinear form W, over query directions Q_1 + ... + one +
bos and key directions K_1 + ... + one + bos, is

    W(q, k) = C sum_i p_i(k_i, q_i) - (m - 1) C            (through W[one, one])
    W[x, bos] = -W[x, one] for every x,  then  W[one, bos] += c C
    W[bos, one] = -m C   (so W[bos, bos] = m C)

for m conjuncts. A key where every conjunct holds scores C, any other key at most 0; the BOS
key scores exactly c C at every query (its `one` is cancelled by its `bos`), with c = 1/2
for an aggregate (BOS only when nothing is selected) and c = 1 for a selector width (BOS
always): the scores of tracr's head for one select, so the rest of tracr's construction
(values, defaults, the selector width's MLP) is unchanged. At the BOS query (one + bos) every
other key scores at most m C - (m - 1) C - m C < 0, so BOS attends to itself and stays clean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import networkx as nx
import numpy as np
from tracr.compiler import nodes
from tracr.craft import bases, transformers, vectorspace_fns
from tracr.rasp import rasp as tracr

COLDNESS = 100.0   # tracr's softmax coldness for categorical attention


@dataclass
class Conjunct:
    """One select of a conjunction: its key and query s-ops (None for a constant operand)
    and its predicate on their values (key first, as RASP's select)."""

    keys: Optional[tracr.SOp]
    queries: Optional[tracr.SOp]
    predicate: Callable[[Any, Any], bool]


class Conjunction(tracr.Select):
    """A selector that holds where all its conjuncts hold, computed by `scored_head`.

    To tracr it is the select of its first conjunct (from which tracr's compiler builds a
    head whose scores `scored_head` then replaces); its children are every conjunct's
    operands, so the graph orders it after all of them."""

    def __init__(self, conjuncts: list[Conjunct]):
        first = conjuncts[0]
        keys = first.keys if first.keys is not None else tracr.tokens
        queries = first.queries if first.queries is not None else tracr.tokens
        super().__init__(keys, queries, lambda key, query: False)
        self.conjuncts = conjuncts

    @property
    def children(self) -> list[tracr.SOp]:
        operands = [self.keys, self.queries] + [
            sop for c in self.conjuncts for sop in (c.keys, c.queries) if sop is not None]
        unique: dict[str, tracr.SOp] = {}
        for sop in operands:
            unique.setdefault(sop.label, sop)
        return list(unique.values())


def scored_head(block: transformers.Block, expr: tracr.RASPExpr, graph: nx.DiGraph,
                one: bases.BasisDirection, bos: bases.BasisDirection) -> transformers.Block:
    """`block` (tracr's for an aggregate or selector width) with the scores of its
    selector's conjunction, if its selector is one; else `block` unchanged."""
    selector = getattr(expr, "selector", None)
    if not isinstance(selector, Conjunction):
        return block
    if isinstance(block, transformers.SeriesWithResiduals):      # a selector width
        head, mlp = block.blocks
        return transformers.SeriesWithResiduals([_rescored(head, selector, graph, one, bos),
                                                 mlp])
    return _rescored(block, selector, graph, one, bos)


def _rescored(head: transformers.AttentionHead, selector: Conjunction, graph: nx.DiGraph,
              one: bases.BasisDirection, bos: bases.BasisDirection
              ) -> transformers.AttentionHead:
    old = head.w_qk
    bos_score = old.matrix[old.left_space.index_by_direction[one],
                           old.right_space.index_by_direction[bos]]
    control = bases.VectorSpaceWithBasis([one, bos])

    def space(sop: Optional[tracr.SOp]) -> bases.VectorSpaceWithBasis:
        if sop is None:
            return bases.VectorSpaceWithBasis([one])
        return bases.VectorSpaceWithBasis(
            [d for d in graph.nodes[sop.label][nodes.OUTPUT_BASIS] if d != bos])

    spaces = [(space(c.queries), space(c.keys)) for c in selector.conjuncts]
    left = bases.join_vector_spaces(*(q for q, _ in spaces), control)
    right = bases.join_vector_spaces(*(k for _, k in spaces), control)
    matrix = np.zeros((left.num_dims, right.num_dims))
    for conjunct, (queries, keys) in zip(selector.conjuncts, spaces):
        rows = [left.index_by_direction[d] for d in queries.basis]
        columns = [right.index_by_direction[d] for d in keys.basis]
        holds = np.array([[bool(conjunct.predicate(k.value, q.value)) for k in keys.basis]
                          for q in queries.basis], dtype=float)
        matrix[np.ix_(rows, columns)] += COLDNESS * holds
    m = len(selector.conjuncts)
    o_row, o_col = left.index_by_direction[one], right.index_by_direction[one]
    b_row, b_col = left.index_by_direction[bos], right.index_by_direction[bos]
    matrix[o_row, o_col] -= (m - 1) * COLDNESS
    matrix[b_row, o_col] = -m * COLDNESS
    matrix[:, b_col] = -matrix[:, o_col]
    matrix[o_row, b_col] += bos_score
    return transformers.AttentionHead(
        vectorspace_fns.ScalarBilinear(left, right, matrix), head.w_ov, causal=head.causal)
