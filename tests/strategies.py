"""Hypothesis strategies for random RASP syntax trees.

The trees look like the parser's output, which is what `rasp.printer.to_source` promises to
round-trip: literals are non-negative and finite (the grammar has no negative literals),
strings hold no `"` or line break, tuples the grammar cannot leave empty are non-empty,
names come from a small alphabet that avoids every word the grammar treats as a keyword
somewhere (see `NAMES`), and no `set example` command is followed by a statement that
would continue its expression (see `_continues_an_expression`).

Sizes are bounded so that a few hundred modules print and parse in seconds. The strategy
functions are cached, as Hypothesis validates each new strategy object again, which costs
more than drawing from it.
"""

from __future__ import annotations

import functools
from typing import Union

from hypothesis import strategies as st

from rasp import ast
from rasp.printer import to_source

# No keyword (`if else not and or def return range for in zip len load draw select
# aggregate round indicator set show example examples full seq display exit quit on off`),
# and none of `s`, `op`, `selector`: `s-op` and `selector` are read as REPL words at the
# start of a statement. The alphabet deliberately includes names that start with a
# keyword or a REPL word, to check that the lexer reads them as whole names.
NAMES = ("a", "b", "x1", "_f", "True", "tokens", "indices", "inx", "notx", "iffy", "orb",
         "andy", "index", "ranges", "selector_width", "sop", "exit_", "examples2")

SELECT_OPS = ("==", "!=", "<", ">", "<=", ">=")

names = st.sampled_from(NAMES)
# Targets of `for` loops, comprehensions and assignments.
name_tuples = st.lists(names, min_size=1, max_size=3).map(tuple)

# The grammar's STRING token is `"[^"\r\n]*"`: no escapes, so no quote and no line break.
_string_text = st.text(
    st.characters(exclude_characters='"\r\n', exclude_categories=("Cs",)), max_size=6)


def _leaves() -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        names.map(ast.Name),
        st.integers(min_value=0).map(ast.IntLit),
        # `abs` turns a generated -0.0 into 0.0, which the grammar can write.
        st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).map(
            lambda value: ast.FloatLit(abs(value))),
        _string_text.map(ast.StrLit),
    )


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    """Every expression node kind, with `children` as sub-expressions."""
    some = st.lists(children, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ast.Binary, st.sampled_from(ast.BINARY_OPS), children, children),
        st.builds(ast.Unary, st.sampled_from(ast.UNARY_OPS), children),
        st.builds(ast.Ternary, children, children, children),
        st.builds(ast.Index, children, children),
        st.builds(ast.Call, children, st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.Select, children, children, st.sampled_from(SELECT_OPS)),
        st.builds(ast.Aggregate, children, children, st.none() | children),
        st.builds(ast.Range, some),
        st.builds(ast.Zip, some),
        st.builds(ast.Len, children),
        st.builds(ast.ListLit, st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.DictLit, st.lists(st.tuples(children, children), max_size=3).map(tuple)),
        st.builds(ast.ListComp, children, name_tuples, children),
        st.builds(ast.DictComp, children, children, name_tuples, children),
    )


@functools.cache
def expressions(max_leaves: int = 10) -> st.SearchStrategy[ast.Expr]:
    """Random expressions of every kind with at most `max_leaves` leaves."""
    return st.recursive(_leaves(), _compound, max_leaves=max_leaves)


@functools.cache
def operator_expressions(depth: int = 4) -> st.SearchStrategy[ast.Expr]:
    """Full trees of operators (binary, unary, ternary, then indexing or a call), `depth`
    deep, over names and small integers.

    They are dense in the precedence and associativity cases a printer can get wrong, which
    `expressions()` spreads thinly: `st.recursive` favours small trees, and there a given
    pair of nested operators (`*` over `%`, say) comes up a few times in ten thousand.
    """
    if depth == 0:
        return names.map(ast.Name) | st.integers(min_value=0, max_value=9).map(ast.IntLit)
    children = operator_expressions(depth - 1)
    return st.one_of(
        st.builds(ast.Binary, st.sampled_from(ast.BINARY_OPS), children, children),
        st.builds(ast.Unary, st.sampled_from(("not", "-", "+")), children),
        st.builds(ast.Ternary, children, children, children),
        st.builds(ast.Index, children, children)
        | st.builds(ast.Call, children, st.lists(children, max_size=2).map(tuple)),
    )


@functools.cache
def statements(depth: int = 2) -> st.SearchStrategy[ast.Stmt]:
    """Random statements (no REPL commands); `def` and `for` bodies nest `depth` deep."""
    exprs = expressions(max_leaves=6)
    some_exprs = st.lists(exprs, min_size=1, max_size=3).map(tuple)
    simple = st.one_of(
        st.builds(ast.Assign, name_tuples, some_exprs),
        st.builds(ast.ExprStmt, exprs),
        st.builds(ast.Draw, exprs, st.none() | exprs),
        st.builds(ast.Load, _string_text),
    )
    if depth == 0:
        return simple
    body = st.lists(statements(depth - 1), max_size=3).map(tuple)
    return st.one_of(
        simple,
        st.builds(ast.FuncDef, names, st.lists(names, max_size=3).map(tuple), body,
                  st.builds(ast.Return, some_exprs)),
        st.builds(ast.ForLoop, name_tuples, exprs, body),
    )


_subsets = st.sampled_from((None, "s-op", "selector"))


@functools.cache
def repl_commands() -> st.SearchStrategy[ast.ReplCommand]:
    """Random REPL commands of every kind."""
    return st.one_of(
        st.builds(ast.SetExample, _subsets, expressions(max_leaves=6)),
        st.builds(ast.ShowExample, _subsets),
        st.builds(ast.ToggleExamples, _subsets, st.booleans()),
        st.builds(ast.ToggleFullSeq, st.booleans()),
        st.just(ast.Exit()),
    )


def _continues_an_expression(statement: Union[ast.Stmt, ast.ReplCommand]) -> bool:
    """Whether the statement's text could continue the expression before it.

    `set example e` has no terminator, so a following statement that starts with `(`,
    `[`, `+` or `-` would be read as a call, an index or an addition/subtraction on `e`.
    No text parses to such a pair, so the printer cannot round-trip it either.
    """
    return to_source(statement).startswith(("(", "[", "+", "-"))


def _unambiguous(items: list[Union[ast.Stmt, ast.ReplCommand]]) -> ast.Module:
    kept: list[Union[ast.Stmt, ast.ReplCommand]] = []
    for item in items:
        if kept and isinstance(kept[-1], ast.SetExample) and _continues_an_expression(item):
            continue
        kept.append(item)
    return ast.Module(tuple(kept))


@functools.cache
def modules() -> st.SearchStrategy[ast.Module]:
    """Random modules mixing statements and REPL commands, as the parser can produce them."""
    return st.lists(statements() | repl_commands(), max_size=6).map(_unambiguous)


# Characters a mutation inserts: RASP's punctuation, a quote, a comment, a line break.
_MUTATION_CHARS = '();,[]{}=+-*"#:<\n x1.0'


def mutate(draw: st.DrawFn, text: str, mutations: st.SearchStrategy[int]) -> str:
    """`text` after a few (drawn from `mutations`) character deletions, insertions,
    duplications and swaps."""
    chars = list(text)
    for _ in range(draw(mutations)):
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if kind == "insert" or not chars:
            at = draw(st.integers(min_value=0, max_value=len(chars)))
            chars.insert(at, draw(st.sampled_from(_MUTATION_CHARS)))
            continue
        at = draw(st.integers(min_value=0, max_value=len(chars) - 1))
        if kind == "delete":
            del chars[at]
        elif kind == "duplicate":
            chars.insert(at, chars[at])
        else:
            other = draw(st.integers(min_value=0, max_value=len(chars) - 1))
            chars[at], chars[other] = chars[other], chars[at]
    return "".join(chars)
