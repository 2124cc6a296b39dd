"""The study page of a sweep: compiled-program complexity against measured generalization.

    write_study(Path("runs/contrast"))    # reads sweep.json and each run's results.json

Zhou et al. (2023) conjecture that a transformer length-generalizes on a task when a short RASP
program solves it for every length. A sweep trains learned models on many tasks; this page sets
each task's compiled size beside how its learned models extrapolate, and beside the published
outcome when the sweep file gives one (its `[published.<experiment name>]` tables).

Per task and positional encoding, with T the longest training length:

* complexity: the compiled model's operations (attention heads + MLP blocks, one per RASP
  `aggregate`/`selector_width` and per map), layers, heads and residual width; tasks are ranked
  by (operations, layers, residual width);
* in distribution: each seed's exact match on fresh training-length inputs at the end of
  training; a seed *fitted* when it reached its run's `training.fit_threshold` (the run's
  `fitted`, the same count its own report shows);
* exact match at 1.5 T and 2 T (the evaluated lengths nearest above, `_at_least`): the mean over
  the seeds that fitted, the only ones whose extrapolation says something, and over all seeds;
* our verdict, from the fitted seeds' mean at 2 T: "generalizes" when >= GENERALIZES (0.95),
  "does not generalize" when < FAILS (0.5), "partly" between, "did not fit" with no fitted seed;
* agreement with the published outcome: "agrees" when our verdict says the same as the paper's
  `generalizes`, "differs" when it says the opposite, "inconclusive" for "partly"/"did not fit".

A published outcome with `compare = "1x-2x"` (the reproduction study of Huang et al. 2025's
tasks) is compared by the bins instead: exact match averaged over the evaluated lengths in
(T, 2T] and in (2T, 3T], per seed, then over the fitted seeds (over every seed when the
published figure is, `every_seed`). A task published as generalizing (>= PUBLISHED_GENERALIZES
= 0.95 at 1x-2x, or `generalizes` where no bins are given) agrees when ours is >= AGREES_AT
= 0.90 there; one published as failing (< 0.90) agrees when ours is < 0.90 there; with no
fitted seed the comparison is inconclusive. Those tasks get a table of both figures per bin
and `plots/bins.png`: exact match against length, the published bin means drawn as segments.

A sweep with a `[search]` (configurations of model and training crossed with every task) keeps
one configuration per task and encoding by its declared `selection`: "smallest-fitted" (the
default, which never looks at test lengths) keeps the configuration with the fewest learned
parameters among those where the wanted number of seeds fitted (`training.fitted_seeds`, else
every seed), ties broken by the lower held-out in-distribution loss (the fitted seeds' mean at
their last fit check, on fresh inputs); where none fitted, the one with the most fitted seeds,
then the lower loss. "test-bin" keeps the best exact match at 1x-2x the training length (as
Huang et al. chose theirs), and the page says its figures are optimistic. Every candidate is
listed with the one kept.

In-context runs of the sweep (`generalization.in_context`: no compiled program, no exact
match) get a section of their own (`in_context.report.study_blocks`): their losses beside
their baselines at every test length. A sweep of in-context runs only has that section and
no ranking by complexity.

The page is `study.md` and a self-contained `study.html` (the run report's renderers) with the
scatter plot `plots/study.png`, all written atomically; the suite's wall time comes from
sweep.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from generalization.config.sweep import PublishedOutcome
from generalization.in_context.report import is_in_context_results, load_in_context_results
from generalization.in_context.report import study_blocks as in_context_blocks
from generalization.reporting.document import (Block, Heading, Image, Link, Paragraph, Table,
                                               percent, span, to_html, to_markdown)
from generalization.reporting.plots import plot_bins, plot_study
from generalization.reporting.results import (Results, RunResult, SweepEntry, SweepRecord,
                                              load_results, load_sweep_record)
from rasp.files import write_atomically

GENERALIZES = 0.95
FAILS = 0.5
PLOT = "plots/study.png"
# The rule of `compare = "1x-2x"` (module docstring).
PUBLISHED_GENERALIZES = 0.95
AGREES_AT = 0.90
BINS_PLOT = "plots/bins.png"

# A figure over seeds: (mean over all seeds, mean over the fitted seeds or None).
Figure = tuple[float, Optional[float]]


@dataclass(frozen=True)
class StudyRow:
    """One task trained with one positional encoding, as the study shows it."""

    task: str
    positions: str
    run: str                     # the sweep's run name
    operations: Optional[int]    # None for results written before the count was recorded
    layers: int
    heads: int
    residual_width: int
    parameters: int
    causal: bool
    train_lengths: tuple[int, int]
    test_lengths: tuple[int, int]
    seeds: int
    fitted: int                  # seeds that reached their run's fit threshold
    fit_threshold: float
    in_distribution: float       # mean over seeds
    at_1_5: Optional[tuple[int, float, Optional[float]]]   # (length, all seeds, fitted seeds)
    at_2: Optional[tuple[int, float, Optional[float]]]
    # Exact match over the lengths in (T, 2T] and (2T, 3T] (None where none was evaluated).
    bins: tuple[Optional[Figure], Optional[Figure]] = (None, None)
    # (length, all seeds, fitted seeds) at every evaluated length, for the bins plot.
    curve: tuple[tuple[int, float, Optional[float]], ...] = ()
    learned_parameters: int = 0
    wanted_fits: int = 0         # seeds that must fit for a [search] candidate to qualify
    held_out_loss: float = math.nan   # fitted seeds' (else all seeds') last fit-check loss

    @property
    def verdict(self) -> str:
        fitted_at_2 = self.at_2[2] if self.at_2 else None
        if fitted_at_2 is None:
            return "did not fit" if self.fitted == 0 else "not evaluated at 2x"
        if fitted_at_2 >= GENERALIZES:
            return "generalizes"
        return "does not generalize" if fitted_at_2 < FAILS else "partly"


def study_rows(out_dir: Path, sweep: SweepRecord) -> list[StudyRow]:
    """A row per finished program-labelled run and encoding, ranked by compiled complexity."""
    rows = []
    for name, path in _finished(out_dir, sweep, in_context=False):
        rows.extend(_rows(name, load_results(path)))
    return sorted(rows, key=lambda row: (row.operations is None, row.operations or 0,
                                         row.layers, row.residual_width, row.task,
                                         row.positions))


def write_study(out_dir: str | Path) -> list[Path]:
    """Rebuild `study.md`, `study.html` and the plots of a sweep's output folder; their paths,
    the page first."""
    out_dir = Path(out_dir)
    sweep = load_sweep_record(out_dir / "sweep.json")
    candidates = study_rows(out_dir, sweep)
    rows = selected(candidates, sweep.selection) if sweep.selection else candidates
    in_context = [(name, load_in_context_results(path))
                  for name, path in _finished(out_dir, sweep, in_context=True)]
    blocks = study_blocks(sweep, rows, candidates, in_context)
    images = {}
    if rows or not in_context:
        one_encoding = len({row.positions for row in rows}) == 1
        images[PLOT] = plot_study([
            (row.task if one_encoding else f"{row.task} ({row.positions})",
             row.operations or 0, _plotted(row.at_2), row.fitted > 0) for row in rows])
    compared = _compared_by_bins(rows, sweep.published)
    if compared:
        images[BINS_PLOT] = plot_bins([
            (row.task, row.train_lengths[1], row.curve, sweep.published[row.task].bins)
            for row in compared])
    for name, png in images.items():   # first: the page never points at a missing plot
        write_atomically(out_dir / name, png)
    markdown, page = out_dir / "study.md", out_dir / "study.html"
    write_atomically(markdown, to_markdown(blocks).encode("utf-8"))
    write_atomically(page, to_html(blocks, images).encode("utf-8"))
    return [markdown, page, *(out_dir / name for name in images)]


def study_blocks(sweep: SweepRecord, rows: list[StudyRow],
                 candidates: list[StudyRow] | None = None,
                 in_context: list[tuple[str, dict[str, Any]]] = ()) -> list[Block]:
    """The study page, in order, independent of how it is rendered. `in_context`: (run name,
    results) of the sweep's finished in-context runs."""
    ending = [*in_context_blocks(list(in_context)), Heading("Failed or unfinished runs"),
              _unfinished(sweep)]
    if in_context and not rows:
        return [Heading(f"Study: {sweep.name}: in-context length generalization", 1),
                *([Paragraph(sweep.note)] if sweep.note else []),
                Paragraph(_timing(sweep)), *ending]
    return [
        Heading(f"Study: {sweep.name}: compiled complexity against length generalization", 1),
        Paragraph(_INTRODUCTION),
        *([Paragraph(sweep.note)] if sweep.note else []),
        Paragraph(_timing(sweep)),
        Heading("Tasks ranked by compiled complexity"),
        Paragraph(f"Exact match in %, at the evaluated lengths nearest 1.5x and 2x the longest "
                  f"training length; \"fitted\" counts the seeds whose in-distribution exact "
                  f"match reached their run's fit threshold ({_thresholds(rows)}), as in each "
                  f"run's report, and the first figure of each cell averages those seeds only "
                  f"(the second, in brackets, all seeds)."),
        _ranking_table(rows),
        Image(PLOT, "exact match at 2x the training length against compiled operations"),
        Heading("Against the published outcomes"),
        Paragraph(f"Our verdict reads the fitted seeds' exact match at 2x: >= {GENERALIZES:.0%} "
                  f"generalizes, < {FAILS:.0%} does not, between is partly. The published "
                  f"figures come from their authors' settings (the source column: training "
                  f"lengths, positions, model sizes), which differ from ours (the ranking "
                  f"table's lengths and each run's config); agreement compares verdicts, not "
                  f"figures."),
        _published_table(rows, sweep.published),
        *_bins_blocks(_compared_by_bins(rows, sweep.published), sweep.published),
        *_search_blocks(sweep, rows, candidates or rows),
        *ending,
    ]


_INTRODUCTION = (
    "Zhou et al. (2023) conjecture that transformers length-generalize on a task when a short "
    "RASP program solves it for every length. Each task below is a RASP program compiled to a "
    "transformer (its size is the program's complexity); learned transformers were trained on "
    "short inputs labelled by the program and tested on longer ones against the compiled "
    "model. Every figure comes from the runs' results.json; each run's own report has the "
    "per-length detail and counterexamples.")


def _rows(run_name: str, results: Results) -> list[StudyRow]:
    task = results.task
    compiled = task.compiled
    high = task.train_lengths[1]
    rows = []
    for run in results.runs:
        in_distribution = run.train.in_distribution_exact_match
        rows.append(StudyRow(
            task=task.name, positions=run.positions, run=run_name,
            operations=compiled.operations, layers=compiled.layers,
            heads=sum(compiled.heads_per_layer), residual_width=compiled.residual_width,
            parameters=compiled.parameters, causal=task.causal,
            train_lengths=tuple(task.train_lengths), test_lengths=tuple(task.test_lengths),
            seeds=len(run.seeds), fitted=sum(run.fitted), fit_threshold=results.fit_threshold,
            in_distribution=sum(in_distribution) / len(in_distribution),
            at_1_5=_at_least(run, math.ceil(1.5 * high)),
            at_2=_at_least(run, 2 * high),
            bins=(_bin(run, high + 1, 2 * high), _bin(run, 2 * high + 1, 3 * high)),
            curve=tuple(_over_seeds(run, entry.exact_match, entry.length)
                        for entry in sorted(run.lengths, key=lambda e: e.length)),
            learned_parameters=run.model.parameters,
            wanted_fits=int(results.config.get("training", {}).get("fitted_seeds") or
                            len(run.seeds)),
            held_out_loss=_held_out_loss(run)))
    return rows


def _held_out_loss(run: RunResult) -> float:
    losses = [loss for loss, ok in zip(run.train.final_loss, run.fitted) if ok] or \
        run.train.final_loss
    return sum(losses) / len(losses) if losses else math.nan


def selected(rows: list[StudyRow], selection: str) -> list[StudyRow]:
    """One row per (task, positions) by the selection rule (module docstring)."""
    groups: dict[tuple[str, str], list[StudyRow]] = {}
    for row in rows:
        groups.setdefault((row.task, row.positions), []).append(row)
    kept = []
    for candidates in groups.values():
        if selection == "test-bin":
            kept.append(max(candidates, key=lambda r: _bin_figure(r.bins[0], False) or -1.0))
            continue
        fitting = [r for r in candidates if r.fitted >= r.wanted_fits]
        if fitting:
            kept.append(min(fitting, key=lambda r: (r.learned_parameters, r.held_out_loss)))
        else:
            kept.append(min(candidates, key=lambda r: (-r.fitted, r.held_out_loss)))
    return [row for row in rows if row in kept]


def _over_seeds(run: RunResult, values: list[float],
                length: int) -> tuple[int, float, Optional[float]]:
    chosen = [value for value, ok in zip(values, run.fitted) if ok]
    return (length, sum(values) / len(values), sum(chosen) / len(chosen) if chosen else None)


def _bin(run: RunResult, low: int, high: int) -> Optional[Figure]:
    """Exact match over the evaluated lengths in [low, high]: each seed's mean over them,
    then (the mean over all seeds, the mean over the fitted seeds or None)."""
    entries = [entry for entry in run.lengths if low <= entry.length <= high]
    if not entries:
        return None
    per_seed = [sum(entry.exact_match[i] for entry in entries) / len(entries)
                for i in range(len(run.seeds))]
    return _over_seeds(run, per_seed, 0)[1:]


def _at_least(run: RunResult, length: int) -> Optional[tuple[int, float, Optional[float]]]:
    """(length, mean over seeds, mean over fitted seeds or None) at the shortest evaluated
    length >= `length`; None when no such length was evaluated."""
    entries = [entry for entry in run.lengths if entry.length >= length]
    if not entries:
        return None
    entry = min(entries, key=lambda entry: entry.length)
    values = entry.exact_match
    chosen = [value for value, ok in zip(values, run.fitted) if ok]
    return (entry.length, sum(values) / len(values),
            sum(chosen) / len(chosen) if chosen else None)


def _thresholds(rows: list[StudyRow]) -> str:
    """The runs' fit thresholds, as percentages ("100%")."""
    return ", ".join(f"{threshold:.0%}" for threshold in sorted({row.fit_threshold
                                                                  for row in rows}))


def _ranking_table(rows: list[StudyRow]) -> Table:
    header = ("task", "positions", "operations", "layers", "heads", "residual", "parameters",
              "causal", "trained / tested", "fitted", "in distribution", "at 1.5x", "at 2x",
              "verdict", "run")
    return Table(header, tuple(
        (row.task, row.positions, _count(row.operations), str(row.layers), str(row.heads),
         str(row.residual_width), f"{row.parameters:,}", "yes" if row.causal else "no",
         f"{span(row.train_lengths)} / {span(row.test_lengths)}",
         f"{row.fitted}/{row.seeds}", percent(row.in_distribution), _at(row.at_1_5),
         _at(row.at_2), row.verdict, Link("report", f"runs/{row.run}/report.html"))
        for row in rows))


def _published_table(rows: list[StudyRow], published: dict[str, PublishedOutcome]) -> Table:
    header = ("task", "positions", "published", "source", "ours at 1.5x", "ours at 2x",
              "our verdict", "agreement")
    table_rows = []
    for row in rows:
        paper = published.get(row.task)
        if paper is None:
            claim, source, agreement = "none given", "", "n/a"
        else:
            claim = (("generalizes" if paper.generalizes else "does not generalize") +
                     (f": {paper.result}" if paper.result else ""))
            source = paper.source or ""
            agreement = (_bins_agreement(_bin_figure(row.bins[0], paper.every_seed), paper)
                         if paper.compare == "1x-2x" else _agreement(row, paper.generalizes))
        table_rows.append((row.task, row.positions, claim, source, _at(row.at_1_5),
                           _at(row.at_2), row.verdict, agreement))
    return Table(header, tuple(table_rows))


def _compared_by_bins(rows: list[StudyRow],
                      published: dict[str, PublishedOutcome]) -> list[StudyRow]:
    return [row for row in rows
            if row.task in published and published[row.task].compare == "1x-2x"]


def _bins_blocks(rows: list[StudyRow], published: dict[str, PublishedOutcome]) -> list[Block]:
    """The comparison by bins (module docstring), when some published outcome asks for it."""
    if not rows:
        return []
    table = []
    for row in rows:
        paper = published[row.task]
        ours = [_bin_figure(figure, paper.every_seed) for figure in row.bins]
        table.append((
            row.task, row.positions,
            " / ".join(f"{value:.4f}" for value in paper.bins) if paper.bins else
            ("generalizes" if paper.generalizes else "does not generalize"),
            f"{span(row.train_lengths)}: {percent(row.in_distribution)}",
            " / ".join(_shown_bin(figure, paper.every_seed) for figure in row.bins),
            f"{row.fitted}/{row.seeds}", _bins_agreement(ours[0], paper),
            paper.source or ""))
    return [
        Heading("Against the published figures, by bins"),
        Paragraph(
            f"Exact match over the test lengths in (T, 2T] and (2T, 3T], T the longest "
            f"training length: each seed's mean over the evaluated lengths of the bin, then "
            f"the mean over the fitted seeds (in brackets over all seeds; a published figure "
            f"that averages every seed, fitted or not, is compared with ours over every seed). "
            f"Rule: a task published as generalizing (>= {PUBLISHED_GENERALIZES:.2f} at "
            f"1x-2x, or said to generalize where no figure is given) agrees when ours is >= "
            f"{AGREES_AT:.2f} at 1x-2x; one published as failing (< {AGREES_AT:.2f}) agrees "
            f"when ours is < {AGREES_AT:.2f} there; with no fitted seed the comparison is "
            f"inconclusive. The published lengths are theirs (T = 50 for Huang et al. 2025); "
            f"ours are the rows' training lengths."),
        Table(("task", "positions", "published 1x-2x / 2x-3x", "ours in distribution",
               "ours 1x-2x / 2x-3x", "fitted / tried", "agreement", "source"),
              tuple(table)),
        Paragraph(f"{sum(r[6] == 'agrees' for r in table)} of {len(table)} agree."),
        Image(BINS_PLOT, "exact match against length, published bin means as segments"),
    ]


def _search_blocks(sweep: SweepRecord, rows: list[StudyRow],
                   candidates: list[StudyRow]) -> list[Block]:
    """Every candidate of a [search] and the one kept per task and encoding."""
    if not sweep.selection:
        return []
    rule = {"smallest-fitted":
            "the fewest learned parameters among the configurations whose wanted seeds fitted "
            "(ties: the lower held-out in-distribution loss; none fitted: the most fitted "
            "seeds, then the lower loss); no test length was looked at",
            "test-bin":
            "the best exact match at 1x-2x the training length, a test result: the figures "
            "of the kept configurations are optimistic, as the published ones chosen the "
            "same way"}[sweep.selection]
    return [
        Heading("Configurations searched"),
        Paragraph(f"Selection \"{sweep.selection}\" over {', '.join(sweep.search or [])}: "
                  f"{rule}."),
        Table(("task", "positions", "run", "learned parameters", "fitted", "held-out loss",
               "ours 1x-2x", "kept"),
              tuple((row.task, row.positions, row.run, f"{row.learned_parameters:,}",
                     f"{row.fitted}/{row.seeds}", f"{row.held_out_loss:.4f}",
                     _shown_bin(row.bins[0], False), "yes" if row in rows else "")
                    for row in candidates)),
    ]


def _bin_figure(figure: Optional[Figure], every_seed: bool) -> Optional[float]:
    """The figure that is compared: the fitted seeds' mean, or all seeds' for `every_seed`."""
    if figure is None:
        return None
    return figure[0] if every_seed else figure[1]


def _shown_bin(figure: Optional[Figure], every_seed: bool) -> str:
    if figure is None:
        return "n/a"
    if every_seed:
        return f"{percent(figure[0])} (all seeds)"
    return f"{percent(figure[1])} ({percent(figure[0])})"


def _bins_agreement(ours: Optional[float], paper: PublishedOutcome) -> str:
    """The rule of `compare = "1x-2x"` (module docstring)."""
    if ours is None:
        return "inconclusive"
    if paper.bins:
        if paper.bins[0] >= PUBLISHED_GENERALIZES:
            generalizes = True
        elif paper.bins[0] < AGREES_AT:
            generalizes = False
        else:
            return "n/a (published between the thresholds)"
    else:
        generalizes = paper.generalizes
    return "agrees" if (ours >= AGREES_AT) == generalizes else "differs"


def _agreement(row: StudyRow, generalizes: bool) -> str:
    ours = {"generalizes": True, "does not generalize": False}.get(row.verdict)
    if ours is None:
        return "inconclusive"
    return "agrees" if ours == generalizes else "differs"


def _unfinished(sweep: SweepRecord) -> Block:
    failed = [(name, entry.status, entry.error or "")
              for name, entry in sweep.runs.items()
              if entry.status not in ("done", "skipped")]
    if not failed:
        return Paragraph("None: every run of the sweep finished.")
    return Table(("run", "status", "error"), tuple(failed))


def _timing(sweep: SweepRecord) -> str:
    runs = [entry for entry in sweep.runs.values() if entry.seconds is not None]
    total = sum(entry.seconds for entry in runs)
    wall = sweep.wall_seconds
    machine = sweep.machine
    where = "" if machine is None else f" on {machine.cpus} CPU cores ({machine.backend})" \
        if machine.device in (None, "cpu") else \
        f" on {machine.cpus} CPU cores and one {machine.device} ({machine.backend})"
    shown = (f"Wall time of the sweep's last invocation{where}: {_minutes(wall)}"
             if wall is not None else "Wall time not recorded")
    skipped = sum(entry.status == "skipped" for entry in sweep.runs.values())
    note = (f" ({skipped} runs finished in an earlier invocation and were skipped, so the "
            f"whole suite took longer)" if skipped else "")
    return f"{shown}{note}; the runs' own times add up to {_minutes(total)}."


def _finished(out_dir: Path, sweep: SweepRecord, in_context: bool) -> list[tuple[str, Path]]:
    """(run name, results.json) of the sweep's finished runs, in-context ones or the others."""
    paths = [(name, _run_folder(out_dir, entry) / "results.json")
             for name, entry in sweep.runs.items() if entry.status in ("done", "skipped")]
    return [(name, path) for name, path in paths if is_in_context_results(path) == in_context]


def _run_folder(out_dir: Path, entry: SweepEntry) -> Path:
    """A run's folder: the one in this output folder (which may have been moved or copied
    since the sweep recorded it), else the recorded one."""
    recorded = Path(entry.run_dir)
    here = out_dir / "runs" / recorded.name
    return here if here.is_dir() else recorded


def _plotted(value: Optional[tuple[int, float, Optional[float]]]) -> float:
    """The figure the scatter shows: the fitted seeds' mean, else all seeds', else NaN."""
    if value is None:
        return math.nan
    return value[2] if value[2] is not None else value[1]


def _at(value: Optional[tuple[int, float, Optional[float]]]) -> str:
    if value is None:
        return "n/a"
    length, everyone, fitted = value
    return f"{percent(fitted)} ({percent(everyone)}) at {length}"


def _count(value: Optional[int]) -> str:
    return "n/a" if value is None else str(value)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"
