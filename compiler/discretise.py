"""MLPs for a function of one numerical s-op: hidden units only where the function changes.

tracr computes f(x) of a numerical x that takes the values v_0 < v_1 < ... < v_{m-1}
(`tracr.craft.chamber.numerical_mlp`) by discretising x at every midpoint
t_k = (v_{k-1} + v_k) / 2 with two hidden units and one slope L for all of them:

    a_k = relu(L (x - t_k) + 1),   b_k = relu(L (x - t_k)),
    a_k - b_k = 0 for x <= t_k and 1 for x >= t_k + 1/L,
    output = o_0 relu(one) + sum_k (a_k - b_k) (o_k - o_{k-1}),   o_k = f(v_k)

(o_k a value, or for a categorical output the one-hot vector of the value). By the
telescoping sum the output at x = v_j is o_j once 1/L <= (v_k - v_{k-1}) / 2 for every k.

Two changes, neither of which changes the value at any v_j:

* a threshold where f does not change (o_k = o_{k-1}) writes 0 whatever its units do, so
  its units are left out. A mean tested against one value (`has_focus`, `mean > 0.5`)
  takes O(N^2) values at max length N but changes at one threshold: 3 hidden units
  instead of O(N^2).
* each threshold gets its own slope L_k = max(100, 4 / (v_k - v_{k-1})), the width
  its gap needs, instead of the slope of the smallest gap for all. A unit's activation
  grows as L_k |x - t_k|, and float32 keeps about 7 digits of it: with one slope of
  4 N (N + 1) (the gap between 1/N and 1/(N + 1), which every selector width has) an
  activation far from its threshold is ~4 N^2 and loses a few hundredths; with its own
  slope a threshold between 1/(w + 1) and 1/(w + 2) reaches only ~4 w.

The hidden units keep tracr's names (`<name>start`, `(<name>, (k, 0))`, `(<name>, (k, 1))`),
so equal units of one layer still merge (`craft._shared_units`) and tracr's selector width,
whose MLP is one of these, is built unchanged around it. `in_tracr` installs these builders
where tracr's compiler calls its own, for the duration of one build.
"""

from __future__ import annotations

import contextlib
import functools
import types
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np
from tracr.compiler import expr_to_craft_graph
from tracr.craft import bases, transformers, vectorspace_fns
from tracr.craft.chamber import numerical_mlp, selector_width

# tracr's smallest slope, kept as the floor: thresholds between far-apart values need
# no steeper step, and a gentler one would let rounding in x cross it.
MIN_SLOPE = 100.0


def discretising_mlp(f: Callable[[float], Any], input_space: bases.VectorSpaceWithBasis,
                     output_space: bases.VectorSpaceWithBasis, input_value_set: Iterable[float],
                     one_space: bases.VectorSpaceWithBasis, hidden_name: bases.Name,
                     categorical: bool, slopes: Optional[list[float]] = None
                     ) -> transformers.MLP:
    """The MLP computing f(x) exactly at every value of `input_value_set` (module docstring).

    `input_space` and `one_space` have one direction each; a numerical output has one,
    a categorical one a direction per value f takes (direction value = f's value). Values
    where f fails (gives None, or raises an arithmetic error as tracr allows) are left out,
    as tracr leaves them. The slopes used are appended to `slopes`."""
    bases.ensure_dims(input_space, num_dims=1, name="input_space")
    bases.ensure_dims(one_space, num_dims=1, name="one_space")
    points = []
    for x in sorted(input_value_set):
        try:
            y = f(x)
        except ArithmeticError:
            continue
        if y is not None:
            points.append((x, y))
    changes = [k for k in range(1, len(points)) if points[k][1] != points[k - 1][1]]
    start = bases.BasisDirection(f"{hidden_name}start")
    hidden_space = bases.VectorSpaceWithBasis(
        [start] + [bases.BasisDirection(hidden_name, (k, i)) for k in changes for i in (0, 1)])
    inputs = bases.join_vector_spaces(input_space, one_space)
    x_row = inputs.index_by_direction[input_space.basis[0]]
    one_row = inputs.index_by_direction[one_space.basis[0]]

    first = np.zeros((inputs.num_dims, hidden_space.num_dims))
    first[one_row, 0] = 1.0                       # start = relu(one)
    second = np.zeros((hidden_space.num_dims, output_space.num_dims))
    output_of = _output_vectors(output_space, categorical)
    if points:
        second[0] = output_of(points[0][1])
    for unit, k in enumerate(changes):
        (low, before), (high, after) = points[k - 1], points[k]
        slope = max(MIN_SLOPE, 4.0 / (high - low))
        threshold = (low + high) / 2
        a, b = 1 + 2 * unit, 2 + 2 * unit
        first[x_row, [a, b]] = slope
        first[one_row, a] = 1 - slope * threshold
        first[one_row, b] = -slope * threshold
        step = output_of(after) - output_of(before)
        second[a], second[b] = step, -step
        if slopes is not None:
            slopes.append(slope)
    return transformers.MLP(vectorspace_fns.Linear(inputs, hidden_space, first),
                            vectorspace_fns.Linear(hidden_space, output_space, second))


def _output_vectors(output_space: bases.VectorSpaceWithBasis,
                    categorical: bool) -> Callable[[Any], np.ndarray]:
    """The output row that writes a value: the value itself in the one numerical direction,
    or the one-hot row of the value's direction."""
    if not categorical:
        bases.ensure_dims(output_space, num_dims=1, name="output_space")
        return lambda value: np.array([float(value)])
    column = {d.value: i for i, d in enumerate(output_space.basis)}

    def one_hot(value: Any) -> np.ndarray:
        if value not in column:
            raise ValueError(f"f gives {value!r}, which is not an output value "
                             f"{sorted(column, key=repr)}")
        row = np.zeros(output_space.num_dims)
        row[column[value]] = 1.0
        return row
    return one_hot


@contextlib.contextmanager
def in_tracr() -> Iterator[list[float]]:
    """Within the block, tracr's compiler (maps of numerical s-ops, selector widths) builds
    its discretising MLPs with `discretising_mlp`; yields the list of slopes used."""
    slopes: list[float] = []

    def build(categorical: bool, f: Callable, input_space: bases.VectorSpaceWithBasis,
              output_space: bases.VectorSpaceWithBasis, input_value_set: Iterable[float],
              one_space: bases.VectorSpaceWithBasis, large_number: float = MIN_SLOPE,
              hidden_name: bases.Name = "__hidden__") -> transformers.MLP:
        del large_number   # each threshold's slope comes from its own gap
        return discretising_mlp(f, input_space, output_space, input_value_set, one_space,
                                hidden_name, categorical, slopes)

    ours = types.SimpleNamespace(
        map_numerical_mlp=functools.partial(build, False),
        map_numerical_to_categorical_mlp=functools.partial(build, True),
        linear_sequence_map_numerical_mlp=numerical_mlp.linear_sequence_map_numerical_mlp)
    modules = (expr_to_craft_graph, selector_width)
    try:
        for module in modules:
            module.numerical_mlp = ours
        yield slopes
    finally:
        for module in modules:
            module.numerical_mlp = numerical_mlp
