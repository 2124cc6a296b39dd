"""The suite's programs compiled at long lengths equal the interpreter on Hypothesis inputs.

Every program `bench/bench_compile_length.py` measures (the suite's configs: their
vocabulary and causal setting) is compiled at N, then compared with the interpreter on
inputs Hypothesis draws: any tokens of the vocabulary, and inputs shaped as the task's
(a prompt, the separator, a copy of the prompt's start, for the copies and the count; two
numbers around "+" for the additions), of lengths up to N, long ones favoured. The slow
test does this at N = 160 and 304 (the lengths of published experiments); the default run
at N = 24.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler
import rasp
from compiler.verify import compare

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_compile_length import PROGRAMS  # noqa: E402  (the one list of the suite's configs)

IDS = [name for name, *_ in PROGRAMS]


def inputs(vocab: list, length: int) -> st.SearchStrategy[list]:
    """Inputs up to `length`: tokens at random, or the task's shape where it has one."""
    plain = [t for t in vocab if t not in ("|", "$", "+")]
    lengths = st.one_of(st.integers(1, length), st.integers(max(1, length - 8), length))
    anything = lengths.flatmap(lambda n: st.lists(st.sampled_from(vocab), min_size=n,
                                                  max_size=n))
    shapes = [anything]
    if "|" in vocab:        # a prompt, "|", then the start of its copy
        shapes.append(st.integers(1, max(1, (length - 1) // 2)).flatmap(
            lambda n: st.lists(st.sampled_from(plain), min_size=n, max_size=n).flatmap(
                lambda x: st.integers(0, min(len(x) + 1, length - len(x) - 1)).map(
                    lambda k: x + ["|"] + (x + ["$"])[:k]))))
    if "+" in vocab:        # two numbers
        shapes.append(st.integers(1, length - 2).flatmap(lambda n: st.tuples(
            st.lists(st.sampled_from(plain), min_size=n, max_size=n),
            st.lists(st.sampled_from(plain), min_size=1, max_size=length - n - 1)).map(
                lambda ab: ab[0] + ["+"] + ab[1])))
    return st.one_of(*shapes)


def check_at(case: tuple, length: int, examples: int) -> None:
    name, file, sop, vocab, causal = case
    program = rasp.load(ROOT / "examples" / "suite" / file)
    vocab = list(vocab)
    model = compiler.compile(program, sop, vocab, length, causal=causal,
                             length_limit=length)

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(inputs(vocab, length), min_size=1, max_size=16))
    def agrees(batch: list[list]) -> None:
        difference = compare(model, program.sop(sop), batch)
        assert difference is None, f"{name} at N={length}: {difference}"

    agrees()


# count and copy_repeat (8 s and 5 s) at 24 in the slow run with the long lengths; the other
# programs keep the default run's check at 24.
@pytest.mark.parametrize("case", [
    pytest.param(case, marks=pytest.mark.slow if case[0] in ("count", "copy_repeat") else ())
    for case in PROGRAMS], ids=IDS)
def test_compiled_at_24_equals_the_interpreter(case):
    check_at(case, 24, examples=6)


@pytest.mark.slow
@pytest.mark.parametrize("length", [160, 304])
@pytest.mark.parametrize("case", PROGRAMS, ids=IDS)
def test_compiled_at_published_lengths_equals_the_interpreter(case, length):
    check_at(case, length, examples=25)
