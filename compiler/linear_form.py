"""A function of a linear form of integer s-ops as one MLP that grows with the form's range.

Index arithmetic such as `2 * selector_width(s) > length`, `length - indices - 1` or
`indices - _sep >= 0` combines s-ops of about N values each. As a table (tracr's
`SequenceMap`) it needs a hidden unit per combination, N^2 (and N^3 over three s-ops).
But such a function depends on its inputs only through one integer

    z = c_0 + sum_i c_i x_i        (integer coefficients c_i, integer values x_i)

and z is linear in the one-hot encodings of the x_i: with e_{i,v} the direction of value v
of x_i, x_i = sum_v v e_{i,v}, and where x_i is an aggregate that selected nothing (every
e_{i,v} = 0) it reads its default d_i through `one`: x_i = d_i + sum_v (v - d_i) e_{i,v}.
So the MLP reads z with one linear map and discretises it (`discretise`): two hidden units
per threshold between consecutive values of z where g changes, at most 2 (max z - min z),
which is O(N).

`Form` is what the lowering finds (`lower._Region.linear_form`): the coefficients, the
values z takes, and g. `LinearFormMap` carries it through tracr's compiler, which sees a
map of the first input (a table of that input's values, replaced by `mlp` before the model
is put together) whose children are all the inputs, so layers are allocated after all of
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import networkx as nx
import numpy as np
from tracr.compiler import nodes
from tracr.craft import bases, transformers, vectorspace_fns
from tracr.rasp import rasp as tracr

from compiler import discretise


@dataclass
class Form:
    """z = constant + sum_i coefficients[i] * x_i, and the function g of z."""

    coefficients: list[int]
    constant: int
    values: list[int]            # every z the inputs can give, sorted
    g: Callable[[int], Any]      # None where the interpreter fails


class LinearFormMap(tracr.Map):
    """g(z) of s-ops `inputs` (each categorical, with integer values): `mlp` builds it."""

    def __init__(self, form: Form, inputs: list[tracr.SOp], defaults: list[Any],
                 stand_in: Any):
        # tracr builds a map of the first input giving `stand_in` (an output value)
        # everywhere: cheap, and replaced by `mlp`.
        super().__init__(lambda _: stand_in, inputs[0], simplify=False)
        self.form = form
        self.inputs = inputs
        self.defaults = defaults   # per input: its default where it can be empty, or None

    @property
    def children(self) -> list[tracr.SOp]:
        unique: dict[str, tracr.SOp] = {}
        for sop in self.inputs:
            unique.setdefault(sop.label, sop)
        return list(unique.values())


def mlp(graph: nx.DiGraph, label: str, one: bases.BasisDirection
        ) -> Optional[transformers.MLP]:
    """The MLP of node `label` if it is a `LinearFormMap`, else None."""
    expr = graph.nodes[label][nodes.EXPR]
    if not isinstance(expr, LinearFormMap):
        return None
    form = expr.form
    z = bases.BasisDirection(f"_z_{label}_")
    output_space = bases.VectorSpaceWithBasis(graph.nodes[label][nodes.OUTPUT_BASIS])
    step = discretise.discretising_mlp(
        form.g, bases.VectorSpaceWithBasis([z]), output_space, form.values,
        bases.VectorSpaceWithBasis([one]), f"_hidden_{label}_",
        categorical=tracr.is_categorical(expr))

    # z as a linear map of the inputs' directions and `one`
    read: dict[bases.BasisDirection, float] = {one: float(form.constant)}
    for sop, coefficient, default in zip(expr.inputs, form.coefficients, expr.defaults):
        for direction in graph.nodes[sop.label][nodes.OUTPUT_BASIS]:
            shift = 0 if default is None else default
            read[direction] = read.get(direction, 0.0) + coefficient * (direction.value - shift)
        if default is not None:
            read[one] += coefficient * default
    input_space = bases.VectorSpaceWithBasis(list(read))
    z_row = step.fst.matrix[step.fst.input_space.index_by_direction[z]]
    one_row = step.fst.matrix[step.fst.input_space.index_by_direction[one]]
    first = np.outer([read[d] for d in input_space.basis], z_row)
    first[input_space.index_by_direction[one]] += one_row
    return transformers.MLP(vectorspace_fns.Linear(input_space, step.fst.output_space, first),
                            step.snd)
