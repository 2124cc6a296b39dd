"""Autoregressive tasks: prompt samplers, the program's continuation, the labels' layout, the
config's checks, the end-token metrics, greedy generation, and one experiment end to end."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import compiler
import rasp
from generalization.config import ConfigError, load_config
from generalization.evaluation import predict as evaluate
from generalization.evaluation.metrics import end_scores
from generalization.evaluation.predict import evaluate_lengths, generate
from generalization.experiment import run_experiment
from generalization.models.config import ModelConfig
from generalization.models.transformer import build_model
from generalization.reporting.results import load_results
from generalization.tasks import (IGNORE_LABEL, SamplerError, Task, TaskData, continue_prompts,
                                  make_sampler)
from generalization.training.config import TrainConfig
from generalization.training.loop import train

SUITE = Path(__file__).resolve().parent.parent / "examples" / "suite"
NUMBERS = tuple(str(n) for n in range(32))
LETTERS = "abcd"


def count_task(**changes) -> Task:
    settings = dict(name="count", program=SUITE / "count.rasp", sop="count_next",
                    vocab=(*NUMBERS, "|", "$"), train_lengths=(1, 10), test_lengths=(11, 20),
                    causal=True, sampler=make_sampler("count_prompt"), format="autoregressive",
                    end_token="$")
    settings.update(changes)
    return Task(**settings)


def copy_task(unique: bool = True) -> Task:
    return Task("copy", SUITE / "copy_unique.rasp", "copy_unique", (*LETTERS, "|", "$"), (1, 2),
                (3, 4), True, make_sampler("copy_prompt", {"unique": unique}),
                "autoregressive", "$")


def task_data(task: Task) -> TaskData:
    """The task's data, its classes the program's outputs on a few sequences (no compiling)."""
    program = rasp.load(task.program)
    return TaskData(task, program, ["-", *task.vocab])


# ------------------------------------------------------------------------------- samplers


def test_count_prompts_span_length_numbers_from_varied_starts():
    sampler = make_sampler("count_prompt")
    rng = np.random.default_rng(0)
    vocab = [*NUMBERS, "|"]
    for length in (1, 5, 20):
        prompts = [sampler.sample(rng, length, vocab) for _ in range(50)]
        for a, b, separator in prompts:
            assert separator == "|" and int(b) - int(a) + 1 == length and int(b) <= 31
        assert len({a for a, _, _ in prompts}) > 5
    assert sampler.max_sequence(20) == 24    # a b | a .. b $


def test_copy_prompts_are_tokens_then_the_separator():
    rng = np.random.default_rng(1)
    unique = make_sampler("copy_prompt", {"unique": True})
    for _ in range(20):
        prompt = unique.sample(rng, 4, [*LETTERS, "|"])
        assert prompt[-1] == "|" and sorted(prompt[:-1]) == sorted(set(prompt[:-1]))
        assert set(prompt[:-1]) <= set(LETTERS)
    repeat = make_sampler("copy_prompt")
    prompts = [repeat.sample(rng, 6, ["a", "b", "|"]) for _ in range(20)]
    assert any(len(set(p[:-1])) < 6 for p in prompts)
    assert repeat.max_sequence(6) == 14      # x | x $


@pytest.mark.parametrize("name,options,vocab,longest,key,message", [
    ("count_prompt", {}, [*NUMBERS[:16], "|"], 20, "name",
     "needs 20 consecutive numbers .* longest run of consecutive numbers has 16"),
    ("count_prompt", {"separator": ";"}, [*NUMBERS, "|"], 5, "separator", "';' is not in"),
    ("copy_prompt", {"unique": True}, [*LETTERS, "|"], 5, "unique",
     "no longer than the 4 tokens to copy"),
    ("copy_prompt", {}, list(LETTERS), 3, "separator", "'|' is not in"),
])
def test_prompt_samplers_reject_a_vocabulary_they_cannot_serve(name, options, vocab, longest,
                                                                key, message):
    with pytest.raises(SamplerError, match=message) as error:
        make_sampler(name, options).check(vocab, 1, longest)
    assert error.value.key == key


# ------------------------------------------------------------------ continuation and labels


def test_the_count_program_continues_a_prompt_with_the_count_and_the_end():
    data = task_data(count_task())
    prompts = [["3", "7", "|"], ["0", "0", "|"], ["12", "31", "|"]]
    got = data.continuations(prompts, [5, 1, 20])
    assert got == [["3", "4", "5", "6", "7", "$"], ["0", "$"],
                   [str(n) for n in range(12, 32)] + ["$"]]


def test_the_copy_program_continues_a_prompt_with_the_copy_and_the_end():
    data = task_data(copy_task())
    assert data.continuations([list("dba|"), list("c|")], [3, 1]) == [list("dba$"), list("c$")]


def test_a_program_that_never_ends_is_a_clear_error():
    data = task_data(copy_task())
    never = lambda _, rows: [row[:-1] + ["a"] for row in rows]  # noqa: E731 -- always "a"
    assert continue_prompts(never, [["a", "|"]], "$", [3], data.vocab) == [["a", "a", "a"]]
    broken = rasp.loads('copy_unique = "a" if indices >= 0 else "a";')
    data = TaskData(copy_task(), broken, ["a", "$"])
    with pytest.raises(rasp.RaspError, match=r"copy: `copy_unique` continues the prompt "
                       r"\['b', '\|'\] with \['a', 'a'\], without the end token '\$' "
                       r"within the 2 tokens that `copy_prompt` allows at length 1"):
        data.continuations([["b", "|"]], [1])


def test_inputs_are_whole_sequences_less_the_end_labelled_from_the_prompts_last_token():
    task = count_task()
    data = task_data(task)
    batch = data.batch(np.random.default_rng(0), 32, (1, 10), width=task.input_width((1, 10)))
    assert batch.tokens.shape == (32, 13)     # the longest: a b | and 10 numbers
    for row, labels in zip(batch.inputs, batch.labels):
        a, b, separator, *count = row
        assert separator == "|" and count == [str(n) for n in range(int(a), int(b) + 1)]
        assert list(labels[:2]) == [IGNORE_LABEL, IGNORE_LABEL]
        continuation = [data.classes[i] for i in labels[2:len(row)]]
        assert continuation == count + ["$"]
        assert (labels[len(row):] == IGNORE_LABEL).all()


def test_the_end_token_must_be_an_output_of_the_program():
    with pytest.raises(rasp.RaspError, match=r"never outputs the end token '\$'"):
        TaskData(count_task(), rasp.load(SUITE / "count.rasp"), ["-", *NUMBERS])


# ----------------------------------------------------------------------------- the config


CONFIG = """
[task]
program = "{program}"
sop = "copy_unique"
vocab = "abcd|$"
train_lengths = [1, 2]
test_lengths = [3, 4]
{task_lines}
[task.sampler]
{sampler}
[model]
positions = ["learned"]
width = 16
mlp_width = 32
layers = 2
heads = 1
[training]
steps = 30
batch_size = 16
warmup_steps = 5
seeds = [0, 1]
eval_every = 10
checkpoint_every = 30
[evaluation]
examples_per_length = 16
counterexamples = 1
counterexample_budget = 5
"""
GOOD_TASK = 'causal = true\nformat = "autoregressive"\nend_token = "$"'
COPY = 'name = "copy_prompt"\nunique = true'


def write_config(tmp_path: Path, task_lines: str = GOOD_TASK, sampler: str = COPY) -> Path:
    path = tmp_path / "copy.toml"
    path.write_text(CONFIG.format(program=SUITE / "copy_unique.rasp", task_lines=task_lines,
                                  sampler=sampler))
    return path


@pytest.mark.parametrize("task_lines,sampler,message", [
    ('causal = true\nformat = "autoregressive"', COPY,
     r"\[task\] end_token: missing: an autoregressive task continues its prompts"),
    ('causal = true\nformat = "autoregressive"\nend_token = "#"', COPY,
     r'\[task\] end_token: "#" is not in the vocab'),
    ('format = "autoregressive"\nend_token = "$"', COPY,
     r"\[task\] causal: must be true for an autoregressive task"),
    ('causal = true\nformat = "next_token"', COPY, r"\[task\] format: must be one of"),
    ('causal = true\nend_token = "$"', COPY,
     r"\[task\] end_token: only autoregressive tasks end with a token"),
    ("causal = true", COPY,
     r"\[task.sampler\] name: `copy_prompt` draws the prompts of autoregressive tasks"),
    (GOOD_TASK, 'name = "unique"',
     r"\[task.sampler\] name: `unique` draws whole inputs, but an autoregressive task"),
])
def test_config_mistakes_are_one_line_naming_the_key(tmp_path, task_lines, sampler, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(write_config(tmp_path, task_lines, sampler))
    assert "\n" not in str(error.value.located())


def test_an_autoregressive_config_round_trips_and_sizes_the_model_by_sequence(tmp_path):
    config = load_config(write_config(tmp_path))
    assert config.task.autoregressive and config.task.end_token == "$"
    assert config.task.sampler_vocab == tuple("abcd|")
    assert config.task.input_width(config.task.test_lengths) == 9     # x | x with |x| = 4
    task = config.to_dict()["task"]
    assert (task["format"], task["end_token"]) == ("autoregressive", "$")


# ------------------------------------------------------------------------------- metrics


def test_end_scores_separate_content_and_end():
    e, ignore = 9, IGNORE_LABEL
    labels = np.array([[ignore, 1, 2, e]] * 4)
    predictions = np.array([[5, 1, 2, e],      # all right (the prompt position is not scored)
                            [5, 1, 3, e],      # content wrong, end right
                            [5, 1, e, e],      # stops early: content and end wrong
                            [5, 1, 2, 1]])     # content right, never stops
    content, end = end_scores(predictions, labels, e)
    assert content.tolist() == [True, False, False, True]
    assert end.tolist() == [True, True, False, False]


@pytest.fixture(scope="module")
def trained_copy():
    """A small model trained briefly on the copy task: right on some prompts, wrong on others."""
    task = copy_task()
    data = task_data(task)
    settings = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes,
                           num_layers=2, num_heads=1, width=32, mlp_width=64,
                           positions="learned", max_position=16, causal=True)
    config = TrainConfig(steps=150, batch_size=32, learning_rate=3e-3, warmup_steps=10,
                         seeds=(0, 1), eval_every=50, checkpoint_every=150, eval_batch_size=64)
    return data, settings, train(settings, config, data, (1, 2), progress=False).params


def test_greedy_generation_is_right_exactly_where_the_one_pass_check_is(trained_copy):
    data, settings, params = trained_copy
    tokens = np.zeros((1, 9), np.int32)
    model = build_model(settings)
    untrained = jax.vmap(lambda key: model.init(key, tokens, tokens, tokens == 0))(
        jax.random.split(jax.random.PRNGKey(3), 2))
    right_somewhere = False
    for stacked in (params, untrained):
        for length in (1, 2, 3, 4):
            prompts = [data.task.sampler.sample(np.random.default_rng([length, i]), length,
                                                list(data.task.sampler_vocab))
                       for i in range(24)]
            examples = data.labelled(prompts, [length] * len(prompts))
            expected = [outputs[start:] for outputs, start in
                        zip(examples.outputs, examples.labelled_from)]
            batch = data.fixed(examples.inputs, examples.outputs,
                               labelled_from=examples.labelled_from)
            one_pass = evaluate_lengths(settings, stacked, data, {length: batch})[length]
            for seed, generated in enumerate(generate(settings, stacked, data, prompts, length)):
                greedy = np.mean([g == e for g, e in zip(generated, expected)])
                assert greedy == one_pass["exact_match"][seed]
                right_somewhere |= greedy > 0
    assert right_somewhere, "the trained model should be right on some prompts"


def test_a_sequence_keeps_its_index_hints_while_it_grows(monkeypatch):
    data = task_data(copy_task())
    settings = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes,
                           num_layers=1, num_heads=1, width=16, positions="index_hints",
                           max_position=32, causal=True)
    tokens = np.zeros((1, 9), np.int32)
    model = build_model(settings)
    stacked = jax.vmap(lambda key: model.init(key, tokens, tokens, tokens == 0))(
        jax.random.split(jax.random.PRNGKey(0), 1))
    # Always "a": never the end token, so every sequence grows to the length bound.
    stacked["head"]["b"] = stacked["head"]["b"].at[:, data.classes.index("a")].set(1e4)
    seen: dict[tuple, list[np.ndarray]] = {}   # each sequence prefix -> the hints it was given
    real_predict_ids = evaluate.predict_ids

    def recording(config, params, tokens, mask, positions):
        for row, real, ids in zip(tokens, mask, positions):
            seen.setdefault(tuple(row[real][:2]), []).append(ids[real])
        return real_predict_ids(config, params, tokens, mask, positions)

    monkeypatch.setattr(evaluate, "predict_ids", recording)
    prompts = [list("ab|"), list("cd|"), list("ba|"), list("dc|")]
    generate(settings, stacked, data, prompts, 2)
    assert len(seen) == len(prompts)
    for hints in seen.values():
        assert len(hints) > 1, "every prompt should be extended more than once"
        for earlier, later in zip(hints, hints[1:]):
            assert len(later) == len(earlier) + 1
            np.testing.assert_array_equal(later[:-1], earlier)
            assert later[-1] == earlier[-1] + 1


# -------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_an_autoregressive_experiment_writes_the_end_token_metrics(tmp_path):
    config = load_config(write_config(tmp_path))
    results = run_experiment(config, tmp_path / "run", progress=False).to_dict()
    assert load_results(tmp_path / "run" / "results.json").to_dict() == results
    assert results["task"]["compiled"]["max_seq_len"] == 9
    assert (results["task"]["format"], results["task"]["end_token"]) == ("autoregressive", "$")
    for entry in results["runs"][0]["lengths"]:
        for metric in ("exact_match", "token_accuracy", "content_exact_match", "end_accuracy"):
            assert len(entry[metric]) == 2 and all(0 <= v <= 1 for v in entry[metric])
            assert 0 <= entry[f"{metric}_mean"] <= 1
        # exact match is content and end together, so never more than either
        assert all(x <= min(c, e) + 1e-9 for x, c, e in
                   zip(entry["exact_match"], entry["content_exact_match"], entry["end_accuracy"]))
    report = (tmp_path / "run" / "report.md").read_text()
    assert "end accuracy % [95% CI]" in report and "autoregressive, end token" in report
    model = compiler.compile(rasp.load(SUITE / "copy_unique.rasp"), "copy_unique",
                             tuple("abcd|$"), 9, causal=True)
    for example in results["runs"][0]["counterexamples"]:
        prompt = example["input"]
        assert prompt[-1] == "|" and len(prompt) == example["length"] + 1
        assert example["expected"] == prompt[:-1] + ["$"]
        assert model.run([prompt + prompt[:-1]])[0][len(prompt) - 1:] == example["expected"]
        assert example["predicted"] != example["expected"]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["task"][
        "format"] == "autoregressive"
