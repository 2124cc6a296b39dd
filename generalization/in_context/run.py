"""One in-context experiment, end to end: train every run's seeds together, evaluate them at
every test length beside the task's baseline, measure their residual-stream norms, save the
models, write results.json and the report.

    results = run_in_context(load_in_context_config("examples/in_context/regression_cpu.toml"),
                             Path("runs/regression_cpu"))

Training. Every step, seed s draws a batch from `streams.training_batch(s, step)`: each row's
length uniform in the training range, padded at the end to the longest training length (the
model is causal, so padding after a row changes none of its outputs). Objective:

- regression and LDS: the mean over predicted positions of mean_d (out - target)^2;
- SCB: the cross-entropy of the next token x_o, read at each row's last token.

Every `eval_every` steps a fresh in-distribution batch (`streams.fit_check`) at the longest
training length gives the learning curve, with the baseline's loss on the same batch.

Evaluation. At each test length n, `examples_per_length` sequences from
`streams.evaluation_set(n)`, position ids from 0:

- regression and LDS: the squared error at every predicted position (example i = 1..n; the
  i-th query sees i - 1 examples), every seed, and the ridge baseline's on the same data;
- SCB: the cross-entropy on x_o, every seed, beside the Bayes-optimal predictor's (the
  excess is the model's loss minus the Bayes loss; log N is a uniform guess's), and the
  distances of the model's predictions to P and q (`probes.py`).

Nothing here chooses a setting from test lengths. Every file is written atomically; a finished
run (`runs/<name>.json`) is skipped on a rerun of the same config.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from generalization import streams
from generalization.evaluation.norms import residual_norms
from generalization.in_context.config import InContextConfig
from generalization.in_context.probes import (constant_sequences, position_distance,
                                              transition_distance)
from generalization.models.config import ModelConfig
from generalization.models.positions import position_ids
from generalization.models.saved import load_learned, save_learned, start_parameters
from generalization.models.transformer import build_model, count_parameters
from generalization.reporting.results import NormRecord
from generalization.settings import ConfigError
from generalization.tasks.encoding import IGNORE_LABEL, Encoding
from generalization.training.steps import (make_chunk_step, make_init, make_optimizer,
                                           masked_cross_entropy, masked_squared_error,
                                           seed_keys)
from rasp.files import output_folder, write_atomically

SCHEMA = "rasp-in-context-results/1"
Log = Callable[[str], None]


def run_in_context(config: InContextConfig, run_dir: Path,
                   log: Log = lambda line: None) -> dict[str, Any]:
    """Train, evaluate and report every run of `config` into `run_dir`; the results as plain
    data (as results.json holds them, `results_schema.md`)."""
    from generalization.in_context.report import write_in_context_report

    run_dir = output_folder(run_dir)
    task = config.task
    runs = []
    for name, model_config in config.variants():
        saved = run_dir / "runs" / f"{name}.json"
        if saved.is_file():
            log(f"{config.name}/{name}: finished earlier, skipped")
            runs.append(json.loads(saved.read_text(encoding="utf-8")))
            continue
        run = _train_and_evaluate(config, task, name, model_config, run_dir, log)
        write_atomically(saved, json.dumps(run) + "\n")
        runs.append(run)
    results = {
        "schema": SCHEMA, "name": config.name, "config": config.to_dict(),
        "task": {"name": config.task_name, "options": task.to_dict(),
                 "kind": "tokens" if config.token_task else "vectors",
                 "baseline": "Bayes-optimal predictor" if config.token_task else
                 f"ridge regression (lambda {task.ridge:g}) over the pairs seen"},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": jax.devices()[0].device_kind,
        # The runs' own time, so that a rerun that skips them reports what they took.
        "seconds": round(sum(run["train_seconds"] + run["evaluate_seconds"] for run in runs), 1),
        "runs": runs}
    write_atomically(run_dir / "results.json", json.dumps(results, indent=1) + "\n")
    write_in_context_report(run_dir)
    return results


# ---------------------------------------------------------------------------------------------
# Batches


def draw_batch(config: InContextConfig, task: Any, rng: np.random.Generator, batch: int,
               lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, Any, float]:
    """One batch of rows of the given task `lengths`, padded at the end to `width` tokens:
    (inputs, mask bool[B, width], labels, the baseline's loss on it). Labels are int[B, width]
    (IGNORE_LABEL but at each row's last token) for SCB, (targets, weights) for regression."""
    rows = len(lengths)
    mask = np.zeros((rows, width), bool)
    if config.token_task:
        inputs = np.zeros((rows, width), np.int32)
        labels = np.full((rows, width), IGNORE_LABEL, np.int32)
        bayes = np.zeros(rows)
        for length in np.unique(lengths):
            where = np.flatnonzero(lengths == length)
            drawn = task.draw(rng, len(where), int(length))
            inputs[where, :length] = drawn.tokens
            labels[where, length - 1] = drawn.target
            mask[where, :length] = True
            bayes[where] = -np.log(task.bayes(drawn.tokens)[np.arange(len(where)), drawn.target])
        return inputs, mask, labels, float(bayes.mean())
    drawn = task.draw(rng, rows, int(lengths.max()))
    tokens = np.arange(drawn.inputs.shape[1])
    mask[:, :drawn.inputs.shape[1]] = tokens[None] < np.asarray(
        [config.tokens_of(n) for n in lengths])[:, None]
    weights = (drawn.predicted & mask[:, :drawn.inputs.shape[1]]).astype(np.float32)
    inputs = _pad(drawn.inputs, width)
    targets = _pad(drawn.targets, width)
    weights = _pad(weights, width)
    baseline = task.baseline(drawn)
    errors = np.mean((baseline - drawn.targets) ** 2, axis=-1)
    loss = float((errors * weights[:, :errors.shape[1]]).sum() / max(weights.sum(), 1))
    return (inputs.astype(np.float32), mask, (targets.astype(np.float32), weights), loss)


def _pad(array: np.ndarray, width: int) -> np.ndarray:
    return np.pad(array, [(0, 0), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2))


# ---------------------------------------------------------------------------------------------
# Training


def _train_and_evaluate(config: InContextConfig, task: Any, name: str,
                        model_config: ModelConfig, run_dir: Path, log: Log) -> dict[str, Any]:
    training = config.training
    model = build_model(model_config)
    optimizer = make_optimizer(training)
    objective = masked_cross_entropy if config.token_task else masked_squared_error
    width = config.tokens_of(config.train_lengths[1])
    seeds = training.seeds
    start, initialisation = _start(config, name, model_config)
    init = make_init(model, optimizer, width, model_config.input_dim)
    params, opt_state = init(seed_keys(seeds), start)
    chunk_step = make_chunk_step(model, optimizer, objective)
    measure = _make_measure(model, objective)
    history = []
    clock = time.perf_counter()
    step = 0
    while step < training.steps:
        # A chunk ends at the next check, so that checks fall every `eval_every` steps.
        count = min(training.steps_per_call, training.steps - step,
                    training.eval_every - step % training.eval_every)
        batches = [[_training_batch(config, task, model_config, seed, step + k, width)
                    for seed in seeds] for k in range(count)]
        stacked = jax.tree.map(lambda *leaves: np.stack(leaves),
                               *[jax.tree.map(lambda *l: np.stack(l), *row) for row in batches])
        params, opt_state, _ = chunk_step(params, opt_state, stacked,
                                          np.ones((count, len(seeds)), bool))
        step += count
        if step % training.eval_every == 0 or step == training.steps:
            checks = [_check_batch(config, task, model_config, seed, step, width,
                                   training.eval_batch_size) for seed in seeds]
            batch = jax.tree.map(lambda *leaves: np.stack(leaves), *[c[0] for c in checks])
            losses = np.asarray(measure(params, *batch))
            history.append({"step": step, "loss": [round(float(v), 6) for v in losses],
                            "baseline": round(float(np.mean([c[1] for c in checks])), 6)})
            log(f"{config.name}/{name}: step {step}, loss "
                f"{' '.join(f'{v:.4f}' for v in losses)} (baseline {history[-1]['baseline']:.4f})")
    train_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    lengths = [_evaluate_length(config, task, model_config, params, n)
               for n in config.test_lengths]
    norms = _norms(config, task, model_config, params)
    evaluate_seconds = time.perf_counter() - clock
    encoding = Encoding(list(range(task.vocab_size)), list(range(task.vocab_size))) \
        if config.token_task else Encoding([], [])
    save_learned(run_dir / "models" / name, model_config, params, seeds, encoding)
    one_seed = jax.tree.map(lambda leaf: leaf[0], params)
    return {"name": name, "positions": model_config.positions,
            "attention": list(model_config.attention), "model": model_config.to_dict(),
            "parameters": count_parameters(one_seed), "seeds": list(seeds),
            "initialisation": initialisation, "samples_per_step": training.batch_size,
            "train_seconds": round(train_seconds, 1),
            "evaluate_seconds": round(evaluate_seconds, 1),
            "history": history, "lengths": lengths, "norms": norms}


def _training_batch(config: InContextConfig, task: Any, model_config: ModelConfig, seed: int,
                    step: int, width: int) -> tuple:
    rng = streams.training_batch(seed, step)
    low, high = config.train_lengths
    lengths = rng.integers(low, high + 1, size=config.training.batch_size)
    inputs, mask, labels, _ = draw_batch(config, task, rng, config.training.batch_size,
                                         lengths, width)
    ids = position_ids(model_config.positions, rng, len(lengths), width,
                       model_config.max_position, training=True,
                       lengths=np.asarray([config.tokens_of(n) for n in lengths]))
    return inputs, ids, mask, labels


def _check_batch(config: InContextConfig, task: Any, model_config: ModelConfig, seed: int,
                 step: int, width: int, rows: int) -> tuple[tuple, float]:
    """An in-distribution batch at the longest training length and the baseline's loss."""
    rng = streams.fit_check(seed, step)
    lengths = np.full(rows, config.train_lengths[1])
    inputs, mask, labels, baseline = draw_batch(config, task, rng, rows, lengths, width)
    ids = position_ids(model_config.positions, rng, rows, width, model_config.max_position,
                       training=False)
    return (inputs, ids, mask, labels), baseline


def _make_measure(model: Any, objective: Callable) -> Callable:
    """jit(vmap over seeds): each seed's loss on its own batch."""
    def one_seed(params, inputs, ids, mask, labels):
        return objective(model.apply(params, inputs, ids, mask), labels)
    return jax.jit(jax.vmap(one_seed))


def _start(config: InContextConfig, name: str, model_config: ModelConfig) -> tuple[Any, str]:
    """The parameters that start every seed (None: random) and how the results name it: with
    `init_from`, the same-named run's first saved seed there, whose shapes must be this one's."""
    if not config.training.init_from:
        return None, "random"
    folder = Path(config.training.init_from)
    where = f"{config.name}: [training] init_from"
    description = folder / "models" / name / "model.json"
    if not description.is_file():
        raise ConfigError(f"{where}: {folder} has no saved `{name}` model",
                          hint="train a run of that name there first",
                          section="training", key="init_from")
    seed = json.loads(description.read_text(encoding="utf-8"))["seeds"][0]
    learned = load_learned(folder, name, seed)
    try:
        params = start_parameters(model_config, learned.params)
    except ValueError as mismatch:
        raise ConfigError(f"{where}: {mismatch} in {folder}'s model",
                          hint="give [model] and the task the shape of the run it starts from",
                          section="training", key="init_from") from None
    return params, f"from {folder.name} seed {seed}"


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluation_batch(config: InContextConfig, task: Any, model_config: ModelConfig,
                     length: int) -> tuple[tuple, Any]:
    """The evaluation set of a test length: (inputs, ids, mask, labels) and the task's draw."""
    rng = streams.evaluation_set(length)
    rows = config.evaluation.examples_per_length
    width = config.tokens_of(length)
    if config.token_task:
        drawn = task.draw(rng, rows, length)
        inputs, mask = drawn.tokens.astype(np.int32), np.ones((rows, width), bool)
        labels = np.full((rows, width), IGNORE_LABEL, np.int32)
        labels[:, -1] = drawn.target
    else:
        drawn = task.draw(rng, rows, length)
        inputs, mask = drawn.inputs.astype(np.float32), np.ones((rows, width), bool)
        labels = (drawn.targets.astype(np.float32), drawn.predicted.astype(np.float32))
    ids = position_ids(model_config.positions, streams.evaluation_positions(length), rows, width,
                       model_config.max_position, training=False)
    return (inputs, ids, mask, labels), drawn


def _evaluate_length(config: InContextConfig, task: Any, model_config: ModelConfig,
                     params: Any, length: int) -> dict[str, Any]:
    (inputs, ids, mask, labels), drawn = evaluation_batch(config, task, model_config, length)
    outputs = np.asarray(_outputs(model_config)(params, inputs, ids, mask), np.float64)
    if config.token_task:
        logits = outputs[:, :, -1]                                           # [S, B, N]
        log_p = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        rows = np.arange(len(drawn.target))
        losses = -log_p[:, rows, drawn.target].mean(axis=1)
        accuracy = (logits.argmax(-1) == drawn.target).mean(axis=1)
        bayes = task.bayes(drawn.tokens)
        probabilities = np.exp(log_p)
        constant = constant_sequences(task, length)
        constant_logits = np.asarray(_outputs(model_config)(
            params, constant, np.broadcast_to(ids[:1], constant.shape),
            np.ones_like(constant, bool)),
            np.float64)[:, :, -1]
        constant_p = np.exp(constant_logits - np.logaddexp.reduce(constant_logits, axis=-1,
                                                                   keepdims=True))
        return {"length": length, "loss": _round(losses), "accuracy": _round(accuracy),
                "transition_distance": _round([transition_distance(task, p)
                                               for p in constant_p]),
                "position_distance": [None if d is None else round(d, 6) for d in (
                    position_distance(task, drawn.tokens, p) for p in probabilities)],
                "baseline": round(float(-np.log(bayes[rows, drawn.target]).mean()), 6),
                "baseline_accuracy": round(float((bayes.argmax(-1) == drawn.target).mean()), 6),
                "uniform": round(float(np.log(task.vocab_size)), 6)}
    predicted = drawn.predicted[0]                                           # same for all rows
    errors = np.mean((outputs - drawn.targets) ** 2, axis=-1)[:, :, predicted]   # [S, B, n]
    baseline = np.mean((task.baseline(drawn) - drawn.targets) ** 2, axis=-1)[:, predicted]
    return {"length": length, "loss": _round(errors.mean(axis=(1, 2))),
            "baseline": round(float(baseline.mean()), 6),
            "by_example": [_round(row) for row in errors.mean(axis=1)],
            "baseline_by_example": _round(baseline.mean(axis=0))}


_OUTPUT_FUNCTIONS: dict[ModelConfig, Callable] = {}


def _outputs(model_config: ModelConfig) -> Callable:
    """jit(vmap over seeds) of the model's outputs on one shared batch."""
    if model_config not in _OUTPUT_FUNCTIONS:
        model = build_model(model_config)
        _OUTPUT_FUNCTIONS[model_config] = jax.jit(jax.vmap(model.apply,
                                                           in_axes=(0, None, None, None)))
    return _OUTPUT_FUNCTIONS[model_config]


def _norms(config: InContextConfig, task: Any, model_config: ModelConfig,
           params: Any) -> dict[str, Any]:
    """The residual-stream norm diagnostic (`evaluation/norms.py`) over the evaluation sets:
    by layer and token position, averaged over seeds and sequences (every sequence of a length
    is full, so position t averages the sets of every length that reaches it), and by length.
    No frequency buckets: vector inputs have no token frequencies, and SCB's tokens are iid."""
    layers = model_config.num_layers + 1
    width = config.tokens_of(config.test_lengths[-1])
    total, count = np.zeros((layers, width)), np.zeros(width)
    by_length = []
    for length in config.test_lengths:
        (inputs, ids, mask, _), _ = evaluation_batch(config, task, model_config, length)
        norms = residual_norms(model_config, params, inputs, ids, mask)   # [S, L+1, B, T]
        total[:, :norms.shape[-1]] += norms.sum(axis=(0, 2))
        count[:norms.shape[-1]] += norms.shape[0] * norms.shape[2]
        by_length.append(_round(norms.mean(axis=(0, 2, 3))))
    record = NormRecord(
        layers=["embedding"] + [f"block {layer + 1}" for layer in range(layers - 1)],
        by_position=[_round(row) for row in total / np.maximum(count, 1)],
        lengths=list(config.test_lengths), by_length=by_length, frequency_buckets=[],
        by_frequency_train=[], by_frequency_test=[],
        train_width=config.tokens_of(config.train_lengths[1]))
    return record.__dict__


def _round(values: Any) -> list[float]:
    return [round(float(v), 6) for v in np.asarray(values).ravel()]
