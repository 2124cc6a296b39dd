"""In-context experiments: learned models trained on tasks that no RASP program labels
(`generalization.tasks.in_context`: SCB, in-context regression, the linear dynamical system)
and tested on longer sequences than they were trained on, beside each task's baseline.

* `config`: the TOML file (`load_in_context_config`; `rasp generalize` takes it);
* `run`: training, evaluation, norms, saved models and results.json (`run_in_context`);
* `report`: report.md / report.html and the plots.
"""

from generalization.in_context.config import (InContextConfig, in_context_from_dict,
                                              is_in_context, load_in_context_config)

__all__ = ["InContextConfig", "load_in_context_config", "in_context_from_dict", "is_in_context"]
