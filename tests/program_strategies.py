"""Hypothesis strategies for random, well-typed RASP programs, as source text.

A generated program is a few assignments that build s-ops (and named selectors) from
`tokens`, `tokens_int` (digit vocabularies only), `indices` and `length`, and ends with
`out = ...;`. Every expression is typed as it is built, so the checker accepts the program and
the interpreter runs it on every input over the vocabulary:

* int s-ops: `+ - *` of ints and small constants, `% 2|3`, `^ 2`, unary `-`,
  `indicator(bool)`, `round(float)`, ternaries, `selector_width(sel)`, `aggregate` of ints
  over selectors that select at most one position, and `numerical(..)`/`categorical(..)` hints;
* float s-ops: numerical means `aggregate(sel, indicator(...))` (default 0), `int / 2|4`, sums
  and differences of floats, hints, and, rarely, means the compiler must refuse (non-0/1
  values, a non-zero default);
* bool s-ops: the six comparisons between s-ops or with constants, `and`, `or`, `not`, `in`
  a constant list, and single-position aggregates of bools;
* str s-ops: `tokens`, ternaries with string constants, single-position aggregates with a
  string default, concatenation with a constant;
* selectors: `select(keys, queries, op)` with all six ops between s-ops of one type or an
  s-op and a constant, `and` / `or` / `not` of selectors, and the at-most-one-position
  selectors `select(indices, X, ==)` (X any int s-op), `select(indices + c, indices, ==)` and
  their conjunctions with any selector.

Sizes are bounded (a few statements, nesting depth 2 within a statement) so that value sets,
and so the compiled MLPs, stay small enough to compile in a second or two at max length 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hypothesis import strategies as st

VOCABS = (("a", "b"), ("a", "b", "c"), ("0", "1"), ("0", "1", "2"), ("1", "2"))
COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
TYPES = ("int", "float", "bool", "str")


@dataclass(frozen=True)
class RandomProgram:
    source: str
    vocab: tuple[str, ...]
    causal: bool = False   # compile with causal=True (the compiler must refuse look-ahead)

    def __repr__(self) -> str:
        return (f"RandomProgram(vocab={''.join(self.vocab)!r}, causal={self.causal}, "
                f"source=\n{self.source}\n)")


class _Builder:
    """Draws typed expressions; `draw` is Hypothesis's, so programs shrink statement-wise."""

    def __init__(self, draw: Callable, vocab: tuple[str, ...]):
        self.draw = draw
        self.vocab = vocab
        self.digits = all(token.isdigit() for token in vocab)
        self.names: dict[str, list[str]] = {kind: [] for kind in TYPES + ("binary", "sel")}

    # ------------------------------------------------------------ helpers

    def choose(self, options: list):
        return options[self.draw(st.integers(0, len(options) - 1))]

    def pick(self, weighted: list[tuple[int, Callable[[], str]]]) -> str:
        """One of the builders, by integer weight; the first is what shrinking prefers."""
        total = sum(weight for weight, _ in weighted)
        roll = self.draw(st.integers(0, total - 1))
        for weight, build in weighted:
            if roll < weight:
                return build()
            roll -= weight
        raise AssertionError("unreachable")

    def token(self) -> str:
        return self.choose(list(self.vocab))

    def token_list(self) -> str:
        """One or two vocabulary tokens, as the items of a list literal."""
        return ", ".join(f'"{token}"' for token in self.vocab[:self.small(1, 2)])

    def small(self, low: int = 0, high: int = 3) -> int:
        return self.draw(st.integers(low, high))

    def var(self, kind: str) -> list[tuple[int, Callable[[], str]]]:
        names = self.names[kind]
        return [(6, lambda: self.choose(names))] if names else []

    # --------------------------------------------------------------- ints

    def int_(self, depth: int) -> str:
        atoms = [(3, lambda: "indices"), (2, lambda: "length")] + self.var("int")
        if self.digits:
            atoms.append((2, lambda: "tokens_int"))
        if depth <= 0:
            return self.pick(atoms + [(1, lambda: f"indicator({self.bool_(0)})")])
        d = depth - 1
        return self.pick(atoms + [
            (3, lambda: f"({self.int_(d)} {self.choose(['+', '-', '*'])} {self.small()})"),
            (2, lambda: f"({self.int_(d)} {self.choose(['+', '-', '*'])} {self.int_(d)})"),
            (1, lambda: f"({self.int_(d)} % {self.small(2, 3)})"),
            (1, lambda: f"(-{self.int_(d)})"),
            (2, lambda: f"indicator({self.bool_(d)})"),
            (1, lambda: f"round({self.float_(d)})"),
            (1, lambda: f"round((indices + 1) * {self.float_(d)})"),
            (1, lambda: f"({self.int_(d)} if {self.bool_(d)} else {self.int_(d)})"),
            (3, lambda: f"selector_width({self.sel(d)})"),
            (2, lambda: f"aggregate({self.one_sel(d)}, {self.int_(d)}, {self.small(-1, 2)})"),
            (1, lambda: f"aggregate({self.one_sel(d)}, {self.int_(d)})"),
            (1, lambda: "(length - indices - 1)"),
            (1, lambda: f"({self.int_(d)} ^ 2)"),
            (1, lambda: f"{self.choose(['numerical', 'categorical'])}({self.int_(d)})"),
        ])

    def binary(self, depth: int) -> str:
        """An int s-op whose values are 0 and 1 only."""
        return self.pick(self.var("binary") + [
            (4, lambda: f"indicator({self.bool_(depth)})"),
            (1, lambda: f"({self.int_(depth)} % 2)"),
            (1, lambda: f"numerical(indicator({self.bool_(depth)}))"),
        ])

    # ------------------------------------------------------------- floats

    def float_(self, depth: int) -> str:
        d = max(depth - 1, 0)
        return self.pick(self.var("float") + [
            (5, lambda: f"aggregate({self.sel(d)}, {self.binary(d)})"),
            (2, lambda: f"aggregate({self.sel(d)}, {self.binary(d)}, 0)"),
            (2, lambda: f"({self.int_(d)} / {self.choose([2, 4])})"),
            # means the compiler must refuse (or accept when it can prove them 0/1 or
            # never empty): non-0/1 values, a non-zero default
            (1, lambda: f"aggregate({self.sel(d)}, {self.int_(d)})"),
            (1, lambda: f"aggregate({self.sel(d)}, {self.binary(d)}, 1)"),
            (1, lambda: f"{self.choose(['numerical', 'categorical'])}({self.float_(d)})"),
            (1, lambda: f"({self.float_(d)} {self.choose(['+', '-'])} {self.float_(d)})"),
            (1, lambda: f"({self.float_(d)} * {self.choose([2, 3])})"),
        ])

    # -------------------------------------------------------------- bools

    def bool_(self, depth: int) -> str:
        cmp = lambda: self.choose(list(COMPARISONS))
        atoms = self.var("bool") + [
            (3, lambda: f'(tokens {cmp()} "{self.token()}")'),
            (2, lambda: f"(indices {cmp()} {self.small(0, 4)})"),
        ]
        if depth <= 0:
            return self.pick(atoms)
        d = depth - 1
        return self.pick(atoms + [
            (3, lambda: f"({self.int_(d)} {cmp()} {self.int_(d)})"),
            (3, lambda: f"({self.int_(d)} {cmp()} {self.small(-1, 4)})"),
            (2, lambda: f"({self.str_(d)} {cmp()} {self.str_(d)})"),
            (1, lambda: f"({self.float_(d)} {cmp()} {self.choose(['0', '0.5', '1'])})"),
            (2, lambda: f"({self.bool_(d)} {self.choose(['and', 'or'])} {self.bool_(d)})"),
            (1, lambda: f"(not {self.bool_(d)})"),
            (1, lambda: f"(tokens in [{self.token_list()}])"),
            (1, lambda: f"({self.int_(d)} in [0, {self.small(1, 4)}])"),
            (1, lambda: f"aggregate({self.one_sel(d)}, {self.bool_(d)}, "
                        f"{self.choose(['True', 'False'])})"),
        ])

    # ------------------------------------------------------------ strings

    def str_(self, depth: int) -> str:
        atoms = [(4, lambda: "tokens")] + self.var("str")
        if depth <= 0:
            return self.pick(atoms)
        d = depth - 1
        return self.pick(atoms + [
            (2, lambda: f'({self.str_(d)} if {self.bool_(d)} else "{self.token()}")'),
            (3, lambda: f'aggregate({self.one_sel(d)}, {self.str_(d)}, '
                        f'"{self.choose(["-", self.token()])}")'),
            (1, lambda: f'({self.str_(d)} + "x")'),
        ])

    # ---------------------------------------------------------- selectors

    def select(self, depth: int) -> str:
        op = self.choose(list(COMPARISONS))
        kind = self.choose(["int", "int", "str", "bool"])
        sop = {"int": self.int_, "str": self.str_, "bool": self.bool_}[kind]
        constant = {"int": lambda: str(self.small(-1, 4)), "str": lambda: f'"{self.token()}"',
                    "bool": lambda: self.choose(["True", "False"])}[kind]
        keys = self.pick([(4, lambda: sop(depth)), (1, constant)])
        queries = self.pick([(3, lambda: sop(depth)), (2, constant)])
        return f"select({keys}, {queries}, {op})"

    def sel(self, depth: int) -> str:
        """Any selector."""
        simple = self.var("sel") + [(6, lambda: self.select(depth)),
                                    (2, lambda: self.one_sel(depth))]
        if depth <= 0:
            return self.pick(simple)
        d = depth - 1
        return self.pick(simple + [
            (2, lambda: f"({self.sel(d)} and {self.sel(d)})"),
            (2, lambda: f"({self.sel(d)} or {self.sel(d)})"),
            (1, lambda: f"(not {self.sel(d)})"),
        ])

    def one_sel(self, depth: int) -> str:
        """A selector that selects at most one position per query."""
        d = max(depth - 1, 0)
        return self.pick([
            (4, lambda: f"select(indices, {self.int_(d)}, ==)"),
            (2, lambda: f"select(indices {self.choose(['+', '-'])} {self.small(1, 2)}, "
                        "indices, ==)"),
            (1, lambda: f"(select(indices, {self.int_(d)}, ==) and {self.sel(d)})"),
        ])

    # ---------------------------------------------------------- statements

    def expression(self, kind: str, depth: int) -> str:
        return {"int": self.int_, "binary": self.binary, "float": self.float_,
                "bool": self.bool_, "str": self.str_, "sel": self.sel}[kind](depth)

    def statement(self, index: int) -> str:
        kind = self.choose(["int", "int", "binary", "float", "bool", "bool", "str", "sel"])
        text = self.expression(kind, self.small(0, 2))
        name = f"s{index}" if kind == "sel" else f"v{index}"
        self.names[kind].append(name)
        if kind == "binary":
            self.names["int"].append(name)
        return f"{name} = {text};"


@st.composite
def programs(draw, max_statements: int = 4) -> RandomProgram:
    """A random well-typed program defining the s-op `out`, with the vocabulary to run it on."""
    vocab = draw(st.sampled_from(VOCABS))
    builder = _Builder(draw, vocab)
    count = draw(st.integers(0, max_statements))
    lines = [builder.statement(i) for i in range(count)]
    kind = builder.choose(["int", "float", "bool", "str"])
    expression = builder.expression(kind, builder.small(1, 2))
    if expression.isidentifier():
        # a bare name: make `out` a computation of its own
        other = f'"{builder.token()}"' if kind == "str" else builder.expression(kind, 1)
        expression = f"({expression} if {builder.bool_(1)} else {other})"
    lines.append(f"out = {expression};")
    causal = draw(st.integers(0, 3)) == 0
    return RandomProgram("\n".join(lines), vocab, causal)
