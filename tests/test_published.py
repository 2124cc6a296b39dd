"""The reproduction of the published length-generalization results (examples/published/):
each task's RASP program against its sampler's plain-Python answer, the samplers' published
distributions, labels from confirmed proposals and pooled labelling equal to the token-by-token
continuation, the GPT-2 family, the linear schedule, per-sequence offsets, length buckets,
seeds until k fit, and the paper preset end to end at tiny step counts."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rasp
from generalization import load_config
from generalization.config import ExperimentConfig
from generalization.config.sweep import load_sweep
from generalization.experiment import run_experiment
from generalization.models.config import ModelConfig
from generalization.models.positions import position_ids
from generalization.models.transformer import GPT2_STD, build_model, class_logits
from generalization.reporting.results import Results
from generalization.reporting.study import write_study
from generalization.settings import ConfigError
from generalization.tasks import TaskData
from generalization.tasks.samplers import make_sampler
from generalization.training import protocol
from generalization.training.batches import block_lengths, length_buckets
from generalization.training.config import TrainConfig
from generalization.training.steps import make_optimizer, masked_cross_entropy
from rasp.values import value_order
from test_cli import assert_one_error_line

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "examples" / "published"
TASKS = ("bin_majority", "majority", "unique_copy", "sort", "repeat_copy", "parity",
         "addition", "count")


def cpu_config(name: str, *sets: str):
    return load_config(PUBLISHED / "cpu" / f"{name}.toml", sets)


def task_data(name: str, propose: bool = True, *sets: str) -> TaskData:
    """The CPU preset's task with every token and "-" as classes (no compile needed)."""
    task = cpu_config(name, *sets).task
    program = rasp.load(task.program)
    values = {*task.vocab, "-"}
    return TaskData(task, program, values, propose=propose)


@pytest.mark.parametrize("name", TASKS)
def test_each_program_writes_its_samplers_answer_one_token_at_a_time(name: str) -> None:
    """On prompts of every training length, the program's continuation (token by token, the
    interpreter on every prefix) is the sampler's plain-Python answer."""
    data = task_data(name, propose=False)
    low, high = data.task.train_lengths
    lengths = list(range(low, high + 1)) * 2
    prompts = data.task.sampler.sample_batch(np.random.default_rng(1), lengths,
                                             list(data.task.sampler_vocab))
    continued = data.continuations(prompts, lengths)
    assert continued == [data.task.sampler.proposal(p, data.task.end_token) for p in prompts]


@pytest.mark.parametrize("name", TASKS)
def test_labels_from_confirmed_proposals_and_pools_equal_the_token_by_token_labels(
        name: str) -> None:
    rngs = [np.random.default_rng(seed) for seed in range(3)]
    slow = [task_data(name, propose=False).examples(rng, 16, (1, 20) if name != "addition"
                                                    else (4, 20)) for rng in rngs]
    rngs = [np.random.default_rng(seed) for seed in range(3)]
    fast = task_data(name).examples_of_many(rngs, 16, (1, 20) if name != "addition"
                                            else (4, 20))
    assert fast == slow


def test_pooled_labelling_pauses_the_cycle_collector_and_restores_it() -> None:
    """The labelling pass runs without the cycle collector (its lists are acyclic) and leaves
    the collector as it found it, also when the pass fails."""
    data = task_data("majority")
    seen = []

    class Spy(type(data.program)):
        def run(self, *args, **kwargs):
            seen.append(gc.isenabled())
            return super().run(*args, **kwargs)

    data.program.__class__ = Spy
    assert gc.isenabled()
    data.examples_of_many([np.random.default_rng(0)], 8, (1, 5))
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        data.examples_of_many([np.random.default_rng(0)], 8, (1, 5))
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        data.examples_of_many([np.random.default_rng(0)], 8, (5, 1))
    assert gc.isenabled()


class WrongSort(type(make_sampler("sort_prompt", {}))):
    """A sort sampler whose proposals are wrong for every prompt of more than one token."""

    def proposal(self, prompt, end_token):
        return prompt[:-1] + [end_token]


def test_a_proposal_the_program_does_not_confirm_is_continued_token_by_token() -> None:
    data = task_data("sort")
    wrong = dataclasses.replace(data.task, sampler=WrongSort())
    mislead = TaskData(wrong, data.program, data.classes)
    rng, again = np.random.default_rng(5), np.random.default_rng(5)
    assert mislead.examples(rng, 32, (1, 9)) == task_data("sort", False).examples(again, 32,
                                                                                  (1, 9))


class IntCount(type(make_sampler("count_prompt", {}))):
    """count_prompt over int tokens, its separator the int 1000 (a setting takes strings)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "separator", 1000)


def test_proposals_of_numbers_are_confirmed_by_their_values() -> None:
    """Proposals of strings are checked with `==`, others by `value_key`: counting over int
    tokens confirms every right proposal, refuses a wrong one, and labels as token by token."""
    program = rasp.loads(
        "a = aggregate(select(indices, 0, ==), tokens_int);\n"
        "b = aggregate(select(indices, 1, ==), tokens_int);\n"
        "count_next = 0 if indices < 2 else (a if tokens_int == 1000 else\n"
        "    (2000 if tokens_int == b else tokens_int + 1));\n")
    task = dataclasses.replace(cpu_config("count").task, vocab=(*range(21), 1000, 2000),
                               end_token=2000, sampler=IntCount(), train_lengths=(2, 10),
                               test_lengths=(11, 12))
    data = TaskData(task, program, {0, *task.vocab})
    lengths = [2, 5, 10]
    prompts = task.sampler.sample_batch(np.random.default_rng(3), lengths, list(task.vocab))
    budgets = [task.sampler.max_sequence(n) - len(p) for p, n in zip(prompts, lengths)]
    assert data._confirmed_proposals(prompts, budgets, {}) == \
        [list(range(p[0], p[1] + 1)) + [2000] for p in prompts]
    wrong = dataclasses.replace(task, end_token=20)   # the program ends with 2000, not 20
    assert TaskData(wrong, program, {0, *task.vocab})._confirmed_proposals(
        prompts, budgets, {}) == [None] * 3
    labelled = [TaskData(task, program, {0, *task.vocab}, propose=propose).examples(
        np.random.default_rng(4), 32, (2, 10)) for propose in (True, False)]
    assert labelled[0] == labelled[1] and type(labelled[0].inputs[0][0]) is int


def test_majority_samplers_draw_no_ties_and_binary_counts_uniformly() -> None:
    rng = np.random.default_rng(0)
    for prompt in make_sampler("majority_prompt", {}).sample_batch(
            rng, [2, 3, 4, 6] * 200, list("abcdefghijklmnopqrstuvwxyz|")):
        top = Counter(prompt[:-1]).most_common(2) + [(None, 0)]
        assert prompt[-1] == "|" and top[0][1] > top[1][1]
    binary = make_sampler("majority_prompt", {"counts": "uniform"})
    zeros = Counter(p.count("0") for p in binary.sample_batch(rng, [6] * 6000, list("01|")))
    assert set(zeros) == {0, 1, 2, 4, 5, 6}       # 3 of 6 would tie
    assert all(abs(count / 6000 - 1 / 6) < 0.02 for count in zeros.values())


def test_majority_draws_stay_those_of_the_bundled_studies() -> None:
    # The tie redraws were sped up with the random stream untouched: the same seed draws the
    # same inputs as the sampler that trained the bundled runs (recorded from it).
    drawn = make_sampler("majority_prompt", {}).sample_batch(
        np.random.default_rng(7), [1, 2, 3, 5, 8, 2, 3, 13], list("abcdefghijklmnopqrstuvwxyz|"))
    assert ["".join(p) for p in drawn] == ["y|", "ff|", "nnt|", "kjozk|", "zmvxvqln|", "tt|",
                                           "vvm|", "tmcgosnpwrjqp|"]


def test_parity_sort_and_addition_samplers_draw_the_published_distributions() -> None:
    rng = np.random.default_rng(0)
    ones = Counter(p.count("1") for p in make_sampler("parity_prompt", {}).sample_batch(
        rng, [4] * 5000, list("01eo|")))
    assert set(ones) == set(range(5)) and all(abs(c / 5000 - 0.2) < 0.02 for c in ones.values())
    tokens = [f"{i:03d}" for i in range(30)]
    sort = make_sampler("sort_prompt", {})
    for prompt in sort.sample_batch(rng, [1, 10, 30], tokens + ["|"]):
        assert len(set(prompt)) == len(prompt)
        assert sort.proposal(prompt, "$") == sorted(prompt[:-1], key=value_order) + ["$"]
    addition = make_sampler("binary_addition_prompt", {})
    firsts = Counter()
    for prompt in addition.sample_batch(rng, [9] * 3000, list("01+=")):
        assert len(prompt) == 9 and prompt[-1] == "=" and prompt.count("+") == 1
        a, b = "".join(prompt[:-1]).split("+")
        assert all(len(x) == 1 or x[0] == "1" for x in (a, b))
        firsts[len(a)] += 1
        assert addition.proposal(prompt, "$") == list(bin(int(a, 2) + int(b, 2))[2:]) + ["$"]
    assert set(firsts) == set(range(1, 7))    # |a| uniform in 1 .. n - 3


def test_the_longest_addition_is_a_bound_that_is_reached() -> None:
    # |a| = n - 3 ones and b = 1 carry into one more bit: n - 2 sum bits, then the end token.
    sampler = cpu_config("addition").task.sampler
    for n in (4, 10, 150):
        prompt = ["1"] * (n - 3) + ["+", "1", "="]
        assert n + len(sampler.proposal(prompt, "$")) == sampler.max_sequence(n) == 2 * n - 1


def test_the_same_seed_draws_the_same_prompts() -> None:
    for name in ("majority_prompt", "parity_prompt", "sort_prompt", "binary_addition_prompt"):
        sampler = make_sampler(name, {})
        vocab = {"sort_prompt": [f"{i:03d}" for i in range(12)] + ["|"],
                 "binary_addition_prompt": list("01+=")}.get(name, list("01eo|"))
        draw = [sampler.sample_batch(np.random.default_rng(3), [4, 5, 6], vocab)
                for _ in range(2)]
        assert draw[0] == draw[1]


def test_a_program_reading_ahead_must_be_autoregressive_and_is_checked_in_one_pass(
        tmp_path: Path) -> None:
    text = (PUBLISHED / "cpu" / "sort.toml").read_text()
    bad = tmp_path / "sort.toml"
    bad.write_text(text.replace('program = "../sort.rasp"',
                                f'program = "{PUBLISHED / "sort.rasp"}"')
                   .replace('format = "autoregressive"', 'format = "per_position"')
                   .replace('end_token = "$"\n', ""))
    with pytest.raises(ConfigError, match="reads_ahead"):
        load_config(bad)
    # A program whose output at "|" depends on whether anything follows it: continued token
    # by token it writes "000" there (nothing follows yet), but one pass over the whole
    # sequence gives "$" there.
    peek = tmp_path / "peek.rasp"
    peek.write_text('_after = has_focus(select(tokens, "|", ==) and select(indices, indices, <));\n'
                    'peek = "$" if _after else ("-" if tokens != "|" else\n'
                    '    ("$" if length > indices + 1 else "000"));\n')
    config = tmp_path / "peek.toml"
    config.write_text(text.replace('program = "../sort.rasp"', f'program = "{peek}"')
                      .replace('sop = "sort_next"', 'sop = "peek"'))
    with pytest.raises(rasp.RaspValueError, match="depend on later positions"):
        run_experiment(load_config(config, ["evaluation.examples_per_length=2",
                                            "training.steps=1"]), tmp_path / "run")


def gpt2_model(tied: tuple[int, ...] = (1, 2, -1, 3)) -> ModelConfig:
    return ModelConfig(vocab_size=4, num_classes=len(tied), num_layers=2, num_heads=2,
                       width=16, positions="offset", max_position=12, causal=True, bos=True,
                       init="gpt2", tied_classes=tied)


def test_gpt2_ties_the_output_layer_to_the_token_embedding_and_initialises_as_gpt2() -> None:
    config = gpt2_model()
    model = build_model(config)
    tokens = jnp.array([[1, 3, 3, 1, 0]])   # no token 2: its row changes below
    params = model.init(jax.random.PRNGKey(0), tokens, tokens, tokens > 0)
    assert "head" not in params and params["~"]["head_untied"].shape == (1, 16)
    embeddings = params["token_embeddings"]["embeddings"]
    assert abs(float(jnp.std(embeddings)) - GPT2_STD) < 0.01
    residual = params["block_0/mlp_out"]["w"]
    assert abs(float(jnp.std(residual)) - GPT2_STD / 2) < 0.003     # 0.02 / sqrt(2 * 2)
    assert float(jnp.abs(params["block_0/mlp_in"]["b"]).max()) == 0.0
    # Class c's logit reads token tied[c]'s embedding row (class 2: a row of its own).
    changed = jax.tree.map(lambda leaf: leaf, params)
    changed["token_embeddings"] = {"embeddings": embeddings.at[2].multiply(3.0)}
    logits, again = (model.apply(p, tokens, tokens, tokens > 0) for p in (params, changed))
    assert not jnp.allclose(logits[..., 1], again[..., 1])   # class 1 is token 2's row
    assert jnp.allclose(logits[..., 2], again[..., 2])       # class 2 has a row of its own


def test_the_gpt2_softmax_scores_the_whole_vocabulary_but_predicts_classes() -> None:
    config = dataclasses.replace(gpt2_model(), scores_vocabulary=True)
    model = build_model(config)
    tokens = jnp.array([[1, 3, 3, 1, 0]])
    params = model.init(jax.random.PRNGKey(0), tokens, tokens, tokens > 0)
    logits, streams_ = build_model(config, residuals=True).apply(params, tokens, tokens,
                                                                 tokens > 0)
    # The classes' 4 logits, then PAD's (id 0, the one id that is no class's token), then the
    # BOS vector's: both dot products with the final LayerNorm's output.
    assert logits.shape == (1, 5, 4 + 2)
    final = hk_layer_norm(params["ln_final"], streams_[-1])
    np.testing.assert_allclose(logits[..., 4], final @ params["token_embeddings"]["embeddings"][0],
                               atol=1e-5)
    np.testing.assert_allclose(logits[..., 5], final @ params["bos_embedding"]["embeddings"][0],
                               atol=1e-5)
    # Without the option the model has the same parameters and the classes' logits only.
    plain = build_model(gpt2_model()).apply(params, tokens, tokens, tokens > 0)
    np.testing.assert_allclose(plain, class_logits(config, logits), atol=1e-6)
    # The loss's softmax includes the vocabulary's logits: it is larger than over the classes.
    labels = jnp.array([[0, 1, 3, 2, -1]])
    assert float(masked_cross_entropy(logits, labels)) > float(masked_cross_entropy(plain, labels))
    with pytest.raises(ValueError, match="needs tied_classes"):
        ModelConfig(vocab_size=4, num_classes=2, num_layers=1, num_heads=1,
                    scores_vocabulary=True)


def hk_layer_norm(params: dict, x: jax.Array) -> jax.Array:
    """LayerNorm over the last axis with Haiku's epsilon, from a `ln_*` parameter dict."""
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(variance + 1e-5) * params["scale"] + params["offset"]


def test_the_linear_schedule_decays_to_zero_without_warm_up() -> None:
    config = TrainConfig(steps=10, learning_rate=1e-3, warmup_steps=0, schedule="linear",
                         weight_decay=0.0, grad_clip=1e9)
    optimizer = make_optimizer(config)
    params = {"w": jnp.ones(())}
    state = optimizer.init(params)
    sizes = []
    for _ in range(10):
        updates, state = optimizer.update({"w": jnp.ones(())}, state, params)
        sizes.append(-float(updates["w"]))
    # Adam's first step is lr * g / |g|, so the steps are the schedule itself.
    np.testing.assert_allclose(sizes, [1e-3 * (10 - t) / 10 for t in range(10)], rtol=1e-4)


def test_offsets_are_drawn_per_sequence_within_the_table() -> None:
    lengths = np.array([2, 10, 5] * 400)
    ids = position_ids("offset", np.random.default_rng(0), len(lengths), 10, 12, True, lengths)
    last = ids[np.arange(len(lengths)), lengths - 1]
    assert last.max() == 11 and (last <= 11).all()
    assert ids[lengths == 2, 0].max() == 10       # a short row reaches the table's end too
    assert ids[lengths == 10, 0].max() == 2
    assert (position_ids("offset", np.random.default_rng(0), 3, 4, 12, False) ==
            np.arange(4)).all()


# Huang et al.'s position table (n_positions) and largest training offset of a sequence whose x
# has n tokens and whose answer has m, as their dataset classes draw it (max_test_length 150).
THEIR_POSITIONS = {
    "bin_majority": (154, lambda n, m: 150 - n),
    "majority": (154, lambda n, m: 150 - n),
    "parity": (154, lambda n, m: 150 - n),
    "unique_copy": (303, lambda n, m: 2 * (150 - n)),
    "sort": (303, lambda n, m: 2 * (150 - n)),
    "repeat_copy": (303, lambda n, m: 2 * (150 - n)),
    "addition": (300, lambda n, m: 2 * 150 - (1 + n + m + 1)),   # len(instance), <bos> included
}


@pytest.mark.parametrize("name", sorted(THEIR_POSITIONS))
def test_the_paper_preset_draws_their_position_ids(name: str) -> None:
    # Our model reads the sequence less its end token: the BOS at offset o, then the n_in
    # tokens at o+1..o+n_in, o in [0, P - n_in], over a table of P + 1 rows. Theirs reads the
    # end token too, at their last row, but nothing is scored after it (so we drop that row).
    table, their_largest_offset = THEIR_POSITIONS[name]
    positions = load_config(PUBLISHED / "paper" / f"{name}.toml").model.max_position
    assert positions + 2 == table
    for n in range(4, 51):
        answers = range(1, n) if name == "addition" else [n if name in (
            "unique_copy", "sort", "repeat_copy") else 1]
        for m in answers:
            # x, the separator (addition's "=" is in x) and the answer.
            inputs = n + m + (name != "addition")
            assert positions - inputs == their_largest_offset(n, m)


def test_length_buckets_pad_at_most_their_fraction_and_keep_lengths_uniform() -> None:
    data = task_data("unique_copy")
    buckets = length_buckets(data, (1, 20), 0.2)
    assert buckets[0][0] == 1 and buckets[-1][1] == 20
    assert all(b[0] == a[1] + 1 for a, b in zip(buckets, buckets[1:]))
    for low, high in buckets:
        widths = [data.task.input_width((n, n)) for n in range(low, high + 1)]
        assert 1 - sum(widths) / (len(widths) * widths[-1]) <= 0.2
    for step in range(0, 2000, 25):
        assert block_lengths(buckets, step, 25) == block_lengths(buckets, step + 24, 25)
    weights = Counter()
    for step in range(0, 200000, 25):
        weights[block_lengths(buckets, step, 25)] += 1
    for (low, high), count in weights.items():
        assert abs(count / 8000 - (high - low + 1) / 20) < 0.02


def test_seeds_are_added_until_enough_fit(monkeypatch) -> None:
    fits = {0: False, 1: True, 2: False, 3: True, 4: True, 5: True}
    rounds = []

    def fake_train(model_config, config, data, lengths, folder, progress, initial):
        rounds.append((config.seeds, folder))
        return protocol.TrainResult(
            seeds=list(config.seeds), params={"w": jnp.asarray(config.seeds, float)},
            steps=[5] * len(config.seeds), final_loss=[0.0] * len(config.seeds),
            in_distribution_exact_match=[float(fits[s]) for s in config.seeds],
            fitted=[fits[s] for s in config.seeds], seconds=1.0,
            history=[{"step": 5, "loss": [0.0] * len(config.seeds),
                      "exact_match": [float(fits[s]) for s in config.seeds],
                      "fitted": [fits[s] for s in config.seeds]}])

    monkeypatch.setattr(protocol, "train", fake_train)
    config = TrainConfig(seeds=(0, 1), fitted_seeds=3, max_seeds=5)
    result = protocol.train_until_fitted(None, config, None, (1, 2), Path("ck"))
    assert [seeds for seeds, _ in rounds] == [(0, 1), (2, 3), (4,)]
    assert [folder for _, folder in rounds] == [Path("ck"), Path("ck/round-1"),
                                                Path("ck/round-2")]
    assert result.seeds == [0, 1, 2, 3, 4] and result.fitted == [False, True, False, True, True]
    assert result.params["w"].tolist() == [0, 1, 2, 3, 4]
    assert protocol._next_seeds([7917], 3) == [7918, 7920, 7921]
    with pytest.raises(Exception, match="fitted_seeds"):
        TrainConfig(seeds=(0, 1), fitted_seeds=3)


def tiny(sets: list[str]) -> list[str]:
    return sets + ["training.steps=4", "training.eval_every=2", "training.checkpoint_every=2",
                   "training.steps_per_call=2", "training.eval_batch_size=8",
                   "training.batch_size=4", "training.warmup_steps=0",
                   "training.fitted_seeds=0", "training.seeds=[0]",
                   "evaluation.examples_per_length=1", "evaluation.counterexamples=0"]


def paper_run(name: str, tmp_path: Path, test_lengths: tuple[int, int] | None = None) -> Results:
    """Task `name` of the paper preset at tiny step counts (tested at `test_lengths` when
    given)."""
    sweep = load_sweep(ROOT / "examples" / "sweeps" / "published_paper.toml",
                       [s for s in tiny([]) if not s.startswith("training.fitted")])
    run = next(r for r in sweep.runs if r.name == name)
    task = run.config.task
    config = dataclasses.replace(
        run.config, training=dataclasses.replace(run.config.training, fitted_seeds=0),
        task=dataclasses.replace(task, test_lengths=test_lengths or task.test_lengths))
    return run_experiment(config, tmp_path / name, progress=False)


def test_the_paper_preset_runs_end_to_end_at_tiny_step_counts(tmp_path: Path) -> None:
    """The preset's model, recipe and training lengths, tested at 51-55 only: compiling the
    reference and checking it up to 150 takes most of the time of the slow test below."""
    results = paper_run("bin_majority", tmp_path, test_lengths=(51, 55))
    assert results.task.train_lengths == [1, 50]
    assert [e.length for e in results.runs[0].lengths][-1] == 55
    assert results.config["model"]["family"] == "gpt2"


@pytest.mark.slow
@pytest.mark.parametrize("name", TASKS)
def test_every_task_of_the_paper_preset_runs_end_to_end(name: str, tmp_path: Path) -> None:
    results = paper_run(name, tmp_path)
    assert results.task.test_lengths[1] == 150
    assert [e.length for e in results.runs[0].lengths][-1] == 150


def test_the_gpu_check_is_the_paper_preset_on_four_tasks_with_three_seeds() -> None:
    paper = load_sweep(ROOT / "examples" / "sweeps" / "published_paper.toml")
    gpu = load_sweep(ROOT / "examples" / "sweeps" / "published_paper_gpu.toml")
    runs = {run.name: run.config for run in paper.runs}
    assert [run.name for run in gpu.runs] == ["bin_majority", "majority", "unique_copy", "sort"]
    for run in gpu.runs:
        training = dataclasses.replace(run.config.training, seeds=(0, 1, 2), fitted_seeds=0,
                                       label_workers=3)
        assert run.config.training == training
        assert dataclasses.replace(run.config, training=runs[run.name].training) == \
            runs[run.name]
        assert gpu.published[run.name] == paper.published[run.name]


def test_the_gpu_check_refuses_a_machine_without_one_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
    env.pop("ALLOW_CPU", None)
    done = subprocess.run(["bash", str(ROOT / "bench" / "paper_gpu.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout == ""
    assert_one_error_line(done, "not on a GPU")


@pytest.mark.parametrize("limit", ["abc", "10m", "0"])
def test_the_gpu_check_refuses_a_bad_time_limit_in_one_line(tmp_path: Path, limit: str) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "SWEEP_SECONDS": limit}
    done = subprocess.run(["bash", str(ROOT / "bench" / "paper_gpu.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout == ""
    assert_one_error_line(done, f"SWEEP_SECONDS='{limit}'", "positive whole number of seconds")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_gpu_check_stopped_by_its_time_limits_packs_what_it_has(tmp_path: Path) -> None:
    """A lease ends at a fixed time: BENCH_SECONDS and SWEEP_SECONDS stop the two halves, the
    sweep folder is packed all the same with its study page rebuilt (every run unfinished
    here, 30 s being less than the tiny runs take on a CPU but more than the sweep needs to
    write sweep.json), and the script says so and exits 1."""
    env = {**os.environ, "PYTHON": sys.executable, "ALLOW_CPU": "1", "JAX_PLATFORMS": "cpu",
           "BENCH_SECONDS": "1", "SWEEP_SECONDS": "30"}
    done = subprocess.run(["bash", str(ROOT / "bench" / "paper_gpu.sh"), str(tmp_path / "out"),
                           *(f"--set={s}" for s in tiny(["task.test_lengths=[51,53]"]))],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1].endswith("(benchmark exit 124, sweep exit 124)")
    assert "the study page is rebuilt from the runs that finished" in done.stderr
    with tarfile.open(tmp_path / "out" / "published_paper_gpu.tar.gz") as archive:
        study = archive.extractfile("published_paper_gpu/study.md").read().decode()
    unfinished = study.split("## Failed or unfinished runs")[1]
    assert all(f"| {name}" in unfinished for name in ("bin_majority", "majority", "unique_copy",
                                                       "sort"))


def test_the_bundled_gpu_study_is_the_gpu_checks_bin_majority_as_its_sweep_and_runs_give(
        tmp_path: Path) -> None:
    """examples/reports/published_paper_gpu_bin_majority/, measured on an H200: the GPU
    check's bin_majority (12 label workers for a run alone), the page rebuilt from its files."""
    check = load_sweep(ROOT / "examples" / "sweeps" / "published_paper_gpu.toml")
    alone = load_sweep(ROOT / "examples" / "sweeps" / "published_paper_gpu_bin_majority.toml")
    [run] = alone.runs
    [same] = [r.config for r in check.runs if r.name == "bin_majority"]
    assert run.config == dataclasses.replace(
        same, training=dataclasses.replace(same.training, label_workers=12))
    assert alone.published == {"bin_majority": check.published["bin_majority"]}
    bundled = ROOT / "examples" / "reports" / "published_paper_gpu_bin_majority"
    assert bundled_config(bundled, "bin_majority") == shown_config(run.config)
    page = rebuilt_study(bundled, tmp_path)
    assert "one NVIDIA H200 (gpu)" in page and "1 of 1 agree." in page


def test_the_bundled_four_task_gpu_study_is_the_gpu_check_as_its_sweep_and_runs_give(
        tmp_path: Path) -> None:
    """examples/reports/published_paper_gpu/, measured on an H200: the GPU check's sweep
    file, every run's config as the sweep gives it, the page rebuilt from the bundled files."""
    check = load_sweep(ROOT / "examples" / "sweeps" / "published_paper_gpu.toml")
    bundled = ROOT / "examples" / "reports" / "published_paper_gpu"
    sweep = json.loads((bundled / "sweep.json").read_text(encoding="utf-8"))
    assert sweep["sweep"] == "examples/sweeps/published_paper_gpu.toml"
    assert sweep["machine"]["device"] == "NVIDIA H200"
    for run in check.runs:
        assert bundled_config(bundled, run.name) == shown_config(run.config)
    page = rebuilt_study(bundled, tmp_path)
    assert "one NVIDIA H200 (gpu)" in page and "4 of 4 agree." in page
    assert "every run of the sweep finished" in page


def shown_config(config: ExperimentConfig) -> dict[str, Any]:
    """`config` as a run's results.json shows it when run from the project's root."""
    shown = config.to_dict()
    shown["task"]["program"] = str(config.task.program.relative_to(ROOT))
    return shown


def bundled_config(bundled: Path, name: str) -> dict[str, Any]:
    return json.loads((bundled / "runs" / name / "results.json").read_text(
        encoding="utf-8"))["config"]


def rebuilt_study(bundled: Path, tmp_path: Path) -> str:
    """The study page rebuilt from a copy of the bundled folder, checked to be the bundled
    page."""
    copy = tmp_path / "study"
    shutil.copytree(bundled, copy)
    page = write_study(copy)[0].read_text(encoding="utf-8")
    assert page == (bundled / "study.md").read_text(encoding="utf-8")
    return page


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_a_cpu_at_tiny_step_counts(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "ALLOW_CPU": "1",
           "BENCH_OPTIONS": "--quick"}
    done = subprocess.run(["bash", str(ROOT / "bench" / "paper_gpu.sh"), str(tmp_path / "out"),
                           *(f"--set={s}" for s in tiny(["task.test_lengths=[51,53]"]))],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"devices.txt", "bench_training.txt", "sweep.log",
                     "published_paper_gpu.tar.gz"}
    with tarfile.open(tmp_path / "out" / "published_paper_gpu.tar.gz") as archive:
        members = archive.getnames()
        study = archive.extractfile("published_paper_gpu/study.md").read().decode()
    assert not any("/checkpoints" in m or "/models" in m for m in members)
    assert "on " in study and "CPU cores (cpu)" in study


PROMPTS = [("majority_prompt", {}, "abc|"), ("majority_prompt", {"counts": "uniform"}, "01|"),
           ("parity_prompt", {}, "01eo|"),
           ("sort_prompt", {}, [f"{i:03d}" for i in range(8)] + ["|"]),
           ("binary_addition_prompt", {}, "01+="), ("copy_prompt", {"unique": True}, "abcdefgh|"),
           ("count_prompt", {}, [str(i) for i in range(12)] + ["|"])]


@pytest.mark.parametrize("name, options, vocab", PROMPTS, ids=[p[0] for p in PROMPTS])
def test_the_counterexample_search_draws_every_prompt_sampler(name, options, vocab) -> None:
    """Hypothesis draws the prompts of a counterexample search through the samplers' own
    code (`DrawnGenerator`): every published sampler must draw through it."""
    from hypothesis import given, settings
    from generalization.evaluation.counterexamples import sampler_inputs
    sampler = make_sampler(name, options)

    @settings(max_examples=20, deadline=None, derandomize=True, database=None)
    @given(sampler_inputs(sampler, list(vocab), 5))
    def check(prompt):
        assert prompt[-1] in ("|", "=") and sampler.proposal(prompt, "$")[-1] == "$"

    check()


@pytest.mark.parametrize("name", ("count", "unique_copy"))
def test_the_range_follow_up_changes_only_the_lengths_it_says(name: str) -> None:
    # examples/published/cpu/range/: trained on 1-20 and tested at 21-60, the vocabulary and
    # position table scaled to the longest test length, at most 3 seeds; else the preset.
    preset = cpu_config(name)
    sweep = load_sweep(ROOT / "examples" / "sweeps" / "published_cpu_range.toml")
    follow_up = next(run.config for run in sweep.runs if run.name == name)
    assert follow_up.task.train_lengths == (1, 20) and follow_up.task.test_lengths == (21, 60)
    numbers = [t for t in follow_up.task.vocab if t not in ("|", "$")]
    assert len(numbers) == (71 if name == "count" else 60)
    assert follow_up.model == dataclasses.replace(
        preset.model, max_position={"count": 66, "unique_copy": 123}[name])
    seeds_tried = 3 if name == "unique_copy" else preset.training.max_seeds
    assert follow_up.training == dataclasses.replace(preset.training, max_seeds=seeds_tried)
    assert follow_up.evaluation == preset.evaluation
    assert dataclasses.replace(follow_up.task, train_lengths=preset.task.train_lengths,
                               test_lengths=preset.task.test_lengths,
                               vocab=preset.task.vocab) == preset.task
