"""The compiler's promises: a compiled model computes exactly what the interpreter computes.

Every check compares a compiled model with the interpreter on EVERY input of length 1..L over
a small vocabulary (`outputs_equal`: exact for strings and booleans, 1e-9 for numbers), and the
refusals are checked for what a user needs from them: a `CompileError` (a `RaspError`) that
points at the offending construct, names the rule it breaks and suggests a rewrite.

Models are compiled with `verify=False` where the test itself compares exhaustively, so that a
disagreement shows up as a failed comparison (with the input) rather than as the compiler's own
"compiler bug" refusal.
"""

from __future__ import annotations

import gc
import itertools
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

import compiler
import rasp
from compiler.assemble import assemble
from compiler.verify import outputs_equal

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"


# ------------------------------------------------------------------ helpers


def all_inputs(vocab: Sequence[Any], max_len: int, min_len: int = 1) -> list[list]:
    """Every input over `vocab` of length min_len..max_len."""
    tokens = list(vocab)
    return [list(combo) for length in range(min_len, max_len + 1)
            for combo in itertools.product(tokens, repeat=length)]


def mismatches(program: rasp.Program, sop: str, model: compiler.CompiledModel,
               inputs: list[list]) -> list[tuple]:
    """(input, interpreter output, model output) wherever the two differ."""
    expected = program.run(sop, inputs)
    actual = model.run(inputs)
    return [(tokens, want, got) for tokens, want, got in zip(inputs, expected, actual)
            if not outputs_equal(want, got)]


def assert_matches_exhaustively(program: rasp.Program, sop: str, model: compiler.CompiledModel,
                                vocab: Sequence[Any], max_len: int) -> None:
    inputs = all_inputs(vocab, max_len)
    wrong = mismatches(program, sop, model, inputs)
    assert not wrong, (f"model of `{sop}` disagrees with the interpreter on {len(wrong)} of "
                       f"{len(inputs)} inputs, e.g. (input, interpreter, model): {wrong[:3]}")


def compile_source(source: str, sop: str, vocab: Sequence[Any], max_seq_len: int,
                   **options: Any) -> tuple[rasp.Program, compiler.CompiledModel]:
    program = rasp.loads(source, filename="test.rasp")
    return program, compiler.compile(program, sop, vocab, max_seq_len, **options)


def check_source(source: str, sop: str, vocab: Sequence[Any], max_seq_len: int,
                 **options: Any) -> compiler.CompiledModel:
    """Compile `sop` of `source` and assert it matches the interpreter on every input."""
    options.setdefault("verify", False)
    program, model = compile_source(source, sop, vocab, max_seq_len, **options)
    assert_matches_exhaustively(program, sop, model, vocab, max_seq_len)
    return model


def refusal(source: str, sop: str, vocab: Sequence[Any], max_seq_len: int,
            **options: Any) -> compiler.CompileError:
    # Graph nodes are interned with the span of their first construction, so a node some
    # earlier, not yet collected program built would be located in that program (see
    # test_refusal_points_into_the_compiled_program_even_if_another_built_the_same_node).
    gc.collect()
    program = rasp.loads(source, filename="test.rasp")
    with pytest.raises(compiler.CompileError) as caught:
        compiler.compile(program, sop, vocab, max_seq_len, **options)
    return caught.value


def assert_located(error: rasp.RaspError, file: str, line: int, column: int) -> None:
    span = error.span
    assert (span.file, span.line, span.column) == (file, line, column), \
        f"error located at {span}, expected {file}:{line}:{column}: {error}"
    assert str(error).startswith(f"{file}:{line}:{column}: ")


# ------------------------------------------------- every example compiles and matches

# file -> (s-op, vocabulary, max length checked by default, max length in the slow run).
# Every input of every length up to the max length is checked (vocab^L stays within ~3,300).
EXAMPLES = {
    "copy.rasp": ("copy", "abc", 5, 7),
    "count_token.rasp": ("count_a", "abc", 5, 7),
    "distinct.rasp": ("distinct", "abc", 5, 7),
    "double_histogram.rasp": ("hist2", "abc", 5, 7),
    "dyck1.rasp": ("dyck1", "()", 8, 11),
    "dyck2.rasp": ("dyck2", "({)}", 4, 5),
    "frac_prevs.rasp": ("frac_prevs", "xa", 8, 11),
    "histogram.rasp": ("hist", "abc", 5, 7),
    "length.rasp": ("seq_length", "ab", 8, 11),
    "majority.rasp": ("majority", "abc", 5, 7),
    "most_frequent.rasp": ("most_frequent", "abc", 4, 6),
    "palindrome.rasp": ("palindrome", "ab", 8, 11),
    "parity.rasp": ("parity", "01", 8, 11),
    "reverse.rasp": ("reverse", "abc", 5, 7),
    "seen_before.rasp": ("seen_before", "abc", 5, 7),
    "shift.rasp": ("shift_right", "abc", 5, 7),
    "sort.rasp": ("sort_tokens", "abc", 5, 7),
    "sort_by_freq.rasp": ("sort_by_freq", "abc", 5, 7),
}

# Examples the compiler rightly refuses, and why.
UNCOMPILABLE = {
    "addition.rasp": "`add_index` averages the indices of every `+`: inputs with several `+` "
                     "make one attention head average non-0/1 values (compilable variant: "
                     "suite/addition.rasp)",
    "max_token.rasp": "every position averages all maxima of tokens_int, non-0/1 values (over "
                      "the vocabulary [0, 1] it compiles: see "
                      "test_max_token_compiles_over_binary_tokens; compilable variant: "
                      "`first_max_token` in the same file)",
    "sort_unique.rasp": "with repeated values several positions share a target position, so "
                        "one attention head would average non-0/1 tokens (compilable variant: "
                        "sort.rasp)",
}
# file -> (s-op, vocabulary, max length, line of the construct the refusal must point at)
UNCOMPILABLE_CASES = {
    "addition.rasp": ("sum_digits", "012+", 4, 32),
    "max_token.rasp": ("max_token", [1, 3, 5, 9], 4, 11),
    "sort_unique.rasp": ("sort_unique", [1, 2, 5, 8], 4, 13),
}

# Examples the compiled model gets wrong because of a known compiler bug: file -> the bug.
KNOWN_BUGS: dict[str, str] = {}


def test_every_example_file_is_either_compiled_or_listed_as_uncompilable():
    files = {path.name for path in EXAMPLES_DIR.glob("*.rasp")}
    assert files == set(EXAMPLES) | set(UNCOMPILABLE)
    assert not set(EXAMPLES) & set(UNCOMPILABLE)
    assert set(UNCOMPILABLE_CASES) == set(UNCOMPILABLE)


def _example_cases(slow: bool) -> list:
    cases = []
    for file, (sop, vocab, fast_len, slow_len) in EXAMPLES.items():
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[file])] \
            if file in KNOWN_BUGS else []
        if slow:
            marks.append(pytest.mark.slow)
        cases.append(pytest.param(file, sop, vocab, slow_len if slow else fast_len,
                                  id=file.removesuffix(".rasp"), marks=marks))
    return cases


@pytest.mark.parametrize("file, sop, vocab, max_len", _example_cases(slow=False))
def test_example_compiles_and_matches_interpreter_on_every_short_input(file, sop, vocab,
                                                                       max_len):
    program = rasp.load(EXAMPLES_DIR / file)
    model = compiler.compile(program, sop, vocab, max_len, verify=False)
    assert_matches_exhaustively(program, sop, model, vocab, max_len)


@pytest.mark.parametrize("file, sop, vocab, max_len", _example_cases(slow=True))
def test_example_matches_interpreter_on_every_longer_input(file, sop, vocab, max_len):
    program = rasp.load(EXAMPLES_DIR / file)
    model = compiler.compile(program, sop, vocab, max_len, verify=False)
    assert_matches_exhaustively(program, sop, model, vocab, max_len)


@pytest.mark.parametrize("file", sorted(UNCOMPILABLE), ids=lambda f: f.removesuffix(".rasp"))
def test_uncompilable_example_is_refused_with_a_located_error(file):
    sop, vocab, max_len, line = UNCOMPILABLE_CASES[file]
    program = rasp.load(EXAMPLES_DIR / file)
    with pytest.raises(compiler.CompileError) as caught:
        compiler.compile(program, sop, vocab, max_len)
    error = caught.value
    assert isinstance(error, rasp.RaspError)
    assert error.span.file.endswith(file) and error.span.line == line, str(error)
    assert error.span.column >= 1
    assert "averages several positions" in error.message and "0/1" in error.message
    assert error.hint and "indicator" in error.hint


def test_max_token_compiles_over_binary_tokens():
    program = rasp.load(EXAMPLES_DIR / "max_token.rasp")
    model = compiler.compile(program, "max_token", [0, 1], 8, verify=False)
    assert_matches_exhaustively(program, "max_token", model, [0, 1], 8)


def test_the_compilable_variant_of_max_token_compiles_exactly():
    program = rasp.load(EXAMPLES_DIR / "max_token.rasp")
    model = compiler.compile(program, "first_max_token", [0, 2, 7], 5, verify=False)
    assert_matches_exhaustively(program, "first_max_token", model, [0, 2, 7], 5)


def test_compile_with_verification_accepts_a_correct_model():
    program = rasp.load(EXAMPLES_DIR / "reverse.rasp")
    model = compiler.compile(program, "reverse", "abc", 6)
    assert model.verified_inputs > 0
    assert model.run(["abc", "cab", "a"]) == [list("cba"), list("bac"), ["a"]]


# -------------------------------------------------------------------- length


@pytest.mark.parametrize("source, sop", [
    ("n = length + 0;", "n"),
    ("n = length;", "n"),
    ((EXAMPLES_DIR / "length.rasp").read_text(), "seq_length"),
], ids=["length_plus_0", "length", "length_example"])
def test_length_is_exact_for_every_length_up_to_50(source, sop):
    # tracr's default mlp_exactness=100 reports lengths of 10 and more wrongly.
    program, model = compile_source(source, sop, "ab", 50)
    rng = random.Random(0)
    inputs = [[rng.choice("ab") for _ in range(n)] for n in range(1, 51)]
    inputs += [["a"] * n for n in range(1, 51)]
    outputs = model.run(inputs)
    for tokens, output in zip(inputs, outputs):
        assert output == [len(tokens)] * len(tokens), f"length {len(tokens)}: {output}"
    assert outputs == program.run(sop, inputs)


def test_reverse_is_exact_at_max_seq_len_30_on_random_inputs():
    program = rasp.load(EXAMPLES_DIR / "reverse.rasp")
    model = compiler.compile(program, "reverse", "abcd", 30)
    rng = random.Random(1)
    inputs = [[rng.choice("abcd") for _ in range(rng.randint(1, 30))] for _ in range(300)]
    inputs += [list("abcd" * 8)[:30]]
    assert model.run(inputs) == [tokens[::-1] for tokens in inputs]


# ------------------------------------------------------------------- batching


@pytest.mark.parametrize("file, sop, vocab", [
    ("sort.rasp", "sort_tokens", "abcd"),          # categorical output
    ("frac_prevs.rasp", "frac_prevs", "xab"),      # numerical output
], ids=["sort", "frac_prevs"])
def test_batch_of_1024_mixed_length_inputs_equals_running_each_alone(file, sop, vocab):
    program = rasp.load(EXAMPLES_DIR / file)
    model = compiler.compile(program, sop, vocab, 8)
    rng = random.Random(2)
    inputs = [[rng.choice(vocab) for _ in range(rng.randint(1, 8))] for _ in range(1024)]
    batched = model.run(inputs)
    assert [len(out) for out in batched] == [len(tokens) for tokens in inputs]
    assert batched == [model.run([tokens])[0] for tokens in inputs]
    assert all(outputs_equal(want, got)
               for want, got in zip(program.run(sop, inputs), batched))


def test_batch_result_does_not_depend_on_the_other_inputs_of_the_batch():
    program = rasp.load(EXAMPLES_DIR / "frac_prevs.rasp")
    model = compiler.compile(program, "frac_prevs", "xa", 10)
    probe = list("xaxx")
    short_company = model.run([probe, ["a"]])[0]
    long_company = model.run([probe, list("x" * 10), list("axaxaxaxax")])[0]
    assert short_company == long_company == model.run([probe])[0]


# ------------------------------------------------------------------ refusals


def test_mean_of_non_binary_values_is_refused_at_the_aggregate():
    error = refusal("\nx = aggregate(select(indices, indices, <=), tokens_int);",
                    "x", [1, 2, 3], 4)
    assert isinstance(error, rasp.RaspError)
    assert_located(error, "test.rasp", 2, 5)
    assert "averages several positions" in error.message
    assert "0/1" in error.message and "{1, 2, 3}" in error.message
    assert "indicator" in error.hint and "at most one position" in error.hint


def test_numerical_mean_with_a_nonzero_default_is_refused():
    error = refusal('x = aggregate(select(indices, indices, <), indicator(tokens == "a"), 1);',
                    "x", "ab", 4)
    assert_located(error, "test.rasp", 1, 5)
    assert "default must be 0" in error.message and "not 1" in error.message
    assert "default 0" in error.hint and "ternary" in error.hint


def test_numerical_mean_with_default_0_compiles():
    check_source('x = aggregate(select(indices, indices, <), indicator(tokens == "a"), 0);',
                 "x", "ab", 6)


def test_causal_compile_of_a_program_reading_later_positions_names_the_select():
    error = refusal("x = aggregate(select(indices, length - indices - 1, ==), tokens);",
                    "x", "ab", 4, causal=True)
    assert_located(error, "test.rasp", 1, 15)
    assert "select(indices" in error.message and "later positions" in error.message
    assert "not causal" in error.message
    assert "select(indices, indices, <=)" in error.hint


def test_causal_compile_names_the_half_of_a_composite_selector_that_looks_ahead():
    error = refusal("s = select(indices, 0, ==) or select(indices, indices, >);\n"
                    "x = selector_width(s);", "x", "ab", 4, causal=True)
    assert_located(error, "test.rasp", 1, 31)
    assert "select(indices, indices, >)" in error.message


def test_causal_compile_refuses_length():
    error = refusal("x = length + 1;", "x", "ab", 4, causal=True)
    assert "`length`" in error.message and "causal" in error.message
    assert error.hint and "causal=True" in error.hint


def test_causal_refusal_of_length_points_at_the_use_of_length():
    # `length` is a library primitive without a place in the program: the refusal points at
    # the expression that uses it.
    error = refusal("x = 1;\ny = length + 1;", "y", "ab", 4, causal=True)
    assert error.span.file == "test.rasp" and error.span.line == 2


def test_causal_safe_prefix_count_compiles_with_causal_and_matches():
    source = ('up_to_self = select(indices, indices, <=);\n'
              'n_a = selector_width(select(tokens, "a", ==) and up_to_self);\n'
              'frac = aggregate(up_to_self, indicator(tokens == "a"));\n'
              'x = n_a + 0;')
    model = check_source(source, "x", "ab", 8, causal=True)
    assert model.causal
    check_source(source, "frac", "ab", 8, causal=True)


def test_causal_model_output_on_a_prefix_does_not_depend_on_later_tokens():
    source = 'x = selector_width(select(tokens, "a", ==) and select(indices, indices, <=));'
    _, model = compile_source(source, "x", "ab", 6, causal=True)
    for tokens in all_inputs("ab", 6, min_len=6)[::7]:
        full = model.run([tokens])[0]
        for cut in range(1, 6):
            assert model.run([tokens[:cut]])[0] == full[:cut]


@pytest.mark.parametrize("vocab", ["", [], ()], ids=["empty_string", "empty_list", "empty_tuple"])
def test_empty_vocabulary_is_refused(vocab):
    error = refusal('x = tokens == "a";', "x", vocab, 4)
    assert "vocabulary is empty" in error.message and error.hint


@pytest.mark.parametrize("reserved", ["compiler_bos", "compiler_pad"])
def test_reserved_token_in_vocabulary_is_refused(reserved):
    error = refusal('x = tokens == "a";', "x", ["a", reserved], 4)
    assert reserved in error.message and "reserved" in error.message


def test_max_seq_len_0_is_refused():
    error = refusal('x = tokens == "a";', "x", "ab", 0)
    assert "max_seq_len" in error.message and "0" in error.message


def test_vocabulary_mixing_token_types_is_refused():
    program = rasp.loads("x = tokens_asis == 1;")
    with pytest.raises(rasp.RaspError, match="mix token types"):
        compiler.compile(program, "x", [1, "a"], 4)


@pytest.mark.parametrize("source, vocab", [
    ("x = aggregate(select(indices, length - indices - 1, ==), tokens);", [1, 2, 3]),
    ("x = aggregate(select(indices, length - indices - 1, ==), tokens_int);", [1, 2, 3]),
    ("x = tokens_int + 1;", ["1", "2"]),
    ("x = tokens_bool and (indices > 0);", [True, False]),
    ("x = aggregate(select(indices, 0, ==), tokens_float);", [0.5, 1.5]),
], ids=["ints_as_strings", "ints", "digit_strings_as_ints", "booleans", "floats"])
def test_vocabularies_of_numbers_booleans_and_digit_strings_compile(source, vocab):
    check_source(source, "x", vocab, 4)


def test_unknown_sop_name_is_a_rasp_error():
    program = rasp.loads('x = tokens == "a";')
    with pytest.raises(rasp.RaspError, match="defines no s-op `y`"):
        compiler.compile(program, "y", "ab", 4)


@pytest.fixture(scope="module")
def small_model() -> compiler.CompiledModel:
    program = rasp.loads("x = aggregate(select(indices, indices, ==), tokens);")
    return compiler.compile(program, "x", "ab", 4)


def test_empty_input_gives_an_empty_output_and_an_empty_batch_gives_nothing(small_model):
    assert small_model.run(["", "ab"]) == [[], ["a", "b"]]
    assert small_model.run([]) == []


def test_running_on_a_token_outside_the_vocabulary_raises(small_model):
    with pytest.raises(rasp.RaspError) as caught:
        small_model.run(["abc"])
    assert "'c'" in str(caught.value) and "vocabulary" in str(caught.value)


def test_running_on_an_input_longer_than_max_seq_len_raises(small_model):
    with pytest.raises(rasp.RaspError) as caught:
        small_model.run(["ab", "ababa"])
    message = str(caught.value)
    assert "length 5" in message and "max_seq_len 4" in message
    assert caught.value.hint and "5" in caught.value.hint


def test_running_on_the_reserved_bos_token_raises(small_model):
    with pytest.raises(rasp.RaspError, match="vocabulary"):
        small_model.run([["a", "compiler_bos"]])


def test_a_numeric_vocabulary_does_not_accept_strings_that_look_like_numbers():
    _, model = compile_source("x = tokens_int + 1;", "x", [1, 2], 3)
    assert model.run([[1, 2]]) == [[2, 3]]
    with pytest.raises(rasp.RaspError, match="vocabulary"):
        model.run([["1", "2"]])


@pytest.mark.parametrize("source, vocab", [
    ("x = tokens;", "ab"),
    ("x = indices;", "ab"),
    ("x = tokens_int;", [1, 2]),
], ids=["tokens", "indices", "tokens_int"])
def test_an_input_sop_compiles_to_the_identity(source, vocab):
    # a model with no layers: the embedding read back by the unembedding
    check_source(source, "x", vocab, 4)


# --------------------------------------------------------- composite selectors


@pytest.mark.parametrize("source", [
    # and: same token at an earlier position
    "s = select(tokens, tokens, ==) and select(indices, indices, <);\n"
    "x = selector_width(s);",
    "s = select(tokens, tokens, ==) and select(indices, indices, <);\n"
    "x = aggregate(s, indicator(tokens == \"a\"));",
    # or of different s-ops on each side
    "s = select(tokens, \"a\", ==) or select(indices, indices, ==);\n"
    "x = selector_width(s);",
    # not
    "s = not select(tokens, tokens, ==);\nx = selector_width(s);",
    "s = not (select(tokens, tokens, ==) or select(indices, 0, ==));\n"
    "x = aggregate(s, indicator(tokens == \"b\"));",
    # mixed s-ops: keys and queries differ on each side
    "s = select(indices, length - indices - 1, ==) and select(tokens, tokens, !=);\n"
    "x = aggregate(s, tokens, \"-\");",
    "s = select(indices + 1, indices, ==) or select(indices, length - 1, ==);\n"
    "x = selector_width(s) + 0;",
    # nested and/or/not of three selects
    "s = (select(tokens, tokens, <) or select(indices, indices, >=)) and "
    "not select(tokens, \"c\", ==);\nx = selector_width(s);",
], ids=["and_width", "and_mean", "or_width", "not_width", "not_or_mean",
        "mixed_and_single", "mixed_or_width", "nested"])
def test_composite_selector_compiles_and_matches(source):
    check_source(source, "x", "abc", 5)


def test_composite_selector_in_a_single_position_aggregate_reads_the_selected_value():
    # the next occurrence of the same token, `-` where there is none
    source = ("n_prev = selector_width(select(tokens, tokens, ==) and "
              "select(indices, indices, <));\n"
              "nxt = select(tokens, tokens, ==) and select(n_prev, n_prev + 1, ==);\n"
              "x = aggregate(nxt, indices, -1);")
    check_source(source, "x", "abc", 5)


# ------------------------------------------------------------- encoding hints


@pytest.mark.parametrize("source, vocab", [
    ("x = numerical(indicator(tokens == \"a\"));", "ab"),
    ("x = categorical(indicator(tokens == \"a\"));", "ab"),
    ("x = numerical(tokens_int) + 1;", [1, 2, 3]),
    ("x = categorical(aggregate(select(indices, indices, <=), "
     "indicator(tokens == \"a\")));", "ab"),
    ("f = numerical(aggregate(select(indices, indices, <=), indicator(tokens == \"a\")));\n"
     "x = f > 0.5;", "ab"),
    ("c = categorical(selector_width(select(tokens, tokens, ==)));\n"
     "x = aggregate(select(c, 1, ==), indicator(tokens == \"a\"));", "abc"),
], ids=["numerical_indicator", "categorical_indicator", "numerical_tokens_int",
        "categorical_mean", "numerical_mean_compared", "categorical_width_as_key"])
def test_encoding_hints_are_identity_and_the_model_matches(source, vocab):
    program = rasp.loads(source)
    unhinted = rasp.loads(source.replace("numerical(", "(").replace("categorical(", "("))
    inputs = all_inputs(vocab, 4)
    assert program.run("x", inputs) == unhinted.run("x", inputs)
    check_source(source, "x", vocab, 5)


def test_hint_changes_the_encoding_the_model_uses():
    _, numerical = compile_source('x = numerical(indicator(tokens == "a"));', "x", "ab", 3)
    _, categorical = compile_source('x = categorical(indicator(tokens == "a"));', "x", "ab", 3)
    assert numerical.output_encoding == "numerical"
    assert categorical.output_encoding == "categorical"


def test_numerical_hint_on_strings_is_refused():
    error = refusal('y = tokens + "x";\nx = numerical(y);', "x", "ab", 3)
    assert error.span.file == "test.rasp"
    assert "needed as a number" in error.message and "'ax'" in error.message


@pytest.mark.parametrize("source", ['y = tokens + "x";\nx = numerical(y);',
                                    "y = 1;\nx = numerical(tokens);"], ids=["sop", "tokens"])
def test_numerical_hint_on_strings_is_refused_at_the_hint_with_a_rewrite(source):
    # the hint's own check runs before the hinted s-op is lowered, so the refusal points at
    # `numerical(...)` (also for `tokens`, a primitive without a place of its own)
    error = refusal(source, "x", "ab", 3)
    assert_located(error, "test.rasp", 2, 5)
    assert error.hint


# ---------------------------------------------------------- aggregate defaults


@pytest.mark.parametrize("source, vocab", [
    ('x = shift(tokens, 1, "-");', "abc"),
    ('x = shift(tokens, 2, "z");', "abc"),
    ("x = shift(indices, 1, 7);", "ab"),
    ('x = aggregate(select(tokens, "a", ==) and select(indices, 0, ==), tokens, "none");', "ab"),
    ("x = aggregate(select(indices, indices + 1, ==), tokens_int, 0);", [1, 2]),
    ("x = aggregate(select(indices, indices - 1, ==), tokens_int, 5);", [1, 2]),
], ids=["shift_1", "shift_2", "shift_indices", "first_a_or_none", "next_default_0",
        "previous_default_5"])
def test_categorical_aggregate_default_fills_positions_that_select_nothing(source, vocab):
    check_source(source, "x", vocab, 6)


def test_shift_fills_with_the_default_on_a_known_input():
    _, model = compile_source('x = shift(tokens, 1, "-");', "x", "abc", 5)
    assert model.run(["abc", "a"]) == [["-", "a", "b"], ["-"]]


# ------------------------------------------------------------ model summary


@pytest.mark.parametrize("file, sop, vocab, max_len", [
    ("reverse.rasp", "reverse", "abc", 6),
    ("histogram.rasp", "hist", "abc", 6),
    ("dyck1.rasp", "dyck1", "()", 8),
    ("frac_prevs.rasp", "frac_prevs", "xa", 6),
], ids=["reverse", "histogram", "dyck1", "frac_prevs"])
def test_model_summary_fields_are_sane(file, sop, vocab, max_len):
    program = rasp.load(EXAMPLES_DIR / file)
    model = compiler.compile(program, sop, vocab, max_len)
    assert model.num_layers >= 1
    heads = model.heads_per_layer()
    assert len(heads) == model.num_layers and all(h >= 0 for h in heads)
    assert sum(heads) >= 1
    assert model.parameter_count() > 0
    assert model.residual_width > 0
    assert model.max_seq_len == max_len and model.sop == sop
    description = "\n".join(model.layout.describe(model.num_layers))
    assert sop in description
    assert set(model.vocab) == set(vocab)


def test_layout_names_the_intermediate_sops_it_computes():
    program = rasp.load(EXAMPLES_DIR / "dyck1.rasp")
    model = compiler.compile(program, "dyck1", "()", 6)
    description = "\n".join(model.layout.describe(model.num_layers))
    for name in ("_balance", "_prev_imbalances", "dyck1"):
        assert name in description, description
    assert any(line.startswith("layer 0 ") for line in description.splitlines())


def test_select_reads_an_offset_index_through_indices_and_the_default_fill_shares_its_layer():
    # `shift` selects on `indices + 1`: the predicate adds the 1, so no MLP computes it and
    # the aggregate and its default fill make one layer
    _, model = compile_source('x = shift(tokens, 1, "-");', "x", "abc", 5)
    assert model.num_layers == 1
    assert model.run(["abc"]) == [["-", "a", "b"]]


def test_an_mlp_reads_an_aggregate_that_selected_nothing_as_its_default():
    # `==` reads the shifted tokens itself: no layer for a default fill
    model = check_source('x = shift(tokens, 1, "a") == tokens;', "x", "ab", 5)
    assert model.num_layers == 1


def test_heads_per_layer_counts_parallel_heads():
    source = ('a = selector_width(select(tokens, "a", ==));\n'
              'b = selector_width(select(tokens, "b", ==));\n'
              "x = a + b;")
    _, model = compile_source(source, "x", "ab", 4)
    assert model.heads_per_layer()[0] == 2
    assert model.run(["aab"]) == [[3, 3, 3]]


# ------------------------------------------------- compiler bugs, fixed (regressions)
#
# The BOS position must hold exactly `one + bos` after every layer: tracr's attention selects
# BOS (value 0) only where a query selects nothing, and MLPs reading `one` used to write there.


@pytest.mark.parametrize("source", [
    'f = aggregate(select(tokens, "a", ==), 1) > 0;\n'
    "x = selector_width(select(f, False, ==));",
    'f = aggregate(select(tokens, "a", ==), 1) > 0;\n'
    'x = aggregate(select(f, False, ==), indicator(tokens == "b"));',
    'g = numerical(indicator(tokens == "a")) + 0;\n'
    "x = selector_width(select(g, 0, ==));",
], ids=["has_focus_width", "has_focus_mean", "numerical_plus_0"])
def test_categorical_key_written_at_bos_is_not_selected_by_mistake(source):
    # Minimal: on input "b", f is False, so the selector selects position 0; the
    # interpreter says 1 (resp. 1.0); the model said 0 (resp. 0.0) when f's MLP wrote
    # False at BOS too and the head selected BOS as a key.
    check_source(source, "x", "ab", 3)


@pytest.mark.parametrize("source", [
    # shifting twice with different fillers: on "ab" the interpreter gives [a, z]; the model
    # gave [a, -] (the first shift's filler, written at BOS by its default fill)
    'y = shift(tokens, 1, "-");\n'
    'x = aggregate(select(indices, indices + 1, ==), y, "z");',
    # numerical: g was 1 at BOS; on "a" position 0 selects nothing: interpreter 0, model 1.0
    'g = 1 - numerical(indicator(tokens == "a"));\n'
    "x = aggregate(select(indices, indices, <) or select(indices, length, ==), g);",
    # categorical bool: f was False at BOS, and the default True was never seen
    'f = aggregate(select(tokens, "a", ==), 1) > 0;\n'
    "x = aggregate(select(indices, indices + 1, ==), f, True);",
], ids=["double_shift", "numerical_mean_default", "bool_default"])
def test_aggregate_with_empty_selection_gives_its_default_after_an_mlp_wrote_at_bos(source):
    check_source(source, "x", "ab", 4)


@pytest.mark.parametrize("source, sop, vocab", [
    ((EXAMPLES_DIR / "copy.rasp").read_text(), "copy", "abcdefgh"),
    ('x = shift(tokens, 1, "-");', "x", "abcdefgh"),
    ("x = aggregate(select(indices, indices, ==), indices - length);", "x", "ab"),
], ids=["copy", "shift", "indices_minus_length"])
def test_aggregate_of_a_value_with_more_values_than_positions_compiles(source, sop, vocab):
    # tracr sizes heads by their query/key spaces alone: assembly crashed with "could not
    # broadcast (22,8) into (22,5)" where the value space was wider
    program = rasp.loads(source)
    model = compiler.compile(program, sop, vocab, 3, verify=False)
    assert_matches_exhaustively(program, sop, model, vocab, 3)


@pytest.mark.parametrize("source, vocab", [
    ("x = numerical(indices - 2);", "ab"),           # on "a": interpreter [-2], model [0]
    ("x = numerical(-indices) + 1;", "ab"),
    ("x = numerical(tokens_int - 2);", "01"),        # on "0": interpreter [-2], model [-1]
], ids=["indices_minus_2", "negated_indices_plus_1", "tokens_int_minus_2"])
def test_numerical_hint_on_negative_values_is_exact(source, vocab):
    # tracr's categorical-to-numerical MLP has the value itself as its one hidden unit, which
    # the ReLU clipped to 0 (the comments give what the model said)
    check_source(source, "x", vocab, 3)


def test_numerical_hint_on_nonnegative_values_is_exact():
    check_source("x = numerical(indices + 1) * 2;", "x", "ab", 4)


def test_numerical_difference_of_means_has_no_float_near_duplicates():
    # found by tracr's shuffle_dyck: `o - c` computed in floating point gives one number two
    # nearby values (-0.2333333333333334, -0.23333333333333336); kept apart, the MLP slope
    # that separates them was ~1e17 and `neg` was wrong (e.g. on "()")
    source = ('o = numerical(aggregate(select(indices, indices, <=), '
              'numerical(indicator(tokens == "(")), 0));\n'
              'c = numerical(aggregate(select(indices, indices, <=), '
              'numerical(indicator(tokens == ")")), 0));\n'
              "x = numerical(o - c) < 0;")
    model = check_source(source, "x", "()", 6)
    assert model.mlp_exactness < 1e4


def test_compile_with_verification_refuses_a_wrong_model_instead_of_returning_it(monkeypatch):
    # a wrong model, made by swapping two output dimensions of a correct one's unembedding
    def swapped_outputs(*args, **kwargs):
        weights = assemble(*args, **kwargs)
        weights.unembed = weights.unembed[:, ::-1].copy()
        return weights

    # `compiler.compile` is the function; the module is in sys.modules
    monkeypatch.setattr(sys.modules["compiler.compile"], "assemble", swapped_outputs)
    program = rasp.loads('f = aggregate(select(tokens, "a", ==), 1) > 0;\n'
                         "x = selector_width(select(f, False, ==));")
    with pytest.raises(compiler.CompileError, match="disagrees with the interpreter"):
        compiler.compile(program, "x", "ab", 3)


def test_refusal_points_into_the_compiled_program_even_if_another_built_the_same_node():
    other = rasp.load(EXAMPLES_DIR / "reverse.rasp")  # builds the same select as `_flip`
    error = refusal("\n\nx = aggregate(select(indices, length - indices - 1, ==), tokens);",
                    "x", "ab", 4, causal=True)
    assert other.sops()
    assert_located(error, "test.rasp", 3, 15)
    assert "_flip" not in error.message


def test_a_name_one_program_gives_a_primitive_does_not_rename_it_in_another():
    first = rasp.loads("out = indices;\nwhere = length - indices;", filename="first.rasp")
    error = refusal("x = aggregate(select(indices, length - indices - 1, ==), tokens);",
                    "x", "ab", 4, causal=True)
    assert first.sops() == ["out", "where"]
    assert "`select(indices, " in error.message and "out" not in error.message


def test_compiling_the_same_program_twice_gives_identical_weights():
    # tracr labels expressions `name_<process-wide counter>` and sorts the residual by label
    program = rasp.load(EXAMPLES_DIR / "sort.rasp")
    first = compiler.compile(program, "sort_tokens", "abc", 5, verify=False)
    second = compiler.compile(program, "sort_tokens", "abc", 5, verify=False)
    assert first.weights.residual_labels == second.weights.residual_labels
    for one, other in zip(first.weights.layers, second.weights.layers):
        for name in one:
            assert np.array_equal(one[name], other[name]), name


def test_weights_do_not_depend_on_the_process_string_hash_seed():
    # value sets are sets: tracr is given them in a fixed order, not in hash order
    script = ("import hashlib, sys, compiler, rasp\n"
              "m = compiler.compile(rasp.load(sys.argv[1]), 'sort_by_freq', 'abc', 4, "
              "verify=False)\n"
              "h = hashlib.sha256('|'.join(m.weights.residual_labels).encode())\n"
              "for layer in m.weights.layers:\n"
              "    for name in sorted(layer): h.update(layer[name].tobytes())\n"
              "print(h.hexdigest())")
    program = str(EXAMPLES_DIR / "sort_by_freq.rasp")
    digests = {subprocess.run([sys.executable, "-c", script, program],
                              env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
                              text=True, check=True).stdout for seed in ("1", "2")}
    assert len(digests) == 1


def test_compiling_the_same_program_twice_gives_equivalent_models():
    program = rasp.load(EXAMPLES_DIR / "sort.rasp")
    first = compiler.compile(program, "sort_tokens", "abc", 5, verify=False)
    second = compiler.compile(program, "sort_tokens", "abc", 5, verify=False)
    assert first.parameter_count() == second.parameter_count()
    assert first.heads_per_layer() == second.heads_per_layer()
    inputs = all_inputs("abc", 5)
    assert first.run(inputs) == second.run(inputs)
