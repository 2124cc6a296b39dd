"""Sweeps: every run of the grid runs on the process pool, finished runs are skipped on a
rerun, a crashing run is recorded without stopping the others, and bad sweep files are
rejected naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rasp
from generalization.sweep import load_sweep, run_sweep
from test_cli import assert_one_error_line, rasp as run_rasp

ROOT = Path(__file__).resolve().parent.parent

# A tiny copy task. heads = "matching" leaves the rope head size to be checked when the
# compiled model is known, so width 15 passes the up-front checks and fails at run time.
TINY = f"""
name = "copy"
[task]
program = "{ROOT / 'examples' / 'copy.rasp'}"
sop = "copy"
vocab = "ab"
train_lengths = [1, 3]
test_lengths = [4, 5]
[model]
layers = 1
heads = "matching"
width = 16
mlp_width = 32
positions = ["rope"]
[training]
steps = 50
batch_size = 16
learning_rate = 3e-3
warmup_steps = 5
eval_every = 25
checkpoint_every = 25
seeds = [0]
[evaluation]
examples_per_length = 16
counterexamples = 0
counterexample_budget = 10
"""

SWEEP = """
name = "tiny"
experiments = ["experiments/tiny.toml"]
[grid]
width = [16, 15]
seeds = [[0], [1]]
[overrides]
steps = 40
"""

DONE = ["copy-width=16-seeds=0", "copy-width=16-seeds=1"]
FAILED = ["copy-width=15-seeds=0", "copy-width=15-seeds=1"]


def write_sweep(folder: Path, sweep: str = SWEEP) -> Path:
    (folder / "experiments").mkdir(parents=True, exist_ok=True)
    (folder / "experiments" / "tiny.toml").write_text(TINY, encoding="utf-8")
    (folder / "sweep.toml").write_text(sweep, encoding="utf-8")
    return folder / "sweep.toml"


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> tuple[Path, Path, dict, list[str]]:
    folder = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    results = run_sweep(write_sweep(folder), folder / "out", workers=2, log=lines.append)
    return folder / "sweep.toml", folder / "out", results, lines


def test_every_run_of_the_grid_runs_and_sweep_json_records_it(finished_sweep):
    _, out, results, lines = finished_sweep
    assert json.loads((out / "sweep.json").read_text()) == results
    assert sorted(results["runs"]) == sorted(DONE + FAILED)
    assert results["counts"] == {"done": 2, "skipped": 0, "failed": 2, "pending": 0}
    for name in DONE:
        entry = results["runs"][name]
        assert entry["status"] == "done"
        assert Path(entry["run_dir"]) == out / "runs" / name
        assert (out / "runs" / name / "results.json").is_file()
        assert entry["seconds"] > 0
        [row] = entry["summary"]
        assert row["positions"] == "rope" and row["seeds"] == 1
        assert set(row["exact_match"]) == {"train 1-3", "4", "5"}
    stored = json.loads((out / "runs" / DONE[1] / "results.json").read_text())
    assert stored["config"]["training"]["seeds"] == [1]
    assert stored["config"]["training"]["steps"] == 40
    assert lines[-1].startswith("[4/4] ")


def test_a_crashing_run_is_recorded_and_the_others_finish(finished_sweep):
    _, out, results, _ = finished_sweep
    for name in FAILED:
        entry = results["runs"][name]
        assert entry["status"] == "failed"
        assert "width" in entry["error"]
        assert "Traceback" in (out / "runs" / name / "error.txt").read_text()
        assert not (out / "runs" / name / "results.json").exists()


def test_a_rerun_skips_finished_runs_without_retraining(finished_sweep):
    sweep, out, first, _ = finished_sweep
    written = {name: (out / "runs" / name / "results.json").stat().st_mtime_ns
               for name in DONE}
    again = run_sweep(sweep, out, workers=2, log=lambda line: None)
    for name in DONE:
        assert again["runs"][name]["status"] == "skipped"
        assert again["runs"][name]["summary"] == first["runs"][name]["summary"]
        assert (out / "runs" / name / "results.json").stat().st_mtime_ns == written[name]
    assert [again["runs"][name]["status"] for name in FAILED] == ["failed", "failed"]


def test_a_run_whose_config_changed_is_not_skipped_but_refuses_its_old_checkpoints(tmp_path):
    one_run = 'experiments = ["experiments/tiny.toml"]\n[overrides]\nsteps = {}'
    first = run_sweep(write_sweep(tmp_path, one_run.format(30)), tmp_path / "out", workers=1,
                      log=lambda line: None)
    again = run_sweep(write_sweep(tmp_path, one_run.format(35)), tmp_path / "out", workers=1,
                      log=lambda line: None)
    assert first["runs"]["copy"]["status"] == "done"
    assert again["runs"]["copy"]["status"] == "failed"
    assert "different configuration" in again["runs"]["copy"]["error"]
    stored = json.loads((tmp_path / "out" / "runs" / "copy" / "results.json").read_text())
    assert stored["config"]["training"]["steps"] == 30


@pytest.mark.parametrize("sweep, named", [
    ('experiments = ["experiments/tiny.toml"]\nexperimnts = 1', "experimnts"),
    ('experiments = []', "experiments"),
    ('experiments = ["experiments/missing.toml"]', "experiments"),
    ('experiments = ["experiments/tiny.toml"]\n[grid]\nwidht = [16]', "[grid] widht"),
    ('experiments = ["experiments/tiny.toml"]\n[grid]\nwidth = 16', "[grid] width"),
    ('experiments = ["experiments/tiny.toml"]\n[grid]\nwidth = [16, -1]', "[grid] width"),
    ('experiments = ["experiments/tiny.toml"]\n[grid]\npositions = [["learned", "absolute"]]',
     "[grid] positions"),
    ('experiments = ["experiments/tiny.toml"]\n[overrides]\nsteps = 0', "[overrides] steps"),
    ('experiments = ["experiments/tiny.toml"]\n[grid]\nsteps = [10]\n[overrides]\nsteps = 5',
     "[overrides] steps"),
    ('experiments = ["experiments/tiny.toml", "experiments/tiny.toml"]', "experiments"),
    ('experiments = ["experiments/tiny.toml"', None),
])
def test_bad_sweep_files_are_rejected_naming_the_file_and_key(tmp_path, sweep, named):
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(rasp.RaspError) as raised:
        load_sweep(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    if named is not None:
        assert f": {named}: " in message


def test_the_contrast_sweep_is_the_issue_5_suite_with_learned_positions_and_3_seeds():
    sweep = load_sweep(ROOT / "examples" / "sweeps" / "contrast.toml")
    assert [run.name for run in sweep.runs] == [
        f"{task}-positions=learned" for task in
        ("count", "mode", "copy_unique", "sort", "copy_repeat", "parity", "addition_forward")]
    for run in sweep.runs:
        assert run.config.model.positions == ("learned",)
        assert run.config.training.seeds == (0, 1, 2)


def test_rasp_sweep_rejects_a_bad_sweep_file_in_one_line(tmp_path):
    path = write_sweep(tmp_path, 'experiments = ["experiments/tiny.toml"]\n[grid]\nwidht = [16]')
    assert_one_error_line(run_rasp("sweep", str(path), cwd=tmp_path), "widht")
