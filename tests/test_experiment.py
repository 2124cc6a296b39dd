"""One experiment end to end: compile, confirm, train, evaluate, counterexamples, report, rerun."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import compiler
import rasp
from generalization.config import quick_config
from generalization.experiment import _compiles_causally, run_experiment
from generalization.reporting.results import load_results
from generalization.tasks import Task
from test_cli import assert_one_error_line, rasp as run_rasp

ROOT = Path(__file__).resolve().parent.parent


def tiny_config(**overrides):
    settings = dict(positions=["nope", "learned"], seeds=[0, 1], steps=200, width=16,
                    mlp_width=32, layers=1, heads=1, batch_size=32, learning_rate=3e-3,
                    warmup_steps=10, eval_every=20, checkpoint_every=50,
                    examples_per_length=32, counterexamples=1, counterexample_budget=30)
    settings.update(overrides)
    return quick_config(ROOT / "examples" / "copy.rasp", "copy", "ab", (1, 3), (4, 6),
                        **settings)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, run_experiment(tiny_config(), run_dir, progress=False).to_dict()


def test_a_learnable_task_fits_in_distribution_and_writes_the_documented_report(finished_run):
    run_dir, results = finished_run
    assert load_results(run_dir / "results.json").to_dict() == results
    for name in ("report.md", "report.html", "plots/exact_match.png",
                 "plots/token_accuracy.png"):
        assert (run_dir / name).is_file(), name
    assert [run["positions"] for run in results["runs"]] == ["nope", "learned"]
    for run in results["runs"]:
        assert run["fitted"] == [True, True]
        assert run["train"]["in_distribution_exact_match"] == [1.0, 1.0]
        train = [entry for entry in run["lengths"] if entry["split"] == "train"]
        assert [entry["length"] for entry in train] == [1, 2, 3]
        assert all(entry["exact_match"] == [1.0, 1.0] for entry in train)
        test = [entry["length"] for entry in run["lengths"] if entry["split"] == "test"]
        assert test == [4, 5, 6]
    assert results["task"]["compiled"]["layers"] == 1
    # copy reads each position only, so it compiles as a causal decoder too
    assert results["task"]["compiled"]["compiles_causally"] is True
    assert "| compiles as a causal decoder | yes " in (run_dir / "report.md").read_text()
    assert set(results["timings"]) >= {"total_seconds", "train_seconds"}


def test_a_program_that_reads_later_positions_does_not_compile_causally():
    path = ROOT / "examples" / "reverse.rasp"
    task = Task("reverse", path, "reverse", tuple("abc"), (1, 3), (4, 5))
    assert not _compiles_causally(rasp.load(path), task, 5)


def test_a_rerun_reuses_finished_encodings_and_gives_the_same_metrics(finished_run):
    run_dir, results = finished_run
    again = run_experiment(tiny_config(), run_dir, progress=False).to_dict()
    assert again["runs"] == results["runs"]
    assert again["timings"]["train_seconds"] < 1.0


def test_counterexamples_are_disagreements_with_the_compiled_model(finished_run):
    _, results = finished_run
    model = compiler.compile(rasp.load(ROOT / "examples" / "copy.rasp"), "copy", "ab", 6)
    for run in results["runs"]:
        for example in run["counterexamples"]:
            assert len(example["input"]) == example["length"]
            assert model.run([example["input"]])[0] == example["expected"]
            assert example["predicted"] != example["expected"]


def test_the_harness_stops_when_compiled_model_and_interpreter_disagree(tmp_path, monkeypatch):
    right = compiler.CompiledModel.run
    monkeypatch.setattr(compiler.CompiledModel, "run",
                        lambda self, inputs: [out[::-1] for out in right(self, inputs)])
    with pytest.raises(rasp.RaspError, match="disagrees with the interpreter"):
        run_experiment(tiny_config(), tmp_path, progress=False)
    assert not (tmp_path / "results.json").exists()


def rasp_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_rasp(*args, cwd=cwd, timeout=300)


def test_generalize_rejects_a_broken_config_with_the_key(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(f'[task]\nprogram = "{ROOT}/examples/copy.rasp"\nsop = "copy"\n'
                      f'vocab = "ab"\ntrain_lengths = [1, 3]\ntest_lengths = [4, 6]\n'
                      f'[training]\nsteps = -3\n')
    assert_one_error_line(rasp_command("generalize", str(config), cwd=tmp_path),
                          "bad.toml", "steps")


def test_generalize_quick_form_needs_its_options(tmp_path):
    assert_one_error_line(rasp_command("generalize", str(ROOT / "examples" / "copy.rasp"),
                                       "--sop", "copy", cwd=tmp_path),
                          "--vocab", "--train-len")


def test_report_rebuilds_from_results_and_rejects_a_missing_run(finished_run, tmp_path):
    run_dir, _ = finished_run
    (run_dir / "report.md").unlink()
    result = rasp_command("report", str(run_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (run_dir / "report.md").is_file()
    assert "exact match by length range" in result.stdout
    assert_one_error_line(rasp_command("report", str(tmp_path / "nothing"), cwd=tmp_path),
                          "nothing: holds neither results.json", "sweep.json", "rasp sweep -o")


@pytest.mark.slow
def test_generalize_quick_form_runs_end_to_end(tmp_path):
    result = rasp_command("generalize", str(ROOT / "examples" / "copy.rasp"), "--sop", "copy",
                          "--vocab", '"ab"', "--train-len", "1-3", "--test-len", "4-5",
                          "--positions", "nope", "--seeds", "1", "--steps", "100",
                          "-o", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["runs"][0]["positions"] == "nope"
    assert "report:" in result.stdout


def test_every_trained_seed_is_saved_and_runs_as_the_evaluation_did(finished_run):
    from generalization import load_learned

    run_dir, results = finished_run
    for run in results["runs"]:
        for index, seed in enumerate(run["seeds"]):
            model = load_learned(run_dir, run["positions"], seed)
            assert model.config.positions == run["positions"]
            outputs = model.run([["a", "b"], ["b"]])
            assert [len(output) for output in outputs] == [2, 1]
            if run["fitted"][index]:    # fitted on lengths 1-3: right on these
                assert outputs == [["a", "b"], ["b"]]
    with pytest.raises(rasp.RaspError, match="no seed 9"):
        load_learned(run_dir, results["runs"][0]["positions"], 9)


def test_init_from_starts_every_seed_from_the_source_runs_fitted_model(finished_run, tmp_path):
    source, _ = finished_run
    config = tiny_config(positions=["learned"], steps=20, init_from=str(source))
    results = run_experiment(config, tmp_path / "transfer", progress=False).to_dict()
    run, = results["runs"]
    assert run["initialisation"] == f"from {source.name} seed 0"
    # Started from a fitted model, the first check (step 0) already fits; every step trains.
    assert run["train"]["history"][0]["step"] == 0
    assert run["train"]["history"][0]["exact_match"] == [1.0, 1.0]
    assert run["train"]["steps"] == [20, 20]
    assert "| from " in (tmp_path / "transfer" / "report.md").read_text()
    code = run_rasp("curves", str(source), str(tmp_path / "transfer"), "-o",
                    str(tmp_path / "curves.png"), cwd=tmp_path)
    assert code.returncode == 0, code.stderr
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_init_from_refuses_a_folder_without_models_and_a_model_of_another_shape(
        finished_run, tmp_path):
    from generalization.settings import ConfigError
    source, _ = finished_run
    with pytest.raises(ConfigError, match=r"\[training\] init_from: no saved models in "):
        tiny_config(init_from=str(tmp_path))
    config = tiny_config(positions=["learned"], width=32, init_from=str(source))
    with pytest.raises(ConfigError, match=r"init_from: block_0/attention/key/b is \[32\] here "
                                          r"and \[16\] in .*'s model \(hint: give \[model\]"):
        run_experiment(config, tmp_path / "wider", progress=False)
