"""Whether a compiled model computes what its program computes: the project's one comparison.

The interpreter is the definition of a program's meaning; a compiled model is right on an
input when its decoded output equals the interpreter's there (`outputs_equal`: strings and
booleans exactly, numbers within 1e-9). Every place that
trusts a compiled model checks it through this module: `compile` on its sample of inputs,
`rasp check` on Hypothesis-generated or all inputs, and an experiment on its evaluation sets.

    difference = compare(model, program.sop("reverse"), inputs)      # runs both
    difference = first_difference(inputs, interpreted, compiled)    # outputs already at hand
    if difference is not None:
        difference.input, difference.interpreter, difference.model
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from compiler.model import CompiledModel
from rasp import evaluate, graph

# Numbers closer than this are equal: the compiled model computes in float32.
NUMBER_TOLERANCE = 1e-9


class Difference(NamedTuple):
    """An input on which the compiled model and the interpreter disagree, and both outputs."""

    input: list
    interpreter: list
    model: list


def outputs_equal(expected: Sequence[Any], actual: Sequence[Any]) -> bool:
    """Whether two output sequences are the same values, position by position."""
    if len(expected) != len(actual):
        return False
    for want, got in zip(expected, actual):
        if isinstance(want, float) or isinstance(got, float):
            if not isinstance(got, (int, float)) or abs(want - got) > NUMBER_TOLERANCE:
                return False
        elif want != got or isinstance(want, bool) != isinstance(got, bool):
            return False
    return True


def first_difference(inputs: Sequence[list], interpreter_outputs: Sequence[list],
                     model_outputs: Sequence[list]) -> Difference | None:
    """The first input whose interpreter and model outputs differ, or None when all agree."""
    for given, want, got in zip(inputs, interpreter_outputs, model_outputs):
        if not outputs_equal(want, got):
            return Difference(list(given), list(want), list(got))
    return None


def compare(model: CompiledModel, node: graph.Sop, inputs: Sequence[list]) -> Difference | None:
    """Run the interpreter (on `node`, the s-op the model was compiled from) and the model on
    `inputs`, each in one batch, and return their first difference, or None."""
    inputs = list(inputs)
    return first_difference(inputs, evaluate.run(node, inputs), model.run(inputs))
