"""The harness's plots, as PNG bytes: accuracy against length, learning curves, and the study's
scatter.

`plot_metric`: per positional encoding of a results.json, every seed's metric at each evaluated
length as a thin line, and a thick line for the mean over the seeds that fitted (dashed, over
all seeds, when none did), the training range shaded so that the eye finds where
extrapolation starts. A band for the 95% interval over seeds is drawn only from
MIN_SEEDS_FOR_BAND seeds on: with 3 seeds the t quantile is 4.3 and the band spans most of
[0, 1], which says nothing the single seeds do not show better. Token accuracy has a chance
line at 1 / (number of output values), a uniform guess, when results.json records the values.

`plot_learning_curves`: per encoding and seed, the in-distribution exact match and the loss at
every training check, with a marker where the seed fitted; None for results written before
the history was recorded.

`plot_study`: one point per task and encoding of a sweep: compiled operations against exact
match at 2x the training length (the fitted seeds' mean, filled; all seeds' when none fitted,
hollow).

`plot_bins`: one panel per task of a reproduction study: exact match against length (the
fitted seeds' mean, all seeds' dashed when none fitted), the training range shaded, and the
published exact match of each bin (1x-2x and 2x-3x the longest training length) as a
horizontal segment over that bin.

`plot_norms`: per encoding, the token-norm diagnostic (`evaluation/norms.py`): a heatmap of
the mean residual-stream norm by layer and position, and the norm against position, one curve
per layer; a dashed line marks the end of the longest training input. None for results
written before the diagnostic existed.

`plot_runs_against_samples`: several runs' learning curves (mean in-distribution exact match
and loss over seeds) against the training samples seen (steps x batch size), one colour per
run and encoding: how a start from another run's weights (`init_from`) compares with a start
from scratch (`rasp curves`).

The figures are drawn on matplotlib's Agg canvas directly, not through pyplot, so that making
a report neither needs a display nor switches the backend of a program that imports this.
"""

from __future__ import annotations

import io
import math
from typing import Optional

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from generalization.reporting.results import NormRecord, Results, RunResult

# (file name in plots/, metric of a results.json length entry, axis label)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("exact_match.png", "exact_match", "exact match"),
    ("token_accuracy.png", "token_accuracy", "token accuracy"),
)
LEARNING_CURVES = "learning_curves.png"
NORMS = "norms.png"
# Seeds from which a 95% interval over them is narrow enough to draw.
MIN_SEEDS_FOR_BAND = 5


def plot_metric(results: Results, metric: str, label: str) -> bytes:
    """The PNG of `metric` ("exact_match" or "token_accuracy") against input length."""
    figure = Figure(figsize=(7.0, 4.0), dpi=110)
    FigureCanvasAgg(figure)  # attaches the Agg canvas that savefig renders with
    axes = figure.add_subplot()
    low, high = results.task.train_lengths
    axes.axvspan(low - 0.5, high + 0.5, color="0.88", label=f"training lengths {low}-{high}")
    for run in results.runs:
        _plot_run(axes, run, metric)
    classes = results.task.classes
    if metric == "token_accuracy" and classes:
        axes.axhline(1 / len(classes), color="0.4", linestyle=":", linewidth=1,
                     label=f"chance (uniform guess of {len(classes)} values)")
    axes.set_xlabel("input length")
    axes.set_ylabel(label)
    axes.set_ylim(-0.03, 1.03)
    axes.set_title(f"{results.task.name}: {label} against length (thin: single seeds; thick: "
                   f"mean of fitted seeds, dashed: of all)", fontsize=9)
    axes.grid(True, color="0.8", linewidth=0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # lengths are whole numbers
    axes.legend(fontsize=8, loc="best")
    return png_bytes(figure)


def plot_learning_curves(results: Results) -> Optional[bytes]:
    """The PNG of every seed's in-distribution exact match and loss against training steps,
    or None when no run recorded its training history."""
    runs = [run for run in results.runs if run.train.history]
    if not runs:
        return None
    figure = Figure(figsize=(9.0, 3.8), dpi=110)
    FigureCanvasAgg(figure)
    accuracy, loss = figure.subplots(1, 2)
    for number, run in enumerate(runs):
        color = f"C{number}"
        history = run.train.history
        steps = [check.step for check in history]
        for index, seed in enumerate(run.seeds):
            label = f"{run.positions}" if index == 0 else None
            accuracy.plot(steps, [check.exact_match[index] for check in history], color=color,
                          linewidth=1, alpha=0.8, marker=".", markersize=4, label=label)
            loss.plot(steps, [check.loss[index] for check in history], color=color,
                      linewidth=1, alpha=0.8, marker=".", markersize=4)
            fitted_at = next((check for check in history if check.fitted[index]), None)
            if fitted_at is not None:
                accuracy.plot([fitted_at.step], [fitted_at.exact_match[index]], marker="*",
                              markersize=9, color=color, linestyle="none")
    accuracy.plot([], [], marker="*", color="0.3", linestyle="none", label="seed fitted")
    accuracy.set_ylim(-0.03, 1.03)
    accuracy.set_ylabel("in-distribution exact match")
    loss.set_yscale("log")
    loss.set_ylabel("loss (cross-entropy)")
    for axes in (accuracy, loss):
        axes.set_xlabel("training step")
        axes.grid(True, color="0.8", linewidth=0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    accuracy.legend(fontsize=8, loc="best")
    figure.suptitle(f"{results.task.name}: learning curves, one line per seed", fontsize=10)
    return png_bytes(figure)


def plot_study(points: list[tuple[str, float, float, bool]]) -> bytes:
    """The PNG of (label, compiled operations, exact match at 2x, some seed fitted) points."""
    figure = Figure(figsize=(7.0, 4.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    placed: dict[tuple[float, float], int] = {}   # labels already at (nearly) this point
    for label, operations, exact, fitted in points:
        if exact != exact:  # NaN: the run evaluated no length as long as 2x
            continue
        axes.scatter([operations], [exact], s=36, color="tab:blue",
                     facecolors="tab:blue" if fitted else "none")
        near = (operations, round(exact, 1))
        placed[near] = placed.get(near, -1) + 1
        axes.annotate(label, (operations, exact), xytext=(4, 4 + 9 * placed[near]),
                      textcoords="offset points", fontsize=7)
    axes.scatter([], [], s=36, color="tab:blue", label="some seed fitted")
    axes.scatter([], [], s=36, color="tab:blue", facecolors="none", label="no seed fitted")
    axes.set_xlabel("compiled operations (attention heads + MLP blocks)")
    axes.set_ylabel("exact match at 2x the training length")
    axes.set_ylim(-0.05, 1.05)
    axes.set_title("Compiled complexity against length generalization (mean over fitted "
                   "seeds; hollow: over all, none fitted)", fontsize=9)
    axes.grid(True, color="0.8", linewidth=0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8, loc="best")
    return png_bytes(figure)


def plot_bins(panels: list[tuple[str, int, tuple, Optional[tuple[float, float]]]]) -> bytes:
    """The PNG of (task, longest training length T, ((length, all seeds, fitted seeds or
    None), ...), published bins or None) panels (module docstring)."""
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), dpi=100)
    FigureCanvasAgg(figure)
    for index, (task, high, curve, published) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        lengths = [length for length, _, _ in curve]
        fitted = any(value is not None for _, _, value in curve)
        values = [(mine if fitted else everyone) for _, everyone, mine in curve]
        axes.plot(lengths, [math.nan if v is None else v for v in values], color="tab:blue",
                  linewidth=1.5, linestyle="-" if fitted else "--",
                  label="ours, fitted seeds" if fitted else "ours, all seeds (none fitted)")
        axes.axvspan(min(lengths, default=0), high + 0.5, color="0.92", zorder=0)
        if published:
            for (low, top), value in zip(((high + 1, 2 * high), (2 * high + 1, 3 * high)),
                                         published):
                axes.plot([low, top], [value, value], color="tab:red", linewidth=2.5,
                          label="published bin" if low == high + 1 else None)
        axes.set_title(task, fontsize=9)
        axes.set_ylim(-0.05, 1.05)
        axes.set_xlabel("length", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(True, color="0.85", linewidth=0.5)
        if index == 0:
            axes.set_ylabel("exact match", fontsize=8)
            axes.legend(fontsize=6, loc="lower left")
    return png_bytes(figure)


def plot_norms(results: Results) -> Optional[bytes]:
    """The PNG of the token-norm diagnostic of every encoding that recorded one, or None."""
    runs = [(run.positions, run.norms) for run in results.runs if run.norms is not None]
    return plot_norm_records(results.task.name, runs) if runs else None


def plot_norm_records(title: str, runs: list[tuple[str, NormRecord]]) -> bytes:
    """The PNG of `plot_norms` for (label, diagnostic) pairs."""
    figure = Figure(figsize=(10.0, 3.2 * len(runs)), dpi=110)
    FigureCanvasAgg(figure)
    panels = figure.subplots(len(runs), 2, squeeze=False)
    for (heatmap, curves), (label, norms) in zip(panels, runs):
        grid = [[math.nan if value is None else value for value in row]
                for row in norms.by_position]
        image = heatmap.imshow(grid, aspect="auto", origin="lower", cmap="viridis",
                               interpolation="nearest")
        figure.colorbar(image, ax=heatmap, label="mean L2 norm")
        heatmap.set_yticks(range(len(norms.layers)), norms.layers, fontsize=7)
        heatmap.set_xlabel("position")
        heatmap.set_title(f"{label}: residual-stream norm", fontsize=9)
        for index, layer in enumerate(norms.layers):
            curves.plot(range(len(grid[index])), grid[index], linewidth=1.2, label=layer)
        curves.set_xlabel("position")
        curves.set_ylabel("mean L2 norm")
        curves.grid(True, color="0.8", linewidth=0.5)
        curves.legend(fontsize=7, loc="best")
        for axes in (heatmap, curves):
            axes.axvline(norms.train_width - 0.5, color="0.2" if axes is curves else "white",
                         linestyle="--", linewidth=1)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(f"{title}: residual-stream norms by layer and position "
                    f"(dashed: end of the longest training input)", fontsize=10)
    return png_bytes(figure)


def plot_runs_against_samples(named: list[tuple[str, Results]]) -> bytes:
    """The PNG of `plot_runs_against_samples` (module docstring): (label, results) per run."""
    figure = Figure(figsize=(9.0, 3.8), dpi=110)
    FigureCanvasAgg(figure)
    accuracy, loss = figure.subplots(1, 2)
    number = 0
    for label, results in named:
        batch = results.config["training"]["batch_size"]
        for run in results.runs:
            history = run.train.history or []
            if not history:
                continue
            samples = [check.step * batch for check in history]
            name = f"{label}: {run.positions}, {run.initialisation or 'random'}"
            for axes, values in ((accuracy, [check.exact_match for check in history]),
                                 (loss, [check.loss for check in history])):
                mean = [sum(v) / len(v) for v in values]
                axes.plot(samples, mean, color=f"C{number}", linewidth=1.8, marker=".",
                          markersize=4, label=name if axes is accuracy else None)
                for seed in range(len(run.seeds)):
                    axes.plot(samples, [v[seed] for v in values], color=f"C{number}",
                              linewidth=0.6, alpha=0.4)
            number += 1
    accuracy.set_ylim(-0.03, 1.03)
    accuracy.set_ylabel("in-distribution exact match")
    loss.set_yscale("log")
    loss.set_ylabel("loss (cross-entropy)")
    for axes in (accuracy, loss):
        axes.set_xlabel("training samples seen")
        axes.grid(True, color="0.8", linewidth=0.5)
    accuracy.legend(fontsize=7, loc="best")
    figure.suptitle("learning curves against samples seen (thick: mean over seeds)", fontsize=10)
    return png_bytes(figure)


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, laid out tightly."""
    figure.tight_layout()
    buffer = io.BytesIO()
    # No "Software" entry: the PNG then depends on the data alone, not on the installed version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _plot_run(axes: Axes, run: RunResult, metric: str) -> None:
    """One encoding: its seeds as thin lines, the fitted seeds' mean (or all seeds', dashed)
    as a thick one, and the interval band when there are enough seeds (module docstring)."""
    entries = sorted(run.lengths, key=lambda entry: entry.length)
    lengths = [entry.length for entry in entries]
    per_seed = [entry.per_seed(metric) for entry in entries]
    fitted = [index for index, ok in enumerate(run.fitted) if ok]
    chosen = fitted or range(len(run.seeds))
    means = [sum(values[i] for i in chosen) / len(chosen) for values in per_seed]
    (line,) = axes.plot(lengths, means, marker="o", markersize=3, linewidth=2,
                        linestyle="-" if fitted else "--",
                        label=f"{run.positions} ({len(fitted)}/{len(run.seeds)} seeds fitted)")
    for index in range(len(run.seeds)):
        axes.plot(lengths, [values[index] for values in per_seed], color=line.get_color(),
                  linewidth=0.7, alpha=0.45)
    if len(run.seeds) >= MIN_SEEDS_FOR_BAND:
        lows = [getattr(entry, f"{metric}_ci95")[0] for entry in entries]
        highs = [getattr(entry, f"{metric}_ci95")[1] for entry in entries]
        axes.fill_between(lengths, lows, highs, color=line.get_color(), alpha=0.15,
                          linewidth=0)
