"""Statistics of a run over ranges of lengths: what the summary tables of reports show.

For a range of lengths, each seed's value of a metric is its mean over the range's evaluated
lengths, weighted by their example counts; the range shows the mean over seeds with a 95%
t-interval over seeds (`mean_ci95`, clipped to [0, 1]). "Fitted seeds only" averages the seeds
that fitted the training range, the only ones whose failure to extrapolate says something about
the model. Test ranges of more than MAX_TEST_BINS lengths are shown in bins of a round width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from generalization.evaluation.metrics import AUTOREGRESSIVE_METRICS, mean_ci95
from generalization.reporting.results import LengthResult, Results, RunResult

# Test ranges with more lengths than this are shown in bins of a round width, not per length.
MAX_TEST_BINS = 8
_BIN_WIDTHS = (1, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


@dataclass(frozen=True)
class LengthRange:
    """An inclusive range of input lengths shown as one column of the summary."""

    split: str
    low: int
    high: int

    @property
    def label(self) -> str:
        span = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"train {span}" if self.split == "train" else span


@dataclass(frozen=True)
class MetricStats:
    """A metric over seeds: the mean and its 95% interval (None: no length evaluated)."""

    mean: float | None
    ci95: list[float] | None


@dataclass(frozen=True)
class RangeStats:
    """A run's metrics over one length range."""

    span: LengthRange
    evaluated: int                     # evaluated lengths in the range
    metrics: dict[str, MetricStats]    # exact_match, token_accuracy (+ autoregressive ones)
    exact_match_fitted_mean: float | None

    @property
    def label(self) -> str:
        return self.span.label

    @property
    def exact_match_mean(self) -> float | None:
        return self.metrics["exact_match"].mean


@dataclass(frozen=True)
class SummaryRow:
    """One positional encoding: seeds, fitted seeds, and the stats of every range."""

    positions: str
    seeds: int
    fitted: int
    fitted_seeds: list[int]
    ranges: list[RangeStats] = field(default_factory=list)


def length_ranges(train_lengths: list[int], test_lengths: list[int]) -> list[LengthRange]:
    """The whole training range, then the test range per length, or in bins of a round
    width (5, 10, 20, ...) when it has more than MAX_TEST_BINS lengths."""
    train_low, train_high = train_lengths
    low, high = test_lengths
    count = high - low + 1
    width = next((width for width in _BIN_WIDTHS if math.ceil(count / width) <= MAX_TEST_BINS),
                 math.ceil(count / MAX_TEST_BINS))
    tests = [LengthRange("test", start, min(start + width - 1, high))
             for start in range(low, high + 1, width)]
    return [LengthRange("train", train_low, train_high), *tests]


def range_stats(run: RunResult, span: LengthRange) -> RangeStats:
    """A run's metrics over one length range (None values when no length in it was evaluated)."""
    entries = [entry for entry in run.lengths
               if entry.split == span.split and span.low <= entry.length <= span.high]
    seeds = len(run.seeds)
    # The autoregressive metrics where every entry has them (autoregressive tasks).
    extra = [metric for metric in AUTOREGRESSIVE_METRICS
             if entries and all(entry.per_seed(metric) is not None for entry in entries)]
    metrics = {}
    for metric in ("exact_match", "token_accuracy", *extra):
        per_seed = _per_seed_means(entries, metric, seeds)
        if per_seed:
            mean, (low, high) = mean_ci95(per_seed)
            metrics[metric] = MetricStats(mean, [low, high])
        else:
            metrics[metric] = MetricStats(None, None)
    fitted = [value for value, ok in
              zip(_per_seed_means(entries, "exact_match", seeds), run.fitted) if ok]
    return RangeStats(span, len(entries), metrics,
                      sum(fitted) / len(fitted) if fitted else None)


def _per_seed_means(entries: list[LengthResult], metric: str, seeds: int) -> list[float]:
    """Each seed's metric averaged over the entries, weighted by their example counts."""
    total = sum(entry.examples for entry in entries)
    if total == 0:
        return []
    return [sum(entry.per_seed(metric)[seed] * entry.examples for entry in entries) / total
            for seed in range(seeds)]


def summary_table(results: Results) -> list[SummaryRow]:
    """One row per positional encoding, the `range_stats` of the training range then of each
    test bin, in the order of `length_ranges`."""
    spans = length_ranges(results.task.train_lengths, results.task.test_lengths)
    return [SummaryRow(run.positions, len(run.seeds), sum(run.fitted), run.fitted_seeds,
                       [range_stats(run, span) for span in spans])
            for run in results.runs]
