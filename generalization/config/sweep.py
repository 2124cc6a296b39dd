"""Sweep files: experiment configs crossed with a grid of settings, checked up front.

    sweep = load_sweep("examples/sweeps/contrast.toml")
    [(run.name, run.config) for run in sweep.runs]

A sweep file lists experiment configs and the settings to cross them with:

    name = "contrast"                                   # default: the file's stem
    experiments = ["../suite/sort.toml", "../suite/parity.toml"]   # relative to this file
    note = "..."                   # a paragraph for the study page: the setting, caveats
    [grid]                         # every combination of these values, for every experiment
    positions = [["learned"], ["rope"]]                 # each value replaces [model] positions
    width = [64]
    [overrides]                    # applied to every run
    steps = 2000
    [search]                       # like [grid], then one configuration per task is kept:
    layers = [1, 2]                # the smallest whose seeds fit ("smallest-fitted", ties to
    learning_rate = [1e-3, 1e-4]   # the lower held-out loss), or the best at 1x-2x the
    selection = "smallest-fitted"  # training length ("test-bin": optimistic figures)
    [published.sort]               # the published outcome of the experiment named `sort`
    generalizes = true                                   # required
    result = "0.9998 exact match at 51-100"
    source = "Huang et al. 2025, learned absolute positions, trained up to 50"
    bins = [0.9996, 0.9937]        # exact match at 1x-2x and 2x-3x the training length
    compare = "1x-2x"              # agreement rule (study.py); default "2x"
    every_seed = false             # true: the figure averages every seed, fitted or not

`rasp sweep SWEEP.toml --set training.steps=200` adds an override for every run.

An experiment may be an in-context config (`generalization.in_context.config`, a [task] that
names `in_context`): its runs cross the grid as any other's, each one `rasp generalize` run
of every (encoding, attention family) pair of the config. The keys it takes are those its
file takes ([model], [training] but the fit and bucket keys, `examples_per_length`,
`train_lengths`, `test_lengths`); it has no exact match, so no [published] outcome and no
[search] (whose selection counts fitted seeds) apply to it.

A key of [grid] or [overrides] is a key of an experiment config's [model], [training] or
[evaluation] section, or one of VARIABLE_TASK_KEYS of its [task] section
(`sampler = "unique"` is short for `sampler = {name = "unique"}`). Each experiment x grid
point is one run, named after the experiment and the grid values
(`sort-positions=learned-width=64`). Every run's config is built and checked as a file's
would be, so a mistake is one `ConfigError` naming the sweep file and the key before
anything trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any, Sequence

from generalization.config.experiment import (SECTION_OF, VARIABLE_TASK_KEYS, ExperimentConfig,
                                              config_from_dict, is_in_context, load_config,
                                              parse_set, set_setting)
# A module import, not names: the in-context config reads generalization.config, whose
# package imports this module, so either may be imported first.
import generalization.in_context.config as in_context_config
from generalization.settings import (Checked, ConfigError, Invalid, Table, boolean, number,
                                          one_of, optional, read_toml, safe_name, setting, text)
from rasp.errors import did_you_mean


exact_match = number("an exact match in [0, 1]", lambda x: 0 <= x <= 1)


def two_fractions(value: Any) -> list[float]:
    """Two exact-match figures in [0, 1]: at 1x-2x and at 2x-3x the longest training length."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise Invalid(f"must be two exact-match figures [at 1x-2x, at 2x-3x], got {value!r}",
                      hint="e.g. bins = [0.9986, 0.9874]")
    return [float(exact_match(figure)) for figure in value]


@dataclass(frozen=True)
class PublishedOutcome(Checked):
    """What a paper reports for an experiment's task, to set beside ours on the study page."""

    generalizes: bool = setting(rule=boolean)
    result: str | None = setting(None, optional(text))   # the published figures, as words
    source: str | None = setting(None, optional(text))   # who measured them, in what setting
    # Exact match at 1x-2x and 2x-3x the longest training length, as published.
    bins: list[float] | None = setting(None, optional(two_fractions))
    # What agreement compares (study.py): our verdict at 2x ("2x"), or our exact match over
    # 1x-2x against the published one ("1x-2x", the rule of the reproduction study).
    compare: str = setting("2x", one_of(("2x", "1x-2x")))
    # The published figure averages every seed, fitted or not (Huang et al.'s addition).
    every_seed: bool = setting(False, boolean)


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its name, the experiment file it came from, its checked config."""

    name: str
    experiment: Path
    config: ExperimentConfig | in_context_config.InContextConfig


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file: its name and every run, in order."""

    name: str
    path: Path
    runs: tuple[SweepRun, ...]
    published: dict[str, PublishedOutcome]   # experiment name -> its published outcome
    note: str                                 # shown on the study page, under its title
    search: tuple[str, ...] = ()              # the keys of [search]
    selection: str | None = None              # its selection rule (study.py)


# Rules that pick one configuration of a [search] per task (`reporting/study.py`).
SELECTIONS = ("smallest-fitted", "test-bin")


def load_sweep(path: str | Path, sets: Sequence[str] = ()) -> Sweep:
    """Read a sweep file and build and check every run's config; `ConfigError` on a mistake.
    Each of `sets` ("training.steps=200", as `--set` gives them) is one more override for
    every run."""
    path = Path(path)
    data = read_toml(path)
    for assignment in sets:
        keys, value = parse_set(assignment)
        if len(keys) != 2 or SECTION_OF.get(keys[1]) != keys[0]:
            raise ConfigError(f"--set {assignment}: a sweep sets keys a sweep can vary, as "
                              f"section.key", hint="e.g. --set training.steps=200")
        data.setdefault("overrides", {})[keys[1]] = value
    top = Table(str(path) + (" with --set" if sets else ""), None, data)
    name = top.get("name", path.stem, safe_name)
    experiments = _experiments(top, path.parent)
    grid = _settings(top.sub("grid", {}), in_grid=True)
    overrides = _settings(top.sub("overrides", {}), in_grid=False)
    search_table = top.sub("search", {})
    selection = search_table.get("selection", SELECTIONS[0], one_of(SELECTIONS)) \
        if search_table.data else None
    search = _settings(search_table, in_grid=True, skip=("selection",))
    for table, keys in (("overrides", overrides), ("search", search)):
        both = sorted(grid.keys() & keys.keys())
        if both:
            raise top.error(f"[{table}] {both[0]}", "is also in [grid]; keep one of them")
    both = sorted(search.keys() & overrides.keys())
    if both:
        raise top.error(f"[overrides] {both[0]}", "is also in [search]; keep one of them")
    if search and set(grid) - {"positions"}:
        raise top.error("[search]", "a sweep with a [search] varies only positions in "
                                    "[grid]: the selection picks one configuration per task "
                                    "and positional encoding",
                        "move the other [grid] keys to [search] or to another sweep")
    in_context = [config.name for _, config in experiments
                  if isinstance(config, in_context_config.InContextConfig)]
    if search and in_context:
        raise top.error("[search]", f"`{in_context[0]}` is an in-context experiment, and a "
                                    f"[search] selects by fitted seeds, which it does not have",
                        "sweep in-context experiments with [grid] in a sweep of their own")
    varied = {**grid, **search}
    runs = [_build_run(top, experiment, config, point, overrides)
            for experiment, config in experiments
            for point in (dict(zip(varied, values)) for values in product(*varied.values()))]
    names = [run.name for run in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise top.error("experiments", f"two runs are both named `{duplicates[0]}`",
                        "give the experiments different `name`s")
    published = _published(top.sub("published", {}), {run.config.name for run in runs},
                           set(in_context))
    note = top.get("note", "", text)
    top.finish()
    return Sweep(name, path, tuple(runs), published, note, tuple(search), selection)


def _experiments(top: Table, base: Path
                 ) -> list[tuple[Path, ExperimentConfig | in_context_config.InContextConfig]]:
    """The listed experiment configs, loaded (paths are relative to the sweep file)."""
    value = top.get("experiments", None)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise top.error("experiments", f"must be a non-empty list of config paths, got "
                        f"{value!r}", 'e.g. experiments = ["../suite/sort.toml"]')
    loaded = []
    for entry in value:
        path = (base / entry).resolve()
        in_context = path.is_file() and is_in_context(read_toml(path))
        load = in_context_config.load_in_context_config if in_context else load_config
        try:
            loaded.append((path, load(path)))
        except ConfigError as error:
            raise top.error("experiments", f"{entry}: {error.located()}", error.hint) from None
    return loaded


def _settings(table: Table, in_grid: bool, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A [grid] or [search] (each key a non-empty list of values) or [overrides] table, keys
    checked (but those in `skip`); the values are checked when each run's config is built."""
    settings = {key: value for key, value in table.data.items() if key not in skip}
    for key, values in settings.items():
        if key not in SECTION_OF:
            raise table.error(key, "not a setting a sweep can vary",
                              did_you_mean(key, SECTION_OF) or
                              f"use a key of [model], [training], [evaluation] or one of "
                              f"{', '.join(VARIABLE_TASK_KEYS)}")
        if in_grid and (not isinstance(values, list) or not values):
            raise table.error(key, f"must be a non-empty list of values, got {values!r}",
                              f"e.g. {key} = [{values!r}]")
    return settings


def _published(table: Table, experiments: set[str],
               in_context: set[str]) -> dict[str, PublishedOutcome]:
    """The [published.<experiment>] tables, each naming a program-labelled experiment of the
    sweep (an outcome is an exact match, which `in_context` experiments do not measure)."""
    published = {}
    for experiment, outcome in table.data.items():
        if experiment in in_context:
            raise table.error(experiment, "is an in-context experiment: a published outcome "
                              "is an exact match, which it does not measure",
                              "remove this table; its report sets losses beside the baseline")
        if experiment not in experiments:
            raise table.error(experiment, "not the name of an experiment of this sweep",
                              did_you_mean(experiment, experiments) or
                              f"experiments: {', '.join(sorted(experiments))}")
        if not isinstance(outcome, dict) or "generalizes" not in outcome:
            raise table.error(experiment, "needs generalizes = true or false",
                              "optional: result and source, as strings")
        published[experiment] = table.sub(experiment).build(PublishedOutcome)
    return published


def _build_run(top: Table, experiment: Path,
               config: ExperimentConfig | in_context_config.InContextConfig,
               point: dict[str, Any], overrides: dict[str, Any]) -> SweepRun:
    """The run of one experiment at one grid point, its config checked as a file's would be."""
    name = _run_name(config.name, point)
    data = config.to_dict()   # keeps the experiment's name: reports name the task
    for key, value in {**overrides, **point}.items():
        set_setting(data, key, value)
    build = in_context_config.in_context_from_dict \
        if isinstance(config, in_context_config.InContextConfig) else config_from_dict
    try:
        built = build(data, top.source, experiment.parent, path=config.path)
    except ConfigError as error:
        table = "grid" if error.key in point else "overrides" if error.key in overrides \
            else None
        raise top.error(f"[{table}] {error.key}" if table else "experiments",
                        f"run `{name}` ({experiment.name}): {error.message}",
                        error.hint) from None
    return SweepRun(name, experiment, built)


def _run_name(experiment: str, point: dict[str, Any]) -> str:
    """`sort-positions=learned-width=64`: stable, and safe as a folder name."""
    parts = [experiment, *(f"{key}={_shown_value(value)}" for key, value in point.items())]
    return re.sub(r"[^\w.=+-]", "_", "-".join(parts))


def _shown_value(value: Any) -> str:
    if isinstance(value, list):
        return "+".join(_shown_value(item) for item in value)
    if isinstance(value, dict):
        return "+".join(_shown_value(item) for item in value.values())
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
