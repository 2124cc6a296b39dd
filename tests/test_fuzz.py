"""Fuzzing the whole path a user's program takes: random and mutated program text is loaded,
every program that loads is run on a few inputs, and compiled at a small size; nothing but a
`RaspError` may escape any of the three. (`test_parser.py` fuzzes the parser alone.)

The texts are mutations (deleted, inserted, duplicated and swapped characters) of random
syntax trees (`strategies.modules`) and of random well-typed programs
(`program_strategies.programs`), whose mutations often still load.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler
import rasp
from program_strategies import programs
from strategies import modules, mutate
from rasp.printer import to_source

# How many mutations a text gets: none leaves the program to load as generated.
MUTATIONS = st.integers(min_value=0, max_value=3)

@st.composite
def program_texts(draw: st.DrawFn) -> tuple[str, tuple]:
    """A mutated program and the vocabulary to run and compile it on."""
    if draw(st.booleans()):
        program = draw(programs())
        return mutate(draw, program.source, MUTATIONS), program.vocab
    return mutate(draw, to_source(draw(modules())), MUTATIONS), ("a", "b")


def loads_runs_and_compiles_or_raises_rasp_errors(text: str, vocab: tuple) -> None:
    try:
        program = rasp.loads(text)
    except rasp.RaspError as error:
        error.render()
        return
    for name in program.sops()[:2]:
        for inputs in ([list(vocab), list(vocab[:1]), list(reversed(vocab))], [[1, 2]]):
            try:
                program.run(name, inputs)
            except rasp.RaspError as error:
                error.render()
        try:
            compiler.compile(program, name, vocab, 3)
        except rasp.RaspError as error:
            error.render()


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@fuzz(150)
@given(program_texts())
def test_programs_load_run_and_compile_raising_only_rasp_errors(case: tuple[str, tuple]) -> None:
    loads_runs_and_compiles_or_raises_rasp_errors(*case)


@pytest.mark.slow
@fuzz(3000)
@given(program_texts())
def test_many_programs_load_run_and_compile_raising_only_rasp_errors(
        case: tuple[str, tuple]) -> None:
    loads_runs_and_compiles_or_raises_rasp_errors(*case)
