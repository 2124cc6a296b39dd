"""The primitives every program sees, and the standard library written in RASP on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rasp import graph
from rasp.ast import NO_SPAN, Span
from rasp.errors import RaspTypeError
from rasp.interpreter import Builtin, kind_name

LIBRARY_FILE = Path(__file__).with_name("lib") / "rasplib.rasp"


def _selector_width(selector: Any, span: Span = NO_SPAN) -> graph.Sop:
    if not isinstance(selector, graph.Selector):
        raise RaspTypeError(f"`selector_width` expects a selector, but this is "
                            f"{kind_name(selector)}", span)
    return graph.SelectorWidth.make((), (selector,), span)


def _hint(encoding: str):
    def build(sop: Any, span: Span = NO_SPAN) -> graph.Sop:
        if not isinstance(sop, graph.Sop):
            raise RaspTypeError(f"`{encoding}` expects an s-op, but this is {kind_name(sop)}",
                                span)
        return graph.Hint.make((encoding,), (sop,), span)
    return build


def primitives() -> dict[str, Any]:
    """Values bound before the library loads: input s-ops, booleans, built-in functions."""
    values: dict[str, Any] = {
        f"tokens_{conversion}": graph.Tokens.make((conversion,), ())
        for conversion in graph.TOKEN_CONVERSIONS
    }
    values["indices"] = graph.Indices.make((), ())
    values["length"] = graph.Length.make((), ())
    values["True"] = True
    values["False"] = False
    values["selector_width"] = Builtin("selector_width", ("sel",), _selector_width)
    values["numerical"] = Builtin("numerical", ("sop",), _hint("numerical"))
    values["categorical"] = Builtin("categorical", ("sop",), _hint("categorical"))
    return values
