"""`rasp generalize`, `rasp report` and `rasp curves`: the length-generalization harness at the
command line; a config whose [task] names `in_context` runs an in-context experiment
(`generalization.in_context`).

Each function prints its progress and summary and returns the exit code; `main.py` wires them to
the command line and turns `RaspError`s (a broken config, an uncompilable program, ...) into one
located line.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Optional

from generalization.config import ExperimentConfig, load_config, quick_config
from generalization.experiment import run_experiment
from generalization.in_context import InContextConfig, is_in_context, load_in_context_config
from generalization.in_context.report import (curves_against_samples, is_in_context_results,
                                               load_in_context_results,
                                               write_in_context_report)
from generalization.reporting.document import percent
from generalization.reporting.plots import plot_runs_against_samples
from generalization.reporting.report import write_report
from generalization.reporting.results import Results, load_results
from generalization.reporting.study import write_study
from generalization.reporting.summary import summary_table
from generalization.settings import read_toml
from rasp.errors import RaspValueError
from rasp.files import output_folder, write_atomically
from rasp.inputs import parse_input


def generalize_command(target: Path, run_dir: Optional[Path], sop: Optional[str],
                       vocab: Optional[str], train_len: Optional[str], test_len: Optional[str],
                       overrides: dict[str, Any], sets: list[str]) -> int:
    if target.suffix != ".rasp" and target.is_file() and is_in_context(read_toml(target)):
        _reject_quick_options(target, {"--sop": sop, "--vocab": vocab, "--train-len": train_len,
                                       "--test-len": test_len}, overrides)
        return _in_context_command(load_in_context_config(target, sets), run_dir)
    config = _config(target, sop, vocab, train_len, test_len, overrides, sets)
    run_dir = output_folder(run_dir or default_run_folder(config, quick=target.suffix == ".rasp"
                                                          or bool(sets)))
    results = run_experiment(config, run_dir, progress=True,
                             log=lambda line: print(line, file=sys.stderr))
    print(_summary(results))
    print(f"report: {run_dir / 'report.md'} (also report.html, plots/, results.json)")
    return 0


def _in_context_command(config: InContextConfig, run_dir: Optional[Path]) -> int:
    """Run an in-context experiment (`generalization.in_context`) and print its losses."""
    from generalization.in_context.run import run_in_context

    run_dir = output_folder(run_dir or Path("runs") / config.name)
    results = run_in_context(config, run_dir, log=lambda line: print(line, file=sys.stderr))
    print(_in_context_summary(results))
    print(f"report: {run_dir / 'report.md'} (also report.html, plots/, results.json)")
    return 0


def _in_context_summary(results: dict[str, Any]) -> str:
    """Loss (mean over seeds) per run and test length, with the baseline's, as plain text."""
    lines = [f"loss by test length (mean over seeds; baseline: {results['task']['baseline']}):"]
    for run in results["runs"]:
        cells = [f"{entry['length']}: {sum(entry['loss']) / len(entry['loss']):.4g}"
                 for entry in run["lengths"]]
        lines.append(f"  {run['name']:<16} " + "  ".join(cells))
    cells = [f"{entry['length']}: {entry['baseline']:.4g}"
             for entry in results["runs"][0]["lengths"]] if results["runs"] else []
    lines.append(f"  {'baseline':<16} " + "  ".join(cells))
    return "\n".join(lines)


def _reject_quick_options(target: Path, quick: dict[str, Optional[str]],
                          overrides: dict[str, Any]) -> None:
    given = [name for name, value in quick.items() if value is not None]
    given += [f"--{key.replace('_', '-')}" for key in overrides]
    if given:
        raise RaspValueError(f"{target}: {', '.join(given)} only go with a .rasp file",
                             hint="change a config's settings with --set section.key=value")


def report_command(run_dir: Path) -> int:
    """Rebuild a run's report, or the study page of a sweep's output folder (it has sweep.json
    and no results.json of its own)."""
    if not (run_dir / "results.json").is_file() and not (run_dir / "sweep.json").is_file():
        raise RaspValueError(
            f"{run_dir}: holds neither results.json (a run's) nor sweep.json (a sweep's)",
            hint="pass the folder that `rasp generalize -o` or `rasp sweep -o` wrote")
    if not (run_dir / "results.json").is_file():
        print(f"study: {write_study(run_dir)[0]} (also study.html, plots/)")
        return 0
    if is_in_context_results(run_dir / "results.json"):
        write_in_context_report(run_dir)
        print(f"report: {run_dir / 'report.md'} (also report.html, plots/)")
        return 0
    results = load_results(run_dir / "results.json")
    write_report(run_dir)
    print(_summary(results))
    print(f"report: {run_dir / 'report.md'} (also report.html, plots/)")
    return 0


def curves_command(run_dirs: list[Path], out: Path) -> int:
    """Write the learning curves of `run_dirs` against samples seen to `out`."""
    if out.is_dir():
        raise RaspValueError(f"-o {out}: is a folder, not a file",
                             hint="pass the path of the PNG to write, e.g. curves.png")
    output_folder(out.parent if str(out.parent) else Path("."))
    named = []
    for run_dir in run_dirs:
        if not (run_dir / "results.json").is_file():
            raise RaspValueError(f"{run_dir}: no results.json here",
                                 hint="pass folders that `rasp generalize -o` wrote")
    in_context = [is_in_context_results(run_dir / "results.json") for run_dir in run_dirs]
    if any(in_context) and not all(in_context):
        raise RaspValueError(f"{run_dirs[in_context.index(False)]}: not an in-context run, "
                             f"and {run_dirs[in_context.index(True)]} is one",
                             hint="plot in-context runs and program-labelled runs apart: "
                                  "their losses are not comparable")
    if all(in_context):
        named_in_context = [(run_dir.name, load_in_context_results(run_dir / "results.json"))
                            for run_dir in run_dirs]
        write_atomically(out, curves_against_samples(named_in_context))
        print(f"curves: {out}")
        return 0
    for run_dir in run_dirs:
        named.append((run_dir.name, load_results(run_dir / "results.json")))
    write_atomically(out, plot_runs_against_samples(named))
    print(f"curves: {out}")
    return 0


def default_run_folder(config: ExperimentConfig, quick: bool) -> Path:
    """runs/NAME for a config file as written; for the quick form, or a file changed by --set,
    runs/NAME-<hash of the config>, so that another setting never lands in the same folder
    (whose checkpoints and finished runs belong to the setting that made them)."""
    if not quick:
        return Path("runs") / config.name
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()
    return Path("runs") / f"{config.name}-{digest[:8]}"


def _config(target: Path, sop: Optional[str], vocab: Optional[str], train_len: Optional[str],
            test_len: Optional[str], overrides: dict[str, Any],
            sets: list[str]) -> ExperimentConfig:
    """A TOML config (changed by `sets`), or the quick form built from a .rasp file and the
    options."""
    quick = {"--sop": sop, "--vocab": vocab, "--train-len": train_len, "--test-len": test_len}
    if target.suffix != ".rasp":
        _reject_quick_options(target, quick, overrides)
        return load_config(target, sets)
    missing = [name for name, value in quick.items() if value is None]
    if missing:
        raise RaspValueError(f"{target}: the quick form needs {', '.join(missing)}",
                             hint=f"rasp generalize {target} --sop NAME --vocab '\"abc\"' "
                                  f"--train-len 1-10 --test-len 11-20")
    tokens = parse_input(vocab, origin="--vocab")
    if "steps" in overrides:   # the default warm-up (100 steps) would not fit a short run
        overrides = {"warmup_steps": min(100, overrides["steps"] // 10), **overrides}
    return quick_config(target, sop, tokens, train_len, test_len, sets, **overrides)


def _summary(results: Results) -> str:
    """Exact match (mean over seeds) per encoding and length range, as a plain table."""
    rows = summary_table(results)
    if not rows:
        return "no runs"
    labels = [stats.label for stats in rows[0].ranges]
    header = ["positions", "fitted"] + labels
    table = [header] + [
        [row.positions, f"{row.fitted}/{row.seeds}"]
        + [percent(stats.exact_match_mean, "%") for stats in row.ranges]
        for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["exact match by length range (mean over seeds):"]
    lines += ["  " + "  ".join(cell.ljust(width) for cell, width in zip(line, widths))
              for line in table]
    return "\n".join(lines)
