"""The printer round-trips: `parse(to_source(m)) == m`, with only the parentheses needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from rasp import ast
from rasp.parser import parse, parse_expression
from rasp.printer import to_source
from strategies import modules, operator_expressions

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.rasp"))


@settings(max_examples=400, deadline=None)
@given(modules())
def test_printed_modules_parse_back_to_the_same_tree(module: ast.Module) -> None:
    assert parse(to_source(module)) == module


@settings(max_examples=400, deadline=None)
@given(operator_expressions())
def test_printed_operator_trees_parse_back_to_the_same_tree(tree: ast.Expr) -> None:
    assert parse_expression(to_source(tree)) == tree


@pytest.mark.parametrize("source, printed", [
    # Binary operators associate to the left: a right operand of the same level is
    # parenthesized, a left one is not.
    ("(a + b) * c", "(a + b) * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("(a ^ b) ^ c", "a ^ b ^ c"),
    ("a ^ (b ^ c)", "a ^ (b ^ c)"),
    # `%` is looser than `*` and `/`, tighter than `+` and `-`.
    ("a % (b * c)", "a % b * c"),
    ("(a % b) * c", "(a % b) * c"),
    ("(a + b) % c", "(a + b) % c"),
    # `and` and `or` share one level.
    ("a and (b or c)", "a and (b or c)"),
    ("(a or b) and c", "a or b and c"),
    ("(a < b) < c", "a < b < c"),
    ("a == (b < c)", "a == (b < c)"),
    # The ternary associates to the left; its else branch is at the `and`/`or` level and
    # its condition is a full expression.
    ("(a if b else c) if d else e", "a if b else c if d else e"),
    ("a if b else (c if d else e)", "a if b else (c if d else e)"),
    ("a if (b if c else d) else e", "a if b if c else d else e"),
    ("a if b else (c and d)", "a if b else c and d"),
    ("a if (x in l) else b", "a if x in l else b"),
    ("(x in l) if c else d", "(x in l) if c else d"),
    ("a if b else (x in l)", "a if b else (x in l)"),
    # Unary operators bind tighter than `^`, and `not` tighter than comparisons.
    ("not (a == b)", "not (a == b)"),
    ("(not a) == b", "not a == b"),
    ("-(a ^ 2)", "-(a ^ 2)"),
    ("(-a) ^ 2", "-a ^ 2"),
    ("-(-a)", "--a"),
    ("a - (-b)", "a - -b"),
    ("not (not a)", "not not a"),
    ("-(a[0])", "-a[0]"),
    ("(-a)[0]", "(-a)[0]"),
    ("(a + b)(c)", "(a + b)(c)"),
    ("(f(x))[0]", "f(x)[0]"),
    ("round(a + b) * c", "round(a + b) * c"),
    # `in` is the loosest operator, left-associative, with a ternary-level right side.
    ("(x in l) in m", "x in l in m"),
    ("x in (l in m)", "x in (l in m)"),
    ("x in (l if c else m)", "x in l if c else m"),
    ("(a + b) in [a, (b)]", "a + b in [a, b]"),
    ("f((x in l), (a if b else c))", "f(x in l, a if b else c)"),
])
def test_parentheses_appear_only_where_needed(source: str, printed: str) -> None:
    tree = parse_expression(source)
    assert to_source(tree) == printed
    assert parse_expression(printed) == tree


def test_layout_of_statements_and_repl_commands() -> None:
    source = (
        'def f(a, b) { def g() { return 1; } for i, j in zip(a, b) { x = i; } return a, b; }'
        'for i in range(3) {}'
        'x, y = f(1, 2.50); load "lib"; draw(x, "abc"); select (x, y, <=);'
        'set s-op example "abc" set example [1, 2] show selector example show example '
        's-op examples off examples on full seq display on quit()'
    )
    assert to_source(parse(source)) == (
        "def f(a, b) {\n"
        "    def g() {\n"
        "        return 1;\n"
        "    }\n"
        "    for i, j in zip(a, b) {\n"
        "        x = i;\n"
        "    }\n"
        "    return a, b;\n"
        "}\n"
        "for i in range(3) {}\n"
        "x, y = f(1, 2.5);\n"
        'load "lib";\n'
        'draw(x, "abc");\n'
        "select(x, y, <=);\n"
        'set s-op example "abc"\n'
        "set example [1, 2]\n"
        "show selector example\n"
        "show example\n"
        "s-op examples off\n"
        "examples on\n"
        "full seq display on\n"
        "exit\n"
    )


@pytest.mark.parametrize("source", [
    # A bare `exit` would take the next statement's `(` as its own.
    "exit() (a + b)(c);",
    # Words that open a statement are names elsewhere; at the start of a statement they
    # must stay inside parentheses.
    "(set)(x); (draw)(x); (full) + 1; (exit)[0]; (selector); (def) if a else b;",
    "def f() { (load)(x); return 1; }",
    # `s-op` is a REPL word only when written without spaces.
    "x = s-op; s - op;",
])
def test_parsed_edge_cases_round_trip(source: str) -> None:
    tree = parse(source)
    assert parse(to_source(tree)) == tree


@pytest.mark.parametrize("value, text", [
    (0.0, "0.0"), (2.0, "2.0"), (0.1, "0.1"), (1e-7, "0.0000001"),
    (1e16, "10000000000000000.0"), (123.456, "123.456"),
])
def test_floats_print_in_positional_notation(value: float, text: str) -> None:
    assert to_source(ast.FloatLit(value)) == text
    assert parse_expression(text) == ast.FloatLit(value)


def test_negative_literals_print_as_negations() -> None:
    tree = ast.Index(ast.IntLit(-3), ast.IntLit(0))
    assert to_source(tree) == "(-3)[0]"
    assert to_source(ast.FloatLit(-0.5)) == "-0.5"


@pytest.mark.parametrize("node", [
    ast.StrLit('say "hi"'), ast.StrLit("two\nlines"), ast.FloatLit(float("inf")),
    ast.FloatLit(float("nan")), ast.Load('a"b'),
])
def test_values_without_source_text_are_rejected(node: ast.Expr | ast.Load) -> None:
    with pytest.raises(ValueError):
        to_source(node)


@pytest.mark.skipif(not EXAMPLES, reason="no bundled examples yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_bundled_examples_round_trip(path: Path) -> None:
    tree = parse(path.read_text(), str(path))
    assert parse(to_source(tree)) == tree
