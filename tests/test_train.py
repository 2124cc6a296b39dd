"""Training: a tiny model fits a trivial task, early stopping freezes fitted seeds, the result
does not depend on how steps are cut into jitted calls, and a killed run resumes bit-identically
(killed inside a checkpoint write, and killed with SIGKILL in a subprocess)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rasp
from generalization.training import checkpoint
from generalization.evaluation.predict import evaluate_lengths
from generalization.models.config import ModelConfig
from generalization.tasks import Task, TaskData
from generalization.settings import number, setting
from generalization.training.config import TrainConfig
from generalization.training.loop import train
from generalization.training.steps import masked_cross_entropy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def task_data(sop: str, lengths: tuple[int, int] = (1, 5), vocab: str = "abc") -> TaskData:
    """The example program `sop`.rasp (copy or reverse: outputs are vocabulary tokens)."""
    path = EXAMPLES / f"{sop}.rasp"
    task = Task(sop, path, sop, tuple(vocab), lengths, (lengths[1] + 1, lengths[1] + 3))
    return TaskData(task, rasp.load(path), list(vocab))


def tiny_model(data: TaskData, positions: str = "learned", width: int = 16) -> ModelConfig:
    return ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes, num_layers=1,
                       num_heads=1, width=width, max_position=16, positions=positions)


# Reverse at lengths 1-5 with this budget does not fit, so every seed trains all the steps.
RESUME_CONFIG = TrainConfig(steps=24, batch_size=8, learning_rate=3e-3, warmup_steps=4,
                            seeds=(0, 1), checkpoint_every=6, eval_every=4, steps_per_call=4,
                            eval_batch_size=16)


def assert_same_result(a, b) -> None:
    """Bit-identical parameters and identical metrics (seconds aside)."""
    leaves_a, leaves_b = jax.tree.leaves(a.params), jax.tree.leaves(b.params)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert (a.steps, a.final_loss, a.in_distribution_exact_match, a.fitted, a.history) == \
        (b.steps, b.final_loss, b.in_distribution_exact_match, b.fitted, b.history)


@pytest.fixture(scope="module")
def reverse_data() -> TaskData:
    return task_data("reverse")


@pytest.fixture(scope="module")
def checkpointed(reverse_data, tmp_path_factory):
    """An uninterrupted run of RESUME_CONFIG and its checkpoint directory."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    return train(tiny_model(reverse_data, "randomized"), RESUME_CONFIG, reverse_data, (1, 5),
                 directory, progress=False), directory


@pytest.fixture(scope="module")
def uninterrupted(checkpointed):
    return checkpointed[0]


def test_masked_cross_entropy_averages_real_positions_only():
    logits = jnp.log(jnp.array([[[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]]]))
    labels = jnp.array([[0, 1, -1]])
    expected = -(np.log(0.5) + np.log(0.1)) / 2
    np.testing.assert_allclose(masked_cross_entropy(logits, labels), expected, rtol=1e-6)
    assert float(masked_cross_entropy(logits, jnp.full((1, 3), -1))) == 0.0


def test_fits_a_trivial_task_and_stops_early():
    data = task_data("copy")
    model = tiny_model(data, width=32)
    config = TrainConfig(steps=300, batch_size=32, learning_rate=3e-3, warmup_steps=10,
                         eval_every=20, checkpoint_every=100, eval_batch_size=128)
    result = train(model, config, data, (1, 5), None, progress=False)
    assert result.fitted == [True, True, True]
    assert result.in_distribution_exact_match == [1.0, 1.0, 1.0]
    assert max(result.steps) < config.steps
    # Each seed stopped at the check at which it fitted.
    for j, steps in enumerate(result.steps):
        first_fit = next(h["step"] for h in result.history if h["fitted"][j])
        assert steps == first_fit
    assert result.history[-1]["step"] == max(result.steps)
    # On fresh inputs of every training length, labelled by the program.
    sets = {n: data.batch(np.random.default_rng(n), 64, (n, n)) for n in range(1, 6)}
    for metrics in evaluate_lengths(model, result.params, data, sets).values():
        assert metrics["exact_match"] == [1.0, 1.0, 1.0]
        assert metrics["token_accuracy"] == [1.0, 1.0, 1.0]


@pytest.mark.slow
def test_learns_reverse_with_learned_positions():
    """A real task (about 30 s on 2 cores): fitted seeds are right on fresh inputs of every
    training length, and fitting is what stopped them."""
    data = task_data("reverse", (1, 6), "abcd")
    model = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes, num_layers=2,
                        num_heads=1, width=32, max_position=16)
    config = TrainConfig(steps=1500, batch_size=32, learning_rate=3e-3, warmup_steps=50,
                         eval_every=100, checkpoint_every=500)
    result = train(model, config, data, (1, 6), None, progress=False)
    assert any(result.fitted)
    sets = {n: data.batch(np.random.default_rng(n), 128, (n, n)) for n in range(1, 7)}
    metrics = evaluate_lengths(model, result.params, data, sets)
    for j, fitted in enumerate(result.fitted):
        if fitted:
            assert result.steps[j] < config.steps
            assert all(m["exact_match"][j] >= 0.98 for m in metrics.values())


@dataclasses.dataclass(frozen=True)
class AnyThreshold(TrainConfig):
    """TrainConfig also taking fit threshold 0 (every seed fits at the first check), which a
    config refuses as useless and this test uses to stop training there."""

    fit_threshold: float = setting(1.0, number("a number in [0, 1]", lambda x: 0 <= x <= 1))


def test_fitted_seeds_freeze(reverse_data, uninterrupted):
    """A seed that fits stops changing while the others go on along their own trajectories;
    its steps and metrics are those of the check at which it fitted."""
    model, history = tiny_model(reverse_data, "randomized"), uninterrupted.history
    first = history[0]["exact_match"]
    assert len(set(first)) == 2, "the test needs seeds that differ at the first check"
    threshold = max(first)
    config = TrainConfig(**{**RESUME_CONFIG.__dict__, "fit_threshold": threshold})
    result = train(model, config, reverse_data, (1, 5), None, progress=False)
    fits = [next((h["step"] for h in history if h["exact_match"][j] >= threshold), None)
            for j in range(2)]
    assert result.steps == [step or RESUME_CONFIG.steps for step in fits]
    assert result.fitted == [step is not None for step in fits]
    for j, step in enumerate(result.steps):
        check = next(h for h in history if h["step"] == step)
        assert result.final_loss[j] == check["loss"][j]
        assert result.in_distribution_exact_match[j] == check["exact_match"][j]
    # The seed that fitted at the first check holds the parameters of that check: those of
    # a run in which every seed fits there (threshold 0) and training stops.
    everyone = AnyThreshold(**{**RESUME_CONFIG.__dict__, "fit_threshold": 0.0})
    stopped = train(model, everyone, reverse_data, (1, 5), None, progress=False)
    assert stopped.steps == [4, 4] and stopped.history[0] == {**history[0], "fitted": [True] * 2}
    frozen = first.index(threshold)
    for x, y in zip(jax.tree.leaves(result.params), jax.tree.leaves(stopped.params)):
        np.testing.assert_array_equal(np.asarray(x)[frozen], np.asarray(y)[frozen])


def test_result_does_not_depend_on_steps_per_call(reverse_data, uninterrupted):
    config = TrainConfig(**{**RESUME_CONFIG.__dict__, "steps_per_call": 1})
    one_by_one = train(tiny_model(reverse_data, "randomized"), config, reverse_data, (1, 5),
                       None, progress=False)
    assert_same_result(uninterrupted, one_by_one)


def test_batches_built_ahead_by_workers_train_identically(reverse_data, uninterrupted):
    """`label_workers` moves the building of batches to other processes and changes nothing,
    also when a seed fits (and freezes) after the chunks ahead of it were started."""
    model = tiny_model(reverse_data, "randomized")
    ahead = TrainConfig(**{**RESUME_CONFIG.__dict__, "label_workers": 2})
    assert_same_result(uninterrupted, train(model, ahead, reverse_data, (1, 5), None,
                                            progress=False))
    threshold = max(uninterrupted.history[0]["exact_match"])
    runs = [train(model, TrainConfig(**{**RESUME_CONFIG.__dict__, "fit_threshold": threshold,
                                        "label_workers": workers}),
                  reverse_data, (1, 5), None, progress=False) for workers in (0, 1)]
    assert len(set(runs[0].steps)) == 2, "the test needs a seed frozen while another trains"
    assert_same_result(*runs)


class Killed(Exception):
    """Stands for the process dying."""


def test_resume_after_a_kill_inside_a_checkpoint_write(reverse_data, uninterrupted,
                                                       tmp_path, monkeypatch):
    """Die after the arrays of the second checkpoint are in place but before its record is
    committed: the resumed run starts from the first checkpoint and ends bit-identical."""
    records = []
    real_write = checkpoint.write_atomically

    def dying_write(path, data):
        records.append(path.name)
        if len(records) == 2:   # the record of the second checkpoint
            raise Killed
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "write_atomically", dying_write)
    model = tiny_model(reverse_data, "randomized")
    with pytest.raises(Killed):
        train(model, RESUME_CONFIG, reverse_data, (1, 5), tmp_path, progress=False)
    monkeypatch.undo()
    assert json.loads((tmp_path / checkpoint.RECORD).read_text())["step"] == 6
    resumed = train(model, RESUME_CONFIG, reverse_data, (1, 5), tmp_path, progress=False)
    assert_same_result(uninterrupted, resumed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint.RECORD,
                                                         "state_000000024.npz"]
    # A finished run found in its directory is returned as it was, without training.
    again = train(model, RESUME_CONFIG, reverse_data, (1, 5), tmp_path, progress=False)
    assert_same_result(uninterrupted, again)


SUBPROCESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from generalization.training import checkpoint
    from test_train import RESUME_CONFIG, task_data, tiny_model
    from generalization.training.loop import train

    save = checkpoint.save
    def slow_save(*args, **kwargs):   # leave the parent time to kill between checkpoints
        save(*args, **kwargs)
        time.sleep(0.3)
    checkpoint.save = slow_save
    data = task_data("reverse")
    train(tiny_model(data, "randomized"), RESUME_CONFIG, data, (1, 5), Path({directory!r}),
          progress=False)
""")


@pytest.mark.slow
def test_resume_after_sigkill(reverse_data, uninterrupted, tmp_path):
    script = SUBPROCESS.format(tests=str(Path(__file__).parent), directory=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    record = tmp_path / checkpoint.RECORD
    deadline = time.monotonic() + 120
    try:
        while not (record.exists() and json.loads(record.read_text())["step"] >= 12):
            assert process.poll() is None, "the training process ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert json.loads(record.read_text())["step"] < RESUME_CONFIG.steps
    resumed = train(tiny_model(reverse_data, "randomized"), RESUME_CONFIG, reverse_data, (1, 5),
                    tmp_path, progress=False)
    assert_same_result(uninterrupted, resumed)


LABELLING_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_train import task_data, tiny_model
    from generalization.training.config import TrainConfig
    from generalization.training.loop import train

    data = task_data("reverse")
    config = TrainConfig(steps=10**6, batch_size=8, seeds=(0,), steps_per_call=4,
                         eval_every=10**6, checkpoint_every=10**6, label_workers=1)
    train(tiny_model(data), config, data, (1, 5), None, progress=False)
""")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_label_workers_of_a_killed_run_exit_with_it():
    """A run killed with SIGKILL cannot shut its label workers down, and they would wait on
    their queue for ever, holding their memory: they must exit by themselves."""
    from test_sweep import assert_pool_workers_exit_with
    run = subprocess.Popen([sys.executable, "-c",
                            LABELLING_RUN.format(tests=str(Path(__file__).parent))],
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    assert_pool_workers_exit_with(run, "a label worker outlived its run by 20 s")


# The settings the first checkpoints recorded: a setting added since must be recorded only when
# it differs from its default (loop.LATER_*_OPTIONS), or those checkpoints stop resuming.
FIRST_MODEL_KEYS = {"vocab_size", "num_classes", "num_layers", "num_heads", "width", "mlp_width",
                    "positions", "max_position", "causal"}
FIRST_TRAIN_KEYS = {"steps", "batch_size", "learning_rate", "warmup_steps", "weight_decay",
                    "grad_clip", "seeds", "checkpoint_every", "eval_every", "fit_threshold",
                    "steps_per_call", "eval_batch_size"}


def test_settings_added_since_the_first_checkpoints_leave_their_identity_alone(reverse_data):
    from generalization.training.loop import _identity

    model = ModelConfig(vocab_size=4, num_classes=4, num_layers=1, num_heads=1)
    identity = _identity(model, TrainConfig(), reverse_data, (1, 5), None)
    assert set(identity["model"]) == FIRST_MODEL_KEYS
    assert set(identity["train"]) == FIRST_TRAIN_KEYS
    # Where the batches are built is not part of it: a run resumes with other workers.
    assert _identity(model, TrainConfig(label_workers=3), reverse_data, (1, 5), None) == identity


def test_refuses_a_checkpoint_of_another_configuration(reverse_data, checkpointed):
    other = TrainConfig(**{**RESUME_CONFIG.__dict__, "fit_threshold": 0.5})
    with pytest.raises(checkpoint.CheckpointError, match="different configuration"):
        train(tiny_model(reverse_data, "randomized"), other, reverse_data, (1, 5),
              checkpointed[1], progress=False)


@pytest.mark.parametrize("field, value", [("steps", 0), ("eval_every", 0), ("seeds", ()),
                                          ("seeds", (1, 1)), ("fit_threshold", 1.5),
                                          ("warmup_steps", -1)])
def test_config_rejects_impossible_values(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})
