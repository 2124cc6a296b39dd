"""Each function of the standard library against a plain-Python reference, on random inputs.

The library (`rasp/lib/rasplib.rasp`) is loaded before every program. Here each of its
names is used in a small program and compared, input by input, with what the function
means in Python: `full_s`, `length`, `selector_width`, `has_focus`, `count`, `contains`,
`max`, `min`, `average`, `load_from_location`, `shift`, `mark_last_instance`,
`mark_first_instance`, `select_from_last`, `select_from_first`, `sort` and
`select_next_identical`.
"""

from __future__ import annotations

import math
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rasp

SMALL = settings(max_examples=40, deadline=None)

COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
               "<=": operator.le, ">=": operator.ge}
OP_NAMES = {"==": "eq", "!=": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}
SHIFTS = range(0, 5)

_STRING_SOURCE = "\n".join([
    'mean_a = aggregate(full_s, indicator(tokens == "a"));',
    "width_all = selector_width(full_s);",
    "n = length;",
    *(f"width_{OP_NAMES[op]} = selector_width(select(tokens, tokens, {op}));"
      for op in COMPARISONS),
    "seen_before = has_focus(select(tokens, tokens, ==) and select(indices, indices, <));",
    'has_a = has_focus(select(tokens, "a", ==));',
    'count_a = count(tokens, "a");',
    'contains_a = contains(tokens, "a");',
    "mirrored = load_from_location(tokens, length - 1 - indices);",
    "first = load_from_location(tokens, 0);",
    *(f'shift_{k} = shift(tokens, {k}, "-");' for k in SHIFTS),
    'last_a = mark_last_instance(tokens, "a");',
    'first_a = mark_first_instance(tokens, "a");',
    'from_last_a = aggregate(select_from_last(tokens, "a"), indices, -1);',
    'from_first_a = aggregate(select_from_first(tokens, "a"), indices, -1);',
    "sorted_tokens = sort(tokens, tokens);",
    "sort_order = sort(indices, tokens);",
    "next_same = aggregate(select_next_identical(tokens), indices, -1);",
]) + "\n"

_NUMBER_SOURCE = "\n".join([
    "larger = max(tokens_int, indices);",
    "smaller = min(tokens_int, indices);",
    "cap = min(max(tokens_int, 0), 3);",
    "mean = average(tokens_int);",
    "count_3 = count(tokens_int, 3);",
    "contains_3 = contains(tokens_int, 3);",
    "at_3 = load_from_location(tokens_int, 3);",
    "shift_2 = shift(tokens_int, 2, 0);",
    "descending = sort(tokens_int, -tokens_int);",
    "descending_order = sort(indices, -tokens_int);",
    "last_3 = mark_last_instance(tokens_int, 3);",
    "first_3 = mark_first_instance(tokens_int, 3);",
    "next_same = aggregate(select_next_identical(tokens_int), indices, -1);",
    *(f"width_{OP_NAMES[op]} = selector_width(select(tokens_int, indices, {op}));"
      for op in COMPARISONS),
]) + "\n"

STRINGS = rasp.loads(_STRING_SOURCE, filename="library_strings.rasp")
NUMBERS = rasp.loads(_NUMBER_SOURCE, filename="library_numbers.rasp")

words = st.text(alphabet="abc", max_size=10)
numbers = st.lists(st.integers(-2, 6), max_size=10)


def run(program: rasp.Program, sop: str, tokens) -> list:
    [result] = program.run(sop, [tokens])
    return result


# ------------------------------------------------------------------ plain-Python references


def last_index(tokens, value) -> int:
    return max((i for i, t in enumerate(tokens) if t == value), default=-1)


def first_index(tokens, value) -> int:
    return min((i for i, t in enumerate(tokens) if t == value), default=-1)


def next_identical(tokens) -> list[int]:
    return [next((j for j in range(i + 1, len(tokens)) if tokens[j] == t), -1)
            for i, t in enumerate(tokens)]


def shifted(tokens, k: int, filler) -> list:
    n = len(tokens)
    return ([filler] * min(k, n) + list(tokens[:max(n - k, 0)]))


def stable_order(keys) -> list[int]:
    return sorted(range(len(keys)), key=lambda i: (keys[i], i))


# ------------------------------------------------------------------ string inputs


@SMALL
@given(tokens=words)
def test_full_s_selects_every_position(tokens):
    n = len(tokens)
    means = run(STRINGS, "mean_a", tokens)
    assert all(math.isclose(m, tokens.count("a") / n) for m in means)
    assert run(STRINGS, "width_all", tokens) == [n] * n


@SMALL
@given(tokens=words)
def test_length_is_the_input_length_everywhere(tokens):
    assert run(STRINGS, "n", tokens) == [len(tokens)] * len(tokens)


@pytest.mark.parametrize("op", list(COMPARISONS))
@SMALL
@given(tokens=words)
def test_selector_width_counts_keys_satisfying_the_comparison(op, tokens):
    compare = COMPARISONS[op]
    expected = [sum(compare(key, query) for key in tokens) for query in tokens]
    assert run(STRINGS, f"width_{OP_NAMES[op]}", tokens) == expected


@pytest.mark.parametrize("op", list(COMPARISONS))
@SMALL
@given(tokens=numbers)
def test_selector_width_orients_keys_and_queries(op, tokens):
    # select(tokens_int, indices, op): key k is selected for query q when tokens[k] op q
    compare = COMPARISONS[op]
    expected = [sum(compare(key, q) for key in tokens) for q in range(len(tokens))]
    assert run(NUMBERS, f"width_{OP_NAMES[op]}", tokens) == expected


@SMALL
@given(tokens=words)
def test_has_focus_is_true_where_the_selector_selects_something(tokens):
    assert run(STRINGS, "seen_before", tokens) == [t in tokens[:i] for i, t in enumerate(tokens)]
    assert run(STRINGS, "has_a", tokens) == ["a" in tokens] * len(tokens)


@SMALL
@given(tokens=words)
def test_count_and_contains(tokens):
    assert run(STRINGS, "count_a", tokens) == [tokens.count("a")] * len(tokens)
    assert run(STRINGS, "contains_a", tokens) == ["a" in tokens] * len(tokens)


@SMALL
@given(tokens=words)
def test_load_from_location(tokens):
    assert run(STRINGS, "mirrored", tokens) == list(reversed(tokens))
    if tokens:
        assert run(STRINGS, "first", tokens) == [tokens[0]] * len(tokens)


@pytest.mark.parametrize("k", list(SHIFTS))
@SMALL
@given(tokens=words)
def test_shift_moves_right_and_fills(k, tokens):
    assert run(STRINGS, f"shift_{k}", tokens) == shifted(tokens, k, "-")


@SMALL
@given(tokens=words)
def test_mark_last_instance(tokens):
    last = last_index(tokens, "a")
    assert run(STRINGS, "last_a", tokens) == [i == last for i in range(len(tokens))]


@SMALL
@given(tokens=words)
def test_mark_first_instance_marks_the_first(tokens):
    # The original library's mark_first_instance marked the last instance (it looked for
    # "earlier" occurrences with select(indices, indices, >)); ours marks the first.
    first = first_index(tokens, "a")
    assert run(STRINGS, "first_a", tokens) == [i == first for i in range(len(tokens))]


@SMALL
@given(tokens=words)
def test_select_from_last_and_first(tokens):
    n = len(tokens)
    assert run(STRINGS, "from_last_a", tokens) == [last_index(tokens, "a")] * n
    assert run(STRINGS, "from_first_a", tokens) == [first_index(tokens, "a")] * n


@SMALL
@given(tokens=words)
def test_sort_is_stable(tokens):
    assert run(STRINGS, "sorted_tokens", tokens) == sorted(tokens)
    assert run(STRINGS, "sort_order", tokens) == stable_order(tokens)


@SMALL
@given(tokens=words)
def test_select_next_identical_selects_the_next_equal_token(tokens):
    assert run(STRINGS, "next_same", tokens) == next_identical(tokens)


# ------------------------------------------------------------------ number inputs


@SMALL
@given(tokens=numbers)
def test_max_and_min_are_elementwise(tokens):
    assert run(NUMBERS, "larger", tokens) == [max(t, i) for i, t in enumerate(tokens)]
    assert run(NUMBERS, "smaller", tokens) == [min(t, i) for i, t in enumerate(tokens)]
    assert run(NUMBERS, "cap", tokens) == [min(max(t, 0), 3) for t in tokens]


@SMALL
@given(tokens=numbers)
def test_average_is_the_float_mean(tokens):
    got = run(NUMBERS, "mean", tokens)
    assert len(got) == len(tokens)
    # a mean of several numbers is a float; a single selected int stays an int
    expected_type = float if len(tokens) > 1 else int
    for value in got:
        assert type(value) is expected_type
        assert math.isclose(value, sum(tokens) / len(tokens), abs_tol=1e-9)


@SMALL
@given(tokens=numbers)
def test_count_and_contains_numbers(tokens):
    assert run(NUMBERS, "count_3", tokens) == [tokens.count(3)] * len(tokens)
    assert run(NUMBERS, "contains_3", tokens) == [3 in tokens] * len(tokens)


@SMALL
@given(tokens=numbers)
def test_load_from_location_past_the_end_gives_the_default(tokens):
    value = tokens[3] if len(tokens) > 3 else 0
    assert run(NUMBERS, "at_3", tokens) == [value] * len(tokens)


@SMALL
@given(tokens=numbers)
def test_shift_numbers(tokens):
    assert run(NUMBERS, "shift_2", tokens) == shifted(tokens, 2, 0)


@SMALL
@given(tokens=numbers)
def test_sort_by_negated_key_is_stable_descending(tokens):
    assert run(NUMBERS, "descending", tokens) == sorted(tokens, reverse=True)
    assert run(NUMBERS, "descending_order", tokens) == stable_order([-t for t in tokens])


@SMALL
@given(tokens=numbers)
def test_mark_instances_of_numbers(tokens):
    n = len(tokens)
    assert run(NUMBERS, "last_3", tokens) == [i == last_index(tokens, 3) for i in range(n)]
    assert run(NUMBERS, "first_3", tokens) == [i == first_index(tokens, 3) for i in range(n)]


@SMALL
@given(tokens=numbers)
def test_select_next_identical_numbers(tokens):
    assert run(NUMBERS, "next_same", tokens) == next_identical(tokens)


def test_library_names_are_visible_to_every_program():
    names = ["full_s", "length", "selector_width", "has_focus", "count", "contains", "max",
             "min", "average", "load_from_location", "shift", "mark_last_instance",
             "mark_first_instance", "select_from_last", "select_from_first", "sort",
             "select_next_identical", "tokens", "indices"]
    source = "".join(f"v{i} = {name};\n" for i, name in enumerate(names))
    program = rasp.loads(source)
    assert len(program.names()) == len(names)

