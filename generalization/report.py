"""The report of a generalization run, rebuilt from its results.json alone.

`write_report(run_dir)` reads `run_dir/results.json` (schema in results_schema.md) and writes
`report.md`, `report.html` (self-contained: inline CSS, plots as base64 data URIs) and the PNG
plots in `run_dir/plots/`. Every file is written to a temporary file and moved into place, so
a reader never sees half a report. The markdown and the HTML are two renderings of one list
of blocks, so they cannot disagree.

Numbers: exact match is the fraction of inputs whose whole output equals the compiled model's;
token accuracy the fraction of positions that do. For a range of lengths, each seed's value is
its mean over the range's evaluated lengths (weighted by their example counts), and the range
shows the mean over seeds with a 95% t-interval over seeds (`mean_ci95`), clipped to [0, 1].
"Fitted seeds only" averages the seeds that fitted the training range, the only ones whose
failure to extrapolate says something about the positional encoding.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from generalization.evaluate import AUTOREGRESSIVE_METRICS, mean_ci95
from generalization.plots import METRICS, plot_metric
from rasp.ast import Span
from rasp.errors import RaspError
from rasp.files import write_atomically

SCHEMA = "rasp-generalization/1"

# Test ranges with more lengths than this are shown in bins of a round width, not per length.
MAX_TEST_BINS = 8
# Column names of the autoregressive metrics.
_METRIC_LABELS = {"content_exact_match": "content exact match", "end_accuracy": "end accuracy"}
_BIN_WIDTHS = (1, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)


class ResultsError(RaspError):
    """A results.json that is missing, not JSON, or not of the documented schema."""

    kind = "results error"


# ----------------------------------------------------------------- loading and validation


@dataclass(frozen=True)
class _Leaf:
    """A schema leaf: what the value should be, in words, and the test for it."""

    description: str
    test: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but `true` where a number belongs is a broken file.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STRING = _Leaf("a string", lambda value: isinstance(value, str))
BOOL = _Leaf("true or false", lambda value: isinstance(value, bool))
INT = _Leaf("an integer", _is_int)
NUMBER = _Leaf("a number", _is_number)
NUMBER_OR_NULL = _Leaf("a number or null", lambda value: value is None or _is_number(value))
OBJECT = _Leaf("an object", lambda value: isinstance(value, dict))
LIST = _Leaf("a list", lambda value: isinstance(value, list))
SPLIT = _Leaf('"train" or "test"', lambda value: value in ("train", "test"))
INT_RANGE = _Leaf("[low, high] integers with low <= high",
                  lambda value: isinstance(value, list) and len(value) == 2
                  and all(_is_int(bound) for bound in value) and value[0] <= value[1])
INTERVAL = _Leaf("[low, high] numbers",
                 lambda value: isinstance(value, list) and len(value) == 2
                 and all(_is_number(bound) for bound in value))

# A dict is an object with (at least) these keys, a one-element list a list of that item.
_LENGTH_ENTRY = {
    "length": INT, "split": SPLIT, "examples": INT,
    "exact_match": [NUMBER], "token_accuracy": [NUMBER],
    "exact_match_mean": NUMBER, "exact_match_ci95": INTERVAL,
    "token_accuracy_mean": NUMBER, "token_accuracy_ci95": INTERVAL,
    "exact_match_fitted_mean": NUMBER_OR_NULL,
}
_RUN = {
    "positions": STRING,
    "model": {"num_layers": INT, "num_heads": INT, "width": INT, "mlp_width": INT,
              "parameters": INT},
    "seeds": [INT],
    "fitted": [BOOL],
    "train": {"steps": [INT], "final_loss": [NUMBER], "in_distribution_exact_match": [NUMBER],
              "seconds": NUMBER},
    "lengths": [_LENGTH_ENTRY],
    "counterexamples": [{"seed": INT, "length": INT, "input": LIST, "expected": LIST,
                         "predicted": LIST}],
}
_RESULTS = {
    "schema": STRING,
    "created": STRING,
    "config": OBJECT,
    "versions": OBJECT,
    "task": {"name": STRING, "program": STRING, "sop": STRING, "vocab": LIST,
             "train_lengths": INT_RANGE, "test_lengths": INT_RANGE, "causal": BOOL,
             "compiled": {"layers": INT, "heads_per_layer": [INT], "residual_width": INT,
                          "parameters": INT, "compile_seconds": NUMBER, "max_seq_len": INT}},
    "runs": [_RUN],
    "timings": {"total_seconds": NUMBER, "compile_seconds": NUMBER, "check_seconds": NUMBER,
                "train_seconds": NUMBER, "evaluate_seconds": NUMBER,
                "counterexample_seconds": NUMBER},
}
# Per-seed lists inside a run, which must have one value per seed.
_PER_SEED = (("fitted",), ("train", "steps"), ("train", "final_loss"),
             ("train", "in_distribution_exact_match"))


class _Invalid(Exception):
    """A schema violation at a key path such as `runs[0].lengths[2].exact_match`."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")


def load_results(path: Union[str, Path]) -> dict:
    """The results of a run, checked against the schema (tag, required keys, types).

    Raises `ResultsError` with one line naming the file and the offending key."""
    path = Path(path)
    place = Span(str(path), 0, 0, 0, 0)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ResultsError(f"cannot read results: {error.strerror or error}", place) from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as error:
        where = Span(str(path), error.lineno, error.colno, error.lineno, error.colno + 1)
        raise ResultsError(f"not valid JSON: {error.msg}", where) from None
    try:
        _check_results(results)
    except _Invalid as error:
        raise ResultsError(str(error), place) from None
    return results


def _check_results(results: Any) -> None:
    """Raise `_Invalid` at the first key that breaks the schema."""
    if not isinstance(results, dict):
        raise _Invalid("(top level)", f"expected an object, got {_show(results)}")
    # The tag first: a file of another schema version would otherwise report a missing key.
    if "schema" not in results:
        raise _Invalid("schema", "missing")
    if results["schema"] != SCHEMA:
        raise _Invalid("schema", f"expected {json.dumps(SCHEMA)}, got {_show(results['schema'])}")
    _check(results, _RESULTS, "")
    for index, run in enumerate(results["runs"]):
        _check_seed_counts(run, f"runs[{index}]")


def _check(value: Any, spec: Any, key: str) -> None:
    """Check `value` against `spec` (a _Leaf, a dict of required keys, or [item spec])."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _Invalid(key, f"expected an object, got {_show(value)}")
        for name, inner in spec.items():
            inner_key = f"{key}.{name}" if key else name
            if name not in value:
                raise _Invalid(inner_key, "missing")
            _check(value[name], inner, inner_key)
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise _Invalid(key, f"expected a list, got {_show(value)}")
        for index, item in enumerate(value):
            _check(item, spec[0], f"{key}[{index}]")
    elif not spec.test(value):
        raise _Invalid(key, f"expected {spec.description}, got {_show(value)}")


def _check_seed_counts(run: dict, key: str) -> None:
    """Every per-seed list of a run has one value per seed (the report pairs them by index)."""
    seeds = len(run["seeds"])
    lists = [(".".join(names), _dig(run, names)) for names in _PER_SEED]
    for index, entry in enumerate(run["lengths"]):
        lists += [(f"lengths[{index}].{name}", entry[name])
                  for name in ("exact_match", "token_accuracy", *AUTOREGRESSIVE_METRICS)
                  if name in entry]
    for name, values in lists:
        if len(values) != seeds:
            raise _Invalid(f"{key}.{name}",
                           f"expected {seeds} values (one per seed), got {len(values)}")


def _dig(value: dict, names: tuple[str, ...]) -> Any:
    for name in names:
        value = value[name]
    return value


def _show(value: Any) -> str:
    """A short rendering of an offending value for a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------- length ranges and summary


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


def length_ranges(task: dict) -> list[LengthRange]:
    """The whole training range, then the test range per length, or in bins of a round
    width (5, 10, 20, ...) when it has more than MAX_TEST_BINS lengths."""
    train_low, train_high = task["train_lengths"]
    low, high = task["test_lengths"]
    count = high - low + 1
    width = next((width for width in _BIN_WIDTHS if math.ceil(count / width) <= MAX_TEST_BINS),
                 math.ceil(count / MAX_TEST_BINS))
    tests = [LengthRange("test", start, min(start + width - 1, high))
             for start in range(low, high + 1, width)]
    return [LengthRange("train", train_low, train_high), *tests]


def range_stats(run: dict, span: LengthRange) -> dict:
    """A run's metrics over one length range (None values when no length in it was evaluated)."""
    entries = [entry for entry in run["lengths"]
               if entry["split"] == span.split and span.low <= entry["length"] <= span.high]
    stats: dict[str, Any] = {"label": span.label, "split": span.split,
                             "lengths": [span.low, span.high], "evaluated": len(entries)}
    seeds = len(run["seeds"])
    # The autoregressive metrics where every entry has them (autoregressive tasks).
    extra = [metric for metric in AUTOREGRESSIVE_METRICS
             if entries and all(metric in entry for entry in entries)]
    for metric in ("exact_match", "token_accuracy", *extra):
        mean, interval = _mean_interval(_per_seed_means(entries, metric, seeds))
        stats[f"{metric}_mean"], stats[f"{metric}_ci95"] = mean, interval
    fitted = [value for value, ok in
              zip(_per_seed_means(entries, "exact_match", seeds), run["fitted"]) if ok]
    stats["exact_match_fitted_mean"] = sum(fitted) / len(fitted) if fitted else None
    return stats


def _mean_interval(per_seed: list[float]) -> tuple[Optional[float], Optional[list[float]]]:
    """The mean over seeds and its 95% interval (clipped to [0, 1]); Nones for no values."""
    if not per_seed:
        return None, None
    mean, (low, high) = mean_ci95(per_seed)
    return mean, [low, high]


def _per_seed_means(entries: list[dict], metric: str, seeds: int) -> list[float]:
    """Each seed's metric averaged over the entries, weighted by their example counts."""
    total = sum(entry["examples"] for entry in entries)
    if total == 0:
        return []
    return [sum(entry[metric][seed] * entry["examples"] for entry in entries) / total
            for seed in range(seeds)]


def summary_table(results: dict) -> list[dict]:
    """One row per positional encoding: `positions`, `seeds` (count), `fitted` (count),
    `fitted_seeds` (their seed numbers) and `ranges`, the `range_stats` of the training range
    then of each test bin, in the order of `length_ranges`."""
    spans = length_ranges(results["task"])
    return [{"positions": run["positions"],
             "seeds": len(run["seeds"]),
             "fitted": sum(run["fitted"]),
             "fitted_seeds": [seed for seed, ok in zip(run["seeds"], run["fitted"]) if ok],
             "ranges": [range_stats(run, span) for span in spans]}
            for run in results["runs"]]


# ----------------------------------------------------------------- the report as blocks


@dataclass(frozen=True)
class Mono:
    """Cell text shown in a monospace font (token sequences, file names)."""

    text: str


Cell = Union[str, Mono]


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the report's title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text, shown as written."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of plain or monospace cells under a header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Image:
    """A plot: linked from the markdown, embedded in the HTML."""

    path: str  # relative to the run folder
    alt: str


@dataclass(frozen=True)
class Preformatted:
    """A block of monospace text kept line for line."""

    text: str
    language: str = ""  # for markdown's syntax highlighting


Block = Union[Heading, Paragraph, Table, Image, Preformatted]


def report_blocks(results: dict) -> list[Block]:
    """The whole report, in order, independent of how it is rendered."""
    task = results["task"]
    summary = summary_table(results)
    return [
        Heading(f"Length generalization: {task['name']}", 1),
        Paragraph(_introduction(results)),
        Paragraph(_DEFINITIONS),
        *([Paragraph(_AUTOREGRESSIVE_DEFINITIONS)] if task.get("format") == "autoregressive"
          else []),
        Heading("Task and compiled model"),
        _task_table(task),
        Heading("Summary"),
        Paragraph("Exact match, in %, mean over all seeds, per length range."),
        _summary_block(summary),
        Heading("Training"),
        _training_table(results["runs"]),
        Heading("Exact match by length range"),
        _ranges_table(summary),
        *[Image(f"plots/{name}", f"{label} against length") for name, _, label in METRICS],
        Heading("Exact match per length"),
        Paragraph("Mean exact match over all seeds, in %."),
        _per_length_table(results["runs"]),
        Heading("Counterexamples"),
        *_counterexample_blocks(results["runs"]),
        Heading("Timings"),
        Table(("stage", "seconds"),
              tuple((name.removesuffix("_seconds"), _number(value))
                    for name, value in results["timings"].items())),
        Heading("Versions"),
        Table(("package", "version"),
              tuple((name, str(version)) for name, version in results["versions"].items())),
        Heading("Configuration"),
        Preformatted(_compact_json(results["config"]), "json"),
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


def _introduction(results: dict) -> str:
    task = results["task"]
    return (f"Transformers trained on the labels of s-op {task['sop']} of {task['program']} "
            f"at lengths {_span(task['train_lengths'])}, tested at lengths "
            f"{_span(task['test_lengths'])} against the compiled program; one run per "
            f"positional encoding. Results of {results['created']}.")


def _task_table(task: dict) -> Table:
    compiled = task["compiled"]
    rows: list[tuple[Cell, ...]] = [
        ("program", Mono(task["program"])),
        ("s-op", Mono(task["sop"])),
        ("vocabulary", Mono(_tokens(task["vocab"]))),
        ("training lengths", _span(task["train_lengths"])),
        ("test lengths", _span(task["test_lengths"])),
        ("causal", "yes" if task["causal"] else "no"),
        *([("format", f"autoregressive, end token {_tokens([task['end_token']])}")]
          if task.get("format") == "autoregressive" else []),
        ("compiled layers", str(compiled["layers"])),
        ("compiled heads per layer", ", ".join(map(str, compiled["heads_per_layer"]))),
        ("compiled residual width", str(compiled["residual_width"])),
        ("compiled parameters", f"{compiled['parameters']:,}"),
        *([("compiled operations", str(compiled["operations"]))]
          if "operations" in compiled else []),   # absent from results written before it was
        *([("compiles as a causal decoder", "yes" if compiled["compiles_causally"] else "no")]
          if "compiles_causally" in compiled else []),
        ("compiled max length", str(compiled["max_seq_len"])),
        ("compile seconds", _number(compiled["compile_seconds"])),
    ]
    return Table(("property", "value"), tuple(rows))


def _summary_block(summary: list[dict]) -> Table:
    labels = tuple(stats["label"] for stats in summary[0]["ranges"]) if summary else ()
    rows = tuple((row["positions"], f"{row['fitted']}/{row['seeds']}",
                  *(_percent(stats["exact_match_mean"]) for stats in row["ranges"]))
                 for row in summary)
    return Table(("positions", "fitted seeds", *labels), rows)


def _training_table(runs: list[dict]) -> Table:
    rows = []
    for run in runs:
        model, train = run["model"], run["train"]
        fitted = [str(seed) for seed, ok in zip(run["seeds"], run["fitted"]) if ok]
        rows.append((
            run["positions"],
            f"{model['num_layers']} x {model['num_heads']}",
            f"{model['width']} ({model['mlp_width']})",
            f"{model['parameters']:,}",
            ", ".join(map(str, run["seeds"])),
            f"{len(fitted)}/{len(run['seeds'])}" + (f" ({', '.join(fitted)})" if fitted else ""),
            ", ".join(map(str, train["steps"])),
            ", ".join(f"{loss:.3g}" for loss in train["final_loss"]),
            ", ".join(_percent(value) for value in train["in_distribution_exact_match"]),
            _number(train["seconds"]),
        ))
    return Table(("positions", "layers x heads", "width (MLP)", "parameters", "seeds",
                  "fitted (seeds)", "steps", "final loss", "in-distribution exact match %",
                  "seconds"), tuple(rows))


def _ranges_table(summary: list[dict]) -> Table:
    """Per encoding and range; autoregressive runs add content exact match and end accuracy."""
    extra = [metric for metric in AUTOREGRESSIVE_METRICS
             if any(f"{metric}_mean" in stats for row in summary for stats in row["ranges"])]
    rows = tuple((row["positions"], stats["label"],
                  _with_interval(stats["exact_match_mean"], stats["exact_match_ci95"]),
                  _percent(stats["exact_match_fitted_mean"]),
                  _with_interval(stats["token_accuracy_mean"], stats["token_accuracy_ci95"]),
                  *(_with_interval(stats.get(f"{metric}_mean"), stats.get(f"{metric}_ci95"))
                    for metric in extra))
                 for row in summary for stats in row["ranges"])
    return Table(("positions", "lengths", "exact match % [95% CI]", "fitted seeds only %",
                  "token accuracy % [95% CI]",
                  *(f"{_METRIC_LABELS[metric]} % [95% CI]" for metric in extra)), rows)


def _per_length_table(runs: list[dict]) -> Table:
    by_run = [{entry["length"]: entry for entry in run["lengths"]} for run in runs]
    lengths = sorted({length for entries in by_run for length in entries})
    rows = []
    for length in lengths:
        split = next(entries[length]["split"] for entries in by_run if length in entries)
        rows.append((str(length), split,
                     *(_percent(entries[length]["exact_match_mean"]) if length in entries
                       else "n/a" for entries in by_run)))
    return Table(("length", "split", *(run["positions"] for run in runs)), tuple(rows))


def _counterexample_blocks(runs: list[dict]) -> list[Block]:
    rows = tuple((run["positions"], str(example["seed"]), str(example["length"]),
                  Mono(_tokens(example["input"])), Mono(_tokens(example["expected"])),
                  Mono(_tokens(example["predicted"])))
                 for run in runs for example in run["counterexamples"])
    if not rows:
        return [Paragraph("No counterexample was found.")]
    return [Paragraph("Minimal inputs (shrunk by Hypothesis) where a learned model and the "
                      "compiled program disagree."),
            Table(("positions", "seed", "length", "input", "expected", "predicted"), rows)]


def _compact_json(value: Any, indent: int = 0) -> str:
    """Indented JSON with every value that fits in a line kept on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value or indent + len(flat) <= 80:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + _compact_json(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = [f"{pad}{json.dumps(key, ensure_ascii=False)}: {_compact_json(item, indent + 2)}"
             for key, item in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def _span(bounds: list[int]) -> str:
    return f"{bounds[0]}-{bounds[1]}"


def _percent(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _with_interval(mean: Optional[float], interval: Optional[list[float]]) -> str:
    if mean is None or interval is None:
        return "n/a"
    return f"{_percent(mean)} [{_percent(interval[0])}, {_percent(interval[1])}]"


def _number(value: float) -> str:
    return f"{value:.2f}"


def _tokens(sequence: list) -> str:
    """A sequence as a RASP literal: "abc" when every token is one character, else a list."""
    if all(isinstance(token, str) and len(token) == 1 for token in sequence) and sequence:
        return json.dumps("".join(sequence), ensure_ascii=False)
    return "[" + ", ".join(json.dumps(token, ensure_ascii=False) for token in sequence) + "]"


# ----------------------------------------------------------------- markdown


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured markdown of the blocks (tables padded so the raw file reads well)."""
    return "\n\n".join(_markdown_block(block) for block in blocks) + "\n"


def _markdown_block(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + _md_escape(block.text)
    if isinstance(block, Paragraph):
        return _md_escape(block.text)
    if isinstance(block, Image):
        return f"![{_md_escape(block.alt)}]({block.path})"
    if isinstance(block, Preformatted):
        # Safe for our JSON: no line of it starts with ``` (each is indented or a brace).
        return f"```{block.language}\n{block.text}\n```"
    return _markdown_table(block)


def _markdown_table(table: Table) -> str:
    cells = [list(table.header)] + [[_md_cell(cell) for cell in row] for row in table.rows]
    cells[0] = [_md_escape(text) for text in cells[0]]
    widths = [max(3, *(len(row[column]) for row in cells)) for column in range(len(cells[0]))]
    lines = ["| " + " | ".join(text.ljust(width) for text, width in zip(row, widths)) + " |"
             for row in cells]
    lines.insert(1, "| " + " | ".join("-" * width for width in widths) + " |")
    return "\n".join(lines)


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Mono):
        # Inside a table a pipe must be escaped even in a code span (GFM).
        text = cell.text.replace("|", "\\|")
        return f"`` {text} ``" if "`" in text else f"`{text}`"
    return _md_escape(cell)


# What markdown could take for markup in our plain text: code, emphasis, html, table pipes,
# `_` unless inside a word (GFM ignores intraword underscores), and the `](` of a link.
_MARKUP = re.compile(r"[\\`*<>|]|(?<![^\W_])_|_(?![^\W_])|\](?=\()")


def _md_escape(text: str) -> str:
    """Plain text that markdown shows as written."""
    return _MARKUP.sub(lambda match: "\\" + match.group(), text)


# ----------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.85rem; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
img { max-width: 100%; display: block; margin: 1rem 0; }
"""


def to_html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """A self-contained HTML page of the blocks: inline CSS, each image embedded as a base64
    data URI (looked up in `images` by its relative path), no external resource."""
    title = next((block.text for block in blocks if isinstance(block, Heading)), "Report")
    body = "\n".join(_html_block(block, images) for block in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _html_block(block: Block, images: dict[str, bytes]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Image):
        data = base64.b64encode(images[block.path]).decode("ascii")
        return f'<img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}">'
    if isinstance(block, Preformatted):
        return f"<pre>{html.escape(block.text)}</pre>"
    header = "".join(f"<th>{html.escape(text)}</th>" for text in block.header)
    rows = "\n".join("<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>"
                     for row in block.rows)
    return f"<table>\n<tr>{header}</tr>\n{rows}\n</table>"


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, Mono):
        return f"<code>{html.escape(cell.text)}</code>"
    return html.escape(cell)


# ----------------------------------------------------------------- writing


def write_report(run_dir: Union[str, Path]) -> list[Path]:
    """Rebuild report.md, report.html and plots/*.png of a run from its results.json.

    Returns the written paths: the markdown, the HTML, then the plots."""
    run_dir = Path(run_dir)
    results = load_results(run_dir / "results.json")
    images = {f"plots/{name}": plot_metric(results, metric, label)
              for name, metric, label in METRICS}
    blocks = report_blocks(results)
    # Plots first, so that a report on disk never points at a plot not yet written.
    for relative, data in images.items():
        write_atomically(run_dir / relative, data)
    markdown, page = run_dir / "report.md", run_dir / "report.html"
    write_atomically(markdown, to_markdown(blocks).encode("utf-8"))
    write_atomically(page, to_html(blocks, images).encode("utf-8"))
    return [markdown, page, *(run_dir / relative for relative in images)]
