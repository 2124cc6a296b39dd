"""Lowering a program's graph (`rasp.graph`) to tracr RASP expressions.

The graph is cut into *bases* (nodes that need attention or are inputs:
tokens, indices, `length`, `aggregate`, `selector_width`, encoding hints) and
*elementwise regions* above them. Each region becomes one MLP: a `Map` over
one base, a `SequenceMap` over two, a chain of tuple-building
`SequenceMap`s over more, or a `LinearSequenceMap` when both bases are
numerical and the region is linear. So functions are inlined, loops unrolled
and constants folded by construction, and shared nodes are lowered once.

Encodings are chosen on demand: each consumer asks for the encoding it needs
(selects need categorical keys and queries; an aggregate that averages
several positions needs numerical 0/1 values) and conversions are added only
where a node is asked for both. Rules of tracr that the lowering keeps:

* a numerical aggregate averages 0/1 values and has default 0;
* a categorical aggregate selects at most one position and has no default:
  where the profile shows empty selections it writes nothing, and a *default
  fill* MLP writes the default there for heads and the output to read; MLPs
  read the aggregate itself and take "nothing" as the default;
* a select reads `f(x)` through `x` when `f` maps one categorical s-op to no
  fewer values (`indices + 1`): `f` goes into the predicate, no MLP computes it;
* a conjunction of selects that compare different s-ops becomes a
  `conjunction.Conjunction`, one head that adds the conjuncts' scores, each over
  its own s-ops; other composite selectors (`or`, `not`, and conjuncts of them)
  become one `Select` over tuples of the s-ops they compare, with a predicate
  that evaluates the whole formula.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from tracr.rasp import rasp as tracr

from compiler import analysis, conjunction, linear_form
from compiler.errors import CompileError
from rasp import evaluate, graph, ops
from rasp.ast import NO_SPAN, Span
from rasp.values import value_order

CATEGORICAL, NUMERICAL = "categorical", "numerical"
RAW_TOKENS = "raw tokens"

NOT_A_NUMBER_HINT = ("`numerical(...)` takes s-ops of numbers: remove the hint, or map the values "
                     "to numbers first, e.g. indicator(x == v)")

# Largest value set an MLP may be built over (the product of its inputs' value sets).
MAX_TABLE = 20000
# Tables of fewer combinations are computed one combination at a time: the array ops'
# fixed cost is more than a few scalar calls.
SCALAR_TABLE = 64


def identity(x: Any) -> Any:
    return x


@dataclass
class Lowering:
    """Lowers one program graph; records what the craft stage needs."""

    vocab: Sequence[Any]
    max_seq_len: int
    selectors: dict[int, analysis.SelectorProfile]
    causal: bool = False
    # tracr label -> value set, for basis inference.
    values: dict[str, set] = field(default_factory=dict)
    # tracr label of a categorical aggregate that can select nothing -> its default: it
    # writes nothing there, and every MLP that reads it takes that as the default.
    defaults: dict[str, Any] = field(default_factory=dict)
    # tracr label -> the program expression it computes, for the layout.
    origins: dict[str, str] = field(default_factory=dict)
    _memo: dict[tuple, tracr.SOp] = field(default_factory=dict)
    _regions: dict[int, "_Region"] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _users: dict[int, list[graph.Node]] = field(default_factory=dict)
    # label of a default-fill map -> the aggregate it fills, which MLPs read instead
    _unfilled: dict[str, tracr.SOp] = field(default_factory=dict)

    # ------------------------------------------------------------- s-ops

    def lower_output(self, node: graph.Sop) -> tracr.SOp:
        self._users = _users_of(node)
        encoding = NUMERICAL if self.native_encoding(node) == NUMERICAL else CATEGORICAL
        return self.lower(node, encoding)

    def lower(self, node: graph.Sop, encoding: str) -> tracr.SOp:
        key = (node.id, encoding)
        if key not in self._memo:
            if _is_elementwise(node):
                self._memo[key] = self._lower_region(node, encoding)
            else:
                self._memo[key] = self._lower_base(node, encoding)
        return self._memo[key]

    def native_encoding(self, node: graph.Node) -> str:
        if isinstance(node, graph.Hint):
            return node.encoding
        if isinstance(node, graph.Aggregate) and self._averages(node):
            return NUMERICAL
        if _is_elementwise(node):
            region = self.region(node)
            if len(region.bases) == 1 and region.bases[0] != RAW_TOKENS and \
                    self.native_encoding(region.bases[0]) == NUMERICAL and \
                    _all_numbers(region.values):
                return NUMERICAL
            if len(region.bases) == 2 and all(
                    b != RAW_TOKENS and self.native_encoding(b) == NUMERICAL
                    for b in region.bases) and region.linear_factors(self) is not None:
                return NUMERICAL
        return CATEGORICAL

    def value_set(self, node: graph.Sop) -> set:
        return self.region(node).values

    def _lower_base(self, node: graph.Node, encoding: str) -> tracr.SOp:
        if isinstance(node, graph.Indices):
            return self._convert(tracr.indices, set(range(self.max_seq_len)), CATEGORICAL,
                                 encoding, node)
        if isinstance(node, graph.Length):
            if self.causal:
                raise CompileError("`length` reads every position, so it cannot be computed "
                                   "causally", self._span_of(node),
                                   hint="compile without causal=True, or avoid `length`")
            everything = self._labelled(
                tracr.Select(tracr.tokens, tracr.tokens, tracr.Comparison.TRUE), "length_select")
            width = self._selector_width(everything, encoding, node)
            return width
        if isinstance(node, graph.SelectorWidth):
            return self._selector_width(self.lower_selector(node.children[0]), encoding, node)
        if isinstance(node, graph.Hint):
            if node.encoding == NUMERICAL and not _all_numbers(self.value_set(node)):
                raise CompileError(
                    f"`{node.children[0].name()}` is needed as a number by `numerical` but "
                    f"takes the values {_show_values(self.value_set(node))}",
                    self._span_of(node), hint=NOT_A_NUMBER_HINT)
            inner = self.lower(node.children[0], node.encoding)
            return self._convert(inner, self.value_set(node), node.encoding, encoding, node)
        if isinstance(node, graph.Aggregate):
            return self._aggregate(node, encoding)
        raise TypeError(f"cannot lower {node!r}")

    def _selector_width(self, selector: tracr.Selector, encoding: str,
                        node: graph.Node) -> tracr.SOp:
        expr = tracr.SelectorWidth(selector)
        expr = tracr.numerical(expr) if encoding == NUMERICAL else tracr.categorical(expr)
        return self._record(expr, set(range(self.max_seq_len + 1)), node)

    def _averages(self, node: graph.Aggregate) -> bool:
        return self.selectors[node.children[0].id].max_width > 1

    def _aggregate(self, node: graph.Aggregate, encoding: str) -> tracr.SOp:
        selector_node, sop = node.children
        profile = self.selectors[selector_node.id]
        sop_values = self.value_set(sop)
        if self._averages(node):
            if not sop_values <= {0, 1} or not _all_numbers(sop_values) or \
                    any(isinstance(v, bool) for v in sop_values):
                raise CompileError(
                    f"`{node.name()}` averages several positions of values "
                    f"{_show_values(sop_values)}, but an attention head can only average "
                    f"0/1 values", self._span_of(node),
                    hint="average 0/1 values, e.g. aggregate(sel, indicator(x == v)), or "
                         "make the selector pick at most one position")
            if profile.can_be_empty and node.default != 0:
                raise CompileError(
                    f"`{node.name()}` averages several positions, so its default must be 0, "
                    f"not {node.default!r}", self._span_of(node),
                    hint="use the default 0 and map it afterwards with a ternary")
            expr = tracr.numerical(tracr.Aggregate(self.lower_selector(selector_node),
                                                   self.lower(sop, NUMERICAL), default=0))
            values = analysis.mean_values(self.max_seq_len)
            expr = self._record(expr, values, node)
            return self._convert(expr, values, NUMERICAL, encoding, node)
        expr = tracr.categorical(tracr.Aggregate(self.lower_selector(selector_node),
                                                 self.lower(sop, CATEGORICAL)))
        expr = self._record(expr, set(sop_values), node)
        values = set(sop_values)
        if profile.can_be_empty:
            # Heads and the output read an explicit default, written by an MLP; other MLPs
            # read the aggregate itself (see `_table_input`).
            values.add(node.default)
            self.defaults[expr.label] = node.default
            fill = tracr.categorical(tracr.Map(identity, expr, simplify=False))
            fill = self._record(fill, set(values), node, suffix="default")
            self._unfilled[fill.label] = expr
            expr = fill
        return self._convert(expr, values, CATEGORICAL, encoding, node)

    def _convert(self, expr: tracr.SOp, values: set, have: str, want: str,
                 node: graph.Node) -> tracr.SOp:
        if have == want:
            return expr
        if want == NUMERICAL and not _all_numbers(values):
            raise CompileError(f"`{node.name()}` is needed as a number but takes the values "
                               f"{_show_values(values)}", self._span_of(node),
                               hint=NOT_A_NUMBER_HINT)
        converted = tracr.Map(identity, self._unfilled.get(expr.label, expr), simplify=False)
        converted = tracr.numerical(converted) if want == NUMERICAL else \
            tracr.categorical(converted)
        return self._record(converted, set(values), node, suffix=want[:3])

    # ----------------------------------------------------------- regions

    def region(self, node: graph.Sop) -> "_Region":
        if node.id not in self._regions:
            self._regions[node.id] = _Region.build(node, self)
        return self._regions[node.id]

    def compresses(self, node: graph.Sop, spend_layer: bool = False) -> bool:
        """Whether an elementwise node read by a region of more inputs is worth its own MLP.

        Inlining it into its consumers would make them tables over the product
        of its inputs' values; when it takes fewer values than that, computing
        it once and reading its result is smaller. Over one input that costs a
        layer, unless the input is numerical (a table needs it converted to
        categorical anyway, and the node's own MLP is that conversion) or
        `spend_layer` says the consumer's table would be too large otherwise.
        """
        region = self.region(node)
        if not spend_layer and len(region.bases) == 1 and (
                region.bases[0] == RAW_TOKENS or
                self.native_encoding(region.bases[0]) != NUMERICAL):
            return False
        product = 1
        for base in region.bases:
            product *= max(1, len(self._base_value_set(base)))
        return len(region.values) < product

    def _base_value_set(self, base: Any) -> set:
        if base == RAW_TOKENS:
            return set(self.vocab)
        if _is_elementwise(base):
            return self.value_set(base)
        if isinstance(base, graph.Aggregate) and self._averages(base):
            values = analysis.mean_values(self.max_seq_len)
            if self.selectors[base.children[0].id].can_be_empty:
                values.add(base.default)
            return values
        if isinstance(base, graph.Aggregate):
            values = set(self.value_set(base.children[1]))
            if self.selectors[base.children[0].id].can_be_empty:
                values.add(base.default)
            return values
        if isinstance(base, graph.Indices):
            return set(range(self.max_seq_len))
        if isinstance(base, (graph.Length, graph.SelectorWidth)):
            return set(range(self.max_seq_len + 1))
        if isinstance(base, graph.Hint):
            return self.value_set(base.children[0])
        raise TypeError(f"not a base: {base!r}")

    def _lower_base_input(self, base: Any, encoding: str) -> tracr.SOp:
        if base == RAW_TOKENS:
            return self._convert(tracr.tokens, set(self.vocab), CATEGORICAL, encoding,
                                 graph.Tokens.make(("asis",), ()))
        return self.lower(base, encoding)

    def _table_input(self, base: Any, encoding: str) -> tracr.SOp:
        """What an MLP reads for `base`: a categorical aggregate that can select nothing
        without its default-fill MLP (the reading MLP maps "nothing" to the default
        itself, which saves the fill its layer)."""
        expr = self._lower_base_input(base, encoding)
        return self._unfilled.get(expr.label, expr)

    def _lower_region(self, node: graph.Sop, encoding: str) -> tracr.SOp:
        region = self.region(node)
        if encoding == NUMERICAL and not _all_numbers(region.values):
            raise CompileError(f"`{node.name()}` is needed as a number but takes the values "
                               f"{_show_values(region.values)}", self._span_of(node),
                               hint=NOT_A_NUMBER_HINT)
        bases = region.bases
        if len(bases) == 0:
            # A constant: any s-op mapped to it.
            value = next(iter(region.values))
            expr = tracr.Map(lambda _: value, tracr.tokens, simplify=False)
        elif len(bases) == 1:
            base = bases[0]
            base_encoding = CATEGORICAL if base == RAW_TOKENS else self.native_encoding(base)
            if region.is_identity:
                inner = self._lower_base_input(base, base_encoding)
                return self._convert(inner, region.values, base_encoding, encoding, node)
            expr = tracr.Map(region.total, self._table_input(base, base_encoding),
                             simplify=False)
        elif len(bases) == 2 and encoding == NUMERICAL and \
                region.linear_factors(self) is not None:
            first, second = (self._lower_base_input(b, NUMERICAL) for b in bases)
            factor_first, factor_second = region.linear_factors(self)
            expr = tracr.LinearSequenceMap(first, second, factor_first, factor_second)
        elif region.form is not None:
            expr = self._linear_form_map(region)
        else:
            expr = self._sequence_map(region, node)
            expr = self._record(tracr.categorical(expr), region.values, node)
            return self._convert(expr, region.values, CATEGORICAL, encoding, node)
        expr = tracr.numerical(expr) if encoding == NUMERICAL else tracr.categorical(expr)
        return self._record(expr, region.values, node)

    def _linear_form_map(self, region: "_Region") -> tracr.SOp:
        """g(z) of the region's linear form z, over its bases' categorical encodings (an
        aggregate that can select nothing read as its default)."""
        inputs = [self._table_input(b, CATEGORICAL) for b in region.bases]
        defaults = [self.defaults.get(sop.label) for sop in inputs]
        stand_in = min(region.values, key=value_order)
        return linear_form.LinearFormMap(region.form, inputs, defaults, stand_in)

    def _sequence_map(self, region: "_Region", node: graph.Sop) -> tracr.SOp:
        """A categorical SequenceMap over two bases, or over tuples of more."""
        inputs = [self._table_input(b, CATEGORICAL) for b in region.bases]
        sets = [self._base_value_set(b) for b in region.bases]
        _check_table(sets, node, self)
        if len(inputs) == 2:
            return tracr.SequenceMap(region.total, inputs[0], inputs[1])
        packed = self._tuples(inputs[:-1], sets[:-1], node)
        function = region.total
        return tracr.SequenceMap(lambda t, v: function(*t, v), packed, inputs[-1])

    # --------------------------------------------------------- selectors

    def lower_selector(self, node: graph.Selector) -> tracr.Select:
        if self.causal and self.selectors[node.id].looks_ahead:
            culprit = next((leaf for leaf in _leaves(node)
                            if self.selectors[leaf.id].looks_ahead), node)
            raise CompileError(f"`{culprit.name()}` selects later positions, so the program "
                               f"is not causal", self._span_of(culprit),
                               hint="restrict it to earlier positions, e.g. "
                                    "`... and select(indices, indices, <=)`")
        key = ("selector", node.id)
        if key not in self._memo:
            conjuncts = [self._conjunct(c) for c in _conjuncts(node)]
            if len(conjuncts) > 1 and _sources_differ(conjuncts):
                select = conjunction.Conjunction(conjuncts)
            else:
                keys, queries, predicate = self._select_parts(node)
                select = tracr.Select(keys, queries, predicate)
            self._memo[key] = self._labelled(select, _readable(node.name(), "select"))
            self.origins[self._memo[key].label] = node.name()
        return self._memo[key]

    def _conjunct(self, node: graph.Selector) -> conjunction.Conjunct:
        keys, queries, predicate = self._select_parts(node)
        leaves = _leaves(node)
        constant_keys = all(isinstance(l.children[0], graph.Constant) for l in leaves)
        constant_queries = all(isinstance(l.children[1], graph.Constant) for l in leaves)
        return conjunction.Conjunct(None if constant_keys else keys,
                                    None if constant_queries else queries, predicate)

    def _select_parts(self, node: graph.Selector
                      ) -> tuple[tracr.SOp, tracr.SOp, Callable[[Any, Any], bool]]:
        """The key s-op, query s-op and predicate of one select computing `node` (over
        tuples where its leaves compare several s-ops on one side)."""
        leaves = _leaves(node)
        key_nodes = _unique(l.children[0] for l in leaves
                            if not isinstance(l.children[0], graph.Constant))
        query_nodes = _unique(l.children[1] for l in leaves
                              if not isinstance(l.children[1], graph.Constant))
        keys, unpack_key = self._operand(key_nodes, node)
        queries, unpack_query = self._operand(query_nodes, node)

        def predicate(key: Any, query: Any) -> bool:
            return _holds(node, unpack_key(key), unpack_query(query))
        return keys, queries, predicate

    def _operand(self, nodes: list[graph.Sop], selector: graph.Selector):
        """One categorical s-op carrying what `nodes` are computed from, and how to read
        their values back from its value."""
        readers = {n.id: self._reader(n) for n in nodes}
        sources = _unique(source for source, _ in readers.values())
        if not sources:
            return tracr.tokens, lambda value: {}

        def unpack(value: Any) -> dict[int, Any]:
            by_source = {_key(sources[0]): value} if len(sources) == 1 else \
                {_key(source): v for source, v in zip(sources, value)}
            return {id_: function(by_source[_key(source)])
                    for id_, (source, function) in readers.items()}

        if len(sources) == 1:
            return self._lower_base_input(sources[0], CATEGORICAL), unpack
        sets = [self._base_value_set(source) for source in sources]
        _check_table(sets, selector, self)
        memo_key = ("tuple",) + tuple(_key(source) for source in sources)
        if memo_key not in self._memo:
            self._memo[memo_key] = self._tuples(
                [self._table_input(source, CATEGORICAL) for source in sources], sets,
                selector)
        return self._memo[memo_key], unpack

    def _reader(self, node: graph.Sop) -> tuple[Any, Callable[[Any], Any]]:
        """What a select reads for `node` (its source), and the function giving the value.

        A map of one categorical s-op with no fewer values, such as `indices + 1`,
        is folded into the select's predicate: the head reads the s-op itself, so
        no MLP computes the map (tracr's own library writes such selects with
        lambdas).
        """
        if _is_elementwise(node):
            region = self.region(node)
            if len(region.bases) == 1:
                source = region.bases[0]
                categorical = source == RAW_TOKENS or self.native_encoding(source) == CATEGORICAL
                if categorical and len(self._base_value_set(source)) <= len(region.values):
                    return source, region.function
        return node, identity

    def _tuples(self, inputs: list[tracr.SOp], sets: list[set],
                node: graph.Node) -> tracr.SOp:
        """One categorical s-op of tuples of the inputs' values (at least two inputs)."""
        packed = tracr.categorical(tracr.SequenceMap(lambda a, b: (a, b), inputs[0], inputs[1]))
        values = set(itertools.product(sets[0], sets[1]))
        packed = self._record(packed, values, node, suffix="pair")
        for inner, inner_values in zip(inputs[2:], sets[2:]):
            packed = tracr.categorical(tracr.SequenceMap(lambda t, v: t + (v,), packed, inner))
            values = {t + (v,) for t in values for v in inner_values}
            packed = self._record(packed, values, node, suffix="tuple")
        return packed

    # ------------------------------------------------------------ naming

    def _record(self, expr: tracr.SOp, values: set, node: graph.Node,
                suffix: str = "") -> tracr.SOp:
        expr = self._labelled(expr, _readable(node.name(), suffix))
        self.values[expr.label] = values
        self.origins[expr.label] = node.name() + (f" ({suffix})" if suffix else "")
        return expr

    def _labelled(self, expr: tracr.RASPExpr, name: str) -> tracr.RASPExpr:
        """`expr` named `name`, with the label `name_<n>`, n counting this lowering's labels.

        tracr's label is `name_<unique_id>` with a process-wide counter, and the
        residual basis is sorted by label: numbering per compile makes the
        residual order, and so the weights, the same on every compile.
        """
        expr = expr.named(name)
        expr.__dict__["unique_id"] = next(self._ids)  # overrides the cached_property
        return expr

    def _span_of(self, node: graph.Node) -> Span:
        """Where the program writes `node`, or, for a primitive without a place (`length`,
        `tokens`), the nearest expression of the program that uses it."""
        queue, seen = collections.deque([node]), {node.id}
        while queue:
            candidate = queue.popleft()
            if candidate.span is not NO_SPAN:
                return candidate.span
            for user in self._users.get(candidate.id, []):
                if user.id not in seen:
                    seen.add(user.id)
                    queue.append(user)
        return NO_SPAN


@dataclass
class _Region:
    """An elementwise sub-graph as one function of its bases."""

    bases: list[Any]
    function: Callable[..., Any]
    values: set
    canonical: dict      # each float the function gives -> its representative in `values`
    is_identity: bool
    # a function of one integer linear form of the bases (`linear_form`), if it is one
    form: Optional[linear_form.Form] = None
    # the function on every combination of the bases' values where it does not fail
    # (`_typed` keys; empty for a linear form, which is never tabulated)
    table: dict = field(default_factory=dict)
    _linear: Optional[tuple] = None
    _linear_checked: bool = False

    @classmethod
    def build(cls, root: graph.Sop, lowering: Lowering) -> "_Region":
        order, bases = cls._cut(root, lowering, spend_layers=False)
        size = _table_size([lowering._base_value_set(b) for b in bases])
        if size > MAX_TABLE:
            # Too large a table: give each smaller part its own MLP, at the cost of layers,
            # where that gives a smaller table.
            cut_order, cut_bases = cls._cut(root, lowering, spend_layers=True)
            if _table_size([lowering._base_value_set(b) for b in cut_bases]) < size:
                order, bases = cut_order, cut_bases
        return cls._from_parts(root, lowering, order, bases)

    @staticmethod
    def _cut(root: graph.Sop, lowering: Lowering,
             spend_layers: bool) -> tuple[list[graph.Node], list[Any]]:
        """The region's nodes in evaluation order and its bases: the elementwise nodes that
        `root` reads down to its non-elementwise inputs, less those worth an MLP of their own
        (`Lowering.compresses`), which become bases."""
        order: list[graph.Node] = []
        bases: list[Any] = []
        seen: set[int] = set()
        inputs = _input_count(root)

        def visit(node: graph.Node) -> None:
            if node.id in seen:
                return
            seen.add(node.id)
            if isinstance(node, graph.Tokens):
                if RAW_TOKENS not in bases:
                    bases.append(RAW_TOKENS)
            elif _is_elementwise(node) and not (
                    node is not root and _input_count(node) < inputs and
                    lowering.compresses(node, spend_layers)):
                for child in node.children:
                    visit(child)
            elif not any(node is b for b in bases):
                bases.append(node)
            order.append(node)

        visit(root)
        return order, bases

    @classmethod
    def _from_parts(cls, root: graph.Sop, lowering: Lowering, order: list[graph.Node],
                    bases: list[Any]) -> "_Region":
        position = {id(b) if b != RAW_TOKENS else RAW_TOKENS: i for i, b in enumerate(bases)}

        def function(*base_values: Any) -> Any:
            computed: dict[int, Any] = {}
            for node in order:
                if isinstance(node, graph.Tokens):
                    value = analysis.convert_token(base_values[position[RAW_TOKENS]],
                                                   node.conversion, node)
                elif isinstance(node, graph.Constant):
                    value = node.value
                elif _is_elementwise(node) and id(node) not in position:
                    value = analysis.apply_elementwise(node, [computed[c.id]
                                                              for c in node.children])
                else:
                    value = base_values[position[id(node)]]
                computed[node.id] = value
            return computed[root.id]

        def on_arrays(*base_arrays: np.ndarray) -> Any:
            """`function` on arrays of base values at once (the interpreter's array ops)."""
            computed: dict[int, Any] = {}
            for node in order:
                if isinstance(node, graph.Tokens):
                    value = evaluate.convert_tokens(base_arrays[position[RAW_TOKENS]],
                                                    node.conversion)
                elif isinstance(node, graph.Constant):
                    value = ops.as_array(node.value)
                elif _is_elementwise(node) and id(node) not in position:
                    value = evaluate.elementwise(node, [computed[c.id] for c in node.children])
                else:
                    value = base_arrays[position[id(node)]]
                computed[node.id] = value
            return computed[root.id]

        sets = [lowering._base_value_set(b) for b in bases]
        form = _linear_form(root, order, bases, sets, function) if len(bases) > 1 else None
        table: dict[tuple, Any] = {}
        if form is not None:
            results = {form.g(z) for z in form.values} - {None}
        else:
            if len(sets) > 1:   # over one input, the MLP has at most its values' units
                _check_table(sets, root, lowering)
            table = _table_of(sets, function, on_arrays)
            results = set(table.values())
        canonical = analysis.canonical(results)
        is_identity = len(bases) == 1 and (
            (bases[0] is root) or
            (bases[0] == RAW_TOKENS and all(function(v) == v and type(function(v)) is type(v)
                                            for v in sets[0])))
        return cls(bases, function, set(canonical.values()), canonical, is_identity, form,
                   table)

    def total(self, *base_values: Any) -> Any:
        """`function` with floats replaced by their representative in `values`, or None
        where it fails: tracr tabulates every combination of the bases' values, also
        those that never occur together (the interpreter fails on them), and writes
        nothing for a value outside the value set."""
        key = _typed(base_values)
        if key in self.table:
            result = self.table[key]
        else:
            try:
                result = self.function(*base_values)
            except ops.OpError:
                return None
        return self.canonical.get(result, result) if isinstance(result, float) else result

    def linear_factors(self, lowering: Lowering) -> Optional[tuple[float, float]]:
        """(a, b) when the region is a*x + b*y on its two bases' values, else None."""
        if self._linear_checked:
            return self._linear
        self._linear_checked = True
        if len(self.bases) != 2:
            return None
        try:
            a, b = self.function(1, 0), self.function(0, 1)
            if self.function(0, 0) != 0:
                return None
            sets = [lowering._base_value_set(base) for base in self.bases]
            for x, y in itertools.product(*sets):
                if abs(self.function(x, y) - (a * x + b * y)) > 1e-9:
                    return None
        except (ops.OpError, TypeError):
            return None
        self._linear = (a, b)
        return self._linear


COMPARISONS = ("==", "!=", "<", ">", "<=", ">=")
Affine = tuple[tuple[int, ...], int]    # (a coefficient per base, constant)


def _linear_form(root: graph.Sop, order: list[graph.Node], bases: list[Any],
                 sets: list[set], function: Callable[..., Any]
                 ) -> Optional[linear_form.Form]:
    """The region as g(z) of one integer linear form z of its bases, if its graph shows it
    is one (`linear_form`): some node X through which every path from the root to a base
    passes is `+`, `-`, `*` by a constant, or negation of integer bases and constants (z is
    its value), or a comparison of two such (z is their difference, which decides the
    comparison of integers). g is read off `function` at one combination of base values
    per z, so no table over all combinations is built. None if there is no such node."""
    if not all(base != RAW_TOKENS and values and
               all(isinstance(v, int) and not isinstance(v, bool) for v in values)
               for base, values in zip(bases, sets)):
        return None
    position = {id(b): i for i, b in enumerate(bases)}
    affine: dict[int, Affine] = {}
    for node in order:
        form = _affine(node, position, affine, len(bases))
        if form is not None:
            affine[node.id] = form
    for node in reversed(order):          # from the root down
        z = affine.get(node.id)
        if z is None and isinstance(node, graph.Map) and node.op in COMPARISONS and \
                all(c.id in affine for c in node.children):
            (a, a0), (b, b0) = (affine[c.id] for c in node.children)
            z = (tuple(x - y for x, y in zip(a, b)), a0 - b0)
        if z is None or not any(z[0]) or id(node) in position or \
                _reaches_a_base(root, node, position):
            continue
        representative = _values_of_form(z, sets)
        def g(value: int, _rep=representative) -> Any:
            try:
                return function(*_rep[value])
            except ops.OpError:
                return None
        return linear_form.Form(list(z[0]), z[1], sorted(representative), g)
    return None


def _affine(node: graph.Node, position: dict[int, int], affine: dict[int, Affine],
            count: int) -> Optional[Affine]:
    if id(node) in position:
        unit = [0] * count
        unit[position[id(node)]] = 1
        return tuple(unit), 0
    if isinstance(node, graph.Constant):
        value = node.value
        return ((0,) * count, value) if isinstance(value, int) and \
            not isinstance(value, bool) else None
    if not isinstance(node, graph.Map) or any(c.id not in affine for c in node.children):
        return None
    forms = [affine[c.id] for c in node.children]
    if len(forms) == 1 and node.op in ("-", "+"):
        (a, a0), = forms
        sign = -1 if node.op == "-" else 1
        return tuple(sign * x for x in a), sign * a0
    if len(forms) == 2 and node.op in ("+", "-"):
        (a, a0), (b, b0) = forms
        sign = 1 if node.op == "+" else -1
        return tuple(x + sign * y for x, y in zip(a, b)), a0 + sign * b0
    if len(forms) == 2 and node.op == "*":
        (a, a0), (b, b0) = forms
        if not any(a):
            return tuple(a0 * y for y in b), a0 * b0
        if not any(b):
            return tuple(b0 * x for x in a), b0 * a0
    return None


def _reaches_a_base(root: graph.Node, cut: graph.Node, position: dict[int, int]) -> bool:
    """Whether a path from `root` reaches a base without passing through `cut`."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is cut or node.id in seen:
            continue
        seen.add(node.id)
        if id(node) in position:
            return True
        if _is_elementwise(node):
            stack.extend(node.children)
    return False


def _values_of_form(form: Affine, sets: list[set]) -> dict[int, tuple]:
    """Every value of the form over the bases' values, each with a combination giving it."""
    coefficients, constant = form
    reached: dict[int, tuple] = {constant: ()}
    for coefficient, values in zip(coefficients, sets):
        ordered = sorted(values)
        if coefficient == 0:
            reached = {z: t + (ordered[0],) for z, t in reached.items()}
            continue
        grown: dict[int, tuple] = {}
        for z, combo in reached.items():
            for v in ordered:
                grown.setdefault(z + coefficient * v, combo + (v,))
        reached = grown
    return reached


def _table_of(sets: list[set], function: Callable[..., Any],
              on_arrays: Callable[..., Any]) -> dict[tuple, Any]:
    """`function` on every combination of the sets' values where it does not fail (the
    interpreter fails on the others too), keyed by `_typed`. Computed on arrays, one per
    combination of the values' types (an array holds one type), and one combination at a
    time where there are few (SCALAR_TABLE) or an array computation fails (an error at any
    element stops it)."""
    table: dict[tuple, Any] = {}
    by_type = [[[v for v in values if type(v) is kind] for kind in {type(v) for v in values}]
               for values in sets]
    for typed in itertools.product(*by_type):
        combos = list(itertools.product(*typed))
        if len(combos) >= SCALAR_TABLE:
            grids = np.meshgrid(*(np.array(values) for values in typed), indexing="ij")
            try:
                out = on_arrays(*(grid.reshape(-1) for grid in grids))
                results = out.tolist() if getattr(out, "shape", ()) != () else \
                    [ops.to_python(out)] * len(combos)
                table.update(zip(map(_typed, combos), results))
                continue
            except (ops.OpError, TypeError, ValueError, OverflowError):
                pass    # some combination fails: find which, one at a time
        for combo in combos:
            try:
                table[_typed(combo)] = function(*combo)
            except ops.OpError:
                continue
    return table


def _typed(combo: tuple) -> tuple:
    """A key for a combination of values that keeps 1, 1.0 and True apart."""
    return tuple((type(v), v) for v in combo)


def _key(source: Any) -> Any:
    """A hashable name for a base: RAW_TOKENS, or a node's id."""
    return source if source == RAW_TOKENS else source.id


def _users_of(root: graph.Node) -> dict[int, list[graph.Node]]:
    """For every node under `root`, the nodes that read it."""
    users: dict[int, list[graph.Node]] = {}
    for node in graph.topological_order([root]):
        for child in node.children:
            users.setdefault(child.id, []).append(node)
    return users


def _readable(name: str, suffix: str) -> str:
    """A label stem from a program expression: identifier characters, at most 40."""
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in name)[:40].strip("_")
    return (stem or "sop") + (f"_{suffix}" if suffix else "")


def _input_count(root: graph.Node) -> int:
    """How many distinct non-elementwise inputs an elementwise node reads, uncut."""
    inputs: set = set()
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        if isinstance(node, graph.Tokens):
            inputs.add(RAW_TOKENS)
        elif _is_elementwise(node):
            stack.extend(node.children)
        else:
            inputs.add(node.id)
    return len(inputs)


def _is_elementwise(node: graph.Node) -> bool:
    return isinstance(node, (graph.Map, graph.InList, graph.Constant, graph.Tokens))


def _all_numbers(values: set) -> bool:
    return all(isinstance(v, (int, float)) for v in values)


def _show_values(values: set) -> str:
    shown = sorted(values, key=repr)
    text = ", ".join(repr(v) for v in shown[:6])
    return "{" + text + (", ..." if len(shown) > 6 else "") + "}"


def _table_size(sets: list[set]) -> int:
    """The combinations of one value of each set."""
    size = 1
    for s in sets:
        size *= max(1, len(s))
    return size


def _check_table(sets: list[set], node: graph.Node, lowering: Lowering) -> None:
    size = _table_size(sets)
    if size > MAX_TABLE:
        raise CompileError(
            f"`{node.name()}` combines s-ops with {size:,} value combinations, too many "
            f"for one MLP (at most {MAX_TABLE:,})", lowering._span_of(node),
            hint="compile for a smaller vocabulary or max length, or split the computation")


def _leaves(node: graph.Selector) -> list[graph.Select]:
    if isinstance(node, graph.Select):
        return [node]
    return _unique(leaf for child in node.children for leaf in _leaves(child))


def _conjuncts(node: graph.Selector) -> list[graph.Selector]:
    """The operands of `node`'s top-level `and`s (nested ones flattened), or `node`."""
    if isinstance(node, graph.SelectAnd):
        return _unique(c for child in node.children for c in _conjuncts(child))
    return [node]


def _sources_differ(conjuncts: list[conjunction.Conjunct]) -> bool:
    """Whether the conjuncts read more than one key s-op or more than one query s-op (one
    select over tuples would need them paired)."""
    keys = {c.keys.label for c in conjuncts if c.keys is not None}
    queries = {c.queries.label for c in conjuncts if c.queries is not None}
    return len(keys) > 1 or len(queries) > 1


def _unique(nodes) -> list:
    result: list = []
    for node in nodes:
        if not any(node is seen for seen in result):
            result.append(node)
    return result


def _holds(node: graph.Selector, keys: dict[int, Any], queries: dict[int, Any]) -> bool:
    """The selector formula for one key and one query, with the interpreter's semantics."""
    if isinstance(node, graph.Select):
        key_node, query_node = node.children
        key = key_node.value if isinstance(key_node, graph.Constant) else keys[key_node.id]
        query = query_node.value if isinstance(query_node, graph.Constant) else \
            queries[query_node.id]
        try:
            return bool(ops.apply_scalar(node.op, key, query))
        except ops.OpError:
            return False
    if isinstance(node, graph.SelectAnd):
        return all(_holds(child, keys, queries) for child in node.children)
    if isinstance(node, graph.SelectOr):
        return any(_holds(child, keys, queries) for child in node.children)
    return not _holds(node.children[0], keys, queries)
