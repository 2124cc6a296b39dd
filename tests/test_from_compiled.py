"""Learned models initialised from compiled weights: before any training the learned model
predicts exactly what the compiled model outputs; training starts every seed from those weights,
measures them before the first step, fine-tunes them for every step (no early stop), and resumes
from checkpoints; an experiment shows the "compiled" line beside training from scratch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

import compiler
import rasp
from generalization.training import checkpoint
from generalization.models import from_compiled as embedding
from generalization.config import ConfigError, quick_config
from generalization.experiment import model_config, run_experiment
from generalization.models.from_compiled import from_compiled
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.tasks import Task, TaskData
from generalization.training.config import TrainConfig
from generalization.training.loop import train

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LONGEST = 8

# (program, s-op, vocab, causal): a one-head lookup, a count, a multi-layer sort and a causal
# prefix count (whose compiled attention relies on the BOS position).
PROGRAMS = [
    ("reverse.rasp", "reverse", "abcd", False),
    ("histogram.rasp", "hist", "abc", False),
    ("sort.rasp", "sort_tokens", "abcd", False),
    ("suite/parity.rasp", "parity", "01", True),
]


def compiled_task(program: str, sop: str, vocab: str,
                  causal: bool) -> tuple[compiler.CompiledModel, TaskData]:
    path = EXAMPLES / program
    loaded = rasp.load(path)
    reference = compiler.compile(loaded, sop, list(vocab), LONGEST, causal=causal)
    task = Task(sop, path, sop, tuple(vocab), (1, LONGEST // 2), (LONGEST // 2 + 1, LONGEST),
                causal)
    return reference, TaskData.from_model(task, loaded, reference)


# reverse and parity (a lookup head; causal, with the BOS position) in the default run, the
# count and the multi-layer sort in the slow run.
@pytest.fixture(scope="module", ids=[p[1] for p in PROGRAMS], params=[
    pytest.param(p, marks=pytest.mark.slow if p[1] in ("hist", "sort_tokens") else ())
    for p in PROGRAMS])
def embedded(request) -> tuple[compiler.CompiledModel, TaskData, ModelConfig, dict]:
    reference, data = compiled_task(*request.param)
    return (reference, data, *from_compiled(reference, data))


def test_before_training_the_learned_model_predicts_the_compiled_outputs(embedded):
    reference, data, config, params = embedded
    net = build_model(config)
    # Every length up to the longest, empty included, in one padded batch.
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, LONGEST + 1, size=512).tolist()
    inputs = data.task.sampler.sample_batch(rng, lengths, data.vocab)
    tokens, mask = data.encode_inputs(inputs, width=LONGEST)
    positions = np.broadcast_to(np.arange(LONGEST, dtype=np.int32), tokens.shape)
    predicted = np.asarray(jax.jit(net.apply)(params, tokens, positions, mask).argmax(axis=-1))
    expected = reference.run(inputs)
    for row, given, output in zip(predicted, inputs, expected):
        assert data.decode(row, len(given)) == output, given


def test_the_parameters_have_the_learned_models_structure_and_shape(embedded):
    reference, data, config, params = embedded
    tokens = np.zeros((1, LONGEST), np.int32)
    initialised = build_model(config).init(jax.random.key(0), tokens, tokens, tokens == 0)
    assert jax.tree.map(np.shape, params) == jax.tree.map(np.shape, initialised)
    weights = reference.weights
    assert (config.num_layers, config.num_heads, config.hidden_width, config.max_position,
            config.causal) == (reference.num_layers, weights.num_heads,
                               weights.mlp_hidden_size, LONGEST, reference.causal)
    head_size = config.width // config.num_heads
    assert head_size >= weights.key_size and config.width >= reference.residual_width
    assert (config.positions, config.layer_norm, config.activation, config.bos) == \
        ("compiled", False, "relu", True)


def test_a_numerical_output_or_a_too_large_model_is_refused_in_one_line(monkeypatch):
    reference, data = compiled_task("reverse.rasp", "reverse", "abc", False)
    numerical = dataclasses.replace(reference, output_encoding="numerical")
    with pytest.raises(rasp.RaspValueError, match="`reverse` has a numerical output"):
        from_compiled(numerical, data)
    monkeypatch.setattr(embedding, "MAX_WIDTH", 16)
    config = quick_config(EXAMPLES / "reverse.rasp", "reverse", "abc", (1, 4), (5, LONGEST),
                          positions=["compiled"])
    with pytest.raises(ConfigError, match=r"\[model\] positions: .*too large") as error:
        model_config(config, "compiled", data, reference)
    assert "\n" not in str(error.value)


class Killed(Exception):
    """Stands for the process dying."""


def test_seeds_start_from_the_given_weights_and_resume_from_a_checkpoint(tmp_path, monkeypatch):
    reference, data = compiled_task("reverse.rasp", "reverse", "abc", False)
    config, params = from_compiled(reference, data)
    # warmup_steps=3: the warm-up a 4-step run has (it must end before the last step).
    settings = TrainConfig(steps=4, batch_size=8, seeds=(0, 1), eval_every=2, warmup_steps=3,
                           checkpoint_every=2, steps_per_call=2, eval_batch_size=16)
    # The compiled weights fit before any step, yet every step is taken (fine-tuning).
    tuned = train(config, settings, data, (1, 4), progress=False, initial_params=params)
    assert tuned.history[0] == {"step": 0, "loss": tuned.history[0]["loss"],
                                "exact_match": [1.0, 1.0], "fitted": [True, True]}
    assert tuned.steps == [4, 4]
    # A blank head fits nothing; each seed trains on its own batches.
    blank = {**params, "head": jax.tree.map(np.zeros_like, params["head"])}
    whole = train(config, settings, data, (1, 4), progress=False, initial_params=blank)
    assert whole.history[0]["step"] == 0 and whole.steps == [4, 4]
    kernel = np.asarray(whole.params["head"]["w"])
    assert not np.array_equal(kernel[0], kernel[1])

    real_save = checkpoint.save

    def dying_save(directory, step, state, meta):
        real_save(directory, step, state, meta)
        raise Killed

    monkeypatch.setattr(checkpoint, "save", dying_save)
    with pytest.raises(Killed):
        train(config, settings, data, (1, 4), tmp_path, progress=False, initial_params=blank)
    monkeypatch.undo()
    with pytest.raises(checkpoint.CheckpointError, match="different configuration"):
        train(config, settings, data, (1, 4), tmp_path, progress=False, initial_params=params)
    resumed = train(config, settings, data, (1, 4), tmp_path, progress=False,
                    initial_params=blank)
    assert (resumed.steps, resumed.history) == (whole.steps, whole.history)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(resumed.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_an_experiment_reports_compiled_initialisation_beside_training_from_scratch(tmp_path):
    config = quick_config(EXAMPLES / "reverse.rasp", "reverse", "ab", (1, 3), (4, 6),
                          positions=["learned", "compiled"], seeds=[0, 1], steps=20,
                          width=16, mlp_width=32, batch_size=16, warmup_steps=2, eval_every=10,
                          checkpoint_every=10, eval_batch_size=64, examples_per_length=16,
                          counterexamples=1, counterexample_budget=10)
    results = run_experiment(config, tmp_path, progress=False).to_dict()
    scratch, compiled = results["runs"]
    assert (scratch["positions"], scratch["initialisation"]) == ("learned", "random")
    assert (compiled["positions"], compiled["initialisation"]) == ("compiled", "compiled")
    # Exact before training, but fine-tuned all the same: early stopping never freezes it.
    assert compiled["train"]["steps"] == [20, 20]
    assert compiled["model"]["width"] >= results["task"]["compiled"]["residual_width"]
    report = (tmp_path / "report.md").read_text()
    assert "| learned |" in report and "| compiled |" in report
