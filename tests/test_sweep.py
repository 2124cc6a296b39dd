"""Sweeps: every run of the grid runs on the process pool (or a Ray cluster, with the same
results), finished runs are skipped on a rerun, also after the sweep was killed, a crashing
run is recorded without stopping the others, and bad sweep files are rejected naming the file
and the key."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np
import pytest

import rasp
from generalization.config import load_sweep
from generalization.reporting.study import write_study
from generalization.sweep import DEVICE_MEMORY_SETTINGS, MARKER, run_sweep, share_the_device
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
note = "Trained briefly."
[grid]
width = [16, 15]
seeds = [[0], [1]]
[overrides]
steps = 40
[published.copy]
generalizes = true
source = "a paper"
"""

# A tiny in-context experiment (generalization/in_context): the linear dynamical system.
IN_CONTEXT = """
name = "ic"
[task]
in_context = "lds"
train_lengths = [1, 4]
test_lengths = [4, 6]
[task.options]
dim = 2
[model]
layers = 1
heads = 1
width = 8
positions = ["rope"]
[compare]
attention = ["linear"]
[training]
steps = 10
warmup_steps = 2
seeds = [0]
eval_every = 5
eval_batch_size = 32
[evaluation]
examples_per_length = 16
"""

DONE = ["copy-width=16-seeds=0", "copy-width=16-seeds=1"]
FAILED = ["copy-width=15-seeds=0", "copy-width=15-seeds=1"]


def write_sweep(folder: Path, sweep: str = SWEEP) -> Path:
    (folder / "experiments").mkdir(parents=True, exist_ok=True)
    (folder / "experiments" / "tiny.toml").write_text(TINY, encoding="utf-8")
    (folder / "experiments" / "ic.toml").write_text(IN_CONTEXT, encoding="utf-8")
    (folder / "sweep.toml").write_text(sweep, encoding="utf-8")
    return folder / "sweep.toml"


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> tuple[Path, Path, dict, list[str]]:
    folder = tmp_path_factory.mktemp("sweep")
    lines: list[str] = []
    results = run_sweep(write_sweep(folder), folder / "out", workers=2, log=lines.append)
    return folder / "sweep.toml", folder / "out", results.to_dict(), lines


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
    assert lines[-2].startswith("[4/4] ")
    assert results["machine"]["cpus"] >= 1 and results["wall_seconds"] > 0
    assert results["machine"]["device"] == jax.devices()[0].device_kind
    assert results["published"] == {"copy": {"generalizes": True, "source": "a paper",
                                             "compare": "2x", "every_seed": False}}
    assert results["note"] == "Trained briefly."


def test_a_finished_sweep_writes_its_study_page(finished_sweep):
    _, out, _, lines = finished_sweep
    assert lines[-1] == f"study: {out / 'study.md'} (also study.html)"
    study = (out / "study.md").read_text(encoding="utf-8")
    assert "| copy " in study and "a paper" in study and "Trained briefly." in study
    assert all(name in study for name in FAILED)   # listed as failed runs
    assert (out / "plots" / "study.png").is_file() and (out / "study.html").is_file()


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
    again = run_sweep(sweep, out, workers=2, log=lambda line: None).to_dict()
    for name in DONE:
        assert again["runs"][name]["status"] == "skipped"
        assert again["runs"][name]["summary"] == first["runs"][name]["summary"]
        assert (out / "runs" / name / "results.json").stat().st_mtime_ns == written[name]
    assert [again["runs"][name]["status"] for name in FAILED] == ["failed", "failed"]


def test_a_sweep_crosses_in_context_experiments_with_its_grid(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, 'experiments = ["experiments/ic.toml"]\n'
                                             '[grid]\nseeds = [[0], [1]]\nwidth = [8, 16]'))
    assert [run.name for run in sweep.runs] == ["ic-seeds=0-width=8", "ic-seeds=0-width=16",
                                                 "ic-seeds=1-width=8", "ic-seeds=1-width=16"]
    assert [(run.config.training.seeds, run.config.model.width) for run in sweep.runs] == \
        [((0,), 8), ((0,), 16), ((1,), 8), ((1,), 16)]


def test_a_sweep_runs_in_context_experiments_beside_others_and_reports_them_apart(tmp_path):
    sweep = write_sweep(tmp_path, 'experiments = ["experiments/tiny.toml", '
                                  '"experiments/ic.toml"]\n[overrides]\nsteps = 10')
    first = run_sweep(sweep, tmp_path / "out", workers=2, log=lambda line: None).to_dict()
    assert first["counts"] == {"done": 2, "skipped": 0, "failed": 0, "pending": 0}
    [row] = first["runs"]["ic"]["summary"]
    assert row["run"] == "rope-linear" and row["seeds"] == 1
    assert set(row["loss"]) == set(row["baseline"]) == {"4", "6"}
    stored = json.loads((tmp_path / "out" / "runs" / "ic" / "results.json").read_text())
    assert stored["runs"][0]["history"][-1]["step"] == 10
    assert row["loss"]["6"] == pytest.approx(np.mean(stored["runs"][0]["lengths"][1]["loss"]))
    study = (tmp_path / "out" / "study.md").read_text(encoding="utf-8")
    assert "ranked by compiled complexity" in study and "| copy " in study
    [line] = [line for line in study.splitlines() if "runs/ic/report.html" in line]
    assert "rope-linear" in line and f"{row['baseline']['6']:.4g}" in line
    again = run_sweep(sweep, tmp_path / "out", workers=2, log=lambda line: None).to_dict()
    assert again["runs"]["ic"]["status"] == "skipped"
    assert again["runs"]["ic"]["summary"] == first["runs"]["ic"]["summary"]
    # A sweep of in-context runs only: their section, no ranking by complexity, no scatter.
    only = tmp_path / "only"
    shutil.copytree(tmp_path / "out", only, ignore=shutil.ignore_patterns("plots"))
    record = json.loads((only / "sweep.json").read_text())
    record["runs"] = {"ic": record["runs"]["ic"]}
    (only / "sweep.json").write_text(json.dumps(record))
    [page, _] = write_study(only)
    study = page.read_text(encoding="utf-8")
    assert "In-context experiments" in study and "compiled complexity" not in study
    assert not (only / "plots" / "study.png").exists()


@pytest.mark.slow
def test_a_run_whose_config_changed_is_not_skipped_but_refuses_its_old_checkpoints(tmp_path):
    one_run = 'experiments = ["experiments/tiny.toml"]\n[overrides]\nsteps = {}'
    first = run_sweep(write_sweep(tmp_path, one_run.format(30)), tmp_path / "out", workers=1,
                      log=lambda line: None).to_dict()
    again = run_sweep(write_sweep(tmp_path, one_run.format(35)), tmp_path / "out", workers=1,
                      log=lambda line: None).to_dict()
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
    ('experiments = ["experiments/tiny.toml"]\nnote = 3', "note"),
    ('experiments = ["experiments/tiny.toml"]\n[published.cpy]\ngeneralizes = true',
     "[published.cpy]"),
    ('experiments = ["experiments/tiny.toml"]\n[published.copy]\nsource = "x"',
     "[published.copy]"),
    ('experiments = ["experiments/tiny.toml"]\n[published.copy]\ngeneralizes = "yes"',
     "[published.copy] generalizes"),
    ('experiments = ["experiments/tiny.toml"]\n[published.copy]\ngeneralizes = true\nsrc = ""',
     "[published.copy] src"),
    ('experiments = ["experiments/ic.toml"]\n[published.ic]\ngeneralizes = true',
     "[published.ic]"),
    ('experiments = ["experiments/ic.toml"]\n[search]\nwidth = [8, 16]', "[search]"),
    ('experiments = ["experiments/ic.toml"]\n[grid]\nfit_threshold = [0.9]',
     "[grid] fit_threshold"),
    ('experiments = ["experiments/ic.toml"]\n[grid]\nsampler = ["unique"]', "[grid] sampler"),
])
def test_bad_sweep_files_are_rejected_naming_the_file_and_key(tmp_path, sweep, named):
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(rasp.RaspError) as raised:
        load_sweep(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    if named is not None:
        assert f": {named}: " in message


def test_the_contrast_sweep_is_the_issue_5_suite_with_learned_offset_positions_and_3_seeds():
    sweep = load_sweep(ROOT / "examples" / "sweeps" / "contrast.toml")
    tasks = ("count", "mode", "copy_unique", "sort", "copy_repeat", "parity", "addition_forward")
    assert [run.name for run in sweep.runs] == [f"{task}-positions=offset" for task in tasks]
    for run in sweep.runs:
        assert run.config.model.positions == ("offset",)
        assert run.config.training.seeds == (0, 1, 2)
    assert sorted(sweep.published) == sorted(tasks)


def test_rasp_sweep_rejects_a_bad_sweep_file_in_one_line(tmp_path):
    path = write_sweep(tmp_path, 'experiments = ["experiments/tiny.toml"]\n[grid]\nwidht = [16]')
    assert_one_error_line(run_rasp("sweep", str(path), cwd=tmp_path), "widht")


@pytest.mark.slow
def test_a_killed_sweep_restarts_without_losing_a_finished_run(tmp_path):
    path = write_sweep(tmp_path, 'experiments = ["experiments/tiny.toml"]\n'
                                 '[grid]\nseeds = [[0], [1]]\n[overrides]\nsteps = 40')
    names = ["copy-seeds=0", "copy-seeds=1"]
    command = ["sweep", str(path), "-o", "out", "--workers", "1"]
    # Its own process group, so that killing it kills its pool's workers too.
    sweep = subprocess.Popen([sys.executable, "-m", "command_line.main", *command],
                             cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    markers = [tmp_path / "out" / "runs" / name / MARKER for name in names]
    try:
        deadline = time.monotonic() + 120
        while not any(marker.exists() for marker in markers):
            assert sweep.poll() is None, "the sweep ended before a run finished"
            assert time.monotonic() < deadline, "no run finished in 120s"
            time.sleep(0.05)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    before = {marker.parent.name: _stored(marker.parent / "results.json")
              for marker in markers if marker.exists()}

    again = run_rasp(*command, cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"2 runs, {len(before)} finished earlier and skipped" in again.stderr
    summary = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert summary["counts"]["pending"] == summary["counts"]["failed"] == 0
    for name in names:
        assert summary["runs"][name]["status"] == ("skipped" if name in before else "done")
        assert (tmp_path / "out" / "runs" / name / MARKER).is_file()
    for name, stored in before.items():
        assert _stored(tmp_path / "out" / "runs" / name / "results.json") == stored


def _pool_workers(parent: int) -> list[int]:
    """The pids of the process-pool workers that `parent` started (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and \
                    int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent \
                    and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):   # a process that ended meanwhile
            continue
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_pool_workers_of_a_killed_sweep_exit_with_it(tmp_path):
    """Killing the sweep alone (not its process group) must not leave a worker training on:
    it would write into the run folder that the next invocation trains in too."""
    path = write_sweep(tmp_path, 'experiments = ["experiments/tiny.toml"]\n'
                                 '[overrides]\nsteps = 100000')
    sweep = subprocess.Popen([sys.executable, "-m", "command_line.main", "sweep", str(path),
                              "-o", "out", "--workers", "1"], cwd=tmp_path,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    assert_pool_workers_exit_with(sweep, "a worker outlived its sweep by 20 s")


def assert_pool_workers_exit_with(process: subprocess.Popen, outlived: str) -> None:
    """Once `process` (in its own session) has started its pool workers, kill it alone with
    SIGKILL: every worker must exit within 20 s (else fail with `outlived`)."""
    try:
        deadline = time.monotonic() + 120
        while not (workers := _pool_workers(process.pid)):
            assert process.poll() is None and time.monotonic() < deadline, "no worker started"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, outlived
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _stored(path: Path) -> tuple[bytes, int]:
    """A file's bytes and modification time: equal only if nothing rewrote it."""
    return path.read_bytes(), path.stat().st_mtime_ns


# --------------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The address of a one-node Ray cluster started for these tests, stopped after them."""
    pytest.importorskip("ray")
    ray_script = Path(sys.executable).parent / "ray"
    folder = tempfile.mkdtemp(prefix="ray-")   # short: Ray's socket paths must stay short
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # A new session: Ray's daemons stay in the group of `ray start`, so that the teardown
    # stops this cluster and no other (`ray stop` would stop every Ray on the machine).
    with open(Path(folder) / "start.log", "w") as output:
        start = subprocess.Popen(
            [str(ray_script), "start", "--head", f"--port={port}", "--num-cpus=2",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder}"],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert start.wait(timeout=120) == 0, (Path(folder) / "start.log").read_text()
        yield f"127.0.0.1:{port}"
    finally:
        for sent in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(start.pid, sent)
            except ProcessLookupError:
                break
            time.sleep(1)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_sweep_and_its_runs_share_one_gpu_unless_the_user_set_its_memory(finished_sweep):
    # JAX preallocates 75% of a GPU's memory per process: the sweep's own process would hold
    # it and no run could start. The sweep of the fixture ran in this process.
    assert os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == "false" or \
        any(name in os.environ for name in DEVICE_MEMORY_SETTINGS[1:])
    unset, chosen = {}, {"XLA_PYTHON_CLIENT_MEM_FRACTION": ".2"}
    share_the_device(unset)
    share_the_device(chosen)
    assert unset == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                     "XLA_FLAGS": "--xla_gpu_autotune_level=0"}
    assert chosen == {"XLA_PYTHON_CLIENT_MEM_FRACTION": ".2",
                      "XLA_FLAGS": "--xla_gpu_autotune_level=0"}


def test_the_sweep_stops_xla_autotuning_unless_the_user_set_its_level():
    # Autotuning each new shape cost tens of seconds a shape on an H200 with 4 runs at once.
    others, own = {"XLA_FLAGS": "--xla_dump_to=/tmp/d"}, {"XLA_FLAGS": "--xla_gpu_autotune_level=2"}
    share_the_device(others)
    share_the_device(own)
    assert others["XLA_FLAGS"] == "--xla_dump_to=/tmp/d --xla_gpu_autotune_level=0"
    assert own["XLA_FLAGS"] == "--xla_gpu_autotune_level=2"


def test_a_cpu_backend_accepts_the_sweeps_xla_flags():
    # XLA stops the process at an unknown flag in XLA_FLAGS; the GPU flag must parse anywhere.
    environment = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    share_the_device(environment)
    summed = "import jax.numpy as jnp; print(jnp.ones(2).sum())"
    started = subprocess.run([sys.executable, "-c", summed], env=environment,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "2.0"


@pytest.mark.slow
def test_a_sweep_on_ray_gives_the_results_of_the_local_pool(finished_sweep, ray_cluster,
                                                             tmp_path):
    sweep, local_out, local, _ = finished_sweep
    result = run_rasp("sweep", str(sweep), "-o", "out", "--ray", ray_cluster, cwd=tmp_path,
                      timeout=300)
    assert result.returncode == 1, result.stderr   # as on the local pool: two runs fail
    out = tmp_path / "out"
    on_ray = json.loads((out / "sweep.json").read_text())
    assert on_ray["backend"] == f"ray {ray_cluster}" and local["backend"] == "local"
    assert on_ray["counts"] == local["counts"]
    assert _files(out) == _files(local_out)
    for name, entry in local["runs"].items():
        assert on_ray["runs"][name]["run_dir"] == str(out / "runs" / name)
        assert {key: value for key, value in on_ray["runs"][name].items()
                if key not in ("run_dir", "seconds")} == \
            {key: value for key, value in entry.items() if key not in ("run_dir", "seconds")}
    for name in DONE:
        results = [json.loads((folder / "runs" / name / "results.json").read_text())
                   for folder in (out, local_out)]
        assert _without_timings(results[0]) == _without_timings(results[1])


def _files(out: Path) -> list[str]:
    return sorted(str(path.relative_to(out)) for path in (out / "runs").rglob("*"))


def _without_timings(value: Any) -> Any:
    """Results as they depend on the config alone: no times, no creation date."""
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items()
                if key not in ("created", "timings") and not key.endswith("seconds")}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def test_rasp_sweep_names_a_ray_address_it_cannot_reach_in_one_line(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as probe:   # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    result = run_rasp("sweep", str(write_sweep(tmp_path)), "-o", "out", "--ray", address,
                      cwd=tmp_path)
    assert_one_error_line(result, f"--ray {address}: cannot connect")
    assert not (tmp_path / "out").exists()


def test_what_native_code_writes_to_stderr_is_silenced_until_ray_connects(capfd):
    from generalization.sweep import _silenced_stderr
    with _silenced_stderr():
        os.write(2, b"gcs_client.cc:210: Failed to get cluster ID from GCS server\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
