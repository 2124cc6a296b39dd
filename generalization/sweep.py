"""Sweeps: many experiments, crossed with a grid of settings, run on a local process pool
or on a Ray cluster.

    results = run_sweep("examples/sweeps/contrast.toml", Path("runs/contrast"))
    results = run_sweep("examples/sweeps/contrast.toml", Path("runs/contrast"),
                        ray_address="10.0.0.5:6379")

A sweep file lists experiment configs and the settings to cross them with:

    name = "contrast"                                   # default: the file's stem
    experiments = ["../suite/sort.toml", "../suite/parity.toml"]   # relative to this file
    [grid]                         # every combination of these values, for every experiment
    positions = [["learned"], ["rope"]]                 # each value replaces [model] positions
    width = [64]
    [overrides]                    # applied to every run
    steps = 2000

A key of [grid] or [overrides] is a key of an experiment config's [model], [training] or
[evaluation] section, or one of VARIABLE_TASK_KEYS of its [task] section
(`sampler = "unique"` is short for `sampler = {name = "unique"}`). Each experiment x grid
point is one run, named after the experiment and the grid values
(`sort-positions=learned-width=64`), in `OUT/runs/<name>/`.
Every run's config is built and checked before anything trains.

Each run is one call of `run_one` (which calls `run_experiment`), on a worker of a local
spawn process pool, or, given `ray_address`, as a task on the Ray cluster there (needs the
`ray` extra: `pip install -e '.[ray]'`); only the executor differs, so the results, their
layout and everything below are the same. A Ray task writes its run's folder itself, on
whichever node runs it, so every node of the cluster needs this project installed (the same
version, in the Python that Ray starts its workers with) and must see the output folder at
the same path (a shared filesystem); the sweep file and its experiments are read on the
machine that starts the sweep. The sweep is resumable: a run whose folder holds
`results.json` and a `sweep-run.json` recording the same config is skipped, and an unfinished
run resumes from its checkpoints. A run whose config changed since its folder was written is
run again, and fails as `run_experiment` does on checkpoints of another config (delete the
folder to start it afresh). A run that raises is recorded as failed (its traceback in
`OUT/runs/<name>/error.txt`) and the others go on. `OUT/sweep.json` is rewritten after every
run: per run its status (pending, done, skipped, failed), folder, seconds and the exact-match
summary of each positional encoding; which backend ran the sweep (`local` or `ray ADDRESS`),
on how many CPUs, and the wall time of this invocation so far.

A sweep file may give published outcomes to compare with, per experiment name:

    [published.copy_unique]
    generalizes = true                                   # required
    result = "0.999 / 0.987 exact match at 51-100 / 101-150"
    source = "Huang et al. 2025, learned absolute positions, trained up to length 50"

They go into sweep.json with `note = "..."` (a paragraph for the study page: the setting,
what to keep in mind), and once every run has ended the sweep writes its study page
(`study.write_study`: compiled complexity against generalization, beside these outcomes).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import socket
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any, Callable, Iterator

import jax

from generalization.config import (SECTION_OF, VARIABLE_TASK_KEYS, ConfigError,
                                   ExperimentConfig, config_from_dict, load_config, read_toml)
from generalization.experiment import run_experiment
from generalization.report import summary_table
from generalization.study import write_study
from rasp.errors import RaspError, did_you_mean
from rasp.files import write_atomically

SCHEMA = "rasp-sweep/1"
TOP_KEYS = ("name", "experiments", "grid", "overrides", "published", "note")
PUBLISHED_KEYS = {"generalizes": bool, "result": str, "source": str}
MARKER = "sweep-run.json"   # written in a run's folder once it finished: its config and time

Log = Callable[[str], None]


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its name, the experiment file it came from, its checked config."""

    name: str
    experiment: Path
    config: ExperimentConfig


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file: its name and every run, in order."""

    name: str
    path: Path
    runs: tuple[SweepRun, ...]
    published: dict[str, dict[str, Any]]    # experiment name -> its published outcome
    note: str                                # shown on the study page, under its title


Finished = Iterator[tuple[SweepRun, dict[str, Any]]]   # each run and its entry, as it ends


def run_sweep(sweep_path: str | Path, out_dir: str | Path, workers: int | None = None,
              log: Log = print, ray_address: str | None = None) -> dict[str, Any]:
    """Run every run of the sweep file into `out_dir` and return what `sweep.json` holds.

    `workers` runs at once: on the local pool, default half the CPU cores; on the Ray cluster
    at `ray_address`, default as many as the cluster schedules (one CPU per run)."""
    started = time.perf_counter()
    sweep = load_sweep(sweep_path)
    ray = None if ray_address is None else _connect_to_ray(ray_address)   # before any writing
    # Absolute, so that a Ray task on another node (and another working folder) writes there.
    out_dir = Path(out_dir).resolve()
    cpus = (os.cpu_count() or 1) if ray is None else int(ray.cluster_resources().get("CPU", 1))
    invocation = {"backend": "local" if ray_address is None else f"ray {ray_address}",
                  "machine": {"cpus": cpus, "backend": jax.default_backend()},
                  "started": started}
    entries = {run.name: _entry("pending", out_dir / "runs" / run.name) for run in sweep.runs}
    pending = []
    for run in sweep.runs:
        finished = _finished(run, out_dir / "runs" / run.name)
        if finished is None:
            pending.append(run)
        else:
            entries[run.name] = finished
    _write_summary(sweep, out_dir, entries, invocation)
    total, skipped = len(sweep.runs), len(sweep.runs) - len(pending)
    log(f"sweep {sweep.name}: {total} runs, {skipped} finished earlier and skipped")
    if pending:
        jobs = [(run, out_dir / "runs" / run.name) for run in pending]
        if ray is None:
            parallel = min(workers or max(cpus // 2, 1), len(pending))
            finished_runs = _on_local_pool(jobs, parallel)
        else:
            parallel = min(workers or cpus, len(pending))
            log(f"sweep {sweep.name}: on the Ray cluster at {ray_address} ({cpus} CPUs)")
            finished_runs = _on_ray(ray, jobs, workers)
        progress = _Progress(total, skipped, parallel, log)
        for run, entry in finished_runs:
            entries[run.name] = entry
            _write_summary(sweep, out_dir, entries, invocation)
            progress.finished(run.name, entry)
    summary = _write_summary(sweep, out_dir, entries, invocation)
    log(f"study: {write_study(out_dir)[0]} (also study.html)")
    return summary


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and build and check every run's config; `ConfigError` on a mistake."""
    path = Path(path)
    source = str(path)
    data = read_toml(path)
    for key in data:
        if key not in TOP_KEYS:
            raise _error(source, key, "unknown key",
                         did_you_mean(key, TOP_KEYS) or f"a sweep takes: {', '.join(TOP_KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
        raise _error(source, "name", f"must be a name of letters, digits, '_', '-' or '.', "
                     f"got {name!r}")
    experiments = _experiments(source, path.parent, data.get("experiments"))
    grid = _settings(source, "grid", data.get("grid", {}), in_grid=True)
    overrides = _settings(source, "overrides", data.get("overrides", {}), in_grid=False)
    both = sorted(grid.keys() & overrides.keys())
    if both:
        raise _error(source, f"[overrides] {both[0]}", "is also in [grid]; keep one of them")
    runs = [_build_run(source, experiment, config, point, overrides)
            for experiment, config in experiments
            for point in (dict(zip(grid, values)) for values in product(*grid.values()))]
    names = [run.name for run in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _error(source, "experiments", f"two runs are both named `{duplicates[0]}`",
                     "give the experiments different `name`s")
    published = _published(source, data.get("published", {}), {run.config.name for run in runs})
    note = data.get("note", "")
    if not isinstance(note, str):
        raise _error(source, "note", f"must be a string, got {note!r}")
    return Sweep(name, path, tuple(runs), published, note)


def run_one(config: ExperimentConfig, run_dir: Path) -> dict[str, Any]:
    """A worker's job: run one experiment, recording a failure in the run's folder instead of
    raising, so that the parent gets a result for every run. Returns its `sweep.json` entry."""
    started = time.perf_counter()
    error_file = run_dir / "error.txt"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "log.txt", "a", encoding="utf-8") as log_file:
            results = run_experiment(config, run_dir, progress=False,
                                     log=lambda line: print(line, file=log_file, flush=True))
    except Exception as error:  # any failure of one run must not stop the sweep
        write_atomically(error_file, traceback.format_exc())
        return _entry("failed", run_dir, time.perf_counter() - started,
                      error=f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    error_file.unlink(missing_ok=True)   # an earlier failure of this run is now history
    write_atomically(run_dir / MARKER,
                     json.dumps({"config": config.to_dict(), "seconds": seconds}) + "\n")
    return _entry("done", run_dir, seconds, summary=_summary(results))


# ------------------------------------------------------------------------------ executors


def _on_local_pool(jobs: list[tuple[SweepRun, Path]], workers: int) -> Finished:
    """Run each job's `run_one` on a local process pool, yielding entries as runs end."""
    # JAX is not fork-safe: each worker starts a fresh interpreter.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_one, run.config, run_dir): (run, run_dir)
                   for run, run_dir in jobs}
        for future in as_completed(futures):
            run, run_dir = futures[future]
            yield run, _outcome(future.result, run_dir)


def _connect_to_ray(address: str) -> Any:
    """The `ray` module, connected to the cluster at `address`; a `RaspError` naming what to
    install or the address when that cannot be done."""
    try:
        import ray   # an optional extra: only a sweep on a cluster needs it
    except ImportError:
        raise RaspError(f"--ray {address}: Ray is not installed",
                        hint="pip install -e '.[ray]'") from None
    host, _, port = address.rpartition(":")
    if host and port.isdigit() and "://" not in address:
        # Ray retries an unreachable address for minutes; a refused connection says it now.
        try:
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as error:
            raise _unreachable(address, error) from None
    try:
        # A second sweep in the same process reuses the first one's connection.
        ray.init(address=address, logging_level=logging.WARNING, ignore_reinit_error=True)
    except Exception as error:   # Ray raises ConnectionError, ValueError, RuntimeError, ...
        raise _unreachable(address, error) from None
    return ray


def _unreachable(address: str, error: Exception) -> RaspError:
    """The one-line error for a Ray address that could not be connected to, with the first
    line of why."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RaspError(f"--ray {address}: cannot connect to a Ray cluster there: {reason}",
                     hint="start one with `ray start --head` and pass the address it prints")


def _on_ray(ray: Any, jobs: list[tuple[SweepRun, Path]], workers: int | None) -> Finished:
    """Run each job's `run_one` as a task on the connected Ray cluster (at most `workers` at
    once, if given), yielding entries as runs end. Ray retries a task whose worker or node
    died (the run resumes from its checkpoints); a run that raises is recorded by `run_one`."""
    task = ray.remote(num_cpus=1)(run_one)
    waiting: list[tuple[SweepRun, Path]] = list(reversed(jobs))
    running: dict[Any, tuple[SweepRun, Path]] = {}
    while waiting or running:
        while waiting and len(running) < (workers or len(jobs)):
            run, run_dir = waiting.pop()
            running[task.remote(run.config, run_dir)] = (run, run_dir)
        [done], _ = ray.wait(list(running), num_returns=1)
        run, run_dir = running.pop(done)
        yield run, _outcome(partial(ray.get, done), run_dir)


# --------------------------------------------------------------------------- the sweep file


def _experiments(source: str, base: Path, value: Any) -> list[tuple[Path, ExperimentConfig]]:
    """The listed experiment configs, loaded (paths are relative to the sweep file)."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _error(source, "experiments", f"must be a non-empty list of config paths, "
                     f"got {value!r}", 'e.g. experiments = ["../suite/sort.toml"]')
    loaded = []
    for entry in value:
        path = (base / entry).resolve()
        try:
            loaded.append((path, load_config(path)))
        except ConfigError as error:
            raise _error(source, "experiments", f"{entry}: {error.located()}",
                         error.hint) from None
    return loaded


def _settings(source: str, table: str, value: Any, in_grid: bool) -> dict[str, Any]:
    """A [grid] (each key a non-empty list of values) or [overrides] table, keys checked."""
    if not isinstance(value, dict):
        raise _error(source, table, f"must be a table, got {value!r}")
    for key, values in value.items():
        if key not in SECTION_OF:
            raise _error(source, f"[{table}] {key}", "not a setting a sweep can vary",
                         did_you_mean(key, SECTION_OF) or
                         f"use a key of [model], [training], [evaluation] or one of "
                         f"{', '.join(VARIABLE_TASK_KEYS)}")
        if in_grid and (not isinstance(values, list) or not values):
            raise _error(source, f"[grid] {key}", f"must be a non-empty list of values, "
                         f"got {values!r}", f"e.g. {key} = [{json.dumps(values)}]")
    return value


def _published(source: str, value: Any, experiments: set[str]) -> dict[str, dict[str, Any]]:
    """The [published.<experiment>] tables, each naming an experiment of the sweep."""
    if not isinstance(value, dict):
        raise _error(source, "published", f"must be a table of tables, got {value!r}",
                     "e.g. [published.sort] then generalizes = true")
    for experiment, outcome in value.items():
        key = f"[published.{experiment}]"
        if experiment not in experiments:
            raise _error(source, key, "not the name of an experiment of this sweep",
                         did_you_mean(experiment, experiments) or
                         f"experiments: {', '.join(sorted(experiments))}")
        if not isinstance(outcome, dict) or "generalizes" not in outcome:
            raise _error(source, key, "needs generalizes = true or false",
                         "optional: result and source, as strings")
        for field, given in outcome.items():
            wanted = PUBLISHED_KEYS.get(field)
            if wanted is None:
                raise _error(source, f"{key} {field}", "unknown key",
                             did_you_mean(field, PUBLISHED_KEYS) or
                             f"use {', '.join(PUBLISHED_KEYS)}")
            if not isinstance(given, wanted):
                raise _error(source, f"{key} {field}", f"must be "
                             f"{'true or false' if wanted is bool else 'a string'}, got {given!r}")
    return value


def _build_run(source: str, experiment: Path, config: ExperimentConfig,
               point: dict[str, Any], overrides: dict[str, Any]) -> SweepRun:
    """The run of one experiment at one grid point, its config checked as a file's would be."""
    name = _run_name(config.name, point)
    data = config.to_dict()   # keeps the experiment's name: reports name the task
    for key, value in {**overrides, **point}.items():
        if key == "sampler" and isinstance(value, str):
            value = {"name": value}
        data[SECTION_OF[key]][key] = value
    try:
        built = config_from_dict(data, source, experiment.parent, path=config.path)
    except ConfigError as error:
        table = "grid" if error.key in point else "overrides" if error.key in overrides \
            else "experiments"
        raise _error(source, f"[{table}] {error.key}" if table != "experiments" else table,
                     f"run `{name}` ({experiment.name}): {error.message}", error.hint) from None
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


def _error(source: str, key: str, problem: str, hint: str | None = None) -> ConfigError:
    """A rejection of the sweep file naming it and the key (`[grid] width`, `experiments`)."""
    return ConfigError(f"{source}: {key}: {problem}", hint=hint, key=key)


# ----------------------------------------------------------------------------- the results


def _finished(run: SweepRun, run_dir: Path) -> dict[str, Any] | None:
    """The `skipped` entry of a run finished earlier with the same config, else None."""
    marker, results = run_dir / MARKER, run_dir / "results.json"
    if not (marker.is_file() and results.is_file()):
        return None
    recorded = json.loads(marker.read_text(encoding="utf-8"))
    if recorded.get("config") != run.config.to_dict():
        return None
    summary = _summary(json.loads(results.read_text(encoding="utf-8")))
    return _entry("skipped", run_dir, recorded["seconds"], summary=summary)


def _outcome(result: Callable[[], dict[str, Any]], run_dir: Path) -> dict[str, Any]:
    """A worker's entry (`result()`), or a failure when the worker itself died (a local pool is
    then broken, a Ray task has used up its retries)."""
    try:
        return result()
    except Exception as error:
        return _entry("failed", run_dir, error=f"worker died: {type(error).__name__}: {error}")


def _entry(status: str, run_dir: Path, seconds: float | None = None,
           summary: list[dict[str, Any]] | None = None, error: str | None = None
           ) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": status, "run_dir": str(run_dir), "seconds": seconds}
    if summary is not None:
        entry["summary"] = summary
    if error is not None:
        entry["error"] = error
    return entry


def _summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per encoding: seeds that fitted and the mean exact match of each length range."""
    return [{"positions": row["positions"], "seeds": row["seeds"], "fitted": row["fitted"],
             "exact_match": {span["label"]: span["exact_match_mean"] for span in row["ranges"]}}
            for row in summary_table(results)]


def _write_summary(sweep: Sweep, out_dir: Path, entries: dict[str, dict[str, Any]],
                   invocation: dict[str, Any]) -> dict[str, Any]:
    summary = {"schema": SCHEMA, "name": sweep.name, "sweep": str(sweep.path),
               "backend": invocation["backend"], "machine": invocation["machine"],
               "wall_seconds": time.perf_counter() - invocation["started"],
               "counts": {status: sum(e["status"] == status for e in entries.values())
                          for status in ("done", "skipped", "failed", "pending")},
               "runs": entries, "published": sweep.published, "note": sweep.note}
    write_atomically(out_dir / "sweep.json", json.dumps(summary, indent=1) + "\n")
    return summary


class _Progress:
    """Progress lines: runs done of the total and the time left, estimated from the mean
    duration of the runs this sweep finished (skipped ones took no time now, failed ones
    usually stop early)."""

    def __init__(self, total: int, done: int, workers: int, log: Log):
        self.total, self.done, self.workers, self.log = total, done, workers, log
        self.durations: list[float] = []

    def finished(self, name: str, entry: dict[str, Any]) -> None:
        self.done += 1
        if entry["status"] == "done":
            self.durations.append(entry["seconds"])
        left = self.total - self.done
        estimate = ""
        if left and self.durations:
            seconds = sum(self.durations) / len(self.durations) * left / self.workers
            estimate = f", about {_duration(seconds)} left"
        what = entry["status"] + (f" ({entry['error']})" if "error" in entry else "")
        seconds = f" in {_duration(entry['seconds'])}" if entry["seconds"] is not None else ""
        self.log(f"[{self.done}/{self.total}] {name}: {what}{seconds}{estimate}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
