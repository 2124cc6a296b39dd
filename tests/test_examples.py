"""Run every example program in `examples/` and `examples/suite/` on the inputs its header
promises.

Each such file documents itself with lines of the form

    # example: SOPNAME INPUT => OUTPUT

where INPUT is a double-quoted string (its characters are the tokens) or a JSON
list of tokens, and OUTPUT is the JSON list of expected values. Numbers are
compared with a tolerance of 1e-3; strings and booleans exactly.
"""

from __future__ import annotations

import json
import numbers
import re
from pathlib import Path

import numpy as np
import pytest

import rasp
from rasp import parser

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_LINE = re.compile(r"^#\s*example:\s*([A-Za-z_][A-Za-z_0-9]*)\s+(.+?)\s*=>\s*(.+?)\s*$")
TOLERANCE = 1e-3

# file -> s-op names it must define (the programs this project promises)
REQUIRED = {
    "reverse.rasp": ["reverse"],
    "histogram.rasp": ["hist"],
    "double_histogram.rasp": ["hist2"],
    "sort.rasp": ["sort_tokens"],
    "sort_by_freq.rasp": ["sort_by_freq"],
    "most_frequent.rasp": ["most_frequent"],
    "majority.rasp": ["majority"],
    "dyck1.rasp": ["dyck1"],
    "dyck2.rasp": ["dyck2"],
    "parity.rasp": ["parity"],
    "addition.rasp": ["sum_digits"],
    "count_token.rasp": ["count_a"],
    "shift.rasp": ["shift_right"],
}


def _example_files() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.rasp")) + sorted((EXAMPLES_DIR / "suite").glob("*.rasp"))


def _shown(path: Path) -> str:
    return str(path.relative_to(EXAMPLES_DIR))


def example_lines(path: Path) -> list[tuple[str, str, str, int]]:
    """(sop name, input literal, expected JSON, line number) for each example line."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXAMPLE_LINE.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2), match.group(3), number))
    return found


def _cases():
    for path in _example_files():
        for name, source, expected, number in example_lines(path):
            yield pytest.param(path, name, source, expected, id=f"{_shown(path)}:{number}:{name}")


def _input_value(source: str):
    """The INPUT literal: a double-quoted string or a JSON list of tokens."""
    value = json.loads(source)
    assert isinstance(value, (str, list)), f"input must be a string or a list: {source}"
    return value


def _matches(got, expected) -> bool:
    if isinstance(expected, bool):
        return isinstance(got, (bool, np.bool_)) and bool(got) == expected
    if isinstance(expected, numbers.Real):
        return (isinstance(got, numbers.Real) and not isinstance(got, bool)
                and abs(float(got) - expected) <= TOLERANCE)
    return type(got) is type(expected) and got == expected


def test_enough_examples():
    files = _example_files()
    assert len(files) >= 12, f"only {len(files)} example programs in {EXAMPLES_DIR}"
    for path in files:
        assert example_lines(path), f"{path.name} has no `# example:` line"


@pytest.mark.parametrize("filename", sorted(REQUIRED))
def test_required_examples_exist(filename):
    path = EXAMPLES_DIR / filename
    assert path.exists(), f"missing example program {filename}"
    documented = {name for name, *_ in example_lines(path)}
    for name in REQUIRED[filename]:
        assert name in documented, f"{filename} has no example line for `{name}`"


@pytest.mark.parametrize("path", _example_files(), ids=_shown)
def test_example_parses(path):
    parser.parse(path.read_text(), str(path))


@pytest.mark.parametrize("path", _example_files(), ids=_shown)
def test_example_defines_its_sops(path):
    names = set(rasp.load(str(path)).names())
    for name, *_ in example_lines(path):
        assert name in names, f"{path.name} does not define `{name}`"


@pytest.mark.parametrize("path,name,source,expected", list(_cases()))
def test_example_output(path, name, source, expected):
    program = rasp.load(str(path))
    value = _input_value(source)
    want = json.loads(expected)
    got = list(program.run(name, [value])[0])
    assert len(got) == len(want), f"{name}({source}) = {got}, expected {want}"
    assert all(_matches(g, w) for g, w in zip(got, want)), \
        f"{name}({source}) = {got}, expected {want}"
