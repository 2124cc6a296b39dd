"""Our discretising MLPs (`compiler/discretise.py`) against the function they compute, at
every input value, in float64 and float32, and against tracr's on the same inputs."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from tracr.craft import bases
from tracr.craft.chamber import numerical_mlp

from compiler import discretise

X = bases.VectorSpaceWithBasis.from_names(["x"])
ONE = bases.VectorSpaceWithBasis.from_names(["one"])
OUT = bases.VectorSpaceWithBasis.from_names(["out"])


def mean_values(n: int) -> set[float]:
    """Every k/m for 0 <= k <= m <= n: what an attention mean takes up to length n."""
    return {float(Fraction(k, m)) for m in range(1, n + 1) for k in range(m + 1)}


def apply(mlp, x: float, dtype=np.float64) -> np.ndarray:
    inputs = np.zeros(mlp.fst.input_space.num_dims, dtype)
    inputs[mlp.fst.input_space.index_by_direction[X.basis[0]]] = x
    inputs[mlp.fst.input_space.index_by_direction[ONE.basis[0]]] = 1
    hidden = np.maximum(inputs @ mlp.fst.matrix.astype(dtype), 0)
    return hidden @ mlp.snd.matrix.astype(dtype)


FUNCTIONS = {
    "has_focus": lambda x: x > 0,
    "above_half": lambda x: x > 0.5,
    "width": lambda x: round(1 / x - 1) if x else None,
    "steps": lambda x: int(3 * x),
    "negated": lambda x: -2 * x + 1,
}
VALUE_SETS = {
    "means_to_6": mean_values(6),
    "means_to_40": mean_values(40),
    "integers": set(range(-5, 12)),
    "selector_width_40": {1 / (w + 1) for w in range(41)},
}


@pytest.mark.parametrize("function, values", list(itertools.product(FUNCTIONS, VALUE_SETS)))
def test_numerical_output_is_exact_at_every_value(function, values):
    f, value_set = FUNCTIONS[function], VALUE_SETS[values]
    mlp = discretise.discretising_mlp(f, X, OUT, value_set, ONE, "h", categorical=False)
    defined = sorted(v for v in value_set if f(v) is not None)
    changes = sum(f(a) != f(b) for a, b in zip(defined, defined[1:]))
    assert mlp.fst.output_space.num_dims == 1 + 2 * changes
    outputs = np.array(sorted({float(f(v)) for v in defined}))
    for v in defined:
        assert apply(mlp, v)[0] == pytest.approx(float(f(v)), abs=1e-9)
        # in float32, as the compiled model runs: decoded to the nearest value f takes
        nearest = outputs[np.abs(outputs - apply(mlp, v, np.float32)[0]).argmin()]
        assert nearest == float(f(v))


@pytest.mark.parametrize("function, values", list(itertools.product(FUNCTIONS, VALUE_SETS)))
def test_categorical_output_is_the_one_hot_value_at_every_value(function, values):
    f, value_set = FUNCTIONS[function], VALUE_SETS[values]
    outputs = sorted({f(v) for v in value_set} - {None})
    space = bases.VectorSpaceWithBasis.from_values("out", outputs)
    mlp = discretise.discretising_mlp(f, X, space, value_set, ONE, "h", categorical=True)
    for v in value_set:
        if f(v) is None:
            continue
        expected = np.zeros(len(outputs))
        expected[outputs.index(f(v))] = 1
        np.testing.assert_allclose(apply(mlp, v, np.float32), expected, atol=1e-3)


@pytest.mark.parametrize("function", ["has_focus", "steps", "negated"])
def test_agrees_with_tracr_at_every_value(function):
    f, value_set = FUNCTIONS[function], mean_values(8)
    gaps = np.diff(sorted(value_set))
    ours = discretise.discretising_mlp(f, X, OUT, value_set, ONE, "h", categorical=False)
    theirs = numerical_mlp.map_numerical_mlp(f, X, OUT, value_set, ONE,
                                             large_number=4 / gaps.min(), hidden_name="h")
    for v in value_set:
        assert apply(ours, v)[0] == pytest.approx(apply(theirs, v)[0], abs=1e-9)


def test_a_test_of_a_mean_against_zero_needs_three_units_at_any_length():
    mlp = discretise.discretising_mlp(FUNCTIONS["has_focus"], X, OUT, mean_values(300), ONE,
                                      "h", categorical=False)
    assert mlp.fst.output_space.num_dims == 3


def test_each_threshold_has_the_slope_of_its_own_gap():
    slopes: list[float] = []
    discretise.discretising_mlp(lambda x: round(x), X, OUT, {0, 1, 1.5, 10}, ONE, "h",
                                categorical=False, slopes=slopes)
    # f is 0, 1, 2, 10 there: three thresholds, with gaps 1, 0.5 and 8.5, all wide enough
    # for tracr's floor of 100
    assert slopes == [100.0, 100.0, 100.0]
    discretise.discretising_mlp(lambda x: x > 0.5, X, OUT, {0.5, 0.501}, ONE, "h",
                                categorical=False, slopes=slopes)
    assert slopes[-1] == pytest.approx(4 / 0.001)


def test_inside_a_build_tracr_calls_ours_and_afterwards_its_own_again():
    from tracr.compiler import expr_to_craft_graph
    with discretise.in_tracr() as slopes:
        assert expr_to_craft_graph.numerical_mlp is not numerical_mlp
        expr_to_craft_graph.numerical_mlp.map_numerical_mlp(
            f=FUNCTIONS["has_focus"], input_space=X, output_space=OUT,
            input_value_set=mean_values(5), one_space=ONE, large_number=7, hidden_name="h")
    assert slopes and expr_to_craft_graph.numerical_mlp is numerical_mlp
