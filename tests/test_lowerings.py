"""The lowerings that keep long models small (issue 12): conjunctions of selects as one head
adding scores (`compiler/conjunction.py`) and functions of an integer linear form as one
discretising MLP (`compiler/linear_form.py`). Each is checked on every input up to a small
length against the interpreter, and by its size, which is what it is for."""

from __future__ import annotations

import numpy as np
import pytest

from test_compiler import check_source

CONJUNCTIONS = {
    # name: (source, s-op, vocab, max length, causal)
    "earlier_equal_token": (
        "x = selector_width(select(tokens, tokens, ==) and select(indices, indices, <));",
        "x", "ab", 6, False),
    "three_conjuncts_with_a_constant_query": (
        "big = tokens == \"b\";\n"
        "x = selector_width(select(tokens, tokens, ==) and select(big, True, ==) and "
        "select(indices, indices, <=));", "x", "abc", 5, True),
    "constant_key": (
        "x = selector_width(select(\"a\", tokens, ==) and select(indices, indices, <=));",
        "x", "abc", 5, True),
    "numerical_mean": (
        "ones = numerical(indicator(tokens == \"a\"));\n"
        "x = numerical(aggregate(select(tokens, tokens, ==) and select(indices, indices, <=), "
        "ones, 0));", "x", "ab", 6, True),
    "empty_default": (
        "first = aggregate(select(tokens, \"a\", ==) and select(indices, 1, <), indices, -1);\n"
        "x = aggregate(select(indices, first, ==) and select(tokens, tokens, ==), tokens, \"-\");",
        "x", "ab", 6, False),
}

# a conjunct that compares several s-ops itself is one select over their tuples
PAIRED_CONJUNCT = ("x = selector_width((select(tokens, tokens, <) or select(indices, indices, ==)) "
                   "and select(indices, indices, <=));", "x", "abc", 5, True)

FIRST_SEP = ("earlier = has_focus(select(tokens, \"|\", ==) and select(indices, indices, <));\n"
             "sep = aggregate(select(tokens == \"|\" and not earlier, True, ==) and "
             "select(indices, indices, <=), indices, -1);\n")
FIRST_PLUS = ("earlier = has_focus(select(tokens, \"+\", ==) and select(indices, indices, <));\n"
              "plus = aggregate(select(tokens == \"+\" and not earlier, True, ==), indices, -1);\n")

LINEAR_FORMS = {
    "majority_test": ("x = 2 * selector_width(select(tokens, tokens, ==)) > length;",
                      "x", "abc", 6, False),
    "reverse_position": ("x = length - indices - 1;", "x", "ab", 6, False),
    "difference_with_a_default": (FIRST_SEP + "x = indices - sep;", "x", "a|", 6, True),
    "comparison_with_a_default": (FIRST_SEP + "x = indices - sep >= sep;", "x", "a|", 6, True),
    "three_inputs": (FIRST_PLUS + "x = indices - (length - plus);", "x", "1+", 6, False),
    "scaled_and_negated": ("w = selector_width(select(tokens, tokens, ==));\n"
                           "x = -(3 * w) + 2 * indices == 1;", "x", "ab", 6, False),
}


@pytest.mark.parametrize("case", CONJUNCTIONS)
def test_conjunction_matches_the_interpreter_on_every_input(case):
    source, sop, vocab, max_len, causal = CONJUNCTIONS[case]
    model = check_source(source, sop, vocab, max_len, causal=causal)
    # one head per conjunction, over the conjuncts' own s-ops: no tuple of them
    assert not any("pair" in label or "tuple" in label for label in model.encodings)


def test_a_conjunct_over_several_s_ops_matches_the_interpreter_on_every_input():
    source, sop, vocab, max_len, causal = PAIRED_CONJUNCT
    check_source(source, sop, vocab, max_len, causal=causal)


@pytest.mark.parametrize("case", LINEAR_FORMS)
def test_linear_form_matches_the_interpreter_on_every_input(case):
    source, sop, vocab, max_len, causal = LINEAR_FORMS[case]
    check_source(source, sop, vocab, max_len, causal=causal)


def test_a_conjunction_keeps_the_residual_linear_in_the_length():
    source = "x = selector_width(select(tokens, tokens, ==) and select(indices, indices, <));"
    widths = [check_source(source, "x", "abcd", n).residual_width for n in (4, 8)]
    # tokens and indices side by side (4 + n values), not their pairs (4 n)
    assert widths[1] - widths[0] < 4 * 4


def test_a_linear_form_needs_hidden_units_linear_in_the_length():
    source = "x = 2 * selector_width(select(tokens, tokens, ==)) > length;"
    model = check_source(source, "x", "ab", 8)
    # layer 0 counts (selector width, length), layer 1 computes x: as a table of (width,
    # length) pairs it had 9 x 9 = 81 units; 2 w - length changes x at one threshold
    assert model.layout.mlps[1] == ["x"]
    used_units = np.abs(model.weights.layers[1]["linear_1"]).sum(axis=0) > 0
    assert used_units.sum() == 3
