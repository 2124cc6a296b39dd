"""Experiment configs: a TOML file (or the command line's quick form) checked up front.

    config = load_config("examples/experiments/reverse.toml")
    config.task.vocab, config.model.positions, config.training.steps
    config.to_dict()          # plain data, as results.json records it

Layout of the file (every section but [task] optional; defaults and rules beside each field of
the sections' classes):

    name = "reverse"                  # default: the file's stem
    [task]                            # generalization.tasks.Task
    program = "../reverse.rasp"       # relative to the config file
    sop = "reverse"
    vocab = "abc"                     # a string means its characters; or a list of tokens
    train_lengths = [1, 10]           # inclusive ranges; the test range starts after training's
    test_lengths = [11, 20]
    causal = false
    format = "per_position"           # or "autoregressive": continue prompts up to end_token
    end_token = "$"                   # autoregressive only; a vocab token; needs causal = true
    reads_ahead = false               # autoregressive only: compile the reference bidirectionally
    [task.sampler]
    name = "uniform"                  # a sampler of generalization.tasks.SAMPLERS + its options
                                      # (autoregressive: a prompt sampler, e.g. copy_prompt)
    [model]                           # ModelSection below
    layers = "matching"               # or an int; "matching": the compiled model's
    heads = "matching"                # or an int; "matching": its most heads in a layer
    width = 64
    mlp_width = 0                     # 0 means 4 * width
    positions = ["learned", "nope", "rope", "randomized"]   # "compiled": see from_compiled.py
    family = "nanogpt"                # or "gpt2": tied embeddings, GPT-2 init, a BOS token
    attention = "softmax"             # "linear" or "mesa", or a list of one family per layer
    linear_normalise = false          # linear attention divided by the number of keys read
    mesa_unit_norm = false            # mesa: queries and keys scaled to unit norm
    max_position = 64                 # ids are < max_position; default max(64, 2 * longest
                                      # test input: test max, or an autoregressive sequence)
    [training]                        # generalization.training.TrainConfig, e.g.
    schedule = "cosine"               # or "linear": after warmup_steps, decay to 0
    fitted_seeds = 0                  # > 0: further seeds until this many fit ...
    max_seeds = 0                     # ... or this many were tried (0: len(seeds))
    bucket_padding = 0.0              # > 0: length buckets padding at most this fraction
    init_from = "runs/x"              # start every seed from that run's saved model
    label_workers = 0                 # > 0: processes labelling the next chunks ahead
    [evaluation]                      # EvaluationSection below
    examples_per_length = 256
    counterexamples = 3               # shown per length range (train/test) per run
    counterexample_budget = 200       # Hypothesis examples per search

Every rejection is a `ConfigError` whose message names the file, section and key and says what
to do, e.g. `exp.toml: [training] steps: must be a positive integer, got -3`; a TOML syntax error
is located at file:line:col. Nothing here imports JAX.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import rasp
from generalization.settings import (Checked, ConfigError, Invalid, Table, boolean, distinct,
                                          non_negative_int, one_of, positive_int, read_toml,
                                          safe_name, setting, show, string)
from generalization.models.config import (POSITION_KINDS, attention_families, attention_problem,
                                          head_split_problem, position_kind)
from generalization.tasks.task import Task
from generalization.training.config import TrainConfig
from rasp.errors import RaspError, did_you_mean

MATCHING = "matching"
DEFAULT_POSITIONS = ("learned", "nope", "rope", "randomized")
# Model families: our nanoGPT (pre-LN, GELU, untied output layer, Haiku's initialisation), or
# GPT-2 as Huang et al. (2025) train it (the same blocks with tied input and output
# embeddings, GPT-2's initialisation and a BOS token; `models/transformer.py`).
FAMILIES = ("nanogpt", "gpt2")
# The floor of the default max_position.
MIN_MAX_POSITION = 64


def matching_or_positive(value: Any) -> int | str:
    """"matching" (take it from the compiled model) or a positive integer."""
    if value == MATCHING:
        return value
    try:
        return positive_int(value)
    except Invalid:
        raise Invalid(f'must be "{MATCHING}" or a positive integer, got {show(value)}') from None


def position_kinds(value: Any) -> tuple[str, ...]:
    """A non-empty list of distinct positional encodings."""
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(v, str) for v in value):
        raise Invalid(f"must be a non-empty list of position encodings, got {show(value)}",
                      hint=f"choose from {', '.join(POSITION_KINDS)}")
    for kind in value:
        try:
            position_kind(kind)
        except Invalid:
            raise Invalid(f"unknown position encoding {show(kind)}",
                          hint=did_you_mean(kind, POSITION_KINDS) or
                          f"choose from {', '.join(POSITION_KINDS)}") from None
    distinct(value, "an encoding")
    return tuple(value)


@dataclass(frozen=True)
class ModelSection(Checked):
    """The learned models; one model per entry of `positions`. `max_position` defaults to
    max(64, 2 * the longest test input) in a config, and must be at least that input."""

    layers: int | str = setting(MATCHING, matching_or_positive)
    heads: int | str = setting(MATCHING, matching_or_positive)
    width: int = setting(64, positive_int)      # splits into heads (of even size for RoPE)
    mlp_width: int = setting(0, non_negative_int)
    positions: tuple[str, ...] = setting(DEFAULT_POSITIONS, position_kinds)
    max_position: int = setting(MIN_MAX_POSITION, positive_int)
    family: str = setting("nanogpt", one_of(FAMILIES))
    attention: tuple[str, ...] = setting(("softmax",), attention_families)
    linear_normalise: bool = setting(False, boolean)
    mesa_unit_norm: bool = setting(False, boolean)

    def cross_check(self) -> None:
        problem = attention_problem(self.attention,
                                    self.layers if isinstance(self.layers, int) else None,
                                    self.positions)
        if problem:
            raise Invalid(problem, key="attention")
        if self.family == "gpt2" and "compiled" in self.positions:
            raise Invalid('"compiled" takes the compiled model\'s own shape and weights, not '
                          'GPT-2\'s', hint='drop "compiled" or set family = "nanogpt"',
                          key="positions")
        if isinstance(self.heads, int):
            problem = head_split_problem(self.width, self.heads, "rope" in self.positions,
                                         "[model] heads")
            if problem:
                raise Invalid(problem, key="width")


@dataclass(frozen=True)
class EvaluationSection(Checked):
    """How many examples per length, and how hard to look for counterexamples."""

    examples_per_length: int = setting(256, positive_int)
    counterexamples: int = setting(3, non_negative_int)
    counterexample_budget: int = setting(200, positive_int)


@dataclass(frozen=True)
class ExperimentConfig(Checked):
    """One experiment: a task, the models to train on it, how to train and evaluate them."""

    name: str
    task: Task
    model: ModelSection
    training: TrainConfig
    evaluation: EvaluationSection
    path: Path | None = None      # the config file; None for the command line's quick form

    def cross_check(self) -> None:
        longest = self.task.input_width(self.task.test_lengths)
        if self.model.max_position < longest:   # ids 0..longest-1 must be < max_position
            what = "input (whole sequence)" if self.task.autoregressive else "length"
            raise Invalid(f"must be at least the longest test {what} ({longest}), got "
                          f"{self.model.max_position}",
                          hint=f"e.g. max_position = {default_max_position(self.task)}",
                          key="max_position", section="model")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data in the TOML file's layout, defaults filled in."""
        task = self.task.to_dict()
        del task["name"]
        return {"name": self.name, "task": task, "model": self.model.to_dict(),
                "training": self.training.to_dict(), "evaluation": self.evaluation.to_dict()}


def default_max_position(task: Task) -> int:
    """max(64, 2 * the longest test input): room to test longer inputs than the config's."""
    return max(MIN_MAX_POSITION, 2 * task.input_width(task.test_lengths))


def is_in_context(data: dict[str, Any]) -> bool:
    """Whether parsed TOML is an in-context experiment's (its [task] names `in_context`
    instead of a program; `generalization.in_context` reads it)."""
    task = data.get("task")
    return isinstance(task, dict) and "in_context" in task


def load_config(path: str | Path, sets: Sequence[str] = ()) -> ExperimentConfig:
    """Read and check an experiment config, changed by `sets` ("training.steps=200", as
    `--set` gives them); `ConfigError` on any mistake."""
    path = Path(path)
    data = read_toml(path)
    apply_sets(data, sets)
    return config_from_dict(data, f"{path} with --set" if sets else str(path), path.parent,
                            default_name=path.stem, path=path)


def parse_set(text: str) -> tuple[list[str], Any]:
    """`"training.steps=200"` -> (["training", "steps"], 200): the key path, and the value read
    as TOML (a bare word that is no TOML value, `unique`, is a string)."""
    match = re.fullmatch(r"\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)\s*=(.*)", text, re.DOTALL)
    if match is None:
        raise ConfigError(f"--set {text}: must look like section.key=value",
                          hint="e.g. --set training.steps=200 or "
                               "--set model.positions='[\"rope\"]'")
    try:
        value = tomllib.loads(f"value = {match[2].strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = match[2].strip()
    return match[1].split("."), value


def apply_sets(data: dict[str, Any], sets: Sequence[str]) -> None:
    """Change a config's parsed TOML by each `--set section.key=value` (tables made as
    needed); the result is checked as a file is, so a bad key or value is named."""
    for text in sets:
        keys, value = parse_set(text)
        table = data
        for key in keys[:-1]:
            inner = table.setdefault(key, {})
            if not isinstance(inner, dict):
                raise ConfigError(f"--set {text}: `{key}` is a value, not a section")
            table = inner
        table[keys[-1]] = value


def quick_config(program: str | Path, sop: str, vocab: str | list,
                 train_lengths: tuple[int, int] | str, test_lengths: tuple[int, int] | str,
                 sets: Sequence[str] = (), **overrides: Any) -> ExperimentConfig:
    """The config of `rasp generalize FILE.rasp --sop S --vocab V --train-len 1-10 ...`.

    `vocab` is tokens (a string means its characters), lengths are pairs or "lo-hi", and each
    override is a key of any section (`steps=500`, `positions=["rope"]`, `sampler="unique"`).
    Paths are relative to the current folder; checks and messages are those of a file;
    `sets` change it further, as for `load_config`."""
    sections: dict[str, Any] = {"task": {
        "program": str(program), "sop": sop, "vocab": vocab,
        "train_lengths": list(_range_of(train_lengths, "train_lengths")),
        "test_lengths": list(_range_of(test_lengths, "test_lengths"))}}
    for key, value in overrides.items():
        if key not in _QUICK_KEYS:
            raise ConfigError(f"command line: unknown setting `{key}`", key=key,
                              hint=did_you_mean(key, _QUICK_KEYS))
        set_setting(sections, key, value)
    apply_sets(sections, sets)
    return config_from_dict(sections, "command line", Path.cwd(), default_name=Path(program).stem)


def set_setting(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a setting of the quick form or a sweep (a key of SECTION_OF, or the top-level
    `name`) in a config's plain data; `sampler = "unique"` is short for {name = "unique"}."""
    if key == "sampler" and isinstance(value, str):
        value = {"name": value}
    section = _QUICK_KEYS[key]
    (data.setdefault(section, {}) if section else data)[key] = value


def parse_length_range(text: str, origin: str = "length range") -> tuple[int, int]:
    """`"1-10"` -> (1, 10) and `"7"` -> (7, 7); `ConfigError` naming `origin` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if match is None:
        raise ConfigError(f"{origin}: must look like 1-10 (inclusive), got {text!r}")
    low, high = int(match[1]), int(match[2] or match[1])
    if not 1 <= low <= high:
        raise ConfigError(f"{origin}: must be 1 <= lo <= hi, got {low}-{high}")
    return low, high


def config_from_dict(data: dict[str, Any], source: str, base: Path,
                     default_name: str = "experiment", path: Path | None = None
                     ) -> ExperimentConfig:
    """Check parsed TOML (or `to_dict()` output); relative paths are resolved against `base`."""
    top = Table(source, None, data)
    name = top.get("name", re.sub(r"[^\w.-]", "_", default_name), safe_name)
    task = _task(top.sub("task"), base, name)
    model = top.sub("model", {}).build(
        ModelSection, defaults={"max_position": default_max_position(task)})
    training = _training(top.sub("training", {}), base)
    evaluation = top.sub("evaluation", {}).build(EvaluationSection)
    top.finish()
    try:
        return ExperimentConfig(name, task, model, training, evaluation, path)
    except Invalid as invalid:
        raise top.error(invalid.key, invalid.problem, invalid.hint, invalid.section) from None


def _training(table: Table, base: Path) -> TrainConfig:
    """The [training] table, its `init_from` resolved against `base` and checked to be a run
    folder with saved models."""
    training = table.build(TrainConfig)
    if not training.init_from:
        return training
    folder = (base / training.init_from).resolve()
    if not (folder / "models").is_dir():
        raise table.error("init_from", f"no saved models in {folder}",
                          hint="pass a run folder that `rasp generalize` wrote (it has models/)")
    return dataclasses.replace(training, init_from=str(folder))


def _task(table: Table, base: Path, name: str) -> Task:
    """The [task] table: the program, resolved against `base` and loaded, then the Task."""
    program_path = (base / table.get("program", rule=string)).resolve()
    if not program_path.is_file():
        raise table.error("program", f"no such file: {program_path}",
                          hint="paths are relative to the config file")
    try:
        program = rasp.load(program_path)
    except RaspError as error:
        raise table.error("program", error.located(), hint=error.hint) from None
    sop = table.get("sop", rule=string)
    try:
        program.sop(sop)
    except RaspError as error:
        raise table.error("sop", error.message, hint=error.hint) from None
    return table.build(Task, given={"name": name, "program": program_path})


def _range_of(value: tuple[int, int] | str, key: str) -> tuple[int, int]:
    return parse_length_range(value, f"command line: {key}") if isinstance(value, str) \
        else tuple(value)


# The [task] keys one may vary for an experiment; its program, s-op and vocabulary define it.
VARIABLE_TASK_KEYS = ("train_lengths", "test_lengths", "causal", "sampler")
# Which section each setting belongs to, for the quick form's and a sweep's overrides.
SECTION_OF = {**{key: "task" for key in VARIABLE_TASK_KEYS},
              **{key: "model" for key in ModelSection.keys()},
              **{key: "training" for key in TrainConfig.keys()},
              **{key: "evaluation" for key in EvaluationSection.keys()}}
# The quick form may also name the experiment ("" = the top level).
_QUICK_KEYS = {"name": "", **SECTION_OF}
