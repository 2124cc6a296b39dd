"""The harness's plots, as PNG bytes: accuracy against length, and the study's scatter.

`plot_metric`: one line per positional encoding of a results.json: the mean over seeds at each
evaluated length, with a band for the 95% interval over seeds (as stored in results.json), and
the training range shaded so that the eye finds where extrapolation starts.

`plot_study`: one point per task and encoding of a sweep: compiled operations against exact
match at 2x the training length (the fitted seeds' mean, filled; all seeds' when none fitted,
hollow).

The figures are drawn on matplotlib's Agg canvas directly, not through pyplot, so that making
a report neither needs a display nor switches the backend of a program that imports this.
"""

from __future__ import annotations

import io

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from generalization.reporting.results import Results, RunResult

# (file name in plots/, metric of a results.json length entry, axis label)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("exact_match.png", "exact_match", "exact match"),
    ("token_accuracy.png", "token_accuracy", "token accuracy"),
)


def plot_metric(results: Results, metric: str, label: str) -> bytes:
    """The PNG of `metric` ("exact_match" or "token_accuracy") against input length."""
    figure = Figure(figsize=(7.0, 4.0), dpi=110)
    FigureCanvasAgg(figure)  # attaches the Agg canvas that savefig renders with
    axes = figure.add_subplot()
    low, high = results.task.train_lengths
    axes.axvspan(low - 0.5, high + 0.5, color="0.88", label=f"training lengths {low}-{high}")
    for run in results.runs:
        _plot_run(axes, run, metric)
    axes.set_xlabel("input length")
    axes.set_ylabel(label)
    axes.set_ylim(-0.03, 1.03)
    axes.set_title(f"{results.task.name}: {label} against length "
                   f"(mean over seeds, 95% interval)", fontsize=10)
    axes.grid(True, color="0.8", linewidth=0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # lengths are whole numbers
    axes.legend(fontsize=8, loc="best")
    return _png(figure)


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
    return _png(figure)


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    # No "Software" entry: the PNG then depends on the data alone, not on the installed version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _plot_run(axes: Axes, run: RunResult, metric: str) -> None:
    """One encoding's line and its seed-interval band."""
    entries = sorted(run.lengths, key=lambda entry: entry.length)
    lengths = [entry.length for entry in entries]
    means = [getattr(entry, f"{metric}_mean") for entry in entries]
    lows = [getattr(entry, f"{metric}_ci95")[0] for entry in entries]
    highs = [getattr(entry, f"{metric}_ci95")[1] for entry in entries]
    fitted = sum(run.fitted)
    (line,) = axes.plot(lengths, means, marker="o", markersize=3, linewidth=1.5,
                        label=f"{run.positions} ({fitted}/{len(run.seeds)} seeds fitted)")
    axes.fill_between(lengths, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
