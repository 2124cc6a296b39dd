"""In-context experiment configs: a task that no RASP program labels
(`generalization.tasks.in_context`), the learned models to compare on it, their training and
evaluation. `rasp generalize` takes such a file as it takes a program-labelled one: a [task]
with `in_context` instead of `program` is one of these.

    name = "regression_cpu"           # default: the file's stem
    [task]
    in_context = "regression"         # scb, regression or lds
    train_lengths = [1, 20]           # lengths drawn in training, inclusive: examples
                                      # (regression), steps (lds) or tokens T (scb)
    test_lengths = [20, 40, 80]       # lengths evaluated; every one >= the shortest trained
    [task.options]                    # the task's own settings, e.g. dim = 10 (its class)
    [model]                           # the ModelSection of program-labelled experiments;
    layers = 2                        # layers and heads must be integers here (no compiled
    heads = 2                         # model to match), causal always
    positions = ["nope", "rope"]
    [compare]
    attention = ["softmax", "linear", "mesa"]   # one run per family (for every layer) and
                                                # encoding; absent: [model] attention only
    [training]                        # TrainConfig: steps, batch_size, learning_rate,
                                      # schedule, seeds, eval_every, init_from, ..
    [evaluation]
    examples_per_length = 512

A run is one (positional encoding, attention family) pair, named "rope-mesa" (or "rope" with
no [compare]). Errors are `ConfigError`s naming file, section and key, as for every config.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from generalization.config.experiment import ModelSection, apply_sets, is_in_context
from generalization.models.config import ModelConfig, attention_families, attention_problem
from generalization.settings import (Checked, Invalid, Table, positive_int, read_toml,
                                     safe_name, setting, show, string, table)
from generalization.tasks.in_context import (IN_CONTEXT_TASKS, SparseContextualBigram,
                                             make_in_context_task)
from generalization.tasks.samplers.base import SamplerError
from generalization.tasks.task import length_range
from generalization.training.config import TrainConfig
from rasp.errors import did_you_mean

# [training] keys of program-labelled runs that mean nothing here: no exact match to fit, no
# buckets (every batch is padded to the longest training length), no checkpoints (runs are
# short; a rerun skips finished runs), no interpreter labelling to move to workers.
UNUSED_TRAINING_KEYS = ("fit_threshold", "fitted_seeds", "max_seeds", "bucket_padding",
                        "bucket_steps", "checkpoint_every", "label_workers")


def length_list(value: Any) -> tuple[int, ...]:
    """A non-empty list of increasing positive lengths."""
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value) \
            or list(value) != sorted(set(value)):
        raise Invalid(f"must be a non-empty list of increasing positive lengths, got "
                      f"{show(value)}", hint="e.g. test_lengths = [20, 40, 80]")
    return tuple(value)


@dataclass(frozen=True)
class EvaluationSection(Checked):
    """How many sequences are evaluated at each test length."""

    examples_per_length: int = setting(512, positive_int)


@dataclass(frozen=True)
class InContextConfig(Checked):
    """One in-context experiment (module docstring)."""

    name: str = setting(rule=safe_name)
    task_name: str = setting(rule=string)
    options: dict = setting(rule=dict)
    train_lengths: tuple[int, int] = setting(rule=length_range)
    test_lengths: tuple[int, ...] = setting(rule=length_list)
    model: ModelSection = setting()
    compare: tuple[str, ...] = setting()         # attention families, one run each
    training: TrainConfig = setting()
    evaluation: EvaluationSection = setting()
    path: Path | None = None

    @property
    def task(self) -> Any:
        """The task object (`generalization.tasks.in_context`)."""
        return make_in_context_task(self.task_name, self.options)

    @property
    def token_task(self) -> bool:
        """Whether inputs are tokens with one answer at the end (SCB) rather than vectors with
        a regression target at every predicted position."""
        return self.task_name == SparseContextualBigram.name

    def tokens_of(self, length: int) -> int:
        """Sequence length in tokens of a task length: 2 tokens per regression example."""
        return 2 * length if self.task_name == "regression" else length

    def variants(self) -> list[tuple[str, ModelConfig]]:
        """(run name, model) of every run, in order: encodings, then families."""
        task = self.task
        families = [(family,) for family in self.compare] or [self.model.attention]
        runs = []
        for positions in self.model.positions:
            for attention in families:
                name = positions if not self.compare else f"{positions}-{attention[0]}"
                runs.append((name, self.model_config(task, positions, attention)))
        return runs

    def model_config(self, task: Any, positions: str, attention: tuple[str, ...]) -> ModelConfig:
        """The ModelConfig of one run."""
        model = self.model
        gpt2 = model.family == "gpt2"
        if self.token_task:
            shape = dict(vocab_size=task.vocab_size, num_classes=task.vocab_size,
                         tied_classes=tuple(range(task.vocab_size)) if gpt2 else ())
        else:
            inputs = task.draw(np.random.default_rng(0), 1, 1)   # its widths
            shape = dict(vocab_size=1, num_classes=inputs.targets.shape[-1],
                         input_dim=inputs.inputs.shape[-1])
        return ModelConfig(num_layers=model.layers, num_heads=model.heads, width=model.width,
                           mlp_width=model.mlp_width, positions=positions,
                           max_position=model.max_position, causal=True, bos=gpt2,
                           init="gpt2" if gpt2 else "haiku", attention=attention,
                           linear_normalise=model.linear_normalise,
                           mesa_unit_norm=model.mesa_unit_norm, **shape)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data in the TOML file's layout, defaults filled in (the
        [training] keys that do not apply left out, so that the data reads back)."""
        training = {key: value for key, value in self.training.to_dict().items()
                    if key not in UNUSED_TRAINING_KEYS}
        return {"name": self.name,
                "task": {"in_context": self.task_name, "options": dict(self.options),
                         "train_lengths": list(self.train_lengths),
                         "test_lengths": list(self.test_lengths)},
                "model": self.model.to_dict(), "compare": {"attention": list(self.compare)},
                "training": training, "evaluation": self.evaluation.to_dict()}


def load_in_context_config(path: str | Path, sets: Sequence[str] = ()) -> InContextConfig:
    """Read and check an in-context config, changed by `sets` as `load_config`'s."""
    path = Path(path)
    data = read_toml(path)
    apply_sets(data, sets)
    return in_context_from_dict(data, f"{path} with --set" if sets else str(path),
                                path.parent, path.stem, path)


def in_context_from_dict(data: dict[str, Any], source: str, base: Path,
                         default_name: str = "in_context",
                         path: Path | None = None) -> InContextConfig:
    """Check parsed TOML; `init_from` is resolved against `base`."""
    top = Table(source, None, data)
    name = top.get("name", re.sub(r"[^\w.-]", "_", default_name), safe_name)
    task_table = top.sub("task")
    task_name = task_table.get("in_context", rule=string)
    if task_name not in IN_CONTEXT_TASKS:
        raise task_table.error("in_context", f"unknown in-context task {show(task_name)}",
                               did_you_mean(task_name, IN_CONTEXT_TASKS) or
                               f"tasks: {', '.join(IN_CONTEXT_TASKS)}")
    options = task_table.get("options", {}, table)
    try:
        task = make_in_context_task(task_name, options)
    except SamplerError as error:
        raise task_table.error(error.key, error.message, error.hint, "task.options") from None
    train_lengths = task_table.get("train_lengths", rule=length_range)
    test_lengths = task_table.get("test_lengths", rule=length_list)
    task_table.finish()
    shortest = getattr(task, "window", 1)
    if train_lengths[0] < shortest:
        raise task_table.error("train_lengths", f"must start at the SCB window ({shortest}) or "
                               f"later, got {list(train_lengths)}")
    if test_lengths[0] < train_lengths[0]:
        raise task_table.error("test_lengths", f"must not start before the shortest training "
                               f"length ({train_lengths[0]}), got {list(test_lengths)}")
    longest = max(test_lengths[-1], train_lengths[1])
    tokens = 2 * longest if task_name == "regression" else longest
    model_table = top.sub("model", {})
    for key in ("layers", "heads"):
        model_table.get(key, 2, _integer_here)
    model = model_table.build(ModelSection, defaults={
        "max_position": 2 * tokens + 1, "positions": ("nope",), "layers": 2, "heads": 2})
    if model.max_position <= tokens:
        raise model_table.error("max_position", f"must exceed the longest sequence ({tokens} "
                                f"tokens), got {model.max_position}")
    compare_table = top.sub("compare", {})
    compare = compare_table.get("attention", (), attention_families)
    compare_table.finish()
    for families in [(family,) for family in compare] or [model.attention]:
        problem = attention_problem(families, model.layers, model.positions)
        if problem:
            raise (compare_table if compare else model_table).error("attention", problem)
    training_table = top.sub("training", {})
    for key in UNUSED_TRAINING_KEYS:
        if key in training_table.data:
            raise training_table.error(key, "does not apply to an in-context task",
                                       hint="remove it (no exact match to fit, no buckets, "
                                            "no checkpoints)")
    training = training_table.build(TrainConfig)
    if training.init_from:
        folder = (base / training.init_from).resolve()
        if not (folder / "models").is_dir():
            raise training_table.error("init_from", f"no saved models in {folder}",
                                       hint="pass a run folder that `rasp generalize` wrote")
        training = dataclasses.replace(training, init_from=str(folder))
    evaluation = top.sub("evaluation", {}).build(EvaluationSection)
    top.finish()
    return InContextConfig(name, task_name, dict(options), train_lengths, test_lengths, model,
                           compare, training, evaluation, path)


def _integer_here(value: Any) -> int:
    if value == "matching":
        raise Invalid('"matching" takes the shape of a compiled program, and an in-context '
                      'task has none', hint="give an integer")
    return positive_int(value)


__all__ = ["InContextConfig", "load_in_context_config", "in_context_from_dict", "is_in_context"]
