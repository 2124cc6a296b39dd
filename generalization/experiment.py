"""One length-generalization experiment, end to end, from a checked config to a report.

    results = run_experiment(load_config("examples/experiments/reverse.toml"), Path("runs/reverse"))

1. Compile the task's s-op at the longest test input (the longest test length, or for an
   autoregressive task its longest whole sequence): the compiled model is the reference.
2. Draw the evaluation sets (every length of the training and the test range) and confirm that
   the compiled model and the interpreter agree on every input of them; stop if not.
3. For each positional encoding: train every seed together (`train.train`), evaluate every
   length against the compiled model's outputs, and search counterexamples with Hypothesis
   (for an autoregressive task: prompts, on which the learned model generates greedily).
4. Write `results.json` (`reporting.results.Results`, documented in `results_schema.md`) and
   rebuild the report from it.

The run directory holds everything a rerun needs: `checkpoints/<positions>/` (training resumes
from the last checkpoint) and `runs/<positions>.json` (a finished encoding, skipped on a rerun
of the same config), and the trained models, every seed's parameters in
`models/<positions>/` (`models.saved.load_learned` runs them). Every file is written
atomically. The evaluation sets are drawn from `streams.evaluation_set(length)`, so every
encoding and every rerun sees the same inputs.
"""

from __future__ import annotations

import datetime
import functools
import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

import compiler
import rasp
from compiler.verify import first_difference
from generalization import streams
from generalization.config.experiment import MATCHING, ExperimentConfig
from generalization.settings import ConfigError
from generalization.evaluation.counterexamples import find_counterexamples
from generalization.evaluation.norms import norm_profile
from generalization.evaluation.predict import evaluate_lengths, generate, predict
from generalization.models.config import ModelConfig, attention_problem, head_split_problem
from generalization.models.from_compiled import from_compiled
from generalization.models.saved import load_learned, save_learned, start_parameters
from generalization.models.transformer import count_parameters
from generalization.reporting import report
from generalization.reporting.records import plain, read
from generalization.reporting.results import (SCHEMA, CompiledRecord, Counterexample,
                                              LengthResult, ModelRecord, Results, RunResult,
                                              TaskRecord, Timings, TrainingCheck,
                                              TrainingRecord,
                                              write_results)
from generalization.tasks import Batch, Task, TaskData
from generalization.training.protocol import train_until_fitted
from rasp.files import output_folder, write_atomically
from rasp.values import value_key

PACKAGES = {"jax": "jax", "haiku": "dm-haiku", "optax": "optax", "numpy": "numpy",
            "tracr": "tracr-pypi", "hypothesis": "hypothesis", "lark": "lark"}

Log = Callable[[str], None]


@dataclass
class _Clock:
    """Seconds spent in each stage, for the results' `timings`."""

    started: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("compile_seconds", "check_seconds", "train_seconds", "evaluate_seconds",
         "counterexample_seconds"), 0.0))

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.stages[stage] += now - since
        return now

    def timings(self) -> Timings:
        return Timings(total_seconds=time.perf_counter() - self.started, **self.stages)


def run_experiment(config: ExperimentConfig, run_dir: Path, progress: bool = True,
                   log: Log = lambda line: None) -> Results:
    """Run `config` into `run_dir` (created if needed) and return the results written there."""
    output_folder(run_dir, "run folder")   # before any work: a bad folder costs nothing
    clock = _Clock()
    task = config.task
    program = rasp.load(task.program)
    # An autoregressive task's longest input is its longest whole sequence, not task length.
    longest = task.input_width(task.test_lengths)
    log(f"compiling `{task.sop}` of {task.program.name} for inputs up to length {longest}")
    reference = compiler.compile(program, task.sop, task.vocab, longest,
                                 causal=task.compile_causal)
    causal_compiles = task.compile_causal or (
        not task.reads_ahead and _compiles_causally(program, task, longest))
    data = TaskData.from_model(task, program, reference)
    # Built now so that a model that cannot be built stops the run before any training.
    models = {positions: model_config(config, positions, data, reference)
              for positions in config.model.positions}
    since = clock.add("compile_seconds", clock.started)

    sets = evaluation_sets(config, data, reference)
    since = clock.add("check_seconds", since)
    log(f"interpreter and compiled model agree on all {sum(len(b.inputs) for b in sets.values()):,}"
        f" evaluation inputs")

    runs = []
    for positions, settings in models.items():
        runs.append(_run_positions(config, settings, data, reference, sets, run_dir, progress,
                                   log, clock))
    results = Results(
        schema=SCHEMA,
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        config=_shown_config(config), versions=versions(),
        task=_task_record(config, reference, causal_compiles, data), runs=runs,
        timings=clock.timings())
    write_results(results, run_dir / "results.json")
    report.write_report(run_dir)
    return results


def evaluation_sets(config: ExperimentConfig, data: TaskData,
                    reference: compiler.CompiledModel) -> dict[int, Batch]:
    """`examples_per_length` inputs of every length of both ranges, labelled by the compiled
    model, after checking that the interpreter gives the same outputs on each of them (for an
    autoregressive task: the prompts' whole sequences, continued by the interpreter, labelled
    on their continuations)."""
    task = config.task
    sets = {}
    for length in evaluation_lengths(task):
        inputs, interpreted, labelled_from = data.examples(
            streams.evaluation_set(length), config.evaluation.examples_per_length,
            (length, length))
        expected = reference.run(inputs)
        difference = first_difference(inputs, interpreted, expected)
        if difference is not None:
            raise rasp.RaspValueError(
                f"{task.program.name}: the compiled model of `{task.sop}` disagrees with the "
                f"interpreter on {difference.input!r}: interpreter {difference.interpreter}, "
                f"model {difference.model}; no learned model can be judged against it",
                hint=f"run `rasp check {task.program} --sop {task.sop}` and report the "
                     f"compiler bug")
        if task.autoregressive:
            _check_one_pass(task, inputs, interpreted, labelled_from)
        sets[length] = data.fixed(inputs, expected, labelled_from=labelled_from)
    return sets


def evaluation_lengths(task: Task) -> list[int]:
    """Every length of the training range, then every length of the test range."""
    return [*range(task.train_lengths[0], task.train_lengths[1] + 1),
            *range(task.test_lengths[0], task.test_lengths[1] + 1)]


def _check_one_pass(task: Task, inputs: list[list], outputs: list[list],
                    labelled_from: list[int]) -> None:
    """Confirm that the program's outputs in one pass over each whole sequence are its next
    tokens from the prompt's last position on (the end token last): what teacher forcing
    trains on is then what greedy continuation writes. A causal program always passes; one
    that reads ahead (`reads_ahead`) passes only if no output depends on later positions."""
    for row, row_outputs, start in zip(inputs, outputs, labelled_from):
        sequence = [*row, task.end_token]
        if [value_key(v) for v in row_outputs[start:]] != \
                [value_key(v) for v in sequence[start + 1:]]:
            raise rasp.RaspValueError(
                f"{task.program.name}: on {row!r}, one pass of `{task.sop}` gives "
                f"{row_outputs[start:]!r} after the prompt, not the sequence's next tokens "
                f"{sequence[start + 1:]!r}: its outputs depend on later positions",
                hint="an autoregressive program's output at a position may read only that "
                     "position and earlier ones")


def model_config(config: ExperimentConfig, positions: str, data: TaskData,
                 reference: compiler.CompiledModel) -> ModelConfig:
    """The learned model for one encoding; "matching" copies the compiled model's depth and
    its most heads in any layer. The "compiled" encoding takes the compiled model's own shape
    (`from_compiled`), whatever [model] says."""
    section = config.model
    if positions == "compiled":
        try:
            return from_compiled(reference, data)[0]
        except rasp.RaspValueError as error:
            raise ConfigError(f"{config.name}: [model] positions: {error.message}",
                              hint=error.hint, section="model", key="positions") from None
    layers = reference.num_layers if section.layers == MATCHING else section.layers
    heads = max(reference.heads_per_layer(), default=1) if section.heads == MATCHING \
        else section.heads
    heads = max(heads, 1)
    problem = head_split_problem(section.width, heads, positions == "rope",
                                 "the compiled model's most heads per layer")
    if problem:
        raise ConfigError(
            f"{config.name}: [model] width: {problem}",
            hint=f"set [model] width to a multiple of {2 * heads if positions == 'rope' else heads}"
                 f" or give [model] heads a number", section="model", key="width")
    problem = attention_problem(section.attention, max(layers, 1), (positions,))
    if problem:
        raise ConfigError(f"{config.name}: [model] attention: {problem}",
                          hint="give [model] layers a number, or one attention family",
                          section="model", key="attention")
    gpt2 = section.family == "gpt2"
    return ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes,
                       num_layers=max(layers, 1), num_heads=heads, width=section.width,
                       mlp_width=section.mlp_width, positions=positions,
                       max_position=section.max_position, causal=config.task.causal,
                       bos=gpt2, init="gpt2" if gpt2 else "haiku",
                       tied_classes=data.class_tokens() if gpt2 else (),
                       scores_vocabulary=gpt2,
                       attention=section.attention, linear_normalise=section.linear_normalise,
                       mesa_unit_norm=section.mesa_unit_norm)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name, distribution in PACKAGES.items():
        try:
            found[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _run_positions(config: ExperimentConfig, settings: ModelConfig, data: TaskData,
                   reference: compiler.CompiledModel, sets: dict[int, Batch], run_dir: Path,
                   progress: bool, log: Log, clock: _Clock) -> RunResult:
    """Train, evaluate and probe one encoding, or reuse its entry from an earlier run."""
    positions = settings.positions
    finished = run_dir / "runs" / f"{positions}.json"
    identity = {"config": config.to_dict(), "positions": positions}
    if finished.is_file():
        stored = json.loads(finished.read_text(encoding="utf-8"))
        if stored.get("identity") == identity:
            log(f"{positions}: finished in an earlier run, reusing it")
            return read(RunResult, stored["run"])
    training = config.training
    log(f"{positions}: training {len(training.seeds)} seeds of a {settings.num_layers}-layer, "
        f"{settings.num_heads}-head, {settings.width}-wide model")
    since = time.perf_counter()
    # Every seed of "compiled" starts from the compiled weights, of an `init_from` run from
    # that run's model, the others at random.
    initial, initialisation = None, "random"
    if positions == "compiled":
        initial, initialisation = from_compiled(reference, data)[1], "compiled"
    elif training.init_from:
        initial, initialisation = transferred_start(config, settings, data)
    trained = train_until_fitted(settings, training, data, config.task.train_lengths,
                                 checkpoint_dir=run_dir / "checkpoints" / positions,
                                 progress=progress, initial_params=initial)
    seeds = trained.seeds
    since = clock.add("train_seconds", since)
    save_learned(run_dir / "models" / positions, settings, trained.params, seeds, data)
    metrics = evaluate_lengths(settings, trained.params, data, sets)
    norms = norm_profile(settings, trained.params, sets, config.task.train_lengths)
    since = clock.add("evaluate_seconds", since)
    low, high = config.task.train_lengths
    lengths = [LengthResult.measured(length, "train" if low <= length <= high else "test",
                                     metrics[length], trained.fitted)
               for length in sorted(metrics)]
    counterexamples = _counterexamples(config, settings, trained.params, seeds, data,
                                       reference, lengths)
    clock.add("counterexample_seconds", since)
    one_seed = jax.tree.map(lambda leaf: leaf[0], trained.params)
    run = RunResult(
        positions=positions,
        model=ModelRecord(num_layers=settings.num_layers, num_heads=settings.num_heads,
                          width=settings.width, mlp_width=settings.hidden_width,
                          max_position=settings.max_position,
                          parameters=count_parameters(one_seed)),
        initialisation=initialisation,
        seeds=list(seeds), fitted=list(trained.fitted),
        train=TrainingRecord(steps=trained.steps, final_loss=trained.final_loss,
                             in_distribution_exact_match=trained.in_distribution_exact_match,
                             seconds=trained.seconds,
                             history=[TrainingCheck(**check) for check in trained.history]),
        lengths=lengths, counterexamples=counterexamples, norms=norms)
    write_atomically(finished, json.dumps({"identity": identity, "run": plain(run)}) + "\n")
    fitted = sum(trained.fitted)
    log(f"{positions}: {fitted}/{len(seeds)} seeds fitted the training range")
    return run


def transferred_start(config: ExperimentConfig, settings: ModelConfig,
                      data: TaskData) -> tuple[dict, str]:
    """The parameters that start every seed of an `init_from` run, and how results.json names
    the start ("from RUN seed S"): the source run's saved model of the same encoding, its
    first fitted seed (by its results.json; else its first saved seed). The source must have
    this run's vocabulary, output classes and parameter shapes."""
    folder = Path(config.training.init_from)
    where = f"{config.name}: [training] init_from"
    positions = settings.positions
    saved = folder / "models" / positions / "model.json"
    if not saved.is_file():
        raise ConfigError(f"{where}: {folder} has no saved `{positions}` model",
                          hint="train that encoding there first, or drop it from [model] "
                               "positions", section="training", key="init_from")
    seeds = json.loads(saved.read_text(encoding="utf-8"))["seeds"]
    seed = seeds[0]
    if (folder / "results.json").is_file():
        source = read(Results, json.loads((folder / "results.json").read_text("utf-8")))
        run = next((run for run in source.runs if run.positions == positions), None)
        if run is not None and run.fitted_seeds:
            seed = run.fitted_seeds[0]
    learned = load_learned(folder, positions, seed)
    if json.loads(json.dumps([learned.encoding.vocab, learned.encoding.classes])) != \
            json.loads(json.dumps([data.vocab, data.classes])):     # as model.json stores them
        raise ConfigError(f"{where}: {folder}'s model reads other tokens or writes other "
                          f"classes than this task's", hint="transfer between tasks with one "
                          "vocabulary and one set of outputs", section="training", key="init_from")
    try:
        params = start_parameters(settings, learned.params)
    except ValueError as mismatch:
        raise ConfigError(f"{where}: {mismatch} in {folder}'s model",
                          hint="give [model] the shape of the run it starts from",
                          section="training", key="init_from") from None
    return params, f"from {folder.name} seed {seed}"


def _counterexamples(config: ExperimentConfig, settings: ModelConfig, params: Any,
                     seeds: list[int], data: TaskData, reference: compiler.CompiledModel,
                     lengths: list[LengthResult]) -> list[Counterexample]:
    """Up to `counterexamples` minimal disagreements per length range (train, test).

    Each seed in turn is searched at the shortest length of the range where it erred on the
    evaluation set, so a counterexample shows where the model first breaks."""
    wanted = config.evaluation.counterexamples
    found: list[Counterexample] = []
    for split in ("train", "test"):
        in_range = [entry for entry in lengths if entry.split == split]
        kept = 0
        for index, seed in enumerate(seeds):
            if kept >= wanted:
                break
            erring = [entry.length for entry in in_range if entry.exact_match[index] < 1]
            if not erring:
                continue
            seed_params = jax.tree.map(lambda leaf, i=index: leaf[i:i + 1], params)
            if config.task.autoregressive:
                # Prompts in, continuations out: the learned model's greedy generation against
                # the compiled model's next tokens along the interpreter's sequence.
                learned = functools.partial(_generated, settings, seed_params, data, erring[0])
                expected = functools.partial(_continued, data, reference, erring[0])
            else:
                learned = functools.partial(_predicted, settings, seed_params, data)
                expected = reference.run
            examples = find_counterexamples(
                learned, expected, config.task.sampler, config.task.sampler_vocab, erring[0],
                config.evaluation.counterexample_budget, limit=wanted - kept)
            for example in examples:
                found.append(Counterexample(seed=seed, length=erring[0], **example))
            kept += len(examples)
    return found


def _predicted(settings: ModelConfig, params: Any, data: TaskData,
               inputs: list[list]) -> list[list]:
    """One seed's outputs on `inputs`."""
    return predict(settings, params, data, inputs)[0]


def _generated(settings: ModelConfig, params: Any, data: TaskData, length: int,
               prompts: list[list]) -> list[list]:
    """One seed's greedy continuations of `prompts` of task length `length`."""
    return generate(settings, params, data, prompts, length)[0]


def _continued(data: TaskData, reference: compiler.CompiledModel, length: int,
               prompts: list[list]) -> list[list]:
    """The expected continuations of `prompts`: the compiled model's outputs at the
    continuation's positions of each whole sequence (as on the evaluation sets)."""
    examples = data.labelled(prompts, [length] * len(prompts), run=reference.run)
    return [outputs[start:] for outputs, start in
            zip(examples.outputs, examples.labelled_from)]


def _shown_config(config: ExperimentConfig) -> dict[str, Any]:
    shown = config.to_dict()
    shown["task"]["program"] = _shown(config.task.program)
    return shown


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it lies inside it (reports are shared)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _compiles_causally(program: rasp.Program, task: Task, longest: int) -> bool:
    """Whether the s-op also compiles as a causal decoder (each position reading only itself
    and earlier ones), for the report of a task trained bidirectionally."""
    try:
        compiler.compile(program, task.sop, task.vocab, longest, causal=True)
    except rasp.RaspError:   # the compiler's located refusal, e.g. a select reading later keys
        return False
    return True


def _task_record(config: ExperimentConfig, reference: compiler.CompiledModel,
                 causal_compiles: bool, data: TaskData) -> TaskRecord:
    task = config.task
    return TaskRecord(
        name=config.name, program=_shown(task.program), sop=task.sop, vocab=list(task.vocab),
        train_lengths=list(task.train_lengths), test_lengths=list(task.test_lengths),
        causal=task.causal, format=task.format, end_token=task.end_token,
        classes=list(data.classes), source=data.program.source,
        compiled=CompiledRecord(
            layers=reference.num_layers, heads_per_layer=reference.heads_per_layer(),
            residual_width=reference.residual_width, parameters=reference.parameter_count(),
            operations=reference.operation_count(), compiles_causally=causal_compiles,
            compile_seconds=reference.compile_seconds, max_seq_len=reference.max_seq_len))
