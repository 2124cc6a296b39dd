"""Tasks: samplers keep their promises, and batches are the interpreter's labels as ids.

Samplers are checked on Hypothesis-drawn lengths and seeds (length, vocabulary, each format's
constraint); `TaskData` on real example programs: shapes, padding, labels equal to
`Program.run` on the batch's own inputs, and encode/decode round trips. Output classes come
straight from lists here (one test compiles a small model) to keep the file fast.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler
import rasp
from generalization.tasks import (IGNORE_LABEL, PAD_ID, SAMPLERS, Dyck, SamplerError, Task,
                                  TaskData, Uniform, make_sampler)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FAST = settings(max_examples=60, deadline=None)

seeds = st.integers(0, 2**32 - 1)
lengths = st.integers(1, 30)


def draw(sampler, seed: int, length: int, vocab) -> list:
    return sampler.sample(np.random.default_rng(seed), length, list(vocab))


def dyck_depths_ok(tokens: list, pairs: tuple[str, ...]) -> tuple[bool, int]:
    """(never closes what is not open, number left open) for a bracket string."""
    closer_of = {p[0]: p[1] for p in pairs}
    stack = []
    for token in tokens:
        if token in closer_of:
            stack.append(closer_of[token])
        elif not stack or stack.pop() != token:
            return False, len(stack)
    return True, len(stack)


# ---------------------------------------------------------------------------------- samplers


@FAST
@given(seed=seeds, length=lengths, vocab=st.sampled_from(["ab", "abcdefgh", [0, 1, 2], [True]]))
def test_uniform_draws_tokens_of_the_vocabulary(seed, length, vocab):
    tokens = draw(Uniform(), seed, length, vocab)
    assert len(tokens) == length and set(tokens) <= set(vocab)


@FAST
@given(seed=seeds, lengths=st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_batch_sampling_gives_one_input_per_length(seed, lengths):
    for name in ("uniform", "unique", "dyck"):
        inputs = make_sampler(name).sample_batch(np.random.default_rng(seed), lengths,
                                                 list("abcdefghijkl()"))
        assert [len(row) for row in inputs] == lengths


@FAST
@given(seed=seeds, length=st.integers(1, 8))
def test_unique_draws_distinct_tokens(seed, length):
    tokens = draw(make_sampler("unique"), seed, length, "abcdefgh")
    assert len(tokens) == length == len(set(tokens)) and set(tokens) <= set("abcdefgh")


def test_unique_refuses_inputs_longer_than_the_vocabulary():
    with pytest.raises(SamplerError, match="no longer than the vocabulary"):
        draw(make_sampler("unique"), 0, 4, "abc")
    with pytest.raises(SamplerError) as caught:
        make_sampler("unique").check(list("abc"), 1, 4)
    assert caught.value.key == "name"


@FAST
@given(seed=seeds, length=lengths, base=st.integers(2, 10))
def test_digits_have_no_leading_zero_when_asked(seed, length, base):
    tokens = draw(make_sampler("digits", {"base": base, "leading_zeros": False}), seed, length,
                  "0123456789")
    assert len(tokens) == length and all(int(t) < base for t in tokens)
    assert length == 1 or tokens[0] != "0"


@FAST
@given(seed=seeds, length=lengths)
def test_binary_uses_the_vocabularys_own_digit_tokens(seed, length):
    assert set(draw(make_sampler("binary"), seed, length, [0, 1, 7])) <= {0, 1}
    assert set(draw(make_sampler("binary"), seed, length, "01+")) <= {"0", "1"}


@FAST
@given(seed=seeds, length=st.integers(3, 30))
def test_addition_writes_two_numbers_around_the_operator(seed, length):
    tokens = draw(make_sampler("addition", {"leading_zeros": False}), seed, length,
                  "0123456789+")
    text = "".join(tokens)
    left, right = text.split("+")
    assert len(text) == length and left.isdigit() and right.isdigit()
    assert all(len(n) == 1 or n[0] != "0" for n in (left, right))


@FAST
@given(seed=seeds, length=lengths, vocab=st.sampled_from(["()", "(){}", "ab()[]"]))
def test_dyck_without_imbalance_is_balanced(seed, length, vocab):
    sampler = Dyck(imbalance=0.0)
    tokens = draw(sampler, seed, length, vocab)
    valid, left_open = dyck_depths_ok(tokens, sampler.pairs_in(list(vocab)))
    assert len(tokens) == length and valid and left_open == length % 2


@FAST
@given(seed=seeds, length=st.integers(1, 30).map(lambda n: 2 * n),
       vocab=st.sampled_from(["()", "(){}"]))
def test_dyck_with_full_imbalance_is_never_balanced(seed, length, vocab):
    tokens = draw(make_sampler("dyck", {"imbalance": 1}), seed, length, vocab)
    assert dyck_depths_ok(tokens, Dyck().pairs_in(list(vocab))) != (True, 0)


def test_samplers_are_deterministic_given_the_generator():
    for name in SAMPLERS:
        sampler, vocab = make_sampler(name), list("0123456789+()")
        assert draw(sampler, 7, 9, vocab) == draw(sampler, 7, 9, vocab)


@pytest.mark.parametrize("name, options, vocab, lengths, key, fragment", [
    ("digits", {}, "01234", (1, 5), "name", "lacks 5, 6, 7, 8, 9"),
    ("binary", {}, "1ab", (1, 5), "name", "lacks 0"),
    ("addition", {}, "0123456789", (3, 5), "operator", "'+' is not in the vocabulary"),
    ("addition", {}, "0123456789+", (1, 5), "name", "at least 3 tokens"),
    ("dyck", {}, "ab", (1, 5), "pairs", "no bracket pair"),
    ("dyck", {"pairs": ["[]"]}, "()", (1, 5), "pairs", "'[]' is not in the vocabulary"),
])
def test_sampler_checks_name_the_option_at_fault(name, options, vocab, lengths, key, fragment):
    with pytest.raises(SamplerError, match=re.escape(fragment)) as caught:
        make_sampler(name, options).check(list(vocab), *lengths)
    assert caught.value.key == key


@pytest.mark.parametrize("name, options, key, fragment", [
    ("unifrom", {}, "name", "did you mean `uniform`"),
    ("uniform", {"imbalance": 0.5}, "imbalance", "takes no options"),
    ("dyck", {"imbalanse": 0.5}, "imbalanse", "did you mean `imbalance`"),
    ("dyck", {"imbalance": 1.5}, "imbalance", "probability in [0, 1]"),
    ("dyck", {"imbalance": "high"}, "imbalance", "must be a number"),
    ("dyck", {"pairs": "()"}, "pairs", "list of strings"),
    ("dyck", {"pairs": ["(("]}, "pairs", "two different characters"),
    ("digits", {"leading_zeros": 1}, "leading_zeros", "true or false"),
    ("digits", {"base": 11}, "base", "between 2 and 10"),
    ("binary", {"base": 3}, "base", "its options: leading_zeros"),
])
def test_make_sampler_rejects_bad_names_and_options(name, options, key, fragment):
    with pytest.raises(SamplerError) as caught:
        make_sampler(name, options)
    assert caught.value.key == key and fragment in str(caught.value)


# -------------------------------------------------------------------------------- task data


def task_data(program: str, sop: str, vocab, outputs, sampler=Uniform(),
              lengths=((1, 6), (7, 12))) -> TaskData:
    path = EXAMPLES / program
    task = Task(sop, path, sop, tuple(vocab), *lengths, sampler=sampler)
    return TaskData(task, rasp.load(path), outputs)


@pytest.fixture(scope="module")
def sort_data() -> TaskData:
    return task_data("sort.rasp", "sort_tokens", "dcba", list("abcd"))


@pytest.fixture(scope="module")
def hist_data() -> TaskData:
    return task_data("histogram.rasp", "hist", "abc", list(range(13)))


def test_ids_follow_the_task_vocabulary_and_sorted_classes(sort_data):
    assert sort_data.vocab == list("dcba") and sort_data.vocab_size == 5
    assert sort_data.classes == list("abcd") and sort_data.num_classes == 4
    tokens, mask = sort_data.encode_inputs(["dab"])
    assert tokens.tolist() == [[1, 4, 3]] and mask.all()


def test_classes_are_sorted_by_type_name_then_value_whatever_the_given_order():
    outputs = [3, "b", True, 1, "a", False]
    data = task_data("copy.rasp", "copy", "ab", outputs)
    assert data.classes == [False, True, 1, 3, "a", "b"]
    assert task_data("copy.rasp", "copy", "ab", outputs[::-1]).classes == data.classes


@pytest.mark.parametrize("fixture", ["sort_data", "hist_data"])
def test_batches_are_padded_and_labelled_by_the_interpreter(fixture, request):
    data = request.getfixturevalue(fixture)
    batch = data.batch(np.random.default_rng(0), 64, (2, 6))
    lengths = batch.mask.sum(axis=1)
    assert batch.tokens.shape == batch.labels.shape == batch.mask.shape == (64, lengths.max())
    assert batch.tokens.dtype == batch.labels.dtype == np.int32
    assert 2 <= lengths.min() and lengths.max() <= 6 and len(set(lengths.tolist())) > 1
    assert [len(row) for row in batch.inputs] == lengths.tolist()
    assert (batch.tokens[~batch.mask] == PAD_ID).all()
    assert (batch.labels[~batch.mask] == IGNORE_LABEL).all()
    assert (batch.tokens[batch.mask] > 0).all() and (batch.labels[batch.mask] >= 0).all()
    expected = data.program.run(data.task.sop, batch.inputs)
    assert [data.decode(row, n) for row, n in zip(batch.labels, lengths)] == expected
    assert [[data.vocab[i - 1] for i in row[:n]] for row, n in
            zip(batch.tokens.tolist(), lengths)] == batch.inputs


def test_batches_are_reproducible_and_pad_to_a_given_width(sort_data):
    first = sort_data.batch(np.random.default_rng([3, 5]), 8, (1, 4), width=6)
    again = sort_data.batch(np.random.default_rng([3, 5]), 8, (1, 4), width=6)
    assert first.tokens.shape == (8, 6)
    assert all((a == b).all() for a, b in zip(first[:3], again[:3]))
    with pytest.raises(rasp.RaspError, match="does not fit in width 3"):
        sort_data.batch(np.random.default_rng(0), 8, (4, 4), width=3)


@settings(max_examples=40, deadline=None)
@given(inputs=st.lists(st.text("dcba", min_size=1, max_size=12), min_size=1, max_size=6))
def test_fixed_batches_round_trip_inputs_and_outputs(sort_data, inputs):
    outputs = sort_data.program.run("sort_tokens", inputs)
    batch = sort_data.fixed(inputs, outputs)
    assert batch.inputs == [list(text) for text in inputs]
    lengths = batch.mask.sum(axis=1)
    assert [sort_data.decode(row, n) for row, n in zip(batch.labels, lengths)] == outputs
    tokens, mask = sort_data.encode_inputs(inputs)
    assert (tokens == batch.tokens).all() and (mask == batch.mask).all()


def test_tokens_outside_the_vocabulary_are_refused(sort_data):
    with pytest.raises(rasp.RaspError, match="token 'z' of input .* is not in the task's "
                                             "vocabulary"):
        sort_data.encode_inputs(["abz"])


def test_booleans_are_not_numbers_in_the_vocabulary():
    data = task_data("copy.rasp", "copy", [0, 1], [0, 1])
    assert data.encode_inputs([[1, 0, 1.0]])[0].tolist() == [[2, 1, 2]]
    with pytest.raises(rasp.RaspError, match="token True"):
        data.encode_inputs([[True]])


def test_outputs_outside_the_classes_are_refused(hist_data):
    with pytest.raises(rasp.RaspError, match="outputs 13 on input") as caught:
        hist_data.fixed(["a" * 13], hist_data.program.run("hist", ["a" * 13]))
    assert "compiled for lengths up to 12" in caught.value.hint
    with pytest.raises(rasp.RaspError, match="2 outputs for input"):
        hist_data.fixed(["abc"], [[1, 1]])
    with pytest.raises(rasp.RaspError, match="1 inputs but 2 outputs"):
        hist_data.fixed(["abc"], [[1, 1, 1], [1]])


def test_unknown_sop_is_a_name_error_with_a_suggestion():
    with pytest.raises(rasp.RaspNameError, match="no s-op `sort_token`"):
        task_data("sort.rasp", "sort_token", "ab", ["a", "b"])


def test_classes_come_from_the_compiled_model_and_numerical_outputs_are_refused():
    path = EXAMPLES / "histogram.rasp"
    task = Task("hist", path, "hist", tuple("ab"), (1, 2), (3, 4))
    program = rasp.load(path)
    model = compiler.compile(program, "hist", "ab", 4)
    assert TaskData.from_model(task, program, model).classes == sorted(model.output_values)
    numerical = types.SimpleNamespace(output_encoding="numerical", output_values=[0.5])
    with pytest.raises(rasp.RaspError, match="needs an s-op with a categorical output"):
        TaskData.from_model(task, program, numerical)


def test_task_to_dict_is_plain_data():
    task = Task("p", Path("x.rasp"), "p", ("(", ")"), (1, 10), (11, 20),
                sampler=make_sampler("dyck", {"pairs": ["()"]}))
    assert task.to_dict() == {
        "name": "p", "program": "x.rasp", "sop": "p", "vocab": ["(", ")"],
        "train_lengths": [1, 10], "test_lengths": [11, 20], "causal": False,
        "sampler": {"name": "dyck", "pairs": ["()"], "imbalance": 0.25}}
