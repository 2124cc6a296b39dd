"""The report of a generalization run, rebuilt from its results.json alone.

`write_report(run_dir)` reads `run_dir/results.json` (`results.load_results`) and writes
`report.md`, `report.html` (self-contained: inline CSS, plots as base64 data URIs) and the PNG
plots in `run_dir/plots/`. Every file is written to a temporary file and moved into place, so
a reader never sees half a report; the markdown and the HTML are two renderings of one list of
blocks (`document.py`). The statistics over length ranges are `summary.py`'s.
"""

from __future__ import annotations

from pathlib import Path

from generalization.reporting.document import (Block, Cell, Heading, Image, Mono, Paragraph,
                                               Preformatted, Table, compact_json, percent,
                                               seconds, span, to_html, to_markdown, tokens,
                                               with_interval)
from generalization.reporting.plots import (LEARNING_CURVES, METRICS, NORMS,
                                            plot_learning_curves, plot_metric, plot_norms)
from generalization.reporting.results import Results, RunResult, TaskRecord, load_results
from generalization.reporting.summary import SummaryRow, summary_table
from rasp.files import write_atomically

# Column names of the autoregressive metrics.
_METRIC_LABELS = {"content_exact_match": "content exact match", "end_accuracy": "end accuracy"}


def report_blocks(results: Results) -> list[Block]:
    """The whole report, in order, independent of how it is rendered."""
    task = results.task
    summary = summary_table(results)
    return [
        Heading(f"Length generalization: {task.name}", 1),
        Paragraph(_introduction(results)),
        Paragraph(_DEFINITIONS),
        *([Paragraph(_AUTOREGRESSIVE_DEFINITIONS)] if task.autoregressive else []),
        *([Heading("Program"), Preformatted(task.source.rstrip("\n"), "rasp")]
          if task.source is not None else []),
        Heading("Task and compiled model"),
        _task_table(task),
        Heading("Summary"),
        Paragraph("Exact match, in %, mean over all seeds, per length range."),
        _summary_block(summary),
        Heading("Training"),
        _training_table(results.runs),
        *([Image(f"plots/{LEARNING_CURVES}", "learning curves: in-distribution exact match and "
                                              "loss against training steps")]
          if any(run.train.history for run in results.runs) else []),
        Heading("Exact match by length range"),
        _ranges_table(summary),
        *[Image(f"plots/{name}", f"{label} against length") for name, _, label in METRICS],
        Heading("Exact match per length"),
        Paragraph("Mean exact match over all seeds, in %."),
        _per_length_table(results.runs),
        Heading("Counterexamples"),
        *_counterexample_blocks(results.runs),
        *_norm_blocks(results.runs),
        Heading("Timings"),
        Table(("stage", "seconds"),
              tuple((name.removesuffix("_seconds"), seconds(value))
                    for name, value in vars(results.timings).items())),
        Heading("Versions"),
        Table(("package", "version"),
              tuple((name, str(version)) for name, version in results.versions.items())),
        Heading("Configuration"),
        Preformatted(compact_json(results.config), "json"),
    ]


_DEFINITIONS = (
    "Exact match: the fraction of inputs whose whole output equals the compiled model's; token "
    "accuracy: the fraction of output positions that do. Intervals are 95% t-intervals over "
    "seeds, clipped to [0, 100]. A seed has fitted when its in-distribution exact match reached "
    "the fit threshold; only fitted seeds say anything about extrapolation, hence the "
    "fitted-seeds-only column (n/a when no seed fitted).")


_AUTOREGRESSIVE_DEFINITIONS = (
    "Autoregressive task: a length is the sampler's (numbers counted, tokens copied); each input "
    "is a prompt continued by the program up to the end token, and the metrics score the "
    "continuation only, teacher-forced (for these deterministic targets, exact match equals "
    "that of greedy generation). Content exact match: every continuation token before the end "
    "token right; end accuracy: the end token predicted at its position and nowhere earlier. "
    "Counterexamples show a prompt, the expected continuation and the model's greedy one.")


def _introduction(results: Results) -> str:
    task = results.task
    return (f"Transformers trained on the labels of s-op {task.sop} of {task.program} "
            f"at lengths {span(task.train_lengths)}, tested at lengths "
            f"{span(task.test_lengths)} against the compiled program; one run per "
            f"positional encoding. Results of {results.created}.")


def _task_table(task: TaskRecord) -> Table:
    compiled = task.compiled
    rows: list[tuple[Cell, ...]] = [
        ("program", Mono(task.program)),
        ("s-op", Mono(task.sop)),
        ("vocabulary", Mono(tokens(task.vocab))),
        ("training lengths", span(task.train_lengths)),
        ("test lengths", span(task.test_lengths)),
        ("causal", "yes" if task.causal else "no"),
        *([("format", f"autoregressive, end token {tokens([task.end_token])}")]
          if task.autoregressive else []),
        ("compiled layers", str(compiled.layers)),
        ("compiled heads per layer", ", ".join(map(str, compiled.heads_per_layer))),
        ("compiled residual width", str(compiled.residual_width)),
        ("compiled parameters", f"{compiled.parameters:,}"),
        # Absent from results written before they were recorded.
        *([("compiled operations", str(compiled.operations))]
          if compiled.operations is not None else []),
        *([("compiles as a causal decoder", "yes" if compiled.compiles_causally else "no")]
          if compiled.compiles_causally is not None else []),
        ("compiled max length", str(compiled.max_seq_len)),
        ("compile seconds", seconds(compiled.compile_seconds)),
    ]
    return Table(("property", "value"), tuple(rows))


def _summary_block(summary: list[SummaryRow]) -> Table:
    labels = tuple(stats.label for stats in summary[0].ranges) if summary else ()
    rows = tuple((row.positions, f"{row.fitted}/{row.seeds}",
                  *(percent(stats.exact_match_mean) for stats in row.ranges))
                 for row in summary)
    return Table(("positions", "fitted seeds", *labels), rows)


def _training_table(runs: list[RunResult]) -> Table:
    rows = []
    for run in runs:
        model, train, fitted = run.model, run.train, run.fitted_seeds
        rows.append((
            run.positions,
            f"{model.num_layers} x {model.num_heads}",
            f"{model.width} ({model.mlp_width})",
            f"{model.parameters:,}",
            run.initialisation or "random",
            ", ".join(map(str, run.seeds)),
            f"{len(fitted)}/{len(run.seeds)}" +
            (f" ({', '.join(map(str, fitted))})" if fitted else ""),
            ", ".join(map(str, train.steps)),
            ", ".join(f"{loss:.3g}" for loss in train.final_loss),
            ", ".join(percent(value) for value in train.in_distribution_exact_match),
            seconds(train.seconds),
        ))
    return Table(("positions", "layers x heads", "width (MLP)", "parameters", "start", "seeds",
                  "fitted (seeds)", "steps", "final loss", "in-distribution exact match %",
                  "seconds"), tuple(rows))


def _ranges_table(summary: list[SummaryRow]) -> Table:
    """Per encoding and range; autoregressive runs add content exact match and end accuracy."""
    extra = [metric for metric in _METRIC_LABELS
             if any(metric in stats.metrics for row in summary for stats in row.ranges)]

    def cell(stats, metric: str) -> str:
        measured = stats.metrics.get(metric)
        return with_interval(measured.mean, measured.ci95) if measured else "n/a"

    rows = tuple((row.positions, stats.label, cell(stats, "exact_match"),
                  percent(stats.exact_match_fitted_mean), cell(stats, "token_accuracy"),
                  *(cell(stats, metric) for metric in extra))
                 for row in summary for stats in row.ranges)
    return Table(("positions", "lengths", "exact match % [95% CI]", "fitted seeds only %",
                  "token accuracy % [95% CI]",
                  *(f"{_METRIC_LABELS[metric]} % [95% CI]" for metric in extra)), rows)


def _per_length_table(runs: list[RunResult]) -> Table:
    by_run = [{entry.length: entry for entry in run.lengths} for run in runs]
    lengths = sorted({length for entries in by_run for length in entries})
    rows = []
    for length in lengths:
        split = next(entries[length].split for entries in by_run if length in entries)
        rows.append((str(length), split,
                     *(percent(entries[length].exact_match_mean) if length in entries
                       else "n/a" for entries in by_run)))
    return Table(("length", "split", *(run.positions for run in runs)), tuple(rows))


def _counterexample_blocks(runs: list[RunResult]) -> list[Block]:
    rows = tuple((run.positions, str(example.seed), str(example.length),
                  Mono(tokens(example.input)), Mono(tokens(example.expected)),
                  Mono(tokens(example.predicted)))
                 for run in runs for example in run.counterexamples)
    if not rows:
        return [Paragraph("No counterexample was found.")]
    return [Paragraph("Minimal inputs (shrunk by Hypothesis) where a learned model and the "
                      "compiled program disagree."),
            Table(("positions", "seed", "length", "input", "expected", "predicted"), rows)]


def _norm_blocks(runs: list[RunResult]) -> list[Block]:
    """The token-norm diagnostic: the plot, then per encoding the mean norm of each layer at
    every evaluated length and per token-frequency bucket (training / test lengths)."""
    runs = [run for run in runs if run.norms is not None]
    if not runs:
        return []
    blocks: list[Block] = [
        Heading("Residual-stream norms"),
        Paragraph(_NORM_DEFINITIONS),
        Image(f"plots/{NORMS}", "residual-stream norm by layer and position, and against "
                                "position per layer")]
    for run in runs:
        norms = run.norms
        blocks.append(Paragraph(f"{run.positions}: mean L2 norm per layer at each evaluated "
                                f"length (training lengths end at input width "
                                f"{norms.train_width})."))
        blocks.append(Table(("length", *norms.layers),
                            tuple((str(length), *(f"{v:.2f}" for v in row))
                                  for length, row in zip(norms.lengths, norms.by_length))))
        blocks.append(Table(
            ("token frequency", *(f"{layer} (train / test)" for layer in norms.layers)),
            tuple((bucket, *(f"{_norm(train, i)} / {_norm(test, i)}"
                             for i in range(len(norms.layers))))
                  for bucket, train, test in zip(norms.frequency_buckets,
                                                 norms.by_frequency_train,
                                                 norms.by_frequency_test))))
    return blocks


def _norm(row: list[float] | None, index: int) -> str:
    return "n/a" if row is None else f"{row[index]:.2f}"


_NORM_DEFINITIONS = (
    "The L2 norm of the residual stream entering the first block (the embedding plus the "
    "position signal) and leaving each block, at every real position of the evaluation inputs "
    "(padding excluded), averaged over seeds and inputs. Token frequency: the input tokens "
    "ranked by their count in the training lengths' evaluation inputs, in three buckets of "
    "distinct tokens (rare, middle and frequent thirds).")


def write_report(run_dir: str | Path) -> list[Path]:
    """Rebuild report.md, report.html and plots/*.png of a run from its results.json.

    Returns the written paths: the markdown, the HTML, then the plots."""
    run_dir = Path(run_dir)
    results = load_results(run_dir / "results.json")
    images = {f"plots/{name}": plot_metric(results, metric, label)
              for name, metric, label in METRICS}
    curves = plot_learning_curves(results)
    if curves is not None:
        images[f"plots/{LEARNING_CURVES}"] = curves
    norms = plot_norms(results)
    if norms is not None:
        images[f"plots/{NORMS}"] = norms
    blocks = report_blocks(results)
    # Plots first, so that a report on disk never points at a plot not yet written.
    for relative, data in images.items():
        write_atomically(run_dir / relative, data)
    markdown, page = run_dir / "report.md", run_dir / "report.html"
    write_atomically(markdown, to_markdown(blocks).encode("utf-8"))
    write_atomically(page, to_html(blocks, images).encode("utf-8"))
    return [markdown, page, *(run_dir / relative for relative in images)]
