"""Syntax highlighting of RASP: a Pygments lexer, registered as `rasp` (`pygmentize -l rasp`).

The tokens follow `grammar.lark`: keywords and REPL commands, the built-in operations
(`select`, `aggregate`, ...), the input s-ops (`tokens`, `indices`, `length`, ...), the
standard library's names, numbers, strings, comments, operators and punctuation. Used for the
program listing of HTML reports and for colouring the REPL's input.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, words
from pygments.token import (Comment, Keyword, Name, Number, Operator, Punctuation, String,
                            Whitespace)

KEYWORDS = ("def", "return", "for", "in", "if", "else", "and", "or", "not", "load", "draw")
REPL_WORDS = ("set", "show", "example", "examples", "full", "seq", "display", "on", "off",
              "exit", "quit")
BUILTINS = ("select", "aggregate", "selector_width", "indicator", "round", "range", "zip",
            "len", "numerical", "categorical")
INPUT_SOPS = ("tokens", "tokens_str", "tokens_int", "tokens_float", "tokens_bool",
              "tokens_asis", "indices", "length")
CONSTANTS = ("True", "False")


class RaspLexer(RegexLexer):
    """RASP (Weiss, Goldberg & Yahav 2021), the syntax of this project's grammar."""

    name = "RASP"
    aliases = ["rasp"]
    filenames = ["*.rasp"]
    mimetypes = ["text/x-rasp"]

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#[^\r\n]*", Comment.Single),
            (r'"[^"\r\n]*"', String),
            (r"[0-9]+\.[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(BUILTINS, suffix=r"\b"), Name.Builtin),
            (words(INPUT_SOPS, suffix=r"\b"), Name.Builtin.Pseudo),
            (words(REPL_WORDS, prefix=r"^", suffix=r"\b"), Keyword.Reserved),
            (r"[a-zA-Z_][a-zA-Z_0-9]*", Name),
            (r"==|!=|<=|>=|[-+*/%^<>=]", Operator),
            (r"[()\[\]{},;:]", Punctuation),
            (r".", Name.Other),   # anything else: the parser, not the colouring, refuses it
        ],
    }


def to_html(source: str) -> str:
    """`source` as highlighted HTML with inline styles (no stylesheet needed)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    return highlight(source, RaspLexer(), HtmlFormatter(noclasses=True, nowrap=False))
