"""Typed abstract syntax tree of RASP programs.

Every node is a frozen dataclass carrying the `Span` of source text it came from.
Spans do not take part in equality, so an AST printed back to source and parsed
again compares equal to the original (see `rasp.printer`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Span:
    """A region of source text: 1-based lines and columns, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<unknown>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ----------------------------------------------------------------- expressions


@dataclass(frozen=True)
class IntLit:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class FloatLit:
    value: float
    span: Span = _span()


@dataclass(frozen=True)
class StrLit:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class DictLit:
    entries: tuple[tuple[Expr, Expr], ...]
    span: Span = _span()


@dataclass(frozen=True)
class ListComp:
    """`[element for targets in iterable]`."""

    element: Expr
    targets: tuple[str, ...]
    iterable: Expr
    span: Span = _span()


@dataclass(frozen=True)
class DictComp:
    """`{key: value for targets in iterable}`."""

    key: Expr
    value: Expr
    targets: tuple[str, ...]
    iterable: Expr
    span: Span = _span()


UNARY_OPS = ("not", "-", "+", "round", "indicator")


@dataclass(frozen=True)
class Unary:
    """`not e`, `-e`, `+e`, `round(e)` or `indicator(e)`."""

    op: str
    operand: Expr
    span: Span = _span()


ARITHMETIC_OPS = ("^", "*", "/", "%", "+", "-")
COMPARISON_OPS = ("==", "!=", "<", ">", "<=", ">=")
LOGICAL_OPS = ("and", "or")
BINARY_OPS = ARITHMETIC_OPS + COMPARISON_OPS + LOGICAL_OPS + ("in",)


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Ternary:
    """`then if cond else otherwise`."""

    then: Expr
    cond: Expr
    otherwise: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    target: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """A function call `f(a, b)`, or applying an s-op to an input `sop("abc")`."""

    func: Expr
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Select:
    """`select(keys, queries, op)`: entry [q][k] is `keys[k] op queries[q]`."""

    keys: Expr
    queries: Expr
    op: str
    span: Span = _span()


@dataclass(frozen=True)
class Aggregate:
    selector: Expr
    sop: Expr
    default: Optional[Expr] = None
    span: Span = _span()


@dataclass(frozen=True)
class Range:
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Zip:
    args: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Len:
    arg: Expr
    span: Span = _span()


Expr = Union[
    IntLit, FloatLit, StrLit, Name, ListLit, DictLit, ListComp, DictComp, Unary,
    Binary, Ternary, Index, Call, Select, Aggregate, Range, Zip, Len,
]


# ------------------------------------------------------------------ statements


@dataclass(frozen=True)
class Assign:
    """`a = e;` or `a, b = e1, e2;` or `a, b = f();`."""

    targets: tuple[str, ...]
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ExprStmt:
    expr: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Return:
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class FuncDef:
    name: str
    params: tuple[str, ...]
    body: tuple[Stmt, ...]
    ret: Return
    span: Span = _span()


@dataclass(frozen=True)
class ForLoop:
    targets: tuple[str, ...]
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Load:
    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Draw:
    sop: Expr
    example: Optional[Expr] = None
    span: Span = _span()


# REPL commands. `subset` is "s-op", "selector" or None (both).


@dataclass(frozen=True)
class SetExample:
    subset: Optional[str]
    example: Expr
    span: Span = _span()


@dataclass(frozen=True)
class ShowExample:
    subset: Optional[str]
    span: Span = _span()


@dataclass(frozen=True)
class ToggleExamples:
    subset: Optional[str]
    on: bool
    span: Span = _span()


@dataclass(frozen=True)
class ToggleFullSeq:
    on: bool
    span: Span = _span()


@dataclass(frozen=True)
class Exit:
    span: Span = _span()


Stmt = Union[Assign, ExprStmt, FuncDef, ForLoop, Load, Draw]
ReplCommand = Union[SetExample, ShowExample, ToggleExamples, ToggleFullSeq, Exit]


@dataclass(frozen=True)
class Module:
    """A parsed file or REPL entry."""

    statements: tuple[Union[Stmt, ReplCommand], ...]
    span: Span = _span()
