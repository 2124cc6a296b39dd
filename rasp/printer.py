"""Print RASP AST nodes back to RASP source text.

`to_source(node)` accepts a `Module`, any statement or REPL command, a `Return`, or any
expression, and lays the text out one statement per line, with `def` and `for` bodies
indented by four spaces inside braces.

Guarantee: for every module `m` that `rasp.parser.parse` produces,
`parse(to_source(m)) == m` (equality ignores spans). The printer inserts parentheses only
where the grammar's precedence and associativity need them (see `_Level`).

Hand-built trees round-trip as well when they look like the parser's output:

- names are identifiers, and every tuple the grammar cannot leave empty (assignment
  targets and values, returned values, loop targets, `range`/`zip` arguments) is non-empty;
- literals are finite and non-negative, as the grammar has no negative literals (a
  negative literal prints as a negation, `-3`, which parses to `Unary("-", IntLit(3))`);
- strings and `load` paths contain no `"` and no line break (the grammar has no escapes;
  such a string raises `ValueError`, as does an infinite or NaN float);
- no `set example e` command is followed by a statement whose text starts with `(`, `[`,
  `+` or `-`: `set example` has no terminator, so such a statement would continue `e`
  (as a call, an index or a subtraction). The parser itself never produces that sequence.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Callable, Union

import numpy as np

from rasp import ast

_INDENT = "    "

Node = Union[ast.Module, ast.Stmt, ast.ReplCommand, ast.Return, ast.Expr]


class _Level(enum.IntEnum):
    """Binding strength of the grammar's expression levels, loosest first.

    Every binary operator is left-associative: its left operand may sit at the operator's
    own level, its right operand must bind tighter. The ternary `then if cond else other`
    is left-associative too: `then` may be a ternary, `other` must bind tighter (it is at
    the `and`/`or` level), and `cond` is a full expression.
    """

    IN = 0
    TERNARY = 1
    LOGIC = 2
    COMPARISON = 3
    ADDITIVE = 4
    MODULO = 5
    MULTIPLICATIVE = 6
    POWER = 7
    UNARY = 8
    POSTFIX = 9  # atoms, indexing and calls


_BINARY_LEVEL: dict[str, _Level] = {
    "in": _Level.IN,
    "and": _Level.LOGIC, "or": _Level.LOGIC,
    **{op: _Level.COMPARISON for op in ast.COMPARISON_OPS},
    "+": _Level.ADDITIVE, "-": _Level.ADDITIVE,
    "%": _Level.MODULO,
    "*": _Level.MULTIPLICATIVE, "/": _Level.MULTIPLICATIVE,
    "^": _Level.POWER,
}

# Words that begin a statement or REPL command. The lexer reads them as keywords there,
# but elsewhere as names (`x = (set);` is valid), so an expression statement whose text
# would start with one of them as a name is wrapped in parentheses.
_STATEMENT_KEYWORDS = frozenset(
    {"def", "for", "load", "draw", "set", "show", "full", "exit", "quit", "examples",
     "selector"})
_LEADING_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def to_source(node: Node) -> str:
    """RASP source text for `node`; see the module docstring for the round-trip guarantee.

    A module gives one line per statement and a final newline (or "" when empty);
    a statement gives its lines without a final newline; an expression gives its text.
    """
    if isinstance(node, ast.Module):
        return _module(node)
    if type(node) in _STATEMENTS:
        return "\n".join(_statement(node, ""))
    return _expr(node)


# ------------------------------------------------------------------ expressions


def _expr(node: ast.Expr) -> str:
    """The text of an expression in a context that takes any expression."""
    return _EXPRESSIONS[type(node)](node)[0]


def _operand(node: ast.Expr, level: _Level) -> str:
    """The text of `node` where the grammar needs an expression at `level` or tighter."""
    text, own = _EXPRESSIONS[type(node)](node)
    return text if own >= level else f"({text})"


def _exprs(nodes: tuple[ast.Expr, ...]) -> str:
    return ", ".join(_expr(node) for node in nodes)


def _number(text: str, negative: bool) -> tuple[str, _Level]:
    # The grammar's literals are unsigned; a negative value can only be written negated.
    return (f"-{text}", _Level.UNARY) if negative else (text, _Level.POSTFIX)


def _int_lit(node: ast.IntLit) -> tuple[str, _Level]:
    return _number(str(abs(node.value)), node.value < 0)


def _float_lit(node: ast.FloatLit) -> tuple[str, _Level]:
    if not math.isfinite(node.value):
        raise ValueError(f"RASP has no literal for the float {node.value}")
    # The grammar accepts only `digits.digits`: no exponent, at least one digit after the
    # dot. `unique=True` gives the shortest digits that read back as the same float.
    text = np.format_float_positional(abs(node.value), unique=True, trim="0")
    return _number(text, math.copysign(1.0, node.value) < 0)


def _quoted(text: str) -> str:
    if '"' in text or "\n" in text or "\r" in text:
        raise ValueError(f"RASP strings cannot contain quotes or line breaks: {text!r}")
    return f'"{text}"'


def _str_lit(node: ast.StrLit) -> tuple[str, _Level]:
    return _quoted(node.value), _Level.POSTFIX


def _name(node: ast.Name) -> tuple[str, _Level]:
    return node.id, _Level.POSTFIX


def _list_lit(node: ast.ListLit) -> tuple[str, _Level]:
    return f"[{_exprs(node.items)}]", _Level.POSTFIX


def _dict_lit(node: ast.DictLit) -> tuple[str, _Level]:
    entries = ", ".join(f"{_expr(key)}: {_expr(value)}" for key, value in node.entries)
    return f"{{{entries}}}", _Level.POSTFIX


def _list_comp(node: ast.ListComp) -> tuple[str, _Level]:
    targets = ", ".join(node.targets)
    return (f"[{_expr(node.element)} for {targets} in {_expr(node.iterable)}]",
            _Level.POSTFIX)


def _dict_comp(node: ast.DictComp) -> tuple[str, _Level]:
    targets = ", ".join(node.targets)
    return (f"{{{_expr(node.key)}: {_expr(node.value)} for {targets} in "
            f"{_expr(node.iterable)}}}", _Level.POSTFIX)


def _unary(node: ast.Unary) -> tuple[str, _Level]:
    if node.op in ("round", "indicator"):
        return f"{node.op}({_expr(node.operand)})", _Level.POSTFIX
    operand = _operand(node.operand, _Level.UNARY)
    # `not` is a word and needs a space; `-x` and `--x` read unambiguously without one.
    separator = " " if node.op == "not" else ""
    return f"{node.op}{separator}{operand}", _Level.UNARY


def _binary(node: ast.Binary) -> tuple[str, _Level]:
    level = _BINARY_LEVEL[node.op]
    left = _operand(node.left, level)
    right = _operand(node.right, _Level(level + 1))
    return f"{left} {node.op} {right}", level


def _ternary(node: ast.Ternary) -> tuple[str, _Level]:
    then = _operand(node.then, _Level.TERNARY)
    otherwise = _operand(node.otherwise, _Level.LOGIC)
    return f"{then} if {_expr(node.cond)} else {otherwise}", _Level.TERNARY


def _index(node: ast.Index) -> tuple[str, _Level]:
    return f"{_operand(node.target, _Level.POSTFIX)}[{_expr(node.index)}]", _Level.POSTFIX


def _call(node: ast.Call) -> tuple[str, _Level]:
    return f"{_operand(node.func, _Level.POSTFIX)}({_exprs(node.args)})", _Level.POSTFIX


def _select(node: ast.Select) -> tuple[str, _Level]:
    return (f"select({_expr(node.keys)}, {_expr(node.queries)}, {node.op})",
            _Level.POSTFIX)


def _aggregate(node: ast.Aggregate) -> tuple[str, _Level]:
    args = (node.selector, node.sop) if node.default is None else (
        node.selector, node.sop, node.default)
    return f"aggregate({_exprs(args)})", _Level.POSTFIX


def _range(node: ast.Range) -> tuple[str, _Level]:
    return f"range({_exprs(node.args)})", _Level.POSTFIX


def _zip(node: ast.Zip) -> tuple[str, _Level]:
    return f"zip({_exprs(node.args)})", _Level.POSTFIX


def _len(node: ast.Len) -> tuple[str, _Level]:
    return f"len({_expr(node.arg)})", _Level.POSTFIX


_EXPRESSIONS: dict[type, Callable[..., tuple[str, _Level]]] = {
    ast.IntLit: _int_lit, ast.FloatLit: _float_lit, ast.StrLit: _str_lit, ast.Name: _name,
    ast.ListLit: _list_lit, ast.DictLit: _dict_lit, ast.ListComp: _list_comp,
    ast.DictComp: _dict_comp, ast.Unary: _unary, ast.Binary: _binary,
    ast.Ternary: _ternary, ast.Index: _index, ast.Call: _call, ast.Select: _select,
    ast.Aggregate: _aggregate, ast.Range: _range, ast.Zip: _zip, ast.Len: _len,
}


# ------------------------------------------------------------------- statements


def _module(node: ast.Module) -> str:
    texts = ["\n".join(_statement(statement, "")) for statement in node.statements]
    for i, statement in enumerate(node.statements[:-1]):
        # `exit` may be written `exit()`, so a bare `exit` followed by `(` would take
        # the parenthesis as its own.
        if isinstance(statement, ast.Exit) and texts[i + 1].startswith("("):
            texts[i] = "exit()"
    return "".join(text + "\n" for text in texts)


def _statement(node: Union[ast.Stmt, ast.ReplCommand, ast.Return], indent: str) -> list[str]:
    """The lines of a statement, each prefixed with `indent`."""
    return _STATEMENTS[type(node)](node, indent)


def _body(statements: tuple[ast.Stmt, ...], indent: str) -> list[str]:
    return [line for statement in statements
            for line in _statement(statement, indent + _INDENT)]


def _assign(node: ast.Assign, indent: str) -> list[str]:
    return [f"{indent}{', '.join(node.targets)} = {_exprs(node.values)};"]


def _expr_stmt(node: ast.ExprStmt, indent: str) -> list[str]:
    text = _expr(node.expr)
    word = _LEADING_WORD.match(text)
    if word and word.group() in _STATEMENT_KEYWORDS:
        text = f"({text})"
    return [f"{indent}{text};"]


def _return(node: ast.Return, indent: str) -> list[str]:
    return [f"{indent}return {_exprs(node.values)};"]


def _funcdef(node: ast.FuncDef, indent: str) -> list[str]:
    return [f"{indent}def {node.name}({', '.join(node.params)}) {{",
            *_body(node.body, indent),
            *_statement(node.ret, indent + _INDENT),
            f"{indent}}}"]


def _forloop(node: ast.ForLoop, indent: str) -> list[str]:
    header = f"{indent}for {', '.join(node.targets)} in {_expr(node.iterable)} {{"
    if not node.body:
        return [header + "}"]
    return [header, *_body(node.body, indent), f"{indent}}}"]


def _load(node: ast.Load, indent: str) -> list[str]:
    return [f"{indent}load {_quoted(node.path)};"]


def _draw(node: ast.Draw, indent: str) -> list[str]:
    args = (node.sop,) if node.example is None else (node.sop, node.example)
    return [f"{indent}draw({_exprs(args)});"]


def _subset(subset: Union[str, None]) -> str:
    return "" if subset is None else f"{subset} "


def _set_example(node: ast.SetExample, indent: str) -> list[str]:
    return [f"{indent}set {_subset(node.subset)}example {_expr(node.example)}"]


def _show_example(node: ast.ShowExample, indent: str) -> list[str]:
    return [f"{indent}show {_subset(node.subset)}example"]


def _toggle_examples(node: ast.ToggleExamples, indent: str) -> list[str]:
    return [f"{indent}{_subset(node.subset)}examples {'on' if node.on else 'off'}"]


def _toggle_full_seq(node: ast.ToggleFullSeq, indent: str) -> list[str]:
    return [f"{indent}full seq display {'on' if node.on else 'off'}"]


def _exit(node: ast.Exit, indent: str) -> list[str]:
    return [f"{indent}exit"]


_STATEMENTS: dict[type, Callable[..., list[str]]] = {
    ast.Assign: _assign, ast.ExprStmt: _expr_stmt, ast.Return: _return,
    ast.FuncDef: _funcdef, ast.ForLoop: _forloop, ast.Load: _load, ast.Draw: _draw,
    ast.SetExample: _set_example, ast.ShowExample: _show_example,
    ast.ToggleExamples: _toggle_examples, ast.ToggleFullSeq: _toggle_full_seq,
    ast.Exit: _exit,
}
