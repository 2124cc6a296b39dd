"""The length-generalization harness: learned transformers trained on short inputs labelled by
a RASP program, tested on longer ones against the program's compiled model.

    from generalization import load_config, run_experiment, load_results
    config = load_config("examples/experiments/quick.toml")     # checked; no JAX imported
    results = run_experiment(config, Path("runs/quick"))          # a Results record
    results.runs[0].fitted, results.runs[0].lengths[-1].exact_match_mean
    load_learned("runs/quick", "learned", seed=0).run(["abc"])    # a trained model, saved

Where things live:

* `config/`: the one config schema (experiment configs, sweep files) and its checker;
* `tasks/`: samplers (a registry, one module per family), `Task`, the labelled data;
* `models/`: the learned transformer, positional encodings, models from compiled weights;
* `training/`: the training settings, the jitted steps, the loop, checkpoints;
* `evaluation/`: metrics, predictions and generation, Hypothesis counterexamples;
* `reporting/`: the results format (`results.py`), statistics, the run report, the study
  page of a sweep, plots;
* `streams.py`: where every random draw comes from;
* `experiment.py` and `sweep.py`: the two drivers, one experiment and many.

The names below are imported on first use, so that `import generalization` (and checking a
config) does not import JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "generalization.config",
    "quick_config": "generalization.config",
    "load_sweep": "generalization.config",
    "ConfigError": "generalization.config",
    "ExperimentConfig": "generalization.config",
    "run_experiment": "generalization.experiment",
    "run_sweep": "generalization.sweep",
    "write_report": "generalization.reporting.report",
    "write_study": "generalization.reporting.study",
    "load_learned": "generalization.models.saved",
    "load_results": "generalization.reporting.results",
    "load_sweep_record": "generalization.reporting.results",
    "Results": "generalization.reporting.results",
    "RunResult": "generalization.reporting.results",
    "LengthResult": "generalization.reporting.results",
    "TaskRecord": "generalization.reporting.results",
    "SweepRecord": "generalization.reporting.results",
    "ResultsError": "generalization.reporting.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'generalization' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
