"""The report of a run, built from a hand-written results.json (tests/data/results_example.json).

The fixture: reverse, trained on lengths 1-5 and tested on 6-15 (shown in bins 6-10 and
11-15), encodings `learned` (seeds 0 and 1 fitted, seed 2 not) and `rope` (all fitted), 64
examples per length. Its numbers are chosen so that each seed's mean over a range is round:
learned seeds average (1, 1, 0.5) over 1-5, (0.6, 0.4, 0.2) over 6-10 and 0 over 11-15.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import shutil
from pathlib import Path

import matplotlib.image
import pytest

from generalization.reporting.document import Mono, Table, to_markdown
from generalization.reporting.report import write_report
from generalization.reporting.results import ResultsError, load_results
from generalization.reporting.summary import LengthRange, length_ranges, summary_table

FIXTURE = Path(__file__).parent / "data" / "results_example.json"
T_975_2 = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (3 seeds)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(FIXTURE, folder / "results.json")
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """One report built from the fixture, shared by the tests that only read it."""
    folder = tmp_path_factory.mktemp("built")
    shutil.copy(FIXTURE, folder / "results.json")
    return folder, write_report(folder)


def fixture_results() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every table row of a markdown text."""
    return [[cell.strip() for cell in line.strip().strip("|").split(" | ")]
            for line in text.splitlines() if line.startswith("| ")]


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval of three values, clipped to [0, 1], computed by hand."""
    mean = sum(values) / 3
    spread = math.sqrt(sum((value - mean) ** 2 for value in values) / 2)
    half = T_975_2 * spread / math.sqrt(3)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


# ----------------------------------------------------------------- files


def test_write_report_writes_markdown_html_and_plots(built: tuple[Path, list[Path]]) -> None:
    folder, written = built
    assert written == [folder / "report.md", folder / "report.html",
                       folder / "plots" / "exact_match.png",
                       folder / "plots" / "token_accuracy.png"]
    assert all(path.is_file() and path.stat().st_size > 0 for path in written)
    # Atomic writes leave no temporary file behind.
    assert not [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


def test_plots_are_valid_pngs(built: tuple[Path, list[Path]]) -> None:
    folder, _ = built
    for name in ("exact_match.png", "token_accuracy.png"):
        path = folder / "plots" / name
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 400
        assert pixels.std() > 0  # something was drawn


def test_rebuilding_gives_identical_files(run_dir: Path) -> None:
    first = {path: path.read_bytes() for path in write_report(run_dir)}
    second = {path: path.read_bytes() for path in write_report(run_dir)}
    assert first == second


def test_broken_results_write_nothing(run_dir: Path) -> None:
    (run_dir / "results.json").write_text("{", encoding="utf-8")
    with pytest.raises(ResultsError):
        write_report(run_dir)
    assert sorted(path.name for path in run_dir.iterdir()) == ["results.json"]


# ----------------------------------------------------------------- numbers


def test_length_ranges_per_length_or_in_round_bins() -> None:
    def labels(train: list[int], test: list[int]) -> list[str]:
        return [span.label for span in length_ranges(train, test)]

    assert labels([1, 10], [11, 16]) == ["train 1-10", "11", "12", "13", "14", "15", "16"]
    assert labels([1, 10], [11, 20]) == ["train 1-10", "11-15", "16-20"]
    assert labels([1, 10], [11, 50]) == ["train 1-10", *(f"{low}-{low + 4}"
                                                          for low in range(11, 51, 5))]
    assert labels([1, 20], [21, 62])[-1] == "61-62"  # 42 lengths: bins of 10, the last short
    assert length_ranges([3, 3], [4, 4]) == [
        LengthRange("train", 3, 3), LengthRange("test", 4, 4)]


def test_summary_table_means_and_intervals_over_seeds() -> None:
    learned, rope = summary_table(load_results(FIXTURE))
    assert (learned.positions, learned.seeds, learned.fitted,
            learned.fitted_seeds) == ("learned", 3, 2, [0, 1])
    assert (rope.positions, rope.fitted) == ("rope", 3)
    assert [stats.label for stats in learned.ranges] == ["train 1-5", "6-10", "11-15"]
    train, near, far = learned.ranges
    for stats, per_seed, fitted_mean in ((train, [1.0, 1.0, 0.5], 1.0),
                                         (near, [0.6, 0.4, 0.2], 0.5),
                                         (far, [0.0, 0.0, 0.0], 0.0)):
        mean, low, high = interval(per_seed)
        assert stats.exact_match_mean == pytest.approx(mean)
        assert stats.metrics["exact_match"].ci95 == pytest.approx([low, high])
        assert stats.exact_match_fitted_mean == pytest.approx(fitted_mean)
        assert stats.evaluated == 5
    assert rope.ranges[1].exact_match_mean == pytest.approx(0.9)


def test_range_without_evaluated_lengths_is_not_available(run_dir: Path) -> None:
    results = fixture_results()
    results["runs"][1]["lengths"] = [entry for entry in results["runs"][1]["lengths"]
                                     if entry["length"] <= 10]
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    far = summary_table(load_results(run_dir / "results.json"))[1].ranges[2]
    assert far.evaluated == 0 and far.exact_match_mean is None
    write_report(run_dir)
    assert ["rope", "3/3", "100.0", "90.0", "n/a"] in markdown_rows(
        (run_dir / "report.md").read_text(encoding="utf-8"))


def test_markdown_has_the_tables_with_the_right_numbers(built: tuple[Path, list[Path]]) -> None:
    text = (built[0] / "report.md").read_text(encoding="utf-8")
    rows = markdown_rows(text)
    assert text.startswith("# Length generalization: reverse_small\n")
    # Summary: exact match % over all seeds per range.
    assert ["positions", "fitted seeds", "train 1-5", "6-10", "11-15"] in rows
    assert ["learned", "2/3", "83.3", "40.0", "0.0"] in rows
    assert ["rope", "3/3", "100.0", "90.0", "40.7"] in rows
    # Ranges: mean [interval] (hand-computed: 0.4 -+ 4.3027 * 0.2 / sqrt 3), fitted-only mean.
    assert ["learned", "train 1-5", "83.3 [11.6, 100.0]", "100.0", "96.7 [82.3, 100.0]"] in rows
    assert ["learned", "6-10", "40.0 [0.0, 89.7]", "50.0", "88.0 [78.1, 97.9]"] in rows
    # Training per encoding.
    assert ["learned", "2 x 1", "64 (256)", "101,447", "random", "0, 1, 2", "2/3 (0, 1)",
            "700, 900, 2000", "0.0012, 0.0021, 0.4", "100.0, 100.0, 50.0", "41.50"] in rows
    # Per length, task, counterexamples, timings, versions.
    assert ["7", "test", "50.0", "96.7"] in rows
    assert ["compiled heads per layer", "1, 1"] in rows
    assert ["rope", "2", "12", '`"aaaaaaaaaaab"`', '`"baaaaaaaaaaa"`', '`"aaaaaaaaaaba"`'] in rows
    assert ["train", "79.75"] in rows
    assert ["hypothesis", "6.170.15"] in rows
    assert "![exact match against length](plots/exact_match.png)" in text
    assert '```json\n{\n  "name": "reverse_small",' in text


def test_html_is_self_contained_and_embeds_the_plots(built: tuple[Path, list[Path]]) -> None:
    folder, _ = built
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    sources = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
    prefix = "data:image/png;base64,"
    assert len(sources) == 2 and all(source.startswith(prefix) for source in sources)
    embedded = [base64.b64decode(source[len(prefix):]) for source in sources]
    assert embedded == [(folder / "plots" / name).read_bytes()
                        for name in ("exact_match.png", "token_accuracy.png")]
    # The same content as the markdown.
    assert "<td>learned</td><td>6-10</td><td>40.0 [0.0, 89.7]</td><td>50.0</td>" in page
    assert "<td><code>&quot;aaaaaaaaaaab&quot;</code></td>" in page


def test_markdown_cells_show_text_as_written() -> None:
    table = Table(("name", "tokens"), (("a|b *c* x_y _z_", Mono('["|", "`"]')),))
    row = to_markdown([table]).splitlines()[2]
    assert r"a\|b \*c\* x_y \_z\_" in row
    assert r'`` ["\|", "`"] ``' in row


def test_user_strings_cannot_become_markup_or_html_in_the_markdown(run_dir: Path) -> None:
    """A token holding backticks and HTML stays text when report.md is rendered (CommonMark
    with GFM tables), as it already did in report.html."""
    markdown_it = pytest.importorskip("markdown_it")
    attack = "a``<img src=x onerror=alert(3)>``"
    results = fixture_results()
    results["task"]["vocab"] = [attack, "b", "c"]
    results["runs"][0]["counterexamples"][0]["input"] = [attack, "`", "b"]
    results["task"]["sop"] = "<script>alert(1)</script>"
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_report(run_dir)
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(
        (run_dir / "report.md").read_text(encoding="utf-8"))
    assert "<img src=x" not in rendered and "<script" not in rendered   # the plots are <img
    assert "&lt;img src=x onerror=alert(3)&gt;" in rendered
    assert "<img src=x" not in (run_dir / "report.html").read_text(encoding="utf-8")


def with_history(results: dict) -> dict:
    """The fixture's runs with a training history of two checks (seed 2 of learned never
    fits; rope's seeds fit at the second check)."""
    for run in results["runs"]:
        seeds = len(run["seeds"])
        run["train"]["history"] = [
            {"step": 100, "loss": [0.9] * seeds, "exact_match": [0.2] * seeds,
             "fitted": [False] * seeds},
            {"step": 200, "loss": [0.1] * seeds, "exact_match": [1.0] * seeds,
             "fitted": [ok for ok in run["fitted"]]}]
    return results


def test_a_report_plots_the_learning_curves_when_results_hold_the_history(
        run_dir: Path) -> None:
    (run_dir / "results.json").write_text(json.dumps(with_history(fixture_results())))
    written = write_report(run_dir)
    curves = run_dir / "plots" / "learning_curves.png"
    assert curves in written and curves.read_bytes().startswith(PNG_SIGNATURE)
    assert "![learning curves" in (run_dir / "report.md").read_text(encoding="utf-8")
    assert load_results(run_dir / "results.json").runs[0].train.history[1].step == 200


def test_a_report_shows_the_residual_stream_norms_when_results_hold_them(
        run_dir: Path) -> None:
    results = fixture_results()
    results["runs"][0]["norms"] = {
        "layers": ["embedding", "block 1"], "by_position": [[1.0, 2.0, None], [3.0, 4.0, None]],
        "lengths": [1, 2], "by_length": [[1.5, 3.5], [1.25, 3.25]],
        "frequency_buckets": ["rare", "middle", "frequent"],
        "by_frequency_train": [[1.0, 2.0], None, [5.0, 6.0]],
        "by_frequency_test": [[1.5, 2.5], [3.0, 4.0], None], "train_width": 1}
    (run_dir / "results.json").write_text(json.dumps(results))
    written = write_report(run_dir)
    plot = run_dir / "plots" / "norms.png"
    assert plot in written and plot.read_bytes().startswith(PNG_SIGNATURE)
    markdown = (run_dir / "report.md").read_text(encoding="utf-8")
    assert "## Residual-stream norms" in markdown and "![residual-stream norm" in markdown
    assert "| 2      | 1.25      | 3.25    |" in markdown
    assert "| rare            | 1.00 / 1.50              | 2.00 / 2.50            |" in markdown
    assert "| middle          | n/a / 3.00               | n/a / 4.00             |" in markdown
    # Results without the diagnostic (every older results.json) have no such section.
    (run_dir / "results.json").write_text(json.dumps(fixture_results()))
    write_report(run_dir)
    assert "Residual-stream norms" not in (run_dir / "report.md").read_text(encoding="utf-8")


def test_a_history_with_the_wrong_number_of_seeds_is_refused(tmp_path: Path) -> None:
    results = with_history(fixture_results())
    results["runs"][0]["train"]["history"][1]["loss"].pop()
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(ResultsError, match=r"runs\[0\]\.train\.history\[1\]\.loss: expected 3"):
        load_results(tmp_path / "results.json")


@pytest.mark.parametrize("seeds, bands", [(3, 0), (5, 1)])
def test_interval_bands_are_drawn_only_from_five_seeds(seeds: int, bands: int) -> None:
    from matplotlib.figure import Figure

    from generalization.reporting.plots import _plot_run
    from generalization.reporting.results import Results

    results = fixture_results()
    run = results["runs"][1]
    run["seeds"], run["fitted"] = list(range(seeds)), [True] * seeds
    for key in ("steps", "final_loss", "in_distribution_exact_match"):
        run["train"][key] = [run["train"][key][0]] * seeds
    for entry in run["lengths"]:
        for key in ("exact_match", "token_accuracy"):
            entry[key] = [entry[key][0]] * seeds
    axes = Figure().add_subplot()
    _plot_run(axes, Results.from_dict(results).runs[1], "exact_match")
    assert len(axes.collections) == bands
    assert len(axes.lines) == 1 + seeds   # the mean and every seed
