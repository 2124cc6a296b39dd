"""A shared table of small RASP programs and the values they must compute.

Each `Case` is a RASP source in the original syntax (RASP 0.1), the name of the s-op to
evaluate, one input and the expected output. The expected values come from the language
reference (`/work/shared/reference/rasp-language.md`, whose "observed values" were measured
on the original interpreter) or are worked out by hand from its semantics; they are never
copied from our implementation's output.

Comparison rules (see `outputs_match`): booleans and strings exactly; numbers to 3 decimals,
and an expected `int` must come back as an `int` and an expected `float` as a `float` (the
original is Python: a mean is a float, a single selected int stays an int, `round` gives ints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Case:
    name: str           # the test id: what behaviour the case pins down
    source: str         # a complete RASP program
    sop: str            # the s-op of `source` to evaluate
    input: Union[str, list]
    expected: list
    tags: tuple[str, ...] = field(default=())
    xfail: str = ""     # a known bug of the implementation: the case must fail until fixed

    def __repr__(self) -> str:
        return f"Case({self.name}: {self.sop}({self.input!r}) => {self.expected!r})"


def value_matches(got: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return type(got) is bool and got == expected
    if isinstance(expected, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return False
        if type(got) is not type(expected):
            return False
        return math.isclose(got, expected, rel_tol=0, abs_tol=1e-3)
    return type(got) is type(expected) and got == expected


def outputs_match(got: list, expected: list) -> bool:
    return (isinstance(got, list) and len(got) == len(expected)
            and all(value_matches(g, e) for g, e in zip(got, expected)))


def letters(text: str) -> list[str]:
    """Expected string outputs written compactly: letters("olleh") == ["o", "l", "l", "e", "h"]."""
    return list(text)


T, F = True, False

# --------------------------------------------------------------------- programs used twice

REVERSE = """
flip = select(indices, length - indices - 1, ==);
reverse = aggregate(flip, tokens);
"""

HISTOGRAM = """
same_token = select(tokens, tokens, ==);
hist = selector_width(same_token);
"""

# The paper's Dyck-1 program (balanced parentheses): per prefix, F if some prefix closed more
# than it opened, T if balanced, P (possible) otherwise. Written as in the paper, without rounding.
DYCK1_PAPER = """
def dyck1_ptf() {
    up_to_self = select(indices, indices, <=);
    n_opens = (indices + 1) * aggregate(up_to_self, indicator(tokens == "("));
    n_closes = (indices + 1) * aggregate(up_to_self, indicator(tokens == ")"));
    balance = n_opens - n_closes;
    prev_imbalances = aggregate(up_to_self, indicator(balance < 0));
    return "F" if prev_imbalances > 0 else ("T" if balance == 0 else "P");
}
dyck1 = dyck1_ptf();
"""

# Dyck-k in the style of the paper's dyckk_ptf: openers/closers come from a list comprehension
# over the pairs, and a closer is checked by concatenating its matched opener with it and asking
# `matched_opener + tokens_str in paren_pairs` (`in` binds looser than `+`).
DYCKK = """
def dyckk_ptf(paren_pairs) {
    openers = [p[0] for p in paren_pairs];
    closers = [p[1] for p in paren_pairs];
    opens = indicator(tokens_str in openers);
    closes = indicator(tokens_str in closers);
    up_to_self = select(indices, indices, <=);
    n_opens = round((indices + 1) * aggregate(up_to_self, opens));
    n_closes = round((indices + 1) * aggregate(up_to_self, closes));
    depth = n_opens - n_closes;
    # an opener and the closer that closes it share this value
    delay_closer = depth + closes;
    depth_index = selector_width(select(delay_closer, delay_closer, ==) and up_to_self);
    open_for_close = select(opens, 1, ==) and select(delay_closer, delay_closer, ==)
                     and select(depth_index, depth_index - 1, ==);
    matched_opener = aggregate(open_for_close, tokens_str, "-");
    opener_matches = matched_opener + tokens_str in paren_pairs;
    mismatch = closes == 1 and not opener_matches;
    had_problem = aggregate(up_to_self, indicator(mismatch or depth < 0)) > 0;
    return "F" if had_problem else ("T" if depth == 0 else "P");
}
dyck2 = dyckk_ptf(["()", "{}"]);
dyck3 = dyckk_ptf(["()", "{}", "[]"]);
"""

# Long addition "a+b": the digits of a+b right-aligned to the end of the input, 0 before them.
# A position receives a carry when the nearest later position whose digit sum is not 9 has a
# digit sum above 9.
ADDITION = """
def dig2num(t) {
    digits = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9};
    res = 0;
    for d in digits {
        res = digits[d] if t == d else res;
    }
    return res;
}

def split_operands() {
    plus_at = aggregate(select(tokens, "+", ==), indices);
    nums = dig2num(tokens);
    b_digits = nums if indices > plus_at else 0;
    a_digits = aggregate(select(indices + length - plus_at, indices, ==), nums, 0);
    return a_digits, b_digits;
}

a_digits, b_digits = split_operands();
digit_sum = a_digits + b_digits;
not_nine = indicator(digit_sum != 9);
prefix = select(indices, indices, <=);
n_not_nine = round((indices + 1) * aggregate(prefix, not_nine));
next_not_nine = select(n_not_nine, n_not_nine + 1, ==) and select(not_nine, 1, ==);
carry_in = aggregate(next_not_nine, indicator(digit_sum > 9), 0);
sum_digits = (digit_sum + carry_in) % 10;
"""

# The paper's selector_width through a beginning-of-sequence token at position 0
# (before selector_width was a primitive): the BOS is added to every selection, the
# attention it gets is 1/(width+1).
WITH_BOS = """
def _with_bos_selector_width(s) {
    s = s or select(indices, 0, ==);
    return (1 / aggregate(s, indicator(indices == 0))) - 1;
}
not_bos = select(indices, 0, !=);
"""

HIST_BOS = WITH_BOS + """
hist_bos = _with_bos_selector_width(select(tokens, tokens, ==) and not_bos);
"""

SORT_BOS = WITH_BOS + """
def sort_bos(vals, keys) {
    smaller = select(keys, keys, <) or (select(keys, keys, ==) and select(indices, indices, <));
    target = round(_with_bos_selector_width(smaller and not_bos)) + 1;
    target = 0 if indices == 0 else target;
    return aggregate(select(target, indices, ==), vals);
}
sorted_bos = sort_bos(tokens, tokens);
"""

SORT_BY_FREQ = """
hist = selector_width(select(tokens, tokens, ==));
by_freq = sort(tokens, -hist);
"""


def _sop(expression: str, name: str = "out") -> str:
    return f"{name} = {expression};\n"


CASES: list[Case] = [
    # ------------------------------------------------ observed values of the original
    Case("observed_reverse_hello", REVERSE, "reverse", "hello", letters("olleh"), ("observed",)),
    Case("observed_sort_banana", _sop("sort(tokens, tokens)"), "out", "banana",
         letters("aaabnn"), ("observed",)),
    Case("observed_histogram_hello", HISTOGRAM, "hist", "hello", [1, 1, 2, 2, 1],
         ("observed",)),
    Case("observed_shift_abcde", _sop('shift(tokens, 2, "-")'), "out", "abcde",
         letters("--abc"), ("observed",)),
    Case("observed_count_banana", _sop('count(tokens, "a")'), "out", "banana", [3] * 6,
         ("observed",)),
    Case("observed_round_half_indices", _sop("round(indices / 2)"), "out", "hello",
         [0, 0, 1, 2, 2], ("observed",)),
    Case("observed_dyck1_paper", DYCK1_PAPER, "dyck1", "(())(", letters("PPPTP"),
         ("observed",)),
    Case("observed_addition_paper", ADDITION, "sum_digits", "123+456", [0, 0, 0, 0, 5, 7, 9],
         ("observed",)),

    # ------------------------------------------------ more of the paper's programs
    Case("dyck1_unbalanced_stays_false", DYCK1_PAPER, "dyck1", "())(", letters("PTFF")),
    Case("dyck1_balanced_pairs", DYCK1_PAPER, "dyck1", "()()", letters("PTPT")),
    Case("addition_overflow_digit", ADDITION, "sum_digits", "555+555", [0, 0, 0, 1, 1, 1, 0]),
    Case("addition_carry_through_nines", ADDITION, "sum_digits", "999+001",
         [0, 0, 0, 1, 0, 0, 0]),
    Case("addition_no_carry", ADDITION, "sum_digits", "12+34", [0, 0, 0, 4, 6]),
    Case("dyck2_nested", DYCKK, "dyck2", "({})", letters("PPPT")),
    Case("dyck2_crossed_pairs_fail", DYCKK, "dyck2", "({)}", letters("PPFF")),
    Case("dyck2_sequence", DYCKK, "dyck2", "(){}", letters("PTPT")),
    Case("dyck2_closer_first_fails", DYCKK, "dyck2", "}()", letters("FFF")),
    Case("dyck3_nested", DYCKK, "dyck3", "[({})]", letters("PPPPPT")),
    Case("dyck3_mismatch", DYCKK, "dyck3", "[(])", letters("PPFF")),
    Case("dyck3_open", DYCKK, "dyck3", "[]{[", letters("PTPP")),
    # The histogram through BOS: position 0 holds the BOS token and gets 0.
    Case("histogram_with_bos", HIST_BOS, "hist_bos", "$hello", [0.0, 1.0, 1.0, 2.0, 2.0, 1.0]),
    Case("sort_with_bos", SORT_BOS, "sorted_bos", "$banana", letters("$aaabnn")),
    Case("sort_by_frequency", SORT_BY_FREQ, "by_freq", "hello", letters("llheo")),
    Case("sort_by_frequency_ties_keep_order", SORT_BY_FREQ, "by_freq", "abcbca",
         letters("abcbca")),
    Case("sort_by_frequency_most_frequent_first", SORT_BY_FREQ, "by_freq", "abbcbcc",
         letters("bbcbcca")),

    # ------------------------------------------------ the standard library
    Case("full_s_selects_everything", _sop('aggregate(full_s, indicator(tokens == "a"))'), "out",
         "abca", [0.5] * 4),
    Case("full_s_width_is_length", _sop("selector_width(full_s)"), "out", "abc", [3, 3, 3]),
    Case("length_of_input", _sop("length"), "out", "hello", [5] * 5),
    Case("length_of_empty_input", _sop("length"), "out", "", []),
    Case("selector_width_counts_selected_keys", _sop("selector_width(select(indices, indices, <))"),
         "out", "abcd", [0, 1, 2, 3]),
    Case("selector_width_can_be_zero", _sop('selector_width(select(tokens, "z", ==))'), "out",
         "abc", [0, 0, 0]),
    Case("has_focus_true_where_something_selected",
         _sop("has_focus(select(tokens, tokens, ==) and select(indices, indices, <))"), "out",
         "abca", [F, F, F, T]),
    Case("has_focus_false_when_nothing_selected", _sop('has_focus(select(tokens, "z", ==))'),
         "out", "abc", [F, F, F]),
    Case("count_of_numbers", _sop("count(tokens_int, 3)"), "out", [3, 1, 3], [2, 2, 2]),
    Case("count_of_absent_token", _sop('count(tokens, "z")'), "out", "abc", [0, 0, 0]),
    Case("contains_present_token", _sop('contains(tokens, "b")'), "out", "abc", [T, T, T]),
    Case("contains_absent_token", _sop('contains(tokens, "z")'), "out", "abc", [F, F, F]),
    Case("max_elementwise", _sop("max(tokens_int, 2)"), "out", [3, 1, 4, 2], [3, 2, 4, 2]),
    Case("min_elementwise", _sop("min(tokens_int, 2)"), "out", [3, 1, 4, 2], [2, 1, 2, 2]),
    Case("max_of_two_sops", _sop("max(tokens_int, indices)"), "out", [3, 0, 0, 5], [3, 1, 2, 5]),
    Case("average_is_a_float_mean", _sop("average(tokens_int)"), "out", [1, 2, 3, 6], [3.0] * 4),
    Case("load_from_location_constant", _sop("load_from_location(tokens, 1)"), "out", "abc",
         letters("bbb")),
    Case("load_from_location_sop", _sop("load_from_location(tokens, length - indices - 1)"),
         "out", "abc", letters("cba")),
    Case("shift_numbers_with_numeric_filler", _sop("shift(tokens_int, 1, 0)"), "out", [5, 6, 7],
         [0, 5, 6]),
    Case("shift_past_the_end", _sop('shift(tokens, 3, "-")'), "out", "ab", letters("--")),
    Case("mark_last_instance", _sop('mark_last_instance(tokens, "a")'), "out", "banana",
         [F, F, F, F, F, T]),
    # Ours marks the FIRST instance. The original's rasplib used select(indices, indices, >) for
    # "earlier" in mark_first_instance, the same selector as mark_last_instance, so there it
    # marked the last instance too (a bug we do not reproduce).
    Case("mark_first_instance_marks_the_first", _sop('mark_first_instance(tokens, "a")'), "out",
         "banana", [F, T, F, F, F, F]),
    Case("select_from_last", _sop('aggregate(select_from_last(tokens, "a"), indices)'), "out",
         "banana", [5] * 6),
    Case("select_from_first", _sop('aggregate(select_from_first(tokens, "a"), indices)'), "out",
         "banana", [1] * 6),
    Case("sort_is_stable_ties_by_index", _sop("sort(indices, tokens)"), "out", "banana",
         [1, 3, 5, 0, 2, 4]),
    Case("sort_by_numeric_key_descending", _sop("sort(tokens_int, -tokens_int)"), "out",
         [3, 1, 4, 1, 5], [5, 4, 3, 1, 1]),
    Case("select_next_identical", _sop("aggregate(select_next_identical(tokens), indices, -1)"),
         "out", "banana", [-1, 3, 4, 5, -1, -1]),

    # ------------------------------------------------ aggregate and numbers
    Case("mean_of_several_numbers_is_float", _sop("aggregate(full_s, tokens_int)"), "out", [1, 2],
         [1.5, 1.5]),
    Case("mean_of_equal_ints_is_float", _sop("aggregate(full_s, tokens_int)"), "out", [2, 2],
         [2.0, 2.0]),
    Case("one_selected_int_stays_int", _sop("aggregate(select(indices, 0, ==), tokens_int)"),
         "out", [7, 8, 9], [7, 7, 7]),
    # The original's mean returns the selected value itself when exactly one position is
    # selected, so a sequence can hold ints beside the floats of real means.
    Case("one_selected_int_stays_int_beside_means",
         _sop("aggregate(select(tokens, tokens, ==), indices)"), "out", "aab", [0.5, 0.5, 2]),
    Case("int_values_stay_ints_beside_a_float_default",
         _sop("aggregate(select(indices, indices + 1, ==), tokens_int, 0.5)"), "out", [4, 5, 6],
         [5, 6, 0.5]),
    Case("float_values_keep_an_int_default",
         _sop("aggregate(select(indices, indices + 1, ==), tokens_float)"), "out",
         [1.5, 2.5, 3.5], [2.5, 3.5, 0]),
    Case("one_selected_value_of_ints_beside_means_is_copied",
         _sop("aggregate(select(indices, 2, ==), aggregate(select(tokens, tokens, ==), indices))"),
         "out", "aab", [2, 2, 2]),
    Case("mean_of_ints_beside_means_is_float",
         _sop("aggregate(full_s, aggregate(select(tokens, tokens, ==), indices))"), "out", "aab",
         [1.0, 1.0, 1.0]),
    # Arithmetic is Python's per element: an int beside floats stays an int.
    Case("arithmetic_on_ints_beside_means_keeps_types",
         _sop("aggregate(select(tokens, tokens, ==), indices) * 2"), "out", "aab", [1.0, 1.0, 4]),
    Case("division_by_ints_beside_means",
         _sop("10 / (aggregate(select(tokens, tokens, ==), indices) - 1)"), "out", "aab",
         [-20.0, -20.0, 10.0]),
    Case("modulo_by_ints_beside_means",
         _sop("10 % (aggregate(select(tokens, tokens, ==), indices) - 1)"), "out", "aab",
         [-0.0, -0.0, 0]),
    Case("ternary_keeps_each_branch_type", _sop("indices if indices == 0 else 0.5"), "out", "abc",
         [0, 0.5, 0.5]),
    Case("int_power_is_float_only_where_the_exponent_is_negative", _sop("indices ^ (1 - indices)"),
         "out", "abc", [0, 1, 0.5]),
    Case("one_selected_string_is_copied", _sop("aggregate(select(indices, 1, ==), tokens)"), "out",
         "xyz", letters("yyy")),
    Case("aggregate_default_where_nothing_selected",
         _sop("aggregate(select(indices, indices + 1, ==), tokens_int, -1)"), "out", [4, 5, 6],
         [5, 6, -1]),
    Case("aggregate_default_is_zero", _sop("aggregate(select(indices, indices + 1, ==), tokens_int)"),
         "out", [4, 5, 6], [5, 6, 0]),
    Case("round_is_bankers_rounding", _sop("round(tokens_float)"), "out",
         [0.5, 1.5, 2.5, 3.5, -0.5, 2.6], [0, 2, 2, 4, 0, 3]),
    Case("modulo_takes_divisor_sign", _sop("tokens_int % 3"), "out", [-7, 7, -1, 0], [2, 1, 2, 0]),
    Case("modulo_negative_divisor", _sop("tokens_int % -3"), "out", [-7, 7, -1], [-1, -2, -1]),
    Case("division_is_true_division", _sop("tokens_int / 2"), "out", [3, 4, -1],
         [1.5, 2.0, -0.5]),
    Case("caret_is_power", _sop("tokens_int ^ 2"), "out", [3, -4, 0], [9, 16, 0]),
    Case("power_with_negative_exponent_is_float", _sop("2 ^ -tokens_int"), "out", [1, 2],
         [0.5, 0.25]),
    Case("arithmetic_precedence", _sop("1 + indices * 2 ^ 2 - 6 / 3"), "out", "abc",
         [-1.0, 3.0, 7.0]),
    Case("unary_minus", _sop("-indices + 1"), "out", "abc", [1, 0, -1]),
    Case("float_arithmetic", _sop("tokens_float * 0.5 + 0.25"), "out", [1, 2], [0.75, 1.25]),
    Case("string_concatenation", _sop('tokens + "!"'), "out", "ab", ["a!", "b!"]),
    Case("comparisons_of_numbers",
         _sop("indicator(tokens_int < 2) + 10 * indicator(tokens_int >= 2) "
              "+ 100 * indicator(tokens_int == 2) + 1000 * indicator(tokens_int != 3)"
              "+ 10000 * indicator(tokens_int <= 1) + 100000 * indicator(tokens_int > 2)"),
         "out", [1, 2, 3], [11001, 1110, 100010]),
    Case("comparisons_of_strings", _sop('tokens < "c"'), "out", "abcd", [T, T, F, F]),
    Case("string_never_equals_number", _sop("tokens == 1"), "out", "1a", [F, F]),
    Case("and_or_not_on_booleans",
         _sop("(tokens_int > 1 and tokens_int < 4) or not (tokens_int != 9)"), "out",
         [0, 2, 5, 9], [F, T, F, T]),
    Case("and_or_use_truthiness",
         _sop("indicator(tokens_int and indices % 2) + 10 * indicator(tokens_int or indices % 2)"
              " + 100 * indicator(not tokens_int)"),
         "out", [0, 0, 3, 3], [100, 110, 10, 11]),
    Case("indicator_of_booleans", _sop('indicator(tokens == "a")'), "out", "aba", [1, 0, 1]),
    Case("sop_in_list", _sop('tokens in ["a", "c"]'), "out", "abcd", [T, F, T, F]),
    Case("number_sop_in_list", _sop("tokens_int in [1, 4]"), "out", [3, 1, 4], [F, T, T]),
    Case("atom_in_sop_present", _sop('"c" in tokens'), "out", "abc", [T, T, T]),
    Case("atom_in_sop_absent", _sop('"z" in tokens'), "out", "abc", [F, F, F]),
    Case("ternary_elementwise", _sop('"big" if tokens_int > 2 else "small"'), "out", [3, 1, 4],
         ["big", "small", "big"]),
    Case("ternary_with_sop_branches", _sop("tokens_int if tokens_int > indices else indices"),
         "out", [3, 0, 1], [3, 1, 2]),
    Case("sop_index_first_broadcasts", _sop("tokens[0]"), "out", "abc", letters("aaa")),
    Case("sop_index_negative_counts_from_end", _sop("tokens[-1]"), "out", "abc", letters("ccc")),
    Case("sop_index_of_numbers", _sop("tokens_int[1] + indices"), "out", [3, 1, 4], [1, 2, 3]),
    Case("selector_or_and_not",
         _sop("selector_width((select(indices, indices, <) or select(indices, indices, >)) "
              "and not select(indices, 0, ==))"), "out", "abcd", [3, 2, 2, 2]),
    Case("select_with_constant_query", _sop('selector_width(select(tokens, "a", ==))'), "out",
         "abca", [2, 2, 2, 2]),
    Case("select_orders_keys_against_queries",
         _sop("aggregate(select(indices, indices, >) and select(indices, indices + 1, ==), "
              "tokens, \"-\")"), "out", "abc", letters("bc-")),

    # ------------------------------------------------ input conversions
    Case("tokens_int_of_numbers", _sop("tokens_int"), "out", [3, 1, 4], [3, 1, 4]),
    Case("tokens_int_of_digit_string", _sop("tokens_int + 1"), "out", "314", [4, 2, 5]),
    Case("tokens_float_of_numbers", _sop("tokens_float"), "out", [3, 1, 4], [3.0, 1.0, 4.0]),
    Case("tokens_bool_of_numbers", _sop("tokens_bool"), "out", [3, 0, 4], [T, F, T]),
    Case("tokens_str_of_numbers", _sop("tokens_str"), "out", [3, 1, 4], ["3", "1", "4"]),
    Case("tokens_asis_keeps_numbers", _sop("tokens_asis"), "out", [3, 1, 4], [3, 1, 4]),
    Case("tokens_asis_keeps_strings", _sop("tokens_asis"), "out", "ab", letters("ab")),
    Case("tokens_is_tokens_str", _sop("tokens"), "out", [3, 1, 4], ["3", "1", "4"]),
    Case("indices_count_from_zero", _sop("indices"), "out", "abcd", [0, 1, 2, 3]),

    # ------------------------------------------------ plain values and the meta language
    Case("plain_arithmetic_then_broadcast", "n = 2 + 3 * 4 - 10 / 5;\nout = indices + n;", "out",
         "ab", [12.0, 13.0]),
    Case("plain_round_and_modulo", "a = round(2.5) + round(0.5) + round(3.5);\nb = -7 % 3;\n"
         "out = indices * 0 + a * 10 + b;", "out", "a", [62]),
    Case("plain_power", "p = 2 ^ 10;\nout = indices + p;", "out", "ab", [1024, 1025]),
    Case("plain_string_concatenation", 's = "ab" + "cd";\nout = tokens + s;', "out", "x",
         ["xabcd"]),
    Case("plain_list_and_index", "xs = [10, 20, 30];\nout = indices + xs[1] + xs[-1];", "out",
         "ab", [50, 51]),
    Case("plain_list_concatenation_and_len", "xs = [1, 2] + [3];\nout = indices + len(xs);",
         "out", "ab", [3, 4]),
    Case("plain_dict_lookup", 'd = {"a": 1, "b": 2};\nout = indices + d["b"] * 10;', "out", "ab",
         [20, 21]),
    Case("list_comprehension", "xs = [x * x for x in range(4)];\nout = tokens_int in xs;",
         "out", [0, 2, 4, 9], [T, F, T, T]),
    Case("dict_comprehension_over_zip",
         'd = {k: v for k, v in zip(["a", "b", "c"], [1, 2, 3])};\n'
         'out = indices + d["c"];', "out", "ab", [3, 4]),
    Case("range_with_start_and_step", "out = tokens_int in range(1, 10, 3);", "out",
         [1, 2, 4, 7, 10], [T, F, T, T, F]),
    Case("for_loop_over_list_accumulates",
         "total = 0;\nfor x in [1, 2, 3, 4] {\n    total = total + x;\n}\n"
         "out = indices + total;", "out", "ab", [10, 11]),
    Case("for_loop_over_dict_iterates_keys",
         'd = {"a": 1, "b": 2, "c": 3};\nkeys = "";\nfor k in d {\n    keys = keys + k;\n}\n'
         'out = tokens + keys;', "out", "x", ["xabc"]),
    Case("for_loop_builds_sop",
         'out = indicator(tokens == "z");\nfor c in ["a", "b"] {\n'
         '    out = out + indicator(tokens == c);\n}', "out", "abcz", [1, 1, 0, 1]),
    Case("for_loop_with_two_targets",
         "acc = 0;\nfor a, b in zip([1, 2], [10, 20]) {\n    acc = acc + a * b;\n}\n"
         "out = indices + acc;", "out", "a", [50]),
    Case("plain_ternary_and_logic", "a = 1 if 2 > 3 else 4;\nb = True and not False;\n"
         "out = indices + a + indicator(tokens == tokens) * b;", "out", "a", [5]),
    Case("plain_in", 'a = 2 in [1, 2];\nb = "q" in {"q": 1};\nc = 5 in [1, 2];\n'
         "out = indicator(indices == 0) * (a + b + c);", "out", "a", [2]),
    Case("function_of_sops",
         "def double(x) {\n    return x + x;\n}\nout = double(tokens_int) + double(1);", "out",
         [1, 2], [4, 6]),
    Case("nested_def_and_closure",
         "def outer(k) {\n    def inner(x) {\n        return x * k;\n    }\n"
         "    return inner(indices) + 1;\n}\nout = outer(3);", "out", "abc", [1, 4, 7]),
    Case("multiple_return_values",
         "def split(s) {\n    return s + 1, s * 2;\n}\na, b = split(indices);\nout = a + b;",
         "out", "abc", [1, 4, 7]),
    Case("multiple_assignment", "a, b = 2, indices;\nout = a * b;", "out", "abc", [0, 2, 4]),
    Case("function_arguments_are_local",
         "x = 100;\ndef f(x) {\n    y = x + 1;\n    return y;\n}\nout = f(indices) + x;", "out",
         "ab", [101, 102]),
    Case("reassignment_builds_new_sop", "s = indices;\ns = s + 1;\ns = s * 2;\nout = s;", "out",
         "abc", [2, 4, 6]),
    Case("comments_and_whitespace",
         "# a comment\nout =   indices   # trailing comment\n    + 1 ;", "out", "ab", [1, 2]),
]
