"""Counterexample search: a planted error in a deliberately wrong model is found and shrunk to
the minimal input, reproducibly, with both outputs; inputs respect every sampler's format."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from generalization.evaluation.counterexamples import find_counterexamples, sampler_inputs
from generalization.tasks import make_sampler


def reverse(inputs: list[list]) -> list[list]:
    return [list(reversed(tokens)) for tokens in inputs]


def wrong_reverse(inputs: list[list]) -> list[list]:
    """Reverse, except that the first output is "z" whenever "c" occurs at position 3 or later."""
    outputs = reverse(inputs)
    for tokens, output in zip(inputs, outputs):
        if "c" in tokens[3:]:
            output[0] = "z"
    return outputs


def test_finds_the_minimal_counterexample_with_both_outputs():
    found = find_counterexamples(wrong_reverse, reverse, make_sampler("uniform"), "abc", 4, 200)
    assert found == [{"input": ["a", "a", "a", "c"], "expected": ["c", "a", "a", "a"],
                      "predicted": ["z", "a", "a", "a"]}]


def test_longer_inputs_shrink_to_one_planted_token_among_the_smallest_tokens():
    found = find_counterexamples(wrong_reverse, reverse, make_sampler("uniform"), "abc", 7, 200,
                                 limit=3)
    assert len(found) == 3
    assert len({tuple(f["input"]) for f in found}) == 3
    first = found[0]["input"]
    assert first == ["a"] * 6 + ["c"]   # the shortlex-smallest disagreeing input
    for f in found:
        assert "c" in f["input"][3:] and len(f["input"]) == 7
        assert f["predicted"] != f["expected"] == reverse([f["input"]])[0]


def test_search_is_reproducible():
    def search():
        return find_counterexamples(wrong_reverse, reverse, make_sampler("uniform"), "abcd", 6,
                                    100, limit=2)
    assert search() == search()


def test_no_disagreement_gives_an_empty_list():
    assert find_counterexamples(reverse, reverse, make_sampler("uniform"), "abc", 5, 50) == []


def test_unique_sampler_counterexamples_have_distinct_tokens():
    found = find_counterexamples(wrong_reverse, reverse, make_sampler("unique"), "abcdef", 5, 200)
    assert len(found) == 1
    tokens = found[0]["input"]
    assert len(set(tokens)) == 5 and "c" in tokens[3:]


SAMPLED_FORMATS = [
    ("uniform", {}, "abc", lambda t: set(t) <= set("abc")),
    ("unique", {}, "abcdefgh", lambda t: len(set(t)) == len(t)),
    ("digits", {"leading_zeros": False}, "0123456789",
     lambda t: set(t) <= set("0123456789") and (len(t) == 1 or t[0] != "0")),
    ("binary", {}, "01", lambda t: set(t) <= set("01")),
    ("addition", {}, "0123456789+",
     lambda t: t.count("+") == 1 and t[0] != "+" and t[-1] != "+"),
    ("dyck", {"imbalance": 0.0}, "()",
     lambda t: all(t[:i].count("(") >= t[:i].count(")") for i in range(len(t) + 1))),
]


@pytest.mark.parametrize("name, options, vocab, valid", SAMPLED_FORMATS,
                         ids=[case[0] for case in SAMPLED_FORMATS])
@pytest.mark.parametrize("length", [3, 6])
def test_searched_inputs_keep_the_sampler_format(name, options, vocab, valid, length):
    @settings(max_examples=30, deadline=None, derandomize=True, database=None)
    @given(sampler_inputs(make_sampler(name, options), vocab, length))
    def check(tokens):
        assert len(tokens) == length
        assert valid(tokens), tokens

    check()


def test_untrained_model_against_the_program():
    """The search wired as the harness wires it: a learned model's decoded predictions (one
    seed) against the program; the counterexample is a real disagreement of the two."""
    import jax
    from pathlib import Path

    import rasp
    from generalization.evaluation.predict import predict
    from generalization.models.config import ModelConfig
    from generalization.models.transformer import build_model
    from generalization.tasks import Task, TaskData

    path = Path(__file__).resolve().parent.parent / "examples" / "reverse.rasp"
    program = rasp.load(path)
    data = TaskData(Task("reverse", path, "reverse", tuple("abc"), (1, 4), (5, 8)), program,
                    list("abc"))
    config = ModelConfig(vocab_size=data.vocab_size, num_classes=data.num_classes,
                         num_layers=1, num_heads=1, width=8, max_position=8)
    tokens = np.zeros((1, 4), np.int32)
    init = jax.jit(build_model(config).init)   # jitted: op-by-op init is slow
    params = jax.tree.map(lambda x: x[None], init(jax.random.PRNGKey(0), tokens, tokens,
                                                  tokens == 0))

    def model(inputs):
        return predict(config, params, data, inputs)[0]

    def reference(inputs):
        return program.run("reverse", inputs)

    found = find_counterexamples(model, reference, make_sampler("uniform"), "abc", 4, 100)
    assert len(found) == 1
    (case,) = found
    assert case["expected"] == reference([case["input"]])[0] != case["predicted"]
    assert case["predicted"] == model([case["input"]])[0]
