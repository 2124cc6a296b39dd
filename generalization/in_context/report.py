"""The report of an in-context experiment (report.md, report.html, plots/) from its
results.json, and its plots:

- `loss.png`: regression and LDS: the squared error at each example (query i sees i - 1
  examples) at the longest test length, the mean over seeds per run, the ridge baseline
  dashed, the training range shaded; SCB: the excess loss over the Bayes-optimal predictor
  against the sequence length T, per run (every seed thin, the mean thick);
- `learning_curves.png`: the in-distribution loss against training samples seen, per run (the
  baseline's loss on the same batches dashed); `curves_against_samples` draws the same for
  several runs, e.g. a fine-tuned start beside one from scratch (`rasp curves`);
- `norms.png`: the residual-stream norms (`reporting.plots.plot_norm_records`).

`study_blocks` is the in-context part of a sweep's study page (`reporting.study`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from generalization.reporting.document import (Heading, Image, Link, Paragraph, Table, span,
                                               to_html, to_markdown)
from generalization.reporting.plots import plot_norm_records, png_bytes
from generalization.reporting.results import NormRecord
from rasp.errors import RaspValueError
from rasp.files import write_atomically


# What a task's length counts.
LENGTH_UNITS = {"regression": "examples", "lds": "steps", "scb": "tokens"}

# The keys a report reads, at the top level and in each run (results_schema.md).
REQUIRED_KEYS = ("name", "config", "task", "created", "device", "seconds", "runs")
REQUIRED_RUN_KEYS = ("name", "attention", "parameters", "seeds", "initialisation",
                     "samples_per_step", "train_seconds", "evaluate_seconds", "history",
                     "lengths", "norms")


def load_in_context_results(path: Path) -> dict[str, Any]:
    """An in-context results.json, its keys checked; `RaspValueError` naming the file and the
    first missing key."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RaspValueError(f"{path}: cannot read ({error})") from None
    if not isinstance(results, dict):
        raise RaspValueError(f"{path}: not an in-context results file (a JSON object)",
                             hint="restore the file, or rerun `rasp generalize` on its config")
    missing = [key for key in REQUIRED_KEYS if key not in results]
    missing += [f"runs[{index}].{key}" for index, run in enumerate(results.get("runs") or [])
                for key in REQUIRED_RUN_KEYS if not isinstance(run, dict) or key not in run]
    if missing or not results["runs"]:
        raise RaspValueError(f"{path}: {missing[0] if missing else 'runs'}: missing",
                             hint="restore the file, or rerun `rasp generalize` on its config")
    return results


def is_in_context_results(path: Path) -> bool:
    """Whether the results.json at `path` is an in-context experiment's (by its schema)."""
    from generalization.in_context.run import SCHEMA

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("schema") == SCHEMA


def write_in_context_report(run_dir: str | Path) -> list[Path]:
    """Rebuild report.md, report.html and plots/*.png of an in-context run folder."""
    run_dir = Path(run_dir)
    results = load_in_context_results(run_dir / "results.json")
    images = {"plots/loss.png": plot_loss(results),
              "plots/learning_curves.png": curves_against_samples([("", results)]),
              "plots/norms.png": plot_norm_records(results["name"], [
                  (run["name"], NormRecord(**run["norms"])) for run in results["runs"]])}
    for relative, data in images.items():
        write_atomically(run_dir / relative, data)
    blocks = report_blocks(results)
    markdown, page = run_dir / "report.md", run_dir / "report.html"
    write_atomically(markdown, to_markdown(blocks).encode("utf-8"))
    write_atomically(page, to_html(blocks, images).encode("utf-8"))
    return [markdown, page, *(run_dir / relative for relative in images)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _spread(values: list[float]) -> str:
    return f"{_mean(values):.4g} ({min(values):.3g}-{max(values):.3g})" if len(values) > 1 \
        else f"{values[0]:.4g}"


def _distance(values: list) -> str:
    known = [value for value in values if value is not None]
    return f"{_mean(known):.3f}" if known else "n/a"


def report_blocks(results: dict[str, Any]) -> list:
    """The report as document blocks (markdown and HTML render the same list)."""
    config, task = results["config"], results["task"]
    train_low, train_high = config["task"]["train_lengths"]
    unit = LENGTH_UNITS[task["name"]]
    tokens = task["kind"] == "tokens"
    options = ", ".join(f"{key} = {value}" for key, value in task["options"].items())
    trained = str(train_low) if train_low == train_high else span([train_low, train_high])
    tested = ", ".join(map(str, config["task"]["test_lengths"]))
    blocks: list = [
        Heading(f"{results['name']}: in-context {task['name']}", 1),
        Paragraph(f"Task {task['name']} ({options}); trained on {trained} {unit}, tested at "
                  f"{tested}. Baseline: the {task['baseline']}. {len(results['runs'])} runs, "
                  f"{results['seconds']:.0f} s on {results['device']}; written "
                  f"{results['created']}."),
        Paragraph("Loss: " + ("the cross-entropy of the next token (nats); excess = the "
                              "model's minus the Bayes-optimal predictor's, log N = a uniform "
                              "guess's." if tokens else
                              "the mean squared error per output coordinate at the predicted "
                              "positions; the ridge baseline's beside it.") +
                  " Per run: the mean over seeds, with the range over seeds in brackets."),
        Heading("Loss at each test length"),
    ]
    lengths = [entry["length"] for entry in results["runs"][0]["lengths"]]
    header = ("run", "attention", "start", *(f"{n} {unit}" + (" (train)" if n <= train_high
                                                           else "") for n in lengths))
    rows = []
    for run in results["runs"]:
        cells = [_spread(entry["loss"]) +
                 (f", excess {_mean(entry['loss']) - entry['baseline']:.3g}" if tokens else "")
                 for entry in run["lengths"]]
        rows.append((run["name"], "/".join(run["attention"]), run["initialisation"], *cells))
    rows.append(("baseline", "", "", *(f"{entry['baseline']:.4g}" for entry in
                                       results["runs"][0]["lengths"])))
    if tokens:
        rows.append(("uniform (log N)", "", "", *(f"{entry['uniform']:.4g}" for entry in
                                                  results["runs"][0]["lengths"])))
    blocks += [Table(header, tuple(rows)), Image("plots/loss.png", "loss against length")]
    if tokens:
        blocks += [
            Heading("Distance to P and q"),
            Paragraph("How far each run's predictions are from the task's transition matrix P "
                      "(mean total variation of its prediction after a constant sequence "
                      "a..a from P's row a) and from its position distributions q (the "
                      "least-squares position weights that explain its predictions given the "
                      "true P, against q; generalization/in_context/probes.py); 0 for the "
                      "Bayes-optimal predictor. Our substitute for Ren et al.'s distances of "
                      "a one-layer linear model's matrices, which our blocks do not have."),
            Table(("run", *(f"{n} {unit}: P / q" for n in lengths)),
                  tuple((run["name"], *(f"{_mean(entry['transition_distance']):.3f} / "
                                        f"{_distance(entry['position_distance'])}"
                                        for entry in run["lengths"]))
                        for run in results["runs"]))]
    training_rows = []
    for run in results["runs"]:
        steps = run["history"][-1]["step"] if run["history"] else 0
        training_rows.append((run["name"], f"{run['parameters']:,}",
                              ", ".join(map(str, run["seeds"])), str(steps),
                              f"{steps * run['samples_per_step']:,}",
                              f"{run['train_seconds']:.0f} s", f"{run['evaluate_seconds']:.0f} s"))
    blocks += [Heading("Training"),
               Table(("run", "parameters", "seeds", "steps", "samples", "train", "evaluate"),
                     tuple(training_rows)),
               Image("plots/learning_curves.png", "learning curves"),
               Heading("Residual-stream norms"),
               Paragraph("Mean L2 norm of the residual stream entering each block and leaving "
                         "the last, by token position, over seeds and the sequences of every "
                         "test length (generalization/evaluation/norms.py); the dashed line "
                         "is the end of the longest training sequence."),
               Image("plots/norms.png", "residual-stream norms")]
    return blocks


def plot_loss(results: dict[str, Any]) -> bytes:
    """The PNG of `loss.png` (module docstring)."""
    figure = Figure(figsize=(8.0, 4.0), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    train_high = results["config"]["task"]["train_lengths"][1]
    if results["task"]["kind"] == "tokens":
        for number, run in enumerate(results["runs"]):
            lengths = [entry["length"] for entry in run["lengths"]]
            excess = [[loss - entry["baseline"] for loss in entry["loss"]]
                      for entry in run["lengths"]]
            axes.plot(lengths, [_mean(e) for e in excess], color=f"C{number}", marker="o",
                      linewidth=1.8, label=run["name"])
            for seed in range(len(run["seeds"])):
                axes.plot(lengths, [e[seed] for e in excess], color=f"C{number}",
                          linewidth=0.6, alpha=0.4)
        axes.set_xlabel("sequence length T (tokens)")
        axes.set_ylabel("excess loss over Bayes (nats)")
        axes.axvspan(results["config"]["task"]["train_lengths"][0] - 0.5, train_high + 0.5,
                     color="0.9")
    else:
        longest = max(range(len(results["runs"][0]["lengths"])),
                      key=lambda i: results["runs"][0]["lengths"][i]["length"])
        for number, run in enumerate(results["runs"]):
            entry = run["lengths"][longest]
            examples = range(1, len(entry["baseline_by_example"]) + 1)
            curve = [_mean([seed[i] for seed in entry["by_example"]]) for i in range(len(examples))]
            axes.plot(examples, curve, color=f"C{number}", linewidth=1.6, label=run["name"])
        entry = results["runs"][0]["lengths"][longest]
        axes.plot(range(1, len(entry["baseline_by_example"]) + 1), entry["baseline_by_example"],
                  color="0.2", linestyle="--", linewidth=1.2, label="ridge baseline")
        axes.set_yscale("log")
        axes.set_xlabel("example i (the query sees i - 1 examples)")
        axes.set_ylabel("squared error (mean over seeds)")
        axes.axvspan(0.5, train_high + 0.5, color="0.9")
    axes.grid(True, color="0.8", linewidth=0.5)
    axes.legend(fontsize=7, loc="best")
    figure.suptitle(f"{results['name']}: loss against length (shaded: trained)", fontsize=10)
    return png_bytes(figure)


def curves_against_samples(named: list[tuple[str, dict[str, Any]]]) -> bytes:
    """The PNG of the in-distribution loss against training samples seen of every run of
    each (label, in-context results) pair; the baseline's loss dashed."""
    figure = Figure(figsize=(8.0, 4.0), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    number = 0
    for label, results in named:
        for run in results["runs"]:
            history = run["history"]
            if not history:
                continue
            samples = [check["step"] * run["samples_per_step"] for check in history]
            name = f"{label + ': ' if label else ''}{run['name']}, {run['initialisation']}"
            axes.plot(samples, [_mean(check["loss"]) for check in history], color=f"C{number}",
                      linewidth=1.8, label=name)
            for seed in range(len(run["seeds"])):
                axes.plot(samples, [check["loss"][seed] for check in history],
                          color=f"C{number}", linewidth=0.6, alpha=0.4)
            number += 1
        first = next((run for run in results["runs"] if run["history"]), None)
        if first is not None:
            axes.plot([c["step"] * first["samples_per_step"] for c in first["history"]],
                      [c["baseline"] for c in first["history"]], color="0.2", linestyle="--",
                      linewidth=1, label=f"{label + ': ' if label else ''}baseline")
    axes.set_yscale("log")
    axes.set_xlabel("training samples seen")
    axes.set_ylabel("in-distribution loss")
    axes.grid(True, color="0.8", linewidth=0.5)
    axes.legend(fontsize=7, loc="best")
    figure.suptitle("learning curves (thick: mean over seeds; dashed: baseline)", fontsize=10)
    return png_bytes(figure)


def study_blocks(named: list[tuple[str, dict[str, Any]]]) -> list:
    """The in-context section of a sweep's study page: per experiment, a table of its sweep
    runs' (encoding, attention family) runs with the mean loss over seeds beside the
    baseline's at every test length. `named`: (sweep run name, in-context results)."""
    if not named:
        return []
    blocks: list = [
        Heading("In-context experiments"),
        Paragraph("Tasks that no RASP program labels (generalization/in_context): each cell is "
                  "the loss at that test length, the mean over seeds, then the baseline's on "
                  "the same sequences (regression and LDS: squared error, the ridge "
                  "regression's; SCB: next-token cross-entropy in nats, the Bayes-optimal "
                  "predictor's). There is no exact match and no verdict: read how far each "
                  "run stays from its baseline beyond the trained lengths. Each run's report "
                  "has the curves per position, the learning curves and the norms."),
    ]
    experiments: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for sweep_run, results in named:
        experiments.setdefault(results["name"], []).append((sweep_run, results))
    for experiment, members in experiments.items():
        task = members[0][1]["task"]
        unit = LENGTH_UNITS[task["name"]]
        lengths = sorted({entry["length"] for _, results in members
                          for run in results["runs"] for entry in run["lengths"]})
        rows = []
        for sweep_run, results in members:
            train_low, train_high = results["config"]["task"]["train_lengths"]
            for run in results["runs"]:
                at = {entry["length"]: entry for entry in run["lengths"]}
                rows.append((sweep_run, run["name"], span([train_low, train_high]),
                             *(f"{_mean(at[n]['loss']):.4g} / {at[n]['baseline']:.4g}"
                               + (" (train)" if n <= train_high else "") if n in at else "n/a"
                               for n in lengths),
                             Link("report", f"runs/{sweep_run}/report.html")))
        blocks += [Paragraph(f"{experiment}: in-context {task['name']}, baseline the "
                             f"{task['baseline']}; lengths in {unit}."),
                   Table(("run", "model", "trained", *(f"{n}: model / baseline"
                                                       for n in lengths), "report"),
                         tuple(rows))]
    return blocks
