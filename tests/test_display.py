"""How values are shown: the original RASP REPL's formats."""

from __future__ import annotations

import numpy as np

import rasp
from rasp import display, evaluate
from rasp.interpreter import SelectorValue, SequenceValue


def test_sequence_of_strings_with_type_word():
    assert display.format_sequence(list("olleh")) == "[o, l, l, e, h] (strings)"


def test_sequence_type_words():
    assert display.format_sequence([1, 2]) == "[1, 2] (ints)"
    assert display.format_sequence([1.5, 2.25]) == "[1.5, 2.25] (floats)"
    assert display.format_sequence([1, 2.5]) == "[1, 2.5] (floats)"
    assert display.format_sequence([True, False]) == "[T, F] (bools)"


def test_floats_rounded_to_three_decimals():
    assert display.format_sequence([1 / 3, 2 / 3]) == "[0.333, 0.667] (floats)"


def test_equal_values_shortened_unless_full():
    thirds = [1 / 3] * 3
    assert display.format_sequence(thirds) == "[0.333]*3 (floats)"
    assert display.format_sequence(thirds, full=True) == "[0.333, 0.333, 0.333] (floats)"
    assert display.format_sequence([7]) == "[7] (ints)"


def test_sequence_without_suffix_and_empty():
    assert display.format_sequence(["a", "b"], suffix=False) == "[a, b]"
    assert display.format_sequence([]) == "[] (empty)"


def test_numpy_scalars_shown_like_python_values():
    assert display.format_sequence(list(np.array([True, False]))) == "[T, F] (bools)"


def test_selector_matrix_keys_along_top_queries_down_side():
    matrix = [[True, False], [True, True]]
    assert display.format_selector(matrix, ["a", "b"]).splitlines() == [
        "    a b",
        "a | 1 0",
        "b | 1 1",
    ]


def test_selector_columns_align_for_wide_tokens():
    lines = display.format_selector([[False, True], [True, False]], [10, 2]).splitlines()
    assert lines == ["     10  2", "10 |  0  1", " 2 |  1  0"]


def test_selector_from_the_evaluator():
    program = rasp.loads("sel = select(tokens, tokens, ==);")
    matrix = evaluate.run(program.scope.variables["sel"], ["aba"])[0]
    assert display.format_selector(matrix, list("aba")).splitlines()[1:] == [
        "a | 1 0 1", "b | 0 1 0", "a | 1 0 1"]


def test_plain_values_as_rasp_literals():
    assert display.format_value("abc") == '"abc"'
    assert display.format_value([1, 2.5, True, "s"]) == '[1, 2.5, True, "s"]'
    assert display.format_value({"k": [1], 2: False}) == '{"k": [1], 2: False}'
    assert display.format_value(-3) == "-3"


def test_functions_and_nodes():
    program = rasp.loads("def add(a, b) { return a + b; }\nrev = tokens;")
    assert display.format_value(program.scope.variables["add"]) == "function: add(a, b)"
    assert display.format_value(program.scope.variables["rev"]).startswith("<s-op ")


def test_evaluated_values():
    sequence = SequenceValue((0.5, 0.5), ("a", "b"))
    assert display.format_value(sequence) == "[0.5]*2 (floats)"
    assert display.format_value(sequence, full=True) == "[0.5, 0.5] (floats)"
    selector = SelectorValue(((True,),), ("x",))
    assert display.format_value(selector) == "    x\nx | 1"


def test_input_literals():
    assert display.format_input(list("hello")) == '"hello"'
    assert display.format_input([3, -1]) == "[3, -1]"
    assert display.format_input(["ab", "c"]) == '["ab", "c"]'


def test_graph_tree_shows_each_node_with_its_value():
    program = rasp.loads("flip = select(indices, length - indices - 1, ==);\n"
                         "rev = aggregate(flip, tokens);")
    root = program.sop("rev")
    arrays = evaluate.evaluate_nodes([root], [list("ab")])
    values = {node_id: array[0].tolist() for node_id, array in arrays.items()}
    text = display.format_graph(root, values, list("ab"))
    lines = text.splitlines()
    # Nodes are interned and shared between programs, so their labels may come from
    # elsewhere: check the shape and the values only.
    assert lines[0].startswith("s-op ") and lines[0].endswith("= [b, a] (strings)")
    assert lines[1].startswith("  selector ")
    assert lines[2:5] == ["          a b", "      a | 0 1", "      b | 1 0"]
    assert [line for line in lines if line.endswith("= [0, 1] (ints)")][0].startswith("    s-op ")
    assert "      constant 1" in lines
    assert lines[-1].startswith("  s-op ") and lines[-1].endswith("= [a, b] (strings)")
