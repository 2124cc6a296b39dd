"""The one config schema: experiment configs and sweep files, checked before anything runs.

* `generalization/settings.py` (beside this package, because every package's settings use it):
  the declarative helper (`setting`, `Checked`, `Table`, the common rules) and `ConfigError`;
  every section of a config is a dataclass whose constraints sit beside its fields, so a
  config built in Python obeys the rules a file does;
* `experiment.py`: an experiment's TOML file or quick form -> `ExperimentConfig` (its sections:
  `Task` from `tasks/task.py`, `ModelSection`, `TrainConfig` from `training/config.py`,
  `EvaluationSection`);
* `sweep.py`: a sweep file -> `Sweep`, every run's config built and checked.

Nothing here imports JAX: checking a config is quick.
"""

from generalization.config.experiment import (DEFAULT_POSITIONS, MATCHING, SECTION_OF,
                                              VARIABLE_TASK_KEYS, EvaluationSection,
                                              ExperimentConfig, ModelSection, config_from_dict,
                                              load_config, parse_length_range, quick_config)
from generalization.settings import ConfigError, read_toml
from generalization.config.sweep import PublishedOutcome, Sweep, SweepRun, load_sweep
from generalization.tasks.task import Task
from generalization.training.config import TrainConfig

__all__ = [
    "DEFAULT_POSITIONS", "MATCHING", "SECTION_OF", "VARIABLE_TASK_KEYS", "EvaluationSection",
    "ExperimentConfig", "ModelSection", "config_from_dict", "load_config", "parse_length_range",
    "quick_config", "ConfigError", "read_toml", "PublishedOutcome", "Sweep", "SweepRun",
    "load_sweep", "Task", "TrainConfig",
]
