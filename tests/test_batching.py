"""Batched evaluation gives each input exactly the answer it gets alone, and programs mean
what they say.

`Program.run` groups inputs by length and evaluates each group in chunks; none of that may
leak into the answers. For every example program (and a few programs of the shared table),
a random batch of inputs of mixed lengths 0..12, over an alphabet the program is meant for,
must give exactly (`==`) the outputs of evaluating each input on its own, also for batches
larger than the evaluator's chunk size. Then algebraic properties of the paper's programs
are checked against plain Python.
"""

from __future__ import annotations

import platform
import random
import resource
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rasp
from rasp import evaluate, ops
from rasp.heap import keep_freed_memory

from cases import ADDITION, DYCK1_PAPER, DYCKK, HIST_BOS, REVERSE, SORT_BY_FREQ

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MAX_LENGTH = 12
CHUNK = getattr(evaluate, "_CHUNK", 128)

FAST = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(max_examples=3, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROPERTY = settings(max_examples=100, deadline=None)


# ------------------------------------------------------------------ inputs per program


def text(alphabet: str, min_size: int = 0) -> st.SearchStrategy:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=MAX_LENGTH)


def digit_lists() -> st.SearchStrategy:
    return st.lists(st.integers(0, 9), max_size=MAX_LENGTH)


def additions() -> st.SearchStrategy:
    """ "a+b" with a and b of 1..5 digits (at most 11 tokens), or the empty input."""
    digits = st.text(alphabet="0123456789", min_size=1, max_size=5)
    return st.just("") | st.builds(lambda a, b: f"{a}+{b}", digits, digits)


def with_bos(alphabet: str) -> st.SearchStrategy:
    return st.builds(lambda body: "$" + body, st.text(alphabet, max_size=MAX_LENGTH - 1))


# Files (relative to examples/) that need a particular kind of input; the rest take letters.
INPUTS: dict[str, Callable[[], st.SearchStrategy]] = {
    "addition.rasp": additions,
    "dyck1.rasp": lambda: text("()"),
    "dyck2.rasp": lambda: text("(){}"),
    "parity.rasp": lambda: text("01"),
    "frac_prevs.rasp": lambda: text("xab"),
    "max_token.rasp": digit_lists,
    "sort_unique.rasp": digit_lists,
    "tracr_lib/frac_prevs.rasp": lambda: text("xab"),
    "tracr_lib/detect_pattern.rasp": lambda: text("abc"),
    "tracr_lib/pair_balance.rasp": lambda: text("()a"),
    "tracr_lib/shuffle_dyck.rasp": lambda: text("()a"),
    "tracr_lib/shuffle_dyck2.rasp": lambda: text("(){}a"),
    "tracr_lib/sort.rasp": digit_lists,
    "tracr_lib/sort_unique.rasp": digit_lists,
}


def _example_programs() -> list:
    params = []
    for path in sorted(EXAMPLES.rglob("*.rasp")):
        relative = path.relative_to(EXAMPLES).as_posix()
        program = rasp.load(path)
        inputs = INPUTS.get(relative, lambda: text("abcd"))
        for sop in program.sops():
            # The published count's 163-number table makes its batches slow (15 s), the
            # suite's count 6 s; both in the slow run.
            marks = pytest.mark.slow if relative in ("published/count.rasp",
                                                     "suite/count.rasp") else ()
            params.append(pytest.param(program, sop, inputs, id=f"{relative}:{sop}",
                                       marks=marks))
    return params


def _table_programs() -> list:
    table = [
        (ADDITION, "sum_digits", additions),
        (DYCK1_PAPER, "dyck1", lambda: text("()")),
        (DYCKK, "dyck2", lambda: text("(){}")),
        (DYCKK, "dyck3", lambda: text("(){}[]")),
        (HIST_BOS, "hist_bos", lambda: with_bos("abc")),
        (SORT_BY_FREQ, "by_freq", lambda: text("abc")),
    ]
    return [pytest.param(rasp.loads(source), sop, inputs, id=f"table:{sop}")
            for source, sop, inputs in table]


PROGRAMS = _example_programs() + _table_programs()


def test_every_example_program_is_covered():
    assert len([p for p in PROGRAMS if not p.id.startswith("table:")]) >= 20


# ------------------------------------------------------------------ batch == one by one


def _alone(program: rasp.Program, sop: str, inputs: list) -> list:
    """Each input evaluated on its own; an input that fails gives its error's type. An input
    that repeats is evaluated once (the large batches draw hundreds from a pool of 20-40)."""
    answers: dict[str, object] = {}
    for tokens in inputs:
        key = repr(tokens)   # tells "ab" from ["a", "b"], 1 from 1.0 and from True
        if key not in answers:
            try:
                [answers[key]] = program.run(sop, [tokens])
            except rasp.RaspError as error:
                answers[key] = type(error)
    return [answers[repr(tokens)] for tokens in inputs]


def kinds(values: list) -> list[str]:
    """The type of each value: `==` alone would let True pass for 1, and 1.0 for 1."""
    return [type(v).__name__ for v in values]


def assert_batch_equals_alone(program: rasp.Program, sop: str, inputs: list) -> None:
    alone = _alone(program, sop, inputs)
    if any(isinstance(r, type) for r in alone):
        with pytest.raises(rasp.RaspError):
            program.run(sop, inputs)
        return
    batched = program.run(sop, inputs)
    assert len(batched) == len(inputs)
    for tokens, got, expected in zip(inputs, batched, alone):
        assert got == expected, f"input {tokens!r}: batched {got!r}, alone {expected!r}"
        assert kinds(got) == kinds(expected), f"input {tokens!r}: {got!r} vs {expected!r}"


@pytest.mark.parametrize("program, sop, inputs", PROGRAMS)
def test_batch_gives_each_input_its_own_answer(program, sop, inputs):
    @FAST
    @given(batch=st.lists(inputs(), min_size=1, max_size=30))
    def check(batch):
        assert_batch_equals_alone(program, sop, batch)
    check()


@pytest.mark.parametrize("program, sop, inputs", PROGRAMS)
def test_batch_with_empty_inputs(program, sop, inputs):
    @FEW
    @given(batch=st.lists(inputs(), min_size=1, max_size=8))
    def check(batch):
        batch = ["", *batch, "", []]
        assert_batch_equals_alone(program, sop, batch)
        assert program.run(sop, [""]) == [[]]
    check()


@pytest.mark.parametrize("program, sop, inputs", PROGRAMS)
def test_batch_larger_than_a_chunk(program, sop, inputs):
    """More than two chunks of one length, and many inputs of mixed lengths, shuffled."""
    @FEW
    @given(pool=st.lists(inputs(), min_size=20, max_size=40), seed=st.integers(0, 2**32 - 1))
    def check(pool, seed):
        rng = random.Random(seed)
        same_length = [x for x in pool if len(x) == len(pool[0])]
        batch = [rng.choice(same_length) for _ in range(2 * CHUNK + 44)]
        batch += [rng.choice(pool) for _ in range(300)]
        rng.shuffle(batch)
        assert_batch_equals_alone(program, sop, batch)
    check()


def test_empty_batch_gives_no_outputs():
    program = rasp.loads(REVERSE)
    assert program.run("reverse", []) == []


def test_inputs_of_other_types_in_the_batch_do_not_interfere():
    program = rasp.loads("out = tokens_str;\n")
    batch = ["ab", [1, 2], [1.5, 2], [True, False], "cd"]
    assert program.run("out", batch) == [["a", "b"], ["1", "2"], ["1.5", "2.0"],
                                         ["True", "False"], ["c", "d"]]


@FAST
@given(batch=st.lists(st.lists(st.sampled_from(["", "a", "b", "ab", "ba", "abc", "\x00"]),
                               max_size=4), min_size=1, max_size=8))
def test_token_lists_read_as_their_strings_in_any_batch(batch):
    # Lists of strings of one width are joined to one string per row on the way in; rows of
    # several widths (or empty strings) are not: either way, every token reads as itself.
    program = rasp.loads('out = tokens;\nsame = aggregate(select(tokens, tokens, ==), indices);\n')
    for sop in ("out", "same"):
        batched = program.run(sop, batch)
        assert batched == [program.run(sop, [row])[0] for row in batch]
    assert program.run("out", [["000", "012"], ["123", "000"]]) == [["000", "012"],
                                                                    ["123", "000"]]


def test_aggregating_a_constant_int_keeps_the_mean_s_types():
    # A constant int v is summed as count * v, not by the selector product: one selected
    # position gives the int, several its mean (a float), none the default.
    program = rasp.loads("""
const = aggregate(select(indices, indices, <=) and select(tokens, "a", ==), 3, 0);
computed = aggregate(select(indices, indices, <=) and select(tokens, "a", ==), indices * 0 + 3, 0);
focus = has_focus(select(tokens, "a", ==) and select(indices, indices, <));
""")
    [const] = program.run("const", ["baab"])
    assert const == [0, 3, 3.0, 3.0] and kinds(const) == ["int", "int", "float", "float"]
    assert program.run("const", ["baab", "aab"]) == program.run("computed", ["baab", "aab"])
    assert kinds(program.run("const", ["aab"])[0]) == kinds(program.run("computed", ["aab"])[0])
    assert program.run("focus", ["baab"]) == [[False, False, True, True]]


def test_selectors_of_indices_or_constants_equal_the_whole_comparison():
    # A select whose keys or queries repeat along an axis (indices, a constant) is compared
    # along the other axes only and broadcast: the same selector, and so the same outputs.
    program = rasp.loads("""
_fixed = select(indices, indices, <=);
_fixed_full = select(indices + 0, indices + 0, <=);
_against = select(tokens, "a", ==);
_against_full = select(tokens, "a" if tokens == tokens else "b", ==);
width = selector_width(_fixed and _against);
width_full = selector_width(_fixed_full and _against_full);
mean = aggregate(_against or not _fixed, indices, -1);
mean_full = aggregate(_against_full or not _fixed_full, indices, -1);
""")
    batch = ["", "a", "ba", "aab", "bbbb", "abab", "baaab"]
    for sop in ("width", "mean"):
        assert program.run(sop, batch) == program.run(f"{sop}_full", batch)
    rng = np.random.default_rng(0)
    for op in ("==", "<", "!="):
        keys = np.broadcast_to(np.arange(5), (3, 5))[:, None, :]
        queries = rng.integers(0, 5, (3, 5))[:, :, None]
        constant = np.broadcast_to(np.int64(2), (3, 5))[:, :, None]
        for k, q in ((keys, queries), (keys, constant), (queries.transpose(0, 2, 1), constant)):
            np.testing.assert_array_equal(evaluate._compared(op, k, q),
                                          ops.apply(op, k.copy(), q.copy()))


def test_long_selectors_compare_narrowed_ints_exactly():
    # From _NARROW_CELLS cells on, int operands are compared in the narrowest int type that
    # holds both: at every boundary of int8/int16/int32, and past them, nothing changes.
    rng = np.random.default_rng(1)
    rows, width = 4, 1 + int(np.sqrt(evaluate._NARROW_CELLS // 4))
    for low, high in ((-128, 127), (-129, 127), (0, 32768), (-2**31, 2**31 - 1),
                      (-2**40, 2**40), (2**62, 2**63 - 1)):
        keys = rng.integers(low, high, (rows, width), endpoint=True)
        queries = keys[:, ::-1].copy()
        queries[0, 0], keys[0, 0] = low, high
        for op in ("==", "<", ">=", "!="):
            np.testing.assert_array_equal(
                evaluate._compared(op, keys[:, None, :], queries[:, :, None]),
                ops.apply(op, keys[:, None, :].copy(), queries[:, :, None].copy()))
    words = np.array([["ab", "b", "abc", "a"][i % 4] for i in range(rows * width)]).reshape(
        rows, width)
    np.testing.assert_array_equal(evaluate._compared("<", words[:, None, :], words[:, :, None]),
                                  ops.apply("<", words[:, None, :], words[:, :, None]))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_kept_freed_memory_spares_the_page_faults_of_large_selectors():
    # Each pass over 96 inputs of 50 tokens frees its [96, 50, 50] selectors; with the freed
    # memory kept, the next pass reuses those pages (without it: about 610 faults per pass).
    assert keep_freed_memory()
    program = rasp.load(EXAMPLES / "published" / "majority.rasp")
    rng = np.random.default_rng(0)
    rows = [[chr(97 + i) for i in rng.integers(0, 26, 48)] + ["|", "a"] for _ in range(96)]
    expected = program.run("majority", rows)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        assert program.run("majority", rows) == expected
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 100


def test_value_types_do_not_depend_on_the_batch():
    program = rasp.loads("out = aggregate(select(tokens, tokens, ==), indices);\n")
    [alone] = program.run("out", ["ab"])
    assert [type(v) for v in alone] == [int, int]
    [batched, _] = program.run("out", ["ab", "aa"])
    assert [type(v) for v in batched] == [int, int]


def test_max_token_example_types_do_not_depend_on_the_batch():
    program = rasp.load(EXAMPLES / "max_token.rasp")
    [alone] = program.run("max_token", [[5, 3]])
    [batched, _] = program.run("max_token", [[5, 3], [5, 5]])
    assert alone == batched == [5, 5]
    assert [type(v) for v in batched] == [type(v) for v in alone] == [int, int]


def test_negative_exponents_elsewhere_in_the_batch_do_not_make_floats():
    program = rasp.loads("out = 2 ^ (tokens_int - 1);\n")
    [alone] = program.run("out", [[1, 2]])
    [batched, other] = program.run("out", [[1, 2], [0, 1]])
    assert alone == batched == [1, 2]
    assert [type(v) for v in batched] == [int, int]
    assert other == [0.5, 1] and [type(v) for v in other] == [float, int]


def test_ints_beside_floats_keep_their_types_through_operations():
    program = rasp.loads("""
share = aggregate(select(tokens, tokens, ==), indices);
out = round(share * 2) + (share - 1 if share > 0.6 else share / 4) * indices;
""")
    inputs = ["aab", "abc", "aaa", "abab"]
    alone = [program.run("out", [tokens])[0] for tokens in inputs]
    batched = program.run("out", inputs)
    for tokens, got, expected in zip(inputs, batched, alone):
        assert got == expected and kinds(got) == kinds(expected), tokens
    # "aab": share is [0.5, 0.5, 2], so out is [1 + 0.125 * 0, 1 + 0.125 * 1, 4 + 1 * 2]
    assert alone[0] == [1.0, 1.125, 6] and kinds(alone[0]) == ["float", "float", "int"]


# ------------------------------------------------------------------ properties of programs


def _program(source: str) -> rasp.Program:
    return rasp.loads(source)


SORTS = _program("""
sorted_tokens = sort(tokens, tokens);
order = sort(indices, tokens);
sorted_numbers = sort(tokens_int, tokens_int);
number_order = sort(indices, tokens_int);
""")
REVERSE_PROGRAM = _program(REVERSE)
HIST_PROGRAM = rasp.load(EXAMPLES / "histogram.rasp")
DYCK1_EXAMPLE = rasp.load(EXAMPLES / "dyck1.rasp")
DYCK1_TABLE = _program(DYCK1_PAPER)
DYCK2_EXAMPLE = rasp.load(EXAMPLES / "dyck2.rasp")
DYCKK_TABLE = _program(DYCKK)
ADDITION_PROGRAM = _program(ADDITION)
PARITY = rasp.load(EXAMPLES / "parity.rasp")
COUNTS = _program('count_a = count(tokens, "a");\nprefix_ones = round((indices + 1) * '
                  'aggregate(select(indices, indices, <=), indicator(tokens == "1")));\n')


@PROPERTY
@given(batch=st.lists(text("abcde"), min_size=1, max_size=10))
def test_sort_is_a_stable_sorted_permutation(batch):
    for tokens, got, order in zip(batch, SORTS.run("sorted_tokens", batch),
                                  SORTS.run("order", batch)):
        assert got == sorted(tokens)
        assert order == sorted(range(len(tokens)), key=lambda i: (tokens[i], i))


@PROPERTY
@given(batch=st.lists(st.lists(st.integers(-5, 5), max_size=MAX_LENGTH), min_size=1,
                      max_size=10))
def test_sort_of_numbers_is_a_stable_sorted_permutation(batch):
    for tokens, got, order in zip(batch, SORTS.run("sorted_numbers", batch),
                                  SORTS.run("number_order", batch)):
        assert got == sorted(tokens)
        assert order == sorted(range(len(tokens)), key=lambda i: (tokens[i], i))


@PROPERTY
@given(batch=st.lists(text("abcdxyz"), min_size=1, max_size=10))
def test_reverse_twice_is_the_identity(batch):
    once = REVERSE_PROGRAM.run("reverse", batch)
    assert once == [list(reversed(tokens)) for tokens in batch]
    twice = REVERSE_PROGRAM.run("reverse", once)
    assert twice == [list(tokens) for tokens in batch]


@PROPERTY
@given(batch=st.lists(text("abcd"), min_size=1, max_size=10))
def test_histogram_counts_each_token(batch):
    for tokens, hist in zip(batch, HIST_PROGRAM.run("hist", batch)):
        assert hist == [tokens.count(token) for token in tokens]
        assert sum(hist) == sum(n * n for n in Counter(tokens).values())


def dyck_reference(tokens: str, pairs: list[str]) -> list[str]:
    """Per prefix: F once broken (unmatched or mismatched closer), T if balanced, else P."""
    closer_of = {p[0]: p[1] for p in pairs}
    stack: list[str] = []
    broken = False
    answers = []
    for token in tokens:
        if not broken:
            if token in closer_of:
                stack.append(closer_of[token])
            elif stack and stack[-1] == token:
                stack.pop()
            else:
                broken = True
        answers.append("F" if broken else ("T" if not stack else "P"))
    return answers


def dyck1_reference(tokens: str) -> list[str]:
    """Per prefix: F if some prefix closed more than it opened, T if balanced, else P."""
    depth, ever_negative, answers = 0, False, []
    for token in tokens:
        depth += 1 if token == "(" else -1
        ever_negative = ever_negative or depth < 0
        answers.append("F" if ever_negative else ("T" if depth == 0 else "P"))
    return answers


def test_dyck_references_agree_on_dyck1():
    for n in range(9):
        for bits in range(2 ** n):
            tokens = "".join("()"[(bits >> i) & 1] for i in range(n))
            assert dyck_reference(tokens, ["()"]) == dyck1_reference(tokens)


@PROPERTY
@given(batch=st.lists(text("()"), min_size=1, max_size=10))
def test_dyck1_example_agrees_with_python(batch):
    assert DYCK1_EXAMPLE.run("dyck1", batch) == [dyck1_reference(t) for t in batch]


@PROPERTY
@given(batch=st.lists(text("()"), min_size=1, max_size=10))
def test_paper_dyck1_agrees_with_python(batch):
    assert DYCK1_TABLE.run("dyck1", batch) == [dyck1_reference(t) for t in batch]


@PROPERTY
@given(batch=st.lists(text("(){}"), min_size=1, max_size=10))
def test_dyck2_example_agrees_with_stack_checker(batch):
    expected = [dyck_reference(t, ["()", "{}"]) for t in batch]
    assert DYCK2_EXAMPLE.run("dyck2", batch) == expected


@PROPERTY
@given(batch=st.lists(text("(){}"), min_size=1, max_size=10))
def test_paper_dyck2_agrees_with_stack_checker(batch):
    expected = [dyck_reference(t, ["()", "{}"]) for t in batch]
    assert DYCKK_TABLE.run("dyck2", batch) == expected


@PROPERTY
@given(batch=st.lists(text("(){}[]"), min_size=1, max_size=10))
def test_paper_dyck3_agrees_with_stack_checker(batch):
    expected = [dyck_reference(t, ["()", "{}", "[]"]) for t in batch]
    assert DYCKK_TABLE.run("dyck3", batch) == expected


@PROPERTY
@given(batch=st.lists(text("01"), min_size=1, max_size=10))
def test_prefix_parity_agrees_with_python(batch):
    expected = [[tokens[:i + 1].count("1") % 2 for i in range(len(tokens))] for tokens in batch]
    assert PARITY.run("parity", batch) == expected


@PROPERTY
@given(batch=st.lists(text("01"), min_size=1, max_size=10))
def test_prefix_count_agrees_with_python(batch):
    expected = [[tokens[:i + 1].count("1") for i in range(len(tokens))] for tokens in batch]
    assert COUNTS.run("prefix_ones", batch) == expected


@PROPERTY
@given(batch=st.lists(text("abc"), min_size=1, max_size=10))
def test_count_agrees_with_python(batch):
    expected = [[tokens.count("a")] * len(tokens) for tokens in batch]
    assert COUNTS.run("count_a", batch) == expected


@PROPERTY
@given(a=st.integers(0, 99999), b=st.integers(0, 99999))
def test_addition_agrees_with_python(a, b):
    source = f"{a}+{b}"
    digits = [int(d) for d in str(a + b)]
    expected = [0] * (len(source) - len(digits)) + digits
    [got] = ADDITION_PROGRAM.run("sum_digits", [source])
    # the sum has at most one more digit than the longer operand, which fits before it
    assert got == expected[-len(source):]

