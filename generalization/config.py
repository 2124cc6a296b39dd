"""Experiment configs: a TOML file (or the command line's quick form) checked up front.

    config = load_config("examples/experiments/reverse.toml")
    config.task.vocab, config.model.positions, config.training.steps
    config.to_dict()          # plain data, as results.json records it

Layout of the file (every section but [task] optional; defaults in the dataclasses below):

    name = "reverse"                  # default: the file's stem
    [task]
    program = "../reverse.rasp"       # relative to the config file
    sop = "reverse"
    vocab = "abc"                     # a string means its characters; or a list of tokens
    train_lengths = [1, 10]           # inclusive ranges; the test range starts after training's
    test_lengths = [11, 20]
    causal = false
    format = "per_position"           # or "autoregressive": continue prompts up to end_token
    end_token = "$"                   # autoregressive only; a vocab token; needs causal = true
    [task.sampler]
    name = "uniform"                  # a sampler of generalization.tasks.SAMPLERS + its options
                                      # (autoregressive: a prompt sampler, e.g. copy_prompt)
    [model]
    layers = "matching"               # or an int; "matching": the compiled model's
    heads = "matching"                # or an int; "matching": its most heads in a layer
    width = 64
    mlp_width = 0                     # 0 means 4 * width
    positions = ["learned", "nope", "rope", "randomized"]   # "compiled": see from_compiled.py
    max_position = 64                 # ids are < max_position; default max(64, 2 * longest
                                      # test input: test max, or an autoregressive sequence)
    [training]                        # as generalization.train.TrainConfig
    [evaluation]
    examples_per_length = 256
    counterexamples = 3               # shown per length range (train/test) per run
    counterexample_budget = 200       # Hypothesis examples per search

Every rejection is a `ConfigError` whose message names the file, section and key and says what
to do, e.g. `exp.toml: [training] steps: must be a positive integer, got -3`; a TOML syntax error
is located at file:line:col.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import rasp
from rasp.values import value_key as token_key
from generalization.positions import POSITION_KINDS
from generalization.tasks import (AUTOREGRESSIVE, FORMATS, PER_POSITION, SAMPLERS,
                                   PromptSampler, SamplerError, Task, Uniform, make_sampler)
from generalization.train import TrainConfig
from rasp.ast import Span
from rasp.errors import RaspError, did_you_mean
from rasp.evaluate import checked_input

MATCHING = "matching"
DEFAULT_POSITIONS = ("learned", "nope", "rope", "randomized")

# The [task] table and the description of what to learn are one thing; one class holds both.
TaskConfig = Task


class ConfigError(RaspError):
    """A rejected experiment config; `section` and `key` say where (None for the whole file)."""

    kind = "config error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 section: str | None = None, key: str | None = None):
        super().__init__(message, span, hint)
        self.section = section
        self.key = key


@dataclass(frozen=True)
class ModelSection:
    """The learned models; one model per entry of `positions`. `max_position` defaults to
    max(64, 2 * the longest test input) in a config (64 is the floor)."""

    layers: int | str = MATCHING
    heads: int | str = MATCHING
    width: int = 64
    mlp_width: int = 0
    positions: tuple[str, ...] = DEFAULT_POSITIONS
    max_position: int = 64


@dataclass(frozen=True)
class EvaluationSection:
    """How many examples per length, and how hard to look for counterexamples."""

    examples_per_length: int = 256
    counterexamples: int = 3
    counterexample_budget: int = 200


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a task, the models to train on it, how to train and evaluate them."""

    name: str
    task: Task
    model: ModelSection
    training: TrainConfig
    evaluation: EvaluationSection
    path: Path | None = None      # the config file; None for the command line's quick form

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data in the TOML file's layout, defaults filled in."""
        task = self.task.to_dict()
        del task["name"]
        return {"name": self.name, "task": task, "model": _plain(self.model),
                "training": _plain(self.training), "evaluation": _plain(self.evaluation)}


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and check an experiment config; `ConfigError` on any mistake."""
    path = Path(path)
    return config_from_dict(read_toml(path), str(path), path.parent, default_name=path.stem,
                            path=path)


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a TOML file (a config or a sweep); `ConfigError` at file:line:col."""
    source = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: cannot read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise _syntax_error(source, error) from None


def quick_config(program: str | Path, sop: str, vocab: str | list,
                 train_lengths: tuple[int, int] | str, test_lengths: tuple[int, int] | str,
                 **overrides: Any) -> ExperimentConfig:
    """The config of `rasp generalize FILE.rasp --sop S --vocab V --train-len 1-10 ...`.

    `vocab` is tokens (a string means its characters), lengths are pairs or "lo-hi", and each
    override is a key of any section (`steps=500`, `positions=["rope"]`, `sampler="unique"`).
    Paths are relative to the current folder; checks and messages are those of a file."""
    sections: dict[str, Any] = {"task": {
        "program": str(program), "sop": sop, "vocab": vocab,
        "train_lengths": list(_range_of(train_lengths, "train_lengths")),
        "test_lengths": list(_range_of(test_lengths, "test_lengths"))}}
    for key, value in overrides.items():
        section = _QUICK_KEYS.get(key)
        if section is None:
            raise ConfigError(f"command line: unknown setting `{key}`", key=key,
                              hint=did_you_mean(key, _QUICK_KEYS))
        if key == "sampler" and isinstance(value, str):
            value = {"name": value}
        target = sections.setdefault(section, {}) if section else sections
        target[key] = value
    return config_from_dict(sections, "command line", Path.cwd(), default_name=Path(program).stem)


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
    top = _Table(source, None, data)
    name = top.get("name", re.sub(r"[^\w.-]", "_", default_name), _name)
    task = _task(_Table(source, "task", top.get("task", check=_table)), base, name)
    model = _model(_Table(source, "model", top.get("model", {}, _table)), task)
    training = _training(_Table(source, "training", top.get("training", {}, _table)))
    evaluation = _evaluation(_Table(source, "evaluation", top.get("evaluation", {}, _table)))
    top.finish()
    return ExperimentConfig(name, task, model, training, evaluation, path)


# ------------------------------------------------------------------------------------ sections


def _task(table: _Table, base: Path, name: str) -> Task:
    program_path = (base / table.get("program", check=_string)).resolve()
    if not program_path.is_file():
        raise table.error("program", f"no such file: {program_path}",
                          hint="paths are relative to the config file")
    try:
        program = rasp.load(program_path)
    except RaspError as error:
        raise table.error("program", error.located(), hint=error.hint) from None
    sop = table.get("sop", check=_string)
    try:
        program.sop(sop)
    except RaspError as error:
        raise table.error("sop", error.message, hint=error.hint) from None
    vocab = table.get("vocab", check=_vocab)
    train = table.get("train_lengths", check=_length_range)
    test = table.get("test_lengths", check=_length_range)
    if test[0] <= train[1]:
        raise table.error("test_lengths", f"must start after the training lengths end "
                          f"({train[1]}), got {list(test)}",
                          hint=f"e.g. test_lengths = [{train[1] + 1}, {2 * train[1]}]")
    causal = table.get("causal", False, _boolean)
    task_format = table.get("format", PER_POSITION, _format)
    autoregressive = task_format == AUTOREGRESSIVE
    end_token = table.get("end_token", None, _token) if autoregressive else None
    if not autoregressive and "end_token" in table.data:
        raise table.error("end_token", f'only autoregressive tasks end with a token, but format '
                          f'is "{task_format}"', hint='set format = "autoregressive" or drop '
                                                      'end_token')
    if autoregressive:
        if end_token is None:
            raise table.error("end_token", "missing: an autoregressive task continues its "
                              "prompts up to an end token", hint='add e.g. end_token = "$"')
        if token_key(end_token) not in {token_key(t) for t in vocab}:
            raise table.error("end_token", f"{_show(end_token)} is not in the vocab",
                              hint="add it to [task] vocab")
        if not causal:
            raise table.error("causal", "must be true for an autoregressive task: each next "
                              "token is computed from the prefix alone", hint="set causal = true")
    sampler_table = _Table(table.source, "task.sampler", table.get("sampler", {}, _table))
    sampler_name = sampler_table.get("name", "uniform", _string)
    # The options' names and types are the sampler's to check (make_sampler rejects unknowns).
    options = {k: v for k, v in sampler_table.data.items() if k != "name"}
    task = Task(name, program_path, sop, vocab, train, test, causal, Uniform(), task_format,
                end_token)
    try:
        sampler = make_sampler(sampler_name, options)
        if isinstance(sampler, PromptSampler) and not autoregressive:
            raise SamplerError("name", f"`{sampler_name}` draws the prompts of autoregressive "
                               f"tasks", hint='set [task] format = "autoregressive" and an '
                                              'end_token')
        if autoregressive and not isinstance(sampler, PromptSampler):
            raise SamplerError("name", f"`{sampler_name}` draws whole inputs, but an "
                               f"autoregressive task needs a prompt sampler",
                               hint=f"use one of {', '.join(_prompt_samplers())}")
        sampler.check(task.sampler_vocab, train[0], test[1])
    except SamplerError as error:
        raise sampler_table.error(error.key, error.message, hint=error.hint) from None
    table.finish()
    return dataclasses.replace(task, sampler=sampler)


def _model(table: _Table, task: Task) -> ModelSection:
    defaults = ModelSection()
    longest = task.input_width(task.test_lengths)
    section = ModelSection(
        layers=table.get("layers", defaults.layers, _matching_or_positive),
        heads=table.get("heads", defaults.heads, _matching_or_positive),
        width=table.get("width", defaults.width, _positive_int),
        mlp_width=table.get("mlp_width", defaults.mlp_width, _non_negative_int),
        positions=table.get("positions", defaults.positions, _positions),
        max_position=table.get("max_position", max(defaults.max_position, 2 * longest),
                               _positive_int))
    if section.max_position <= longest:
        what = "input (whole sequence)" if task.autoregressive else "length"
        raise table.error("max_position", f"must exceed the longest test {what} ({longest}), "
                          f"got {section.max_position}",
                          hint=f"e.g. max_position = {max(defaults.max_position, 2 * longest)}")
    if isinstance(section.heads, int) and section.width % section.heads:
        raise table.error("width", f"must be divisible by [model] heads ({section.heads}), "
                          f"got {section.width}")
    if isinstance(section.heads, int) and "rope" in section.positions and \
            section.width // section.heads % 2:
        raise table.error("width", f"RoPE rotates pairs of dimensions, so width / heads must "
                          f"be even, got {section.width} / {section.heads}")
    table.finish()
    return section


def _training(table: _Table) -> TrainConfig:
    d = TrainConfig()
    section = TrainConfig(
        steps=table.get("steps", d.steps, _positive_int),
        batch_size=table.get("batch_size", d.batch_size, _positive_int),
        learning_rate=table.get("learning_rate", d.learning_rate, _positive_number),
        warmup_steps=table.get("warmup_steps", d.warmup_steps, _non_negative_int),
        weight_decay=table.get("weight_decay", d.weight_decay, _non_negative_number),
        grad_clip=table.get("grad_clip", d.grad_clip, _positive_number),
        seeds=table.get("seeds", d.seeds, _seeds),
        checkpoint_every=table.get("checkpoint_every", d.checkpoint_every, _positive_int),
        eval_every=table.get("eval_every", d.eval_every, _positive_int),
        fit_threshold=table.get("fit_threshold", d.fit_threshold, _fraction),
        steps_per_call=table.get("steps_per_call", d.steps_per_call, _positive_int),
        eval_batch_size=table.get("eval_batch_size", d.eval_batch_size, _positive_int))
    if section.warmup_steps >= section.steps:
        raise table.error("warmup_steps", f"must be less than [training] steps "
                          f"({section.steps}), got {section.warmup_steps}",
                          hint=f"e.g. warmup_steps = {section.steps // 10}")
    table.finish()
    return section


def _evaluation(table: _Table) -> EvaluationSection:
    d = EvaluationSection()
    section = EvaluationSection(
        examples_per_length=table.get("examples_per_length", d.examples_per_length,
                                      _positive_int),
        counterexamples=table.get("counterexamples", d.counterexamples, _non_negative_int),
        counterexample_budget=table.get("counterexample_budget", d.counterexample_budget,
                                        _positive_int))
    table.finish()
    return section


# The [task] keys one may vary for an experiment; its program, s-op and vocabulary define it.
VARIABLE_TASK_KEYS = ("train_lengths", "test_lengths", "causal", "sampler")
# Which section each setting belongs to, for the quick form's and a sweep's overrides.
SECTION_OF = {**{key: "task" for key in VARIABLE_TASK_KEYS},
              **{f.name: "model" for f in dataclasses.fields(ModelSection)},
              **{f.name: "training" for f in dataclasses.fields(TrainConfig)},
              **{f.name: "evaluation" for f in dataclasses.fields(EvaluationSection)}}
# The quick form may also name the experiment ("" = the top level).
_QUICK_KEYS = {"name": "", **SECTION_OF}


# ----------------------------------------------------------------------- tables and values


class _Invalid(Exception):
    """A value a check refuses: the problem, and optionally a hint."""

    def __init__(self, problem: str, hint: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


_REQUIRED = object()


class _Table:
    """One TOML table being read: typed lookups, then `finish` rejects keys nobody asked for."""

    def __init__(self, source: str, section: str | None, data: dict[str, Any]):
        self.source = source
        self.section = section
        self.data = data
        self.known: list[str] = []

    def get(self, key: str, default: Any = _REQUIRED,
            check: Callable[[Any], Any] = lambda value: value) -> Any:
        """The checked value of `key`, or `default` when absent (required when no default)."""
        self.known.append(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "missing", hint=f"add a [{key}] table" if check is _table
                                 else f"add `{key} = ...` to {self._where()}")
            return default
        try:
            return check(self.data[key])
        except _Invalid as invalid:
            raise self.error(key, invalid.problem, hint=invalid.hint) from None

    def finish(self) -> None:
        """Reject keys that no `get` asked for."""
        for key in self.data:
            if key not in self.known:
                what = "unknown section" if isinstance(self.data[key], dict) else "unknown key"
                raise self.error(key, what, hint=did_you_mean(key, self.known) or
                                 f"{self._where()} takes: {', '.join(self.known)}")

    def error(self, key: str | None, problem: str, hint: str | None = None) -> ConfigError:
        if isinstance(self.data.get(key), dict):  # a sub-table is named as its header
            place = f"[{self.section}.{key}]" if self.section else f"[{key}]"
        else:
            place = f"[{self.section}] {key}" if self.section else key
        message = f"{place}: {problem}" if place else problem
        return ConfigError(message, Span(self.source, 0, 0, 0, 0), hint, self.section, key)

    def _where(self) -> str:
        return f"[{self.section}]" if self.section else "the top level"


def _syntax_error(source: str, error: tomllib.TOMLDecodeError) -> ConfigError:
    """TOML's "message (at line L, column C)" as a located error."""
    text = str(error)
    match = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", text, re.DOTALL)
    if match is None:
        return ConfigError(f"{source}: invalid TOML: {text}")
    line, column = int(match[2]), int(match[3])
    return ConfigError(f"invalid TOML: {match[1]}", Span(source, line, column, line, column + 1))


def _show(value: Any) -> str:
    """A value as TOML would write it (near enough: JSON), for messages."""
    return json.dumps(value, default=str)


def _table(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(f"must be a table, got {_show(value)}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid(f"must be a non-empty string, got {_show(value)}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[\w.-]+", value):
        raise _Invalid(f"must be a name of letters, digits, '_', '-' or '.', got {_show(value)}",
                       hint="it names the run's files")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"must be true or false, got {_show(value)}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise _Invalid(f"must be a positive integer, got {_show(value)}")
    return value


def _non_negative_int(value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise _Invalid(f"must be a non-negative integer, got {_show(value)}")
    return value


def _number(value: Any, problem: str, accept: Callable[[float], bool]) -> float:
    if not (_is_int(value) or isinstance(value, float)) or not accept(value):
        raise _Invalid(f"must be {problem}, got {_show(value)}")
    return float(value)


def _positive_number(value: Any) -> float:
    return _number(value, "a positive number", lambda x: x > 0 and x != float("inf"))


def _non_negative_number(value: Any) -> float:
    return _number(value, "a non-negative number", lambda x: 0 <= x < float("inf"))


def _fraction(value: Any) -> float:
    return _number(value, "a number in (0, 1]", lambda x: 0 < x <= 1)


def _matching_or_positive(value: Any) -> int | str:
    if isinstance(value, str) and value == MATCHING:
        return value
    if not _is_int(value) or value < 1:
        raise _Invalid(f'must be "{MATCHING}" or a positive integer, got {_show(value)}')
    return value


def _length_range(value: Any) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(map(_is_int, value))):
        raise _Invalid(f"must be an inclusive range [lo, hi] of two integers, got "
                       f"{_show(value)}", hint="e.g. [1, 10]")
    low, high = value
    if low < 1:
        raise _Invalid(f"lengths must be at least 1, got {_show(value)}")
    if low > high:
        raise _Invalid(f"lo must not exceed hi, got {_show(value)}",
                       hint=f"write [{high}, {low}]")
    return low, high


def _range_of(value: tuple[int, int] | str, key: str) -> tuple[int, int]:
    return parse_length_range(value, f"command line: {key}") if isinstance(value, str) \
        else tuple(value)


def _vocab(value: Any) -> tuple:
    tokens = list(value) if isinstance(value, (str, list)) else None
    if not tokens:
        raise _Invalid(f"must be a non-empty string (its characters) or list of tokens, got "
                       f"{_show(value)}", hint='e.g. vocab = "abc" or vocab = [0, 1]')
    try:
        checked_input(tokens)
    except RaspError as error:
        raise _Invalid(error.message) from None
    seen = set()
    for token in tokens:
        if token_key(token) in seen:
            raise _Invalid(f"lists the token {_show(token)} twice")
        seen.add(token_key(token))
    return tuple(tokens)


def _format(value: Any) -> str:
    if value not in FORMATS:
        raise _Invalid(f"must be one of {', '.join(map(_show, FORMATS))}, got {_show(value)}")
    return value


def _token(value: Any) -> Any:
    if not isinstance(value, (str, int, bool)) or value == "":
        raise _Invalid(f"must be a token (a string, integer or boolean), got {_show(value)}")
    return value


def _prompt_samplers() -> list[str]:
    return [name for name, cls in SAMPLERS.items() if issubclass(cls, PromptSampler)]


def _positions(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"must be a non-empty list of position encodings, got {_show(value)}",
                       hint=f"choose from {', '.join(POSITION_KINDS)}")
    for kind in value:
        if kind not in POSITION_KINDS:
            raise _Invalid(f"unknown position encoding {_show(kind)}",
                           hint=did_you_mean(kind, POSITION_KINDS) or
                           f"choose from {', '.join(POSITION_KINDS)}")
    if len(set(value)) < len(value):
        raise _Invalid(f"lists an encoding twice: {_show(value)}")
    return tuple(value)


def _seeds(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or \
            not all(_is_int(v) and v >= 0 for v in value):
        raise _Invalid(f"must be a non-empty list of non-negative integers, got {_show(value)}",
                       hint="e.g. seeds = [0, 1, 2]")
    if len(set(value)) < len(value):
        raise _Invalid(f"lists a seed twice: {_show(value)}")
    return tuple(value)


def _plain(section: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(section).items()}
