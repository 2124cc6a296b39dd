"""The interpreter computes the values the original RASP computed, and fails helpfully.

The table of programs lives in `tests/cases.py`; this file runs each entry, then checks
run-time errors (located, naming the input that triggered them), applying an s-op to a
value inside a program, and the reserved library names.
"""

from __future__ import annotations

import re

import pytest

import rasp
from rasp.interpreter import SequenceValue, kind_name

from cases import CASES, Case, outputs_match

LOCATION = re.compile(r"\b(?P<file>[\w.<>/-]+\.rasp):(?P<line>\d+):(?P<col>\d+)\b")


def _run(source: str, sop: str, inputs: list, filename: str = "<string>") -> list:
    return rasp.loads(source, filename=filename).run(sop, inputs)


# ------------------------------------------------------------------ the table of cases


def _params() -> list:
    return [pytest.param(case, id=case.name,
                         marks=[pytest.mark.xfail(strict=True, reason=case.xfail)]
                         if case.xfail else [])
            for case in CASES]


@pytest.mark.parametrize("case", _params())
def test_case_computes_expected_output(case: Case):
    [got] = _run(case.source, case.sop, [case.input])
    assert outputs_match(got, case.expected), f"{case.sop}({case.input!r}) gave {got!r}"


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


def test_every_observed_value_of_the_reference_is_in_the_table():
    observed = {case.name for case in CASES if "observed" in case.tags}
    assert len(observed) == 8


# ------------------------------------------------------------------ run-time errors


AVERAGE_STRINGS = """
everything = select(indices, indices, ==) or select(indices, indices, !=);
# one position per query is fine for strings; several is not
first = aggregate(everything, tokens);
"""


def test_averaging_several_strings_names_location_and_input():
    program = rasp.loads(AVERAGE_STRINGS, filename="average_strings.rasp")
    with pytest.raises(rasp.RaspError) as caught:
        program.run("first", ["a", "xy", "b"])
    message = str(caught.value)
    location = LOCATION.search(message)
    assert location, message
    assert location["file"] == "average_strings.rasp"
    assert (location["line"], location["col"]) == ("4", "9")
    assert '"xy"' in message
    assert "non-number" in message


def test_averaging_one_string_per_query_is_fine():
    program = rasp.loads(AVERAGE_STRINGS, filename="average_strings.rasp")
    assert program.run("first", ["a", "b", ""]) == [["a"], ["b"], []]


def test_error_render_underlines_the_aggregate():
    program = rasp.loads(AVERAGE_STRINGS, filename="average_strings.rasp")
    with pytest.raises(rasp.RaspError) as caught:
        program.run("first", ["ab"])
    rendered = caught.value.render()
    assert "first = aggregate(everything, tokens);" in rendered
    assert "^^^" in rendered


def test_error_names_the_failing_input_in_a_later_chunk():
    program = rasp.loads('only_x = aggregate(select(tokens, "x", ==), tokens, "-");\n',
                         filename="later.rasp")
    batch = ["ab"] * 200 + ["xx"] + ["ab"] * 50
    with pytest.raises(rasp.RaspError) as caught:
        program.run("only_x", batch)
    message = str(caught.value)
    assert '"xx"' in message and '"ab"' not in message
    assert "later.rasp:1:10" in message


def test_averaging_several_booleans_is_an_error():
    # booleans count as numbers only through indicator(), as in the original
    program = rasp.loads('share = aggregate(full_s, tokens == "a");\n')
    with pytest.raises(rasp.RaspError, match="non-number"):
        program.run("share", ["ab"])
    fixed = rasp.loads('share = aggregate(full_s, indicator(tokens == "a"));\n')
    assert fixed.run("share", ["ab"]) == [[0.5, 0.5]]


def test_ordering_strings_against_numbers_is_a_located_error():
    program = rasp.loads("small = tokens < 1;\n", filename="order.rasp")
    with pytest.raises(rasp.RaspError) as caught:
        program.run("small", ["ab"])
    assert "order.rasp:1:" in str(caught.value)
    assert '"ab"' in str(caught.value)


def test_large_plain_integer_power_is_exact_or_an_error():
    try:
        program = rasp.loads("big = 3 ^ 40;\nout = indices * 0 + big;\n")
    except rasp.RaspError:
        return
    assert program.scope.variables["big"] == 3 ** 40


def test_large_sop_integer_product_is_exact_or_an_error():
    program = rasp.loads("square = tokens_int * tokens_int;\n")
    try:
        [result] = program.run("square", [[2 ** 40]])
    except rasp.RaspError:
        return
    assert result == [2 ** 80]


def test_integer_overflow_is_a_located_value_error_naming_operation_and_input():
    program = rasp.loads("safe = indices;\nsquare = tokens_int * tokens_int;\n",
                         filename="square.rasp")
    with pytest.raises(rasp.RaspValueError) as caught:
        program.run("square", [[3], [2 ** 40]])
    message = str(caught.value)
    assert "overflow" in message and "`*`" in message
    assert "square.rasp:2:" in message
    assert f"[{2 ** 40}]" in message


def test_plain_integer_overflow_is_a_located_value_error():
    with pytest.raises(rasp.RaspValueError, match=r"<string>:1:7: integer overflow.*`\^`"):
        rasp.loads("big = 3 ^ 40;\n")


@pytest.mark.parametrize("source, tokens, expected", [
    ("tokens_int * tokens_int", [3037000499], [3037000499 ** 2]),
    ("tokens_int + 1", [2 ** 63 - 2], [2 ** 63 - 1]),
    ("tokens_int - 1", [-2 ** 63 + 1], [-2 ** 63]),
    ("tokens_int ^ 63", [-2], [-2 ** 63]),
])
def test_integer_results_up_to_the_64_bit_limit_are_exact(source, tokens, expected):
    assert rasp.loads(f"out = {source};\n").run("out", [tokens]) == [expected]


@pytest.mark.parametrize("source, tokens", [
    ("tokens_int * tokens_int", [3037000500]),
    ("tokens_int + 1", [2 ** 63 - 1]),
    ("tokens_int - 1", [-2 ** 63]),
    ("-tokens_int", [-2 ** 63]),
    ("tokens_int ^ 63", [2]),
    ("tokens_int ^ 1000000000000", [3]),
    ("round(tokens_float)", [1e19]),
    ("tokens_int", [1e19]),
])
def test_integer_results_beyond_64_bits_are_errors(source, tokens):
    with pytest.raises(rasp.RaspError):
        rasp.loads(f"out = {source};\n").run("out", [tokens])


def test_input_ints_beyond_64_bits_are_refused():
    with pytest.raises(rasp.RaspValueError, match="64-bit"):
        rasp.loads("out = tokens_asis;\n").run("out", [[2 ** 70]])


def test_int_literal_beyond_64_bits_in_an_sop_is_located():
    with pytest.raises(rasp.RaspValueError, match="<string>:1:17: integer overflow"):
        rasp.loads("out = indices + 99999999999999999999;\n")


def test_kind_names_take_the_right_article():
    assert kind_name(3) == "an int"
    assert kind_name(2.5) == "a float"
    assert kind_name("x") == "a str"
    assert kind_name([1]) == "a list"


def test_tokens_int_on_letters_names_the_input():
    program = rasp.loads("doubled = tokens_int * 2;\n", filename="ints.rasp")
    with pytest.raises(rasp.RaspError) as caught:
        program.run("doubled", ["123", "4a6", "789"])
    message = str(caught.value)
    assert "tokens_int" in message
    assert '"4a6"' in message


def test_tokens_int_on_abc_names_the_input():
    program = rasp.loads("n = tokens_int;\n")
    with pytest.raises(rasp.RaspError, match='"abc"'):
        program.run("n", ["abc"])


def test_division_by_zero_is_located_and_names_the_input():
    source = "safe = indices + 1;\nratio = 10 / (tokens_int - 1);\n"
    program = rasp.loads(source, filename="ratio.rasp")
    assert program.run("ratio", [[3, 2]]) == [[5.0, 10.0]]
    with pytest.raises(rasp.RaspError) as caught:
        program.run("ratio", [[3, 2], [2, 1]])
    message = str(caught.value)
    assert "division by zero" in message
    location = LOCATION.search(message)
    assert location and location["file"] == "ratio.rasp" and location["line"] == "2", message
    assert "[2, 1]" in message


def test_modulo_by_zero_is_an_error():
    program = rasp.loads("r = indices % tokens_int;\n")
    with pytest.raises(rasp.RaspError, match="zero"):
        program.run("r", [[1, 0]])


def test_plain_division_by_zero_is_a_located_error():
    with pytest.raises(rasp.RaspError) as caught:
        rasp.loads("x = 1;\ny = x / 0;\n", filename="plain.rasp")
    assert "plain.rasp:2:" in str(caught.value)


def test_string_aggregate_with_numeric_default_where_nothing_selected_has_a_hint():
    source = 'next_token = aggregate(select(indices, indices + 1, ==), tokens);\n'
    program = rasp.loads(source, filename="next.rasp")
    with pytest.raises(rasp.RaspError) as caught:
        program.run("next_token", ["abc"])
    error = caught.value
    message = str(error)
    assert "next.rasp:1:" in message
    assert "default" in message
    assert '"abc"' in message
    assert error.hint and "default" in error.hint


def test_string_aggregate_with_string_default_works_where_nothing_selected():
    source = 'next_token = aggregate(select(indices, indices + 1, ==), tokens, "-");\n'
    assert _run(source, "next_token", ["abc"]) == [["b", "c", "-"]]


def test_errors_are_rasp_errors_with_a_span():
    with pytest.raises(rasp.RaspError) as caught:
        _run(AVERAGE_STRINGS, "first", ["ab"], filename="f.rasp")
    assert caught.value.span.line == 4


# ------------------------------------------------------------------ applying s-ops in a program


APPLY = """
flip = select(indices, length - indices - 1, ==);
reverse = aggregate(flip, tokens);
x = reverse("abc");
y = reverse([3, 1, 4]);
"""


def test_applying_an_sop_in_a_program_yields_its_value():
    program = rasp.loads(APPLY)
    x = program.scope.variables["x"]
    assert isinstance(x, SequenceValue)
    assert list(x.values) == ["c", "b", "a"]
    assert list(x.input) == ["a", "b", "c"]


def test_applying_an_sop_to_a_list_uses_its_tokens():
    program = rasp.loads(APPLY)
    y = program.scope.variables["y"]
    assert list(y.values) == ["4", "1", "3"]


def test_applying_an_sop_that_fails_is_a_located_error():
    with pytest.raises(rasp.RaspError) as caught:
        rasp.loads("n = tokens_int;\nv = n(\"abc\");\n", filename="apply.rasp")
    assert '"abc"' in str(caught.value)


def test_names_lists_definitions_in_order():
    program = rasp.loads(APPLY)
    assert program.names() == ["flip", "reverse", "x", "y"]


def test_run_evaluates_a_batch_in_input_order():
    program = rasp.loads(APPLY)
    assert program.run("reverse", ["ab", "", "xyz", "q"]) == [
        ["b", "a"], [], ["z", "y", "x"], ["q"]]


def test_run_unknown_sop_is_a_name_error():
    program = rasp.loads(APPLY)
    with pytest.raises(rasp.RaspNameError, match="reverse"):
        program.run("revers", ["ab"])


# ------------------------------------------------------------------ reserved names


@pytest.mark.parametrize("name", ["length", "sort", "count", "full_s", "tokens", "indices",
                                  "selector_width", "tokens_int", "mark_first_instance"])
def test_library_names_cannot_be_reassigned_at_top_level(name: str):
    with pytest.raises(rasp.RaspNameError) as caught:
        rasp.loads(f"{name} = 3;\n", filename="reserved.rasp")
    assert "reserved.rasp:1:" in str(caught.value)
    assert name in str(caught.value)


def test_library_names_cannot_be_redefined_by_def():
    with pytest.raises(rasp.RaspNameError):
        rasp.loads("def length(x) {\n    return x;\n}\n")


def test_library_names_cannot_be_targets_of_multiple_assignment():
    with pytest.raises(rasp.RaspNameError):
        rasp.loads("a, length = 1, 2;\n")


def test_unknown_name_is_a_located_name_error_with_suggestion():
    with pytest.raises(rasp.RaspNameError) as caught:
        rasp.loads("x = selector_widht(select(indices, indices, ==));\n", filename="typo.rasp")
    assert "typo.rasp:1:5" in str(caught.value)
    assert "selector_width" in (caught.value.hint or "")
