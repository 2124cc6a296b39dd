"""The computation graph that a RASP program denotes.

Running a program's statements (`rasp.interpreter`) does not touch any input:
it builds s-ops and selectors as nodes of this graph, with functions inlined,
loops unrolled and plain-value arithmetic already folded to constants. The
batched evaluator (`rasp.evaluate`) gives the graph its meaning on inputs and
the compiler lowers the same graph to tracr.

Nodes are interned: building a node equal to an existing one (same kind, same
parameters, same children) returns the existing node, so common
sub-expressions are shared and nodes compare by identity. Each workspace
interns into its own table (seeded with the standard library's nodes), so the
name and source span a node takes from its first assignment never leak from
one program into another. Primitives:

* s-ops: `Tokens(conversion)`, `Indices`, `Length`, `Constant(value)`,
  `Map(op, args)` (an elementwise operation of `rasp.ops` on s-ops and
  atoms), `InList(sop, items)`, `Aggregate(selector, sop, default)`,
  `SelectorWidth(selector)`, `Hint(encoding, sop)` (a compiler hint: identity);
* selectors: `Select(keys, queries, op)` with entry [q][k] = `keys[k] op
  queries[q]`, `SelectAnd`, `SelectOr`, `SelectNot`.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import weakref
from typing import Any, Iterator, Optional

from rasp.ast import NO_SPAN, Span
from rasp.values import exact_key

_ids = itertools.count()
NodeTable = weakref.WeakValueDictionary
# The table the standard library and the primitives are built in.
_base_table: NodeTable = weakref.WeakValueDictionary()
_current_table: contextvars.ContextVar[NodeTable] = contextvars.ContextVar(
    "rasp_node_table", default=_base_table)


def new_table() -> NodeTable:
    """A table for one workspace: it shares the nodes already in the base table."""
    return weakref.WeakValueDictionary(_base_table)


def may_label(node: "Node") -> bool:
    """Whether a variable assigned now may name `node`: one built in the current table, not a
    primitive or library node that every workspace shares (a workspace naming `indices` `out`
    would otherwise rename it in every other program's messages)."""
    return not node.shared or _current_table.get() is _base_table


@contextlib.contextmanager
def interning(table: NodeTable) -> Iterator[None]:
    """Build nodes into `table` within the block."""
    token = _current_table.set(table)
    try:
        yield
    finally:
        _current_table.reset(token)


def _key_of(value: Any) -> Any:
    """A hashable key of a node's parameter: a node by its id, a constant by `exact_key`."""
    if isinstance(value, Node):
        return ("node", value.id)
    if isinstance(value, tuple):
        return tuple(_key_of(v) for v in value)
    return exact_key(value)


class Node:
    """A node of the computation graph. Create nodes with `make`, never directly."""

    __slots__ = ("id", "params", "children", "span", "label", "shared", "__weakref__")
    is_selector = False

    id: int
    params: tuple
    children: tuple["Node", ...]
    span: Span
    label: Optional[str]
    shared: bool                 # built in the base table, which every workspace shares

    @classmethod
    def make(cls, params: tuple, children: tuple["Node", ...], span: Span = NO_SPAN):
        key = (cls.__name__, _key_of(params), tuple(c.id for c in children))
        table = _current_table.get()
        node = table.get(key)
        if node is None:
            node = object.__new__(cls)
            node.id = next(_ids)
            node.params = params
            node.children = children
            node.span = span
            node.label = None
            node.shared = table is _base_table
            table[key] = node
        return node

    def name(self) -> str:
        """A readable name: the variable it was first assigned to, or a description."""
        return self.label or self.describe()

    def describe(self) -> str:
        args = ", ".join([c.name() for c in self.children] + [repr(p) for p in self.params])
        return f"{type(self).__name__.lower()}({args})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} #{self.id} {self.name()}>"


class Sop(Node):
    __slots__ = ()


class Selector(Node):
    __slots__ = ()
    is_selector = True


# ---------------------------------------------------------------------- s-ops


TOKEN_CONVERSIONS = ("str", "int", "float", "bool", "asis")


class Tokens(Sop):
    __slots__ = ()

    @property
    def conversion(self) -> str:
        return self.params[0]

    def describe(self) -> str:
        return f"tokens_{self.conversion}"


class Indices(Sop):
    __slots__ = ()

    def describe(self) -> str:
        return "indices"


class Length(Sop):
    __slots__ = ()

    def describe(self) -> str:
        return "length"


class Constant(Sop):
    __slots__ = ()

    @property
    def value(self) -> Any:
        return self.params[0]

    def describe(self) -> str:
        return repr(self.value)


class Map(Sop):
    """`op` of `rasp.ops` applied elementwise to the children (atoms are `Constant`s)."""

    __slots__ = ()

    @property
    def op(self) -> str:
        return self.params[0]

    def describe(self) -> str:
        names = [c.name() for c in self.children]
        if self.op == "if":
            return f"({names[1]} if {names[0]} else {names[2]})"
        if len(names) == 1:
            return f"{self.op}({names[0]})" if self.op in ("round", "indicator") else \
                f"({self.op} {names[0]})"
        return f"({names[0]} {self.op} {names[1]})"


class InList(Sop):
    """Elementwise membership of an s-op's values in a constant list of atoms."""

    __slots__ = ()

    @property
    def items(self) -> tuple:
        return self.params[0]

    def describe(self) -> str:
        return f"({self.children[0].name()} in {list(self.items)!r})"


class Aggregate(Sop):
    __slots__ = ()

    @property
    def default(self) -> Any:
        return self.params[0]

    def describe(self) -> str:
        return f"aggregate({self.children[0].name()}, {self.children[1].name()}, " \
               f"{self.default!r})"


class SelectorWidth(Sop):
    __slots__ = ()

    def describe(self) -> str:
        return f"selector_width({self.children[0].name()})"


class Hint(Sop):
    """`numerical(x)` / `categorical(x)`: identity, remembered for the compiler."""

    __slots__ = ()

    @property
    def encoding(self) -> str:
        return self.params[0]

    def describe(self) -> str:
        return f"{self.encoding}({self.children[0].name()})"


# ------------------------------------------------------------------ selectors


class Select(Selector):
    __slots__ = ()

    @property
    def op(self) -> str:
        return self.params[0]

    def describe(self) -> str:
        keys, queries = self.children
        return f"select({keys.name()}, {queries.name()}, {self.op})"


class SelectAnd(Selector):
    __slots__ = ()

    def describe(self) -> str:
        return f"({self.children[0].name()} and {self.children[1].name()})"


class SelectOr(Selector):
    __slots__ = ()

    def describe(self) -> str:
        return f"({self.children[0].name()} or {self.children[1].name()})"


class SelectNot(Selector):
    __slots__ = ()

    def describe(self) -> str:
        return f"(not {self.children[0].name()})"


def topological_order(roots: list[Node]) -> list[Node]:
    """All nodes the roots depend on, each after its children."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node.id in seen:
            continue
        seen.add(node.id)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.children) if child.id not in seen)
    return order
