"""Sweeps: every run of a sweep file (`config.sweep`) on a local process pool or on a Ray
cluster, into one output folder, ending with the study page.

    summary = run_sweep("examples/sweeps/contrast.toml", Path("runs/contrast"))
    summary = run_sweep("examples/sweeps/contrast.toml", Path("runs/contrast"),
                        ray_address="10.0.0.5:6379")

Each run is one call of `run_one` (which calls `run_experiment`) into `OUT/runs/<name>/`, on a
worker of a local spawn process pool, or, given `ray_address`, as a task on the Ray cluster
there (needs the `ray` extra: `pip install -e '.[ray]'`); only the executor differs, so the
results, their layout and everything below are the same. A Ray task writes its run's folder
itself, on whichever node runs it, so every node needs this project installed (the same
version, in the Python that Ray starts its workers with) and must see the output folder at
the same path (a shared filesystem); the sweep file and its experiments are read on the
machine that starts the sweep. The sweep is resumable: a run whose folder holds
`results.json` and a `sweep-run.json` recording the same config is skipped, and an unfinished
run resumes from its checkpoints. A run whose config changed since its folder was written is
run again, and fails as `run_experiment` does on checkpoints of another config (delete the
folder to start it afresh). A run that raises is recorded as failed (its traceback in
`OUT/runs/<name>/error.txt`) and the others go on. `OUT/sweep.json` (`reporting.results.
SweepRecord`) is rewritten after every run: per run its status (pending, done, skipped,
failed), folder, seconds and the exact-match summary of each positional encoding; which
backend ran the sweep (`local` or `ray ADDRESS`), on how many CPUs, and the wall time of this
invocation so far. Once every run has ended the sweep writes its study page
(`reporting.study.write_study`: compiled complexity against generalization, beside the sweep
file's published outcomes, and the in-context runs' losses beside their baselines).

An in-context experiment's run (`generalization.in_context`) is one `run_in_context` into its
folder, skipped and recorded as every other; its summary in sweep.json is, per (encoding,
attention family) run, the mean loss over seeds and the baseline's at each test length.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import socket
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, MutableMapping, Sequence

import jax

from generalization.config.experiment import ExperimentConfig
from generalization.config.sweep import Sweep, SweepRun, load_sweep
from generalization.experiment import run_experiment
from generalization.in_context.config import InContextConfig
from generalization.in_context.report import load_in_context_results
from generalization.in_context.run import run_in_context
from generalization.reporting.results import (SWEEP_SCHEMA, Machine, Results, SweepEntry,
                                              SweepRecord, load_results)
from generalization.reporting.study import write_study
from generalization.reporting.summary import summary_table
from generalization.worker_processes import exit_with_parent
from rasp.errors import RaspError
from rasp.files import output_folder, write_atomically

MARKER = "sweep-run.json"   # written in a run's folder once it finished: its config and time

Log = Callable[[str], None]


Finished = Iterator[tuple[SweepRun, SweepEntry]]   # each run and its entry, as it ends


@dataclass(frozen=True)
class _Invocation:
    """This invocation of the sweep, as sweep.json records it."""

    backend: str
    machine: Machine
    started: float


def run_sweep(sweep_path: str | Path, out_dir: str | Path, workers: int | None = None,
              log: Log = print, ray_address: str | None = None,
              sets: Sequence[str] = ()) -> SweepRecord:
    """Run every run of the sweep file (with `sets` as more overrides, `config.sweep`) into
    `out_dir` and return what `sweep.json` holds.

    `workers` runs at once: on the local pool, default half the CPU cores; on the Ray cluster
    at `ray_address`, default as many as the cluster schedules (one CPU per run). Unless a JAX
    memory setting is in the environment, this process and its runs allocate GPU memory as
    they need it, and XLA does not autotune unless XLA_FLAGS set its level
    (`share_the_device`)."""
    started = time.perf_counter()
    sweep = load_sweep(sweep_path, sets)
    ray = None if ray_address is None else _connect_to_ray(ray_address)   # before any writing
    # Absolute, so that a Ray task on another node (and another working folder) writes there.
    out_dir = output_folder(out_dir, "output folder").resolve()
    cpus = (os.cpu_count() or 1) if ray is None else int(ray.cluster_resources().get("CPU", 1))
    share_the_device(os.environ)   # before JAX starts its backend here
    invocation = _Invocation("local" if ray_address is None else f"ray {ray_address}",
                             Machine(cpus, jax.default_backend(), device_name()), started)
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


def run_one(config: ExperimentConfig | InContextConfig, run_dir: Path) -> SweepEntry:
    """A worker's job: run one experiment, recording a failure in the run's folder instead of
    raising, so that the parent gets a result for every run. Returns its `sweep.json` entry."""
    started = time.perf_counter()
    error_file = run_dir / "error.txt"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "log.txt", "a", encoding="utf-8") as log_file:
            def log(line: str) -> None:
                print(line, file=log_file, flush=True)

            if isinstance(config, InContextConfig):
                summary = _in_context_summary(run_in_context(config, run_dir, log=log))
            else:
                summary = _summary(run_experiment(config, run_dir, progress=False, log=log))
    except Exception as error:  # any failure of one run must not stop the sweep
        write_atomically(error_file, traceback.format_exc())
        return _entry("failed", run_dir, time.perf_counter() - started,
                      error=f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    error_file.unlink(missing_ok=True)   # an earlier failure of this run is now history
    write_atomically(run_dir / MARKER,
                     json.dumps({"config": config.to_dict(), "seconds": seconds}) + "\n")
    return _entry("done", run_dir, seconds, summary=summary)


# ------------------------------------------------------------------------------ executors


def _on_local_pool(jobs: list[tuple[SweepRun, Path]], workers: int) -> Finished:
    """Run each job's `run_one` on a local process pool, yielding entries as runs end."""
    # JAX is not fork-safe: each worker starts a fresh interpreter.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_one, run.config, run_dir): (run, run_dir)
                   for run, run_dir in jobs}
        for future in as_completed(futures):
            run, run_dir = futures[future]
            yield run, _outcome(future.result, run_dir)


# Memory settings of JAX on a GPU; with none given, the sweep's processes allocate as needed.
DEVICE_MEMORY_SETTINGS = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                          "XLA_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_ALLOCATOR")


# XLA's flag for how much it autotunes a GPU kernel (0: not at all; its default, 4: the most).
AUTOTUNE_LEVEL = "--xla_gpu_autotune_level"


def device_name() -> str:
    """The kind of device JAX computes on ("cpu", "NVIDIA H200", ...), for the study page."""
    return jax.devices()[0].device_kind


def share_the_device(environment: MutableMapping[str, str]) -> None:
    """Let the sweep's processes share one GPU. By default JAX preallocates 75% of a GPU's
    memory in each process that uses it (JAX's "GPU memory allocation" page): the sweep itself
    (which asks JAX for its backend) would hold it, and every run in a worker process would
    fail out of memory. Unless the user chose a memory setting, every process allocates as it
    needs (XLA_PYTHON_CLIENT_PREALLOCATE=false, inherited by the workers it spawns).

    Unless the user's XLA_FLAGS set it, XLA does not autotune (`--xla_gpu_autotune_level=0`):
    on a GPU it times candidate kernels for each new shape it compiles, which took 48 s for
    the first call of bin_majority's compiled model on an H200, against 2.8 s to compile the
    same shape again with the timings kept. With the runs on one device at once each run's
    timings are also taken beside the others' kernels. Nothing changes on a CPU."""
    if not any(name in environment for name in DEVICE_MEMORY_SETTINGS):
        environment["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    flags = environment.get("XLA_FLAGS", "")
    if AUTOTUNE_LEVEL not in flags:
        environment["XLA_FLAGS"] = f"{flags} {AUTOTUNE_LEVEL}=0".strip()


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
        # Ray's C++ core writes a warning a second to the process's stderr while it retries
        # an address that answers but is no cluster: silenced until connected.
        with _silenced_stderr():
            # A second sweep in the same process reuses the first one's connection.
            ray.init(address=address, logging_level=logging.WARNING, ignore_reinit_error=True)
    except Exception as error:   # Ray raises ConnectionError, ValueError, RuntimeError, ...
        raise _unreachable(address, error) from None
    return ray


@contextlib.contextmanager
def _silenced_stderr() -> Iterator[None]:
    """File descriptor 2 sent to /dev/null within the block (what native code writes too)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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


# ----------------------------------------------------------------------------- the results


def _finished(run: SweepRun, run_dir: Path) -> SweepEntry | None:
    """The `skipped` entry of a run finished earlier with the same config, else None."""
    marker, results = run_dir / MARKER, run_dir / "results.json"
    if not (marker.is_file() and results.is_file()):
        return None
    recorded = json.loads(marker.read_text(encoding="utf-8"))
    if recorded.get("config") != run.config.to_dict():
        return None
    summary = _in_context_summary(load_in_context_results(results)) \
        if isinstance(run.config, InContextConfig) else _summary(load_results(results))
    return _entry("skipped", run_dir, recorded["seconds"], summary=summary)


def _outcome(result: Callable[[], SweepEntry], run_dir: Path) -> SweepEntry:
    """A worker's entry (`result()`), or a failure when the worker itself died (a local pool is
    then broken, a Ray task has used up its retries)."""
    try:
        return result()
    except Exception as error:
        return _entry("failed", run_dir, error=f"worker died: {type(error).__name__}: {error}")


def _entry(status: str, run_dir: Path, seconds: float | None = None,
           summary: list[dict[str, Any]] | None = None, error: str | None = None
           ) -> SweepEntry:
    return SweepEntry(status, str(run_dir), seconds, summary, error)


def _summary(results: Results) -> list[dict[str, Any]]:
    """Per encoding: seeds that fitted and the mean exact match of each length range."""
    return [{"positions": row.positions, "seeds": row.seeds, "fitted": row.fitted,
             "exact_match": {stats.label: stats.exact_match_mean for stats in row.ranges}}
            for row in summary_table(results)]


def _in_context_summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per (encoding, attention family) run: its name, and at each test length the mean loss
    over seeds and the baseline's (the keys are the lengths, as JSON keys are strings)."""
    return [{"run": run["name"], "seeds": len(run["seeds"]),
             "loss": {str(entry["length"]): sum(entry["loss"]) / len(entry["loss"])
                      for entry in run["lengths"]},
             "baseline": {str(entry["length"]): entry["baseline"] for entry in run["lengths"]}}
            for run in results["runs"]]


def _write_summary(sweep: Sweep, out_dir: Path, entries: dict[str, SweepEntry],
                   invocation: _Invocation) -> SweepRecord:
    record = SweepRecord(
        schema=SWEEP_SCHEMA, name=sweep.name, sweep=str(sweep.path),
        backend=invocation.backend, machine=invocation.machine,
        wall_seconds=time.perf_counter() - invocation.started,
        counts={status: sum(e.status == status for e in entries.values())
                for status in ("done", "skipped", "failed", "pending")},
        runs=dict(entries), published=sweep.published, note=sweep.note,
        search=list(sweep.search) or None, selection=sweep.selection)
    write_atomically(out_dir / "sweep.json", json.dumps(record.to_dict(), indent=1) + "\n")
    return record


class _Progress:
    """Progress lines: runs done of the total and the time left, estimated from the mean
    duration of the runs this sweep finished (skipped ones took no time now, failed ones
    usually stop early)."""

    def __init__(self, total: int, done: int, workers: int, log: Log):
        self.total, self.done, self.workers, self.log = total, done, workers, log
        self.durations: list[float] = []

    def finished(self, name: str, entry: SweepEntry) -> None:
        self.done += 1
        if entry.status == "done":
            self.durations.append(entry.seconds)
        left = self.total - self.done
        estimate = ""
        if left and self.durations:
            seconds = sum(self.durations) / len(self.durations) * left / self.workers
            estimate = f", about {_duration(seconds)} left"
        what = entry.status + (f" ({entry.error})" if entry.error else "")
        seconds = f" in {_duration(entry.seconds)}" if entry.seconds is not None else ""
        self.log(f"[{self.done}/{self.total}] {name}: {what}{seconds}{estimate}")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"
