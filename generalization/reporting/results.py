"""The results format: what `results.json` and `sweep.json` hold, as typed records.

    results = load_results("runs/reverse/results.json")     # checked; ResultsError otherwise
    results.task.compiled.layers, results.runs[0].fitted, results.runs[0].lengths[3].exact_match
    results.to_dict()                                        # the JSON data again

These classes are the one definition of the format: the experiment builds a `Results` and
writes it, and the report, the study page, the sweep and the command line read it back through
them. `results_schema.md` documents every field (a test keeps the two in step). Compatibility:
readers ignore keys they do not know, so a writer may *add* keys within a schema version, and
keys added after the first results were written are optional (they read as None or their
default when absent); removing or renaming a key, or changing what a value means, needs a new
schema tag.

A seed *fitted* when its in-distribution exact match reached the run's
`training.fit_threshold` (`RunResult.fitted`, written by the training loop): the one meaning
of the word in every report and study.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from generalization.config.sweep import PublishedOutcome
from generalization.evaluation.metrics import AUTOREGRESSIVE_METRICS, mean_ci95
from generalization.reporting.records import Leaf, invalid, plain, read, show
from generalization.settings import Invalid, is_int, is_number
from rasp.ast import Span
from rasp.errors import RaspError
from rasp.files import write_atomically

SCHEMA = "rasp-generalization/1"
SWEEP_SCHEMA = "rasp-sweep/1"

Bounds = Annotated[list[int], Leaf(
    "[low, high] integers with low <= high",
    lambda value: isinstance(value, list) and len(value) == 2 and all(map(is_int, value))
    and value[0] <= value[1])]
Interval = Annotated[list[float], Leaf(
    "[low, high] numbers",
    lambda value: isinstance(value, list) and len(value) == 2 and all(map(is_number, value)))]
Split = Annotated[str, Leaf('"train" or "test"', lambda value: value in ("train", "test"))]


class ResultsError(RaspError):
    """A results.json or sweep.json that is missing, not JSON, or not of its format."""

    kind = "results error"


@dataclass
class CompiledRecord:
    """The compiled reference model."""

    layers: int
    heads_per_layer: list[int]
    residual_width: int
    parameters: int
    compile_seconds: float
    max_seq_len: int
    operations: int | None = None           # absent in results written before it was recorded
    compiles_causally: bool | None = None   # likewise


@dataclass
class TaskRecord:
    """The task and its compiled reference model."""

    name: str
    program: str
    sop: str
    vocab: list[Any]
    train_lengths: Bounds
    test_lengths: Bounds
    causal: bool
    compiled: CompiledRecord
    format: str | None = None       # "per_position" or "autoregressive"; absent: per_position
    end_token: Any = None           # autoregressive tasks only
    classes: list[Any] | None = None   # the s-op's output values; absent in older results
    source: str | None = None          # the program's text; absent in older results

    @property
    def autoregressive(self) -> bool:
        return self.format == "autoregressive"


@dataclass
class ModelRecord:
    """One learned model's shape; `parameters` of one seed."""

    num_layers: int
    num_heads: int
    width: int
    mlp_width: int
    parameters: int
    max_position: int | None = None


@dataclass
class TrainingCheck:
    """One in-distribution check during training: per seed, the loss and exact match on a
    fresh batch of training lengths, and whether the seed had fitted (a fitted seed keeps the
    figures of the check at which it fitted)."""

    step: int
    loss: list[float]
    exact_match: list[float]
    fitted: list[bool]


@dataclass
class TrainingRecord:
    """How training went, per seed (and its time, all seeds together)."""

    steps: list[int]
    final_loss: list[float]
    in_distribution_exact_match: list[float]
    seconds: float
    history: list[TrainingCheck] | None = None   # every check; absent in older results


@dataclass
class LengthResult:
    """The metrics of every seed at one evaluated length, with their mean and 95% interval."""

    length: int
    split: Split
    examples: int
    exact_match: list[float]
    token_accuracy: list[float]
    exact_match_mean: float
    exact_match_ci95: Interval
    token_accuracy_mean: float
    token_accuracy_ci95: Interval
    exact_match_fitted_mean: float | None
    content_exact_match: list[float] | None = None       # autoregressive tasks only
    content_exact_match_mean: float | None = None
    content_exact_match_ci95: Interval | None = None
    end_accuracy: list[float] | None = None
    end_accuracy_mean: float | None = None
    end_accuracy_ci95: Interval | None = None

    @classmethod
    def measured(cls, length: int, split: str, metrics: dict[str, Any],
                 fitted: list[bool]) -> LengthResult:
        """The entry of `evaluation.predict.evaluate_lengths`'s metrics at one length: per
        seed values, their means and intervals, and the mean over the fitted seeds."""
        stats: dict[str, Any] = {}
        for metric in ("exact_match", "token_accuracy", *AUTOREGRESSIVE_METRICS):
            if metric in metrics:
                mean, interval = mean_ci95(metrics[metric])
                stats.update({metric: metrics[metric], f"{metric}_mean": mean,
                              f"{metric}_ci95": list(interval)})
        of_fitted = [value for value, ok in zip(metrics["exact_match"], fitted) if ok]
        return cls(length=length, split=split, examples=metrics["examples"],
                   exact_match_fitted_mean=sum(of_fitted) / len(of_fitted) if of_fitted
                   else None, **stats)

    def per_seed(self, metric: str) -> list[float] | None:
        """The per-seed values of `metric` ("exact_match", ...), None where not measured."""
        return getattr(self, metric)


@dataclass
class Counterexample:
    """An input on which a learned seed and the compiled program disagree, shrunk."""

    seed: int
    length: int
    input: list[Any]
    expected: list[Any]
    predicted: list[Any]


@dataclass
class NormRecord:
    """The token-norm diagnostic of one encoding (`evaluation/norms.py`): mean L2 norms of the
    residual stream over seeds and evaluation inputs, padding excluded; null where no input
    reaches a position or no token falls in a bucket."""

    layers: list[str]                             # "embedding", "block 1", ..
    by_position: list[list[float | None]]         # [layer][position]
    lengths: list[int]
    by_length: list[list[float]]                  # [length][layer]
    frequency_buckets: list[str]                  # rare, middle, frequent
    by_frequency_train: list[list[float] | None]  # [bucket][layer], training lengths
    by_frequency_test: list[list[float] | None]   # [bucket][layer], test lengths
    train_width: int                              # the longest training input, in positions


@dataclass
class RunResult:
    """One positional encoding: every seed's training and metrics."""

    positions: str
    model: ModelRecord
    seeds: list[int]
    fitted: list[bool]
    train: TrainingRecord
    lengths: list[LengthResult]
    counterexamples: list[Counterexample]
    # "random", "compiled" or "from RUN seed S" (`init_from`); absent in older results
    initialisation: str | None = None
    norms: NormRecord | None = None     # the token-norm diagnostic; absent in older results

    @property
    def fitted_seeds(self) -> list[int]:
        return [seed for seed, ok in zip(self.seeds, self.fitted) if ok]

    def check(self, key: str) -> None:
        """Every per-seed list has one value per seed (the report pairs them by index)."""
        lists = [("fitted", self.fitted), ("train.steps", self.train.steps),
                 ("train.final_loss", self.train.final_loss),
                 ("train.in_distribution_exact_match", self.train.in_distribution_exact_match)]
        for index, check in enumerate(self.train.history or ()):
            lists += [(f"train.history[{index}].{name}", getattr(check, name))
                      for name in ("loss", "exact_match", "fitted")]
        for index, entry in enumerate(self.lengths):
            lists += [(f"lengths[{index}].{metric}", entry.per_seed(metric))
                      for metric in ("exact_match", "token_accuracy", *AUTOREGRESSIVE_METRICS)
                      if entry.per_seed(metric) is not None]
        for name, values in lists:
            if len(values) != len(self.seeds):
                raise invalid(f"{key}.{name}", f"expected {len(self.seeds)} values (one per "
                                               f"seed), got {len(values)}")


@dataclass
class Timings:
    """Wall-clock seconds of each stage of the command."""

    total_seconds: float
    compile_seconds: float
    check_seconds: float
    train_seconds: float
    evaluate_seconds: float
    counterexample_seconds: float


class _File:
    """A record stored as a file of its own, tagged with its schema version."""

    TAG: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return plain(self)

    @classmethod
    def from_dict(cls: type[F], data: Any) -> F:
        """Checked data of this format; `settings.Invalid` at the first key that breaks it."""
        _check_tag(data, cls.TAG)
        return read(cls, data)


F = TypeVar("F", bound=_File)


@dataclass
class Results(_File):
    """The record of one experiment: `results.json`."""

    TAG = SCHEMA

    schema: str
    created: str
    config: dict[str, Any]       # the experiment config as plain data, defaults filled in
    versions: dict[str, str]
    task: TaskRecord
    runs: list[RunResult]
    timings: Timings

    @property
    def fit_threshold(self) -> float:
        """The in-distribution exact match at which a seed counted as fitted."""
        return self.config.get("training", {}).get("fit_threshold", 1.0)



def load_results(path: str | Path) -> Results:
    """The results of a run, checked against the format (tag, required keys, types).

    Raises `ResultsError` with one line naming the file and the offending key."""
    return _load(Path(path), Results.from_dict)


def write_results(results: Results, path: str | Path) -> None:
    """Write `results` to `path` atomically."""
    write_atomically(path, json.dumps(results.to_dict(), indent=1) + "\n")


# ----------------------------------------------------------------------------- sweep.json


@dataclass
class Machine:
    cpus: int
    backend: str        # jax's default backend: cpu, gpu, tpu
    device: str | None = None   # the kind of JAX's device: "cpu", "NVIDIA H200", ...


@dataclass
class SweepEntry:
    """One run of a sweep: `pending`, `done`, `skipped` (finished earlier) or `failed`."""

    status: str
    run_dir: str
    seconds: float | None
    summary: list[dict[str, Any]] | None = None   # per encoding: fitted, exact match per range
    error: str | None = None


@dataclass
class SweepRecord(_File):
    """The record of a sweep: `sweep.json`, rewritten after every run."""

    TAG = SWEEP_SCHEMA

    schema: str
    name: str
    sweep: str                   # the sweep file
    counts: dict[str, int]       # runs per status
    runs: dict[str, SweepEntry]
    published: dict[str, PublishedOutcome]
    wall_seconds: float | None = None
    machine: Machine | None = None
    backend: str | None = None   # "local" or "ray ADDRESS"
    note: str = ""
    search: list[str] | None = None   # the keys of the sweep's [search], if it has one
    selection: str | None = None                       # its selection rule



def load_sweep_record(path: str | Path) -> SweepRecord:
    """A sweep's `sweep.json`, checked; `ResultsError` naming the file and key."""
    return _load(Path(path), SweepRecord.from_dict)


def _check_tag(data: Any, tag: str) -> None:
    """The schema tag first: a file of another version would otherwise report a missing key."""
    if not isinstance(data, dict):
        raise invalid("(top level)", f"expected an object, got {show(data)}")
    if "schema" not in data:
        raise invalid("schema", "missing")
    if data["schema"] != tag:
        raise invalid("schema", f"expected {json.dumps(tag)}, got {show(data['schema'])}")


def _load(path: Path, parse: Any) -> Any:
    place = Span(str(path), 0, 0, 0, 0)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"cannot read {path.name}: {error.strerror or error}", place,
                           hint="pass the folder that `rasp generalize -o` or `rasp sweep -o` "
                                "wrote") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        where = Span(str(path), error.lineno, error.colno, error.lineno, error.colno + 1)
        raise ResultsError(f"not valid JSON: {error.msg}", where) from None
    try:
        return parse(data)
    except Invalid as error:
        raise ResultsError(str(error), place) from None
