"""In-context experiments (`generalization/in_context/`): the batches against the tasks'
definitions, a vector-input model, and tiny runs end to end through `rasp generalize`,
`rasp report` and `rasp curves` (a start from another run's weights included)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from command_line.main import app
from generalization.in_context import in_context_from_dict
from generalization.in_context.run import SCHEMA, draw_batch, evaluation_batch
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.settings import Invalid
from generalization.tasks.encoding import IGNORE_LABEL
from generalization.tasks.in_context.linear import ridge_predictions

TINY_MODEL = {"layers": 1, "heads": 1, "width": 16}
TINY_TRAINING = {"steps": 30, "warmup_steps": 3, "seeds": [0, 1], "eval_every": 10,
                 "eval_batch_size": 64}


def config_of(task: str, train: list[int], test: list[int], options: dict | None = None,
              **sections) -> object:
    data = {"name": f"tiny_{task}",
            "task": {"in_context": task, "train_lengths": train, "test_lengths": test,
                     "options": options or {}},
            "model": {**TINY_MODEL, **sections.pop("model", {})},
            "training": {**TINY_TRAINING, **sections.pop("training", {})},
            "evaluation": {"examples_per_length": 32}, **sections}
    return in_context_from_dict(data, "test", Path("."))


def test_regression_batch_pads_after_each_row_and_weights_only_its_queries():
    config = config_of("regression", [1, 5], [5], {"dim": 2})
    lengths = np.array([1, 3, 5])
    inputs, mask, (targets, weights), baseline = draw_batch(
        config, config.task, np.random.default_rng(0), 3, lengths, 10)
    assert inputs.shape == (3, 10, 2) and targets.shape == (3, 10, 2)   # D-wide tokens
    np.testing.assert_array_equal(mask.sum(axis=1), 2 * lengths)
    np.testing.assert_array_equal(weights.sum(axis=1), lengths)       # one query per example
    assert np.all(weights[:, 1::2] == 0)                              # y-tokens predict nothing
    # The baseline's loss is the ridge regression's on exactly those queries.
    x, y = inputs[:, 0::2, :2].astype(float), targets[:, 0::2].astype(float)
    ridge = ridge_predictions(x, y, x, config.task.ridge)
    errors = ((ridge - y) ** 2).mean(axis=-1)
    expected = (errors * weights[:, 0::2]).sum() / weights.sum()
    assert baseline == pytest.approx(expected, rel=1e-5)


def test_scb_batch_labels_each_rows_last_token_and_nothing_else():
    config = config_of("scb", [6, 9], [9], {"vocab_size": 5, "window": 4, "from_end": True})
    lengths = np.array([6, 9, 7, 6])
    inputs, mask, labels, bayes = draw_batch(config, config.task, np.random.default_rng(1), 4,
                                             lengths, 9)
    np.testing.assert_array_equal(mask.sum(axis=1), lengths)
    for row, length in enumerate(lengths):
        assert labels[row, length - 1] != IGNORE_LABEL
        assert np.all(np.delete(labels[row], length - 1) == IGNORE_LABEL)
        assert np.all(inputs[row, length:] == 0)
    assert 0 < bayes < np.log(5) + 1


def test_a_vector_input_model_reads_vectors_and_cannot_tie_its_output():
    config = ModelConfig(vocab_size=1, num_classes=3, num_layers=1, num_heads=1, width=8,
                         causal=True, positions="nope", input_dim=5)
    model = build_model(config)
    inputs = np.random.default_rng(0).normal(size=(2, 4, 5)).astype(np.float32)
    ids = np.zeros((2, 4), np.int32)
    params = model.init(jax.random.key(0), inputs, ids, ids == 0)
    assert params["input_embedding"]["w"].shape == (5, 8)
    outputs = model.apply(params, inputs, ids, ids == 0)
    assert outputs.shape == (2, 4, 3)
    # Causal: changing the last vector leaves the earlier outputs alone.
    changed = inputs.copy()
    changed[:, -1] += 1.0
    again = model.apply(params, changed, ids, ids == 0)
    np.testing.assert_allclose(outputs[:, :-1], again[:, :-1], atol=1e-6)
    assert not np.allclose(outputs[:, -1], again[:, -1])
    with pytest.raises(Invalid, match="no token embedding"):
        ModelConfig(vocab_size=1, num_classes=3, num_layers=1, num_heads=1, width=8,
                    input_dim=5, tied_classes=(0, 0, 0))


def test_evaluation_sets_are_the_same_on_every_call_and_every_row_full():
    config = config_of("lds", [1, 4], [4, 8], {"dim": 3})
    model = config.variants()[0][1]
    (first, ids, mask, labels), _ = evaluation_batch(config, config.task, model, 8)
    (second, _, _, _), _ = evaluation_batch(config, config.task, model, 8)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (32, 8, 12) and mask.all() and labels[1].all()   # [0, s, s, s_prev]


def invoke(*arguments: str) -> object:
    result = CliRunner().invoke(app, list(arguments))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def write_config(path: Path, task: str, train: list[int], test: list[int], options: str,
                 extra: str = "", families: str = '["softmax", "mesa"]') -> Path:
    path.write_text(
        f'[task]\nin_context = "{task}"\ntrain_lengths = {train}\ntest_lengths = {test}\n'
        f'[task.options]\n{options}\n[model]\nlayers = 1\nheads = 1\nwidth = 16\n'
        f'positions = ["rope"]\n[compare]\nattention = {families}\n'
        f'[training]\nsteps = 20\nwarmup_steps = 2\nseeds = [0, 1]\neval_every = 10\n'
        f'eval_batch_size = 64\n{extra}[evaluation]\nexamples_per_length = 16\n',
        encoding="utf-8")
    return path


def test_a_one_family_regression_run_writes_its_results_and_report(tmp_path):
    """The fast version of the next test: one family, one seed, a few steps."""
    config = write_config(tmp_path / "reg.toml", "regression", [1, 3], [3, 6], "dim = 2",
                          "", '["linear"]')
    invoke("generalize", str(config), "-o", str(tmp_path / "reg"), "--set",
           "training.seeds=[0]", "--set", "training.steps=10", "--set", "training.eval_every=4")
    results = json.loads((tmp_path / "reg" / "results.json").read_text())
    (run,) = results["runs"]
    assert run["name"] == "rope-linear"
    assert [check["step"] for check in run["history"]] == [4, 8, 10]
    assert len(run["lengths"][-1]["by_example"][0]) == 6
    assert (tmp_path / "reg" / "report.md").is_file()


@pytest.mark.slow
def test_a_regression_run_end_to_end_reports_per_example_losses_beside_ridge(tmp_path):
    config = write_config(tmp_path / "reg.toml", "regression", [1, 4], [4, 8], "dim = 2")
    invoke("generalize", str(config), "-o", str(tmp_path / "reg"))
    results = json.loads((tmp_path / "reg" / "results.json").read_text())
    assert results["schema"] == SCHEMA and results["task"]["kind"] == "vectors"
    assert [run["name"] for run in results["runs"]] == ["rope-softmax", "rope-mesa"]
    for run in results["runs"]:
        assert [entry["length"] for entry in run["lengths"]] == [4, 8]
        longest = run["lengths"][-1]
        assert len(longest["by_example"]) == 2 and len(longest["by_example"][0]) == 8
        assert len(longest["baseline_by_example"]) == 8
        # The ridge baseline improves as it sees examples: at the 8th it beats the 1st.
        assert longest["baseline_by_example"][-1] < longest["baseline_by_example"][0]
        assert [check["step"] for check in run["history"]] == [10, 20]
        norms = run["norms"]
        assert len(norms["by_position"]) == 2 and len(norms["by_position"][0]) == 16
        assert norms["train_width"] == 8
    assert (tmp_path / "reg" / "models" / "rope-mesa" / "seed-1.safetensors").is_file()
    for name in ("report.md", "report.html", "plots/loss.png", "plots/norms.png",
                 "plots/learning_curves.png"):
        assert (tmp_path / "reg" / name).is_file(), name
    report = (tmp_path / "reg" / "report.md").read_text()
    assert "ridge regression" in report and "rope-mesa" in report
    # A rerun skips the finished runs and rewrites the same numbers; `rasp report` rebuilds.
    again = invoke("generalize", str(config), "-o", str(tmp_path / "reg"))
    assert "finished earlier, skipped" in again.stderr
    assert json.loads((tmp_path / "reg" / "results.json").read_text())["runs"] == \
        results["runs"]
    report = (tmp_path / "reg" / "report.md").read_text()
    (tmp_path / "reg" / "report.md").unlink()
    invoke("report", str(tmp_path / "reg"))
    assert (tmp_path / "reg" / "report.md").read_text() == report


@pytest.mark.slow
def test_an_scb_run_transfers_its_weights_and_curves_plot_both_starts(tmp_path):
    options = "vocab_size = 5\nwindow = 4\nfrom_end = true"
    first = write_config(tmp_path / "scb.toml", "scb", [8, 8], [8, 16], options,
                         families='["linear"]')
    invoke("generalize", str(first), "-o", str(tmp_path / "scratch"))
    results = json.loads((tmp_path / "scratch" / "results.json").read_text())
    for run in results["runs"]:
        for entry in run["lengths"]:
            assert len(entry["loss"]) == 2 and entry["baseline"] < entry["uniform"]
    # Every seed starts from the source's seed 0: with a learning rate of ~0, each evaluates
    # exactly as that seed did.
    frozen = write_config(tmp_path / "frozen.toml", "scb", [8, 8], [8, 16], options,
                          'init_from = "scratch"\nlearning_rate = 1e-12\n', '["linear"]')
    invoke("generalize", str(frozen), "-o", str(tmp_path / "frozen"))
    again = json.loads((tmp_path / "frozen" / "results.json").read_text())
    for run, source in zip(again["runs"], results["runs"]):
        assert run["initialisation"] == "from scratch seed 0"
        for entry, source_entry in zip(run["lengths"], source["lengths"]):
            assert entry["loss"] == pytest.approx([source_entry["loss"][0]] * 2, abs=1e-4)
    related = write_config(tmp_path / "fine.toml", "scb", [8, 8], [8, 16],
                           options + "\ntransition_seed = 4", 'init_from = "scratch"\n',
                           '["linear"]')
    invoke("generalize", str(related), "-o", str(tmp_path / "fine"))
    invoke("curves", str(tmp_path / "scratch"), str(tmp_path / "fine"), "-o",
           str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_init_from_a_run_of_another_shape_is_one_config_error(tmp_path):
    """Also the fast version of the transfer test: a start from a saved run."""
    options = "vocab_size = 5\nwindow = 4\nfrom_end = true"
    short = ["--set", "training.steps=10", "--set", "training.seeds=[0]"]
    invoke("generalize", str(write_config(tmp_path / "a.toml", "scb", [8, 8], [8], options,
                                          families='["linear"]')), "-o", str(tmp_path / "a"),
           *short)
    same = write_config(tmp_path / "same.toml", "scb", [8, 8], [8], options,
                        'init_from = "a"\n', '["linear"]')
    invoke("generalize", str(same), "-o", str(tmp_path / "same"), *short)
    started = json.loads((tmp_path / "same" / "results.json").read_text())["runs"][0]
    assert started["initialisation"] == "from a seed 0"
    other = write_config(tmp_path / "b.toml", "scb", [8, 8], [8],
                         "vocab_size = 6\nwindow = 4\nfrom_end = true", 'init_from = "a"\n',
                         '["linear"]')
    result = CliRunner().invoke(app, ["generalize", str(other), "-o", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "[training] init_from: head/b is [6] here and [5]" in result.stderr


def test_the_probes_give_zero_for_the_bayes_predictor_and_more_for_a_uniform_guess():
    from generalization.in_context.probes import (constant_sequences, position_distance,
                                                  transition_distance)
    from generalization.tasks.in_context import SparseContextualBigram

    task = SparseContextualBigram(vocab_size=5, sparsity=2, window=4, from_end=True, seed=2)
    constant = constant_sequences(task, 9)
    assert transition_distance(task, task.bayes(constant)) == pytest.approx(0, abs=1e-12)
    tokens = task.draw(np.random.default_rng(0), 400, 9).tokens
    assert position_distance(task, tokens, task.bayes(tokens)) == pytest.approx(0, abs=1e-8)
    uniform = np.full((400, 5), 0.2)
    assert transition_distance(task, uniform[:5]) > 0.1
    assert position_distance(task, tokens, uniform) > 0.1
    assert position_distance(task, tokens[:3], task.bayes(tokens[:3])) is None


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "examples" /
                                         "in_context").glob("*.toml")), ids=lambda p: p.stem)
def test_every_bundled_in_context_config_is_valid(path):
    from generalization.settings import read_toml

    data = read_toml(path)
    data.get("training", {}).pop("init_from", None)   # a run folder made by the README's order
    config = in_context_from_dict(data, str(path), path.parent, path.stem)
    assert config.variants() and config.test_lengths[-1] > config.train_lengths[1]


BUNDLED = sorted((Path(__file__).resolve().parent.parent / "examples" / "reports").rglob(
    "results.json"))


@pytest.mark.parametrize("path", [p for p in BUNDLED if SCHEMA in p.read_text(encoding="utf-8")],
                         ids=lambda p: p.parent.name)
def test_every_bundled_in_context_report_is_rebuilt_from_its_results(path, tmp_path):
    from generalization.in_context.report import write_in_context_report

    (tmp_path / "results.json").write_bytes(path.read_bytes())
    write_in_context_report(tmp_path)
    assert (tmp_path / "report.md").read_text() == (path.parent / "report.md").read_text()
