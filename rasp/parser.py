"""Parse RASP source text into the typed AST of `rasp.ast`.

The grammar lives in `grammar.lark`; a Lark `Transformer` turns the parse tree
into frozen AST nodes with source spans. Lark's own exceptions never escape:
they become `RaspSyntaxError`s located at the offending token.
"""

from __future__ import annotations

import functools
from pathlib import Path

import lark
from lark import Transformer, v_args

from rasp import ast
from rasp.errors import RaspSyntaxError

_GRAMMAR = Path(__file__).with_name("grammar.lark")

# How Lark names the grammar's anonymous terminals, for error messages.
_TERMINAL_TEXT = {
    "SEMICOLON": "`;`", "COMMA": "`,`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`",
    "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`", "COLON": "`:`", "EQUAL": "`=`",
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "$END": "end of input",
}


@functools.cache
def _lark() -> lark.Lark:
    return lark.Lark(_GRAMMAR.read_text(), parser="lalr", propagate_positions=True,
                     maybe_placeholders=True)


def parse(text: str, filename: str = "<input>") -> ast.Module:
    """Parse a whole file or REPL entry; raise `RaspSyntaxError` on bad input."""
    try:
        tree = _lark().parse(text)
        return _ToAst(filename).transform(tree)
    except lark.exceptions.UnexpectedInput as error:
        raise _syntax_error(error, text, filename) from None
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, RaspSyntaxError):
            raise error.orig_exc.with_source(text) from None
        if not isinstance(error.orig_exc, RecursionError):
            raise
        raise _too_deep(filename, text) from None
    except RecursionError:
        raise _too_deep(filename, text) from None


def _too_deep(filename: str, text: str) -> RaspSyntaxError:
    return RaspSyntaxError("the program is nested too deeply to parse",
                           ast.Span(filename, 1, 1, 1, 2), source=text,
                           hint="split deep expressions into several assignments")


def parse_expression(text: str, filename: str = "<input>") -> ast.Expr:
    """Parse a single expression such as an input literal `"abc"` or `[1, 2]`."""
    module = parse(text.strip() + ";", filename)
    if len(module.statements) != 1 or not isinstance(module.statements[0], ast.ExprStmt):
        raise RaspSyntaxError(f"expected a single expression, got `{text}`",
                              ast.Span(filename, 1, 1, 1, len(text) + 1), source=text)
    return module.statements[0].expr


def _syntax_error(error: lark.exceptions.UnexpectedInput, text: str,
                  filename: str) -> RaspSyntaxError:
    line, column = max(error.line, 1), max(error.column, 1)
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        # A control byte is shown escaped (`\x1b`), never sent raw to the terminal.
        shown = char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        message = f"unexpected character `{shown}`"
        hint = "strings use double quotes" if char == "'" else None
        width = 1
    else:
        token = getattr(error, "token", None)
        if token is None or token.type == "$END":
            message = "unexpected end of input"
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            width = 1
        else:
            message = f"unexpected `{token}`"
            width = max(1, len(str(token)))
        hint = _expected_hint(getattr(error, "expected", None) or set())
    span = ast.Span(filename, line, column, line, column + width)
    return RaspSyntaxError(message, span, hint=hint, source=text)


def _expected_hint(expected: set[str]) -> str | None:
    if not expected:
        return None
    if "SEMICOLON" in expected and len(expected) <= 12:
        return "a statement must end with `;`"
    names = sorted({_TERMINAL_TEXT.get(name, f"`{name.lower()}`") for name in expected})
    if len(names) > 6:
        return None
    return "expected " + " or ".join(names)


def _span(filename: str, meta) -> ast.Span:
    if getattr(meta, "empty", True):
        return ast.NO_SPAN
    return ast.Span(filename, meta.line, meta.column, meta.end_line, meta.end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    """Turns Lark's parse tree into `rasp.ast` nodes."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    def _s(self, meta) -> ast.Span:
        return _span(self.filename, meta)

    # statements
    def start(self, meta, statements):
        return ast.Module(tuple(statements), self._s(meta))

    def expr_stmt(self, meta, children):
        return ast.ExprStmt(children[0], self._s(meta))

    def assign(self, meta, children):
        names, values = children
        return ast.Assign(names, values, self._s(meta))

    def draw(self, meta, children):
        sop, example = children if len(children) == 2 else (children[0], None)
        return ast.Draw(sop, example, self._s(meta))

    def load(self, meta, children):
        return ast.Load(children[0][1:-1], self._s(meta))

    def funcdef(self, meta, children):
        name, params, *body, ret = children
        return ast.FuncDef(str(name), params or (), tuple(body), ret, self._s(meta))

    def return_stmt(self, meta, children):
        return ast.Return(children[0], self._s(meta))

    def forloop(self, meta, children):
        targets, iterable, *body = children
        return ast.ForLoop(targets, iterable, tuple(body), self._s(meta))

    def names(self, meta, children):
        return tuple(str(name) for name in children)

    def exprs(self, meta, children):
        return tuple(children)

    # REPL commands
    def set_example(self, meta, children):
        subset, example = children
        return ast.SetExample(_subset(subset), example, self._s(meta))

    def show_example(self, meta, children):
        return ast.ShowExample(_subset(children[0]), self._s(meta))

    def toggle_examples(self, meta, children):
        subset, switch = children
        return ast.ToggleExamples(_subset(subset), str(switch) == "on", self._s(meta))

    def toggle_full_seq(self, meta, children):
        return ast.ToggleFullSeq(str(children[0]) == "on", self._s(meta))

    def exit_command(self, meta, children):
        return ast.Exit(self._s(meta))

    # expressions
    def int_lit(self, meta, children):
        try:
            return ast.IntLit(int(children[0]), self._s(meta))
        except ValueError:
            raise RaspSyntaxError(f"integer literal of {len(children[0])} digits is too long",
                                  self._s(meta)) from None

    def float_lit(self, meta, children):
        return ast.FloatLit(float(children[0]), self._s(meta))

    def str_lit(self, meta, children):
        return ast.StrLit(children[0][1:-1], self._s(meta))

    def name(self, meta, children):
        return ast.Name(str(children[0]), self._s(meta))

    def list_lit(self, meta, children):
        return ast.ListLit(children[0] or (), self._s(meta))

    def dict_lit(self, meta, children):
        return ast.DictLit(children[0] or (), self._s(meta))

    def dict_entries(self, meta, children):
        return tuple(children)

    def dict_entry(self, meta, children):
        return (children[0], children[1])

    def list_comp(self, meta, children):
        element, targets, iterable = children
        return ast.ListComp(element, targets, iterable, self._s(meta))

    def dict_comp(self, meta, children):
        key, value, targets, iterable = children
        return ast.DictComp(key, value, targets, iterable, self._s(meta))

    def contains(self, meta, children):
        return ast.Binary("in", children[0], children[1], self._s(meta))

    def ternary(self, meta, children):
        then, cond, otherwise = children
        return ast.Ternary(then, cond, otherwise, self._s(meta))

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(str(op), left, right, self._s(meta))

    def unary(self, meta, children):
        op, operand = children
        return ast.Unary(str(op), operand, self._s(meta))

    def builtin_unary(self, meta, children):
        op, operand = children
        return ast.Unary(op, operand, self._s(meta))

    def builtin_unary_op(self, meta, children):
        return str(children[0])

    def index(self, meta, children):
        return ast.Index(children[0], children[1], self._s(meta))

    def call(self, meta, children):
        return ast.Call(children[0], children[1] or (), self._s(meta))

    def select(self, meta, children):
        keys, queries, op = children
        return ast.Select(keys, queries, op, self._s(meta))

    def select_op(self, meta, children):
        return str(children[0])

    def aggregate(self, meta, children):
        selector, sop, default = (list(children) + [None])[:3]
        return ast.Aggregate(selector, sop, default, self._s(meta))

    def range(self, meta, children):
        return ast.Range(children[0], self._s(meta))

    def zip(self, meta, children):
        return ast.Zip(children[0], self._s(meta))

    def len(self, meta, children):
        return ast.Len(children[0], self._s(meta))


def _subset(token) -> str | None:
    return None if token is None else str(token)
