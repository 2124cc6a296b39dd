"""Tasks that no RASP program labels: in-context tasks drawn with their answers, from the
papers on what transformers compute in context. One small class per task, each with
`draw(rng, batch, length)` and its baseline (the Bayes-optimal or ridge predictor), and the
registry from name to class.

* `scb`: `SparseContextualBigram` (Ren, Wang & Lee 2024);
* `linear`: `InContextRegression` and `LinearDynamics` (von Oswald et al. 2023).

Training and reports for these tasks are not built yet (README, "In-context tasks").
"""

from __future__ import annotations

from typing import Any, Mapping

from generalization.settings import Invalid
from generalization.tasks.in_context.linear import (InContextRegression, LinearDynamics,
                                                    RegressionBatch, random_orthogonal,
                                                    ridge_predictions)
from generalization.tasks.in_context.scb import ScbBatch, SparseContextualBigram
from generalization.tasks.samplers.base import SamplerError
from rasp.errors import did_you_mean

IN_CONTEXT_TASKS = {cls.name: cls for cls in (SparseContextualBigram, InContextRegression,
                                              LinearDynamics)}


def make_in_context_task(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The registered in-context task `name` with `options`; `SamplerError` names a bad name
    or option."""
    cls = IN_CONTEXT_TASKS.get(name)
    if cls is None:
        raise SamplerError("name", f"unknown in-context task `{name}`",
                           hint=did_you_mean(name, IN_CONTEXT_TASKS) or
                           f"tasks: {', '.join(IN_CONTEXT_TASKS)}")
    for key in options or {}:
        if key not in cls.keys():
            raise SamplerError(key, f"the `{name}` task has no option `{key}`",
                               hint=did_you_mean(key, cls.keys()) or
                               f"its options: {', '.join(cls.keys())}")
    try:
        return cls(**(options or {}))
    except Invalid as invalid:
        raise SamplerError(invalid.key, invalid.problem, invalid.hint) from None


__all__ = ["IN_CONTEXT_TASKS", "make_in_context_task", "SparseContextualBigram", "ScbBatch",
           "InContextRegression", "LinearDynamics", "RegressionBatch", "random_orthogonal",
           "ridge_predictions"]
