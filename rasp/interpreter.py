"""Running a RASP program's statements: from the AST to values and graph nodes.

Statements run in order, with the original's meta-level semantics: plain
values (numbers, strings, booleans, lists, dicts) are computed at once;
`def` makes a closure; calls bind arguments in a fresh scope nested in the
function's defining scope; `for` loops unroll, binding their targets in the
enclosing scope. S-ops and selectors are never evaluated here: operations on
them build nodes of `rasp.graph`, which `rasp.evaluate` runs on inputs.
Applying an s-op to an input, `sop("abc")`, evaluates it then and there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from rasp import ast, evaluate, graph, limits, ops
from rasp.errors import (RaspError, RaspNameError, RaspTypeError, RaspValueError, did_you_mean,
                         with_article)


# ------------------------------------------------------------------- values


@dataclass
class Function:
    """A RASP `def`: its definition and the scope it closes over."""

    definition: ast.FuncDef
    closure: "Scope"

    @property
    def name(self) -> str:
        return self.definition.name

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.definition.params)})"


@dataclass
class Builtin:
    """A primitive function implemented in Python (`selector_width`, compiler hints)."""

    name: str
    params: tuple[str, ...]
    build: Callable[..., Any]

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


@dataclass(frozen=True)
class SequenceValue:
    """An s-op evaluated on one input: what `sop("abc")` gives."""

    values: tuple
    input: tuple


@dataclass(frozen=True)
class SelectorValue:
    """A selector evaluated on one input: a query-by-key matrix."""

    matrix: tuple[tuple[bool, ...], ...]
    input: tuple


def kind_name(value: Any) -> str:
    if isinstance(value, graph.Selector):
        return "a selector"
    if isinstance(value, graph.Sop):
        return "an s-op"
    if isinstance(value, (Function, Builtin)):
        return "a function"
    if isinstance(value, (SequenceValue, SelectorValue)):
        return "an evaluated sequence"
    return with_article(ops.type_name(value))


def is_atom(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))


# ------------------------------------------------------------------- scopes


class Scope:
    """Variables of one module or function call, nested in a parent scope."""

    def __init__(self, parent: Optional["Scope"] = None):
        self.parent = parent
        self.variables: dict[str, Any] = {}

    def lookup(self, name: str, span: ast.Span) -> Any:
        scope: Optional[Scope] = self
        while scope is not None:
            if name in scope.variables:
                return scope.variables[name]
            scope = scope.parent
        raise RaspNameError(f"unknown name `{name}`", span,
                            hint=did_you_mean(name, self.visible_names()))

    def visible_names(self) -> set[str]:
        names: set[str] = set()
        scope: Optional[Scope] = self
        while scope is not None:
            names.update(scope.variables)
            scope = scope.parent
        return names

    def set(self, name: str, value: Any) -> None:
        if isinstance(value, graph.Node) and value.label is None and graph.may_label(value):
            value.label = name
        self.variables[name] = value


# A statement's visible effect, for the REPL: (name, value) pairs it defined or printed.
Result = list[tuple[str, Any]]

Loader = Callable[[str, ast.Span], dict[str, Any]]


@dataclass
class LoopBudget:
    """Iterations of for loops and comprehensions left to one file (or REPL entry): loops
    unroll into the program, so their total is bounded (`limits.MAX_LOOP_ITERATIONS`)."""

    left: int = limits.MAX_LOOP_ITERATIONS

    def spend(self, iterations: int, span: ast.Span) -> None:
        self.left -= iterations
        if self.left < 0:
            raise RaspValueError(f"the loops of this program run more than "
                                 f"{limits.MAX_LOOP_ITERATIONS:,} iterations in all; they unroll "
                                 f"into the program, which would be too large to run", span,
                                 hint="loop over fewer items, or build the sequence with s-ops "
                                      "instead of a loop")


@dataclass
class Interpreter:
    """Runs statements in a scope. `loader` resolves `load "name";` to public names."""

    scope: Scope
    loader: Optional[Loader] = None
    reserved: frozenset[str] = field(default_factory=frozenset)
    # Where new graph nodes are interned; None keeps the caller's table.
    nodes: Optional[graph.NodeTable] = None
    # Shared with the interpreters of the functions this one calls.
    budget: LoopBudget = field(default_factory=LoopBudget)

    # ---------------------------------------------------------- statements

    def execute_module(self, module: ast.Module) -> Result:
        results: Result = []
        for statement in module.statements:
            results.extend(self.execute(statement))
        return results

    def execute(self, statement: Any) -> Result:
        if self.nodes is None:
            return self._execute(statement)
        with graph.interning(self.nodes):
            return self._execute(statement)

    def _execute(self, statement: Any) -> Result:
        if isinstance(statement, ast.Assign):
            return self._assign(statement)
        if isinstance(statement, ast.ExprStmt):
            return [("out", self.eval(statement.expr))]
        if isinstance(statement, ast.FuncDef):
            self._check_not_reserved(statement.name, statement.span)
            function = Function(statement, self.scope)
            self.scope.set(statement.name, function)
            return [(statement.name, function)]
        if isinstance(statement, ast.ForLoop):
            items = self._iterate(statement.iterable, "a for loop")
            self.budget.spend(len(items), statement.span)
            for item in items:
                self._bind_targets(statement.targets, item, statement.span)
                for inner in statement.body:
                    self.execute(inner)
            return []
        if isinstance(statement, ast.Load):
            if self.loader is None:
                raise RaspValueError("`load` is not available here", statement.span)
            for name, value in self.loader(statement.path, statement.span).items():
                self.scope.set(name, value)
            return []
        if isinstance(statement, ast.Draw):
            sop = self._expect_sop(self.eval(statement.sop), statement.sop, "draw")
            example = self.eval(statement.example) if statement.example else None
            return [("draw", (sop, example))]
        # REPL commands are the REPL's business; in a file they do nothing.
        return []

    def _assign(self, statement: ast.Assign) -> Result:
        values = [self.eval(v) for v in statement.values]
        value: Any = values[0] if len(values) == 1 else tuple(values)
        targets = statement.targets
        if len(targets) == 1:
            pairs = [(targets[0], value)]
        else:
            if not isinstance(value, (tuple, list)) or len(value) != len(targets):
                count = len(value) if isinstance(value, (tuple, list)) else 1
                raise RaspTypeError(f"cannot assign {count} value(s) to {len(targets)} names",
                                    statement.span)
            pairs = list(zip(targets, value))
        for name, item in pairs:
            self._check_not_reserved(name, statement.span)
            self.scope.set(name, item)
        return pairs

    def _check_not_reserved(self, name: str, span: ast.Span) -> None:
        if name in self.reserved:
            raise RaspNameError(f"`{name}` is a library name and cannot be redefined", span,
                                hint=f"choose another name, e.g. `my_{name}`")

    def _bind_targets(self, targets: tuple[str, ...], item: Any, span: ast.Span) -> None:
        if len(targets) == 1:
            self.scope.set(targets[0], item)
            return
        if not isinstance(item, (list, tuple)) or len(item) != len(targets):
            raise RaspTypeError(f"cannot unpack {evaluate_show(item)} into "
                                f"{len(targets)} names", span)
        for name, value in zip(targets, item):
            self.scope.set(name, value)

    def _iterate(self, expr: ast.Expr, what: str) -> list:
        iterable = self.eval(expr)
        if isinstance(iterable, dict):
            return list(iterable)
        if isinstance(iterable, list):
            return iterable
        raise RaspTypeError(f"{what} iterates over a list or dict, but this is "
                            f"{kind_name(iterable)}", expr.span)

    # --------------------------------------------------------- expressions

    def eval(self, expr: ast.Expr) -> Any:
        method = getattr(self, "_eval_" + type(expr).__name__)
        return method(expr)

    def _eval_IntLit(self, expr: ast.IntLit) -> int:
        return expr.value

    def _eval_FloatLit(self, expr: ast.FloatLit) -> float:
        return expr.value

    def _eval_StrLit(self, expr: ast.StrLit) -> str:
        return expr.value

    def _eval_Name(self, expr: ast.Name) -> Any:
        return self.scope.lookup(expr.id, expr.span)

    def _eval_ListLit(self, expr: ast.ListLit) -> list:
        return [self.eval(item) for item in expr.items]

    def _eval_DictLit(self, expr: ast.DictLit) -> dict:
        return {self._dict_key(k): self.eval(v) for k, v in expr.entries}

    def _dict_key(self, expr: ast.Expr) -> Any:
        key = self.eval(expr)
        if not is_atom(key):
            raise RaspTypeError(f"dictionary keys must be numbers, strings or booleans, "
                                f"not {kind_name(key)}", expr.span)
        return key

    def _comprehension(self, targets, iterable, span, make: Callable[[], Any]) -> list:
        outer = self.scope
        results = []
        items = self._iterate(iterable, "a comprehension")
        self.budget.spend(len(items), span)
        for item in items:
            self.scope = Scope(outer)
            try:
                self._bind_targets(targets, item, span)
                results.append(make())
            finally:
                self.scope = outer
        return results

    def _eval_ListComp(self, expr: ast.ListComp) -> list:
        return self._comprehension(expr.targets, expr.iterable, expr.span,
                                   lambda: self.eval(expr.element))

    def _eval_DictComp(self, expr: ast.DictComp) -> dict:
        pairs = self._comprehension(expr.targets, expr.iterable, expr.span,
                                    lambda: (self._dict_key(expr.key), self.eval(expr.value)))
        return dict(pairs)

    def _eval_Unary(self, expr: ast.Unary) -> Any:
        operand = self.eval(expr.operand)
        if isinstance(operand, graph.Selector):
            if expr.op == "not":
                return graph.SelectNot.make((), (operand,), expr.span)
            raise RaspTypeError(f"cannot apply `{expr.op}` to a selector", expr.span,
                                hint="selectors combine only with `and`, `or`, `not`")
        if isinstance(operand, graph.Sop):
            return graph.Map.make((expr.op,), (operand,), expr.span)
        if expr.op == "indicator":
            raise RaspTypeError(f"`indicator` expects an s-op, but this is {kind_name(operand)}",
                                expr.span)
        if expr.op == "not":
            return not self._truth(operand)
        return self._scalar(expr, expr.op, operand)

    def _truth(self, value: Any) -> bool:
        return bool(value)

    def _scalar(self, expr: ast.Expr, op: str, *operands: Any) -> Any:
        for operand in operands:
            if not is_atom(operand):
                raise RaspTypeError(f"cannot apply `{op}` to {kind_name(operand)}", expr.span)
        if op == "+" and all(isinstance(operand, str) for operand in operands):
            _bounded(range(sum(map(len, operands))), expr.span)   # before building it
        try:
            return ops.apply_scalar(op, *operands)
        except ops.OpError as error:
            raise error.rasp_error(str(error), expr.span) from None

    def _eval_Binary(self, expr: ast.Binary) -> Any:
        if expr.op == "in":
            return self._contains(expr)
        left, right = self.eval(expr.left), self.eval(expr.right)
        if expr.op in ("and", "or"):
            return self._logical(expr, left, right)
        for operand in (left, right):
            if isinstance(operand, graph.Selector):
                raise RaspTypeError(f"cannot apply `{expr.op}` to a selector", expr.span,
                                    hint="selectors combine only with `and`, `or`, `not`")
        if isinstance(left, graph.Sop) or isinstance(right, graph.Sop):
            return graph.Map.make((expr.op,), (self._as_sop(left, expr.left),
                                               self._as_sop(right, expr.right)), expr.span)
        if isinstance(left, list) and isinstance(right, list):
            if expr.op == "+":
                return _bounded(left + right, expr.span)
            if expr.op in ("==", "!="):
                return (left == right) == (expr.op == "==")
        return self._scalar(expr, expr.op, left, right)

    def _logical(self, expr: ast.Binary, left: Any, right: Any) -> Any:
        selectors = [isinstance(v, graph.Selector) for v in (left, right)]
        if all(selectors):
            kind = graph.SelectAnd if expr.op == "and" else graph.SelectOr
            return kind.make((), (left, right), expr.span)
        if any(selectors):
            other = right if selectors[0] else left
            raise RaspTypeError(f"cannot combine a selector with {kind_name(other)} using "
                                f"`{expr.op}`", expr.span)
        if isinstance(left, graph.Sop) or isinstance(right, graph.Sop):
            return graph.Map.make((expr.op,), (self._as_sop(left, expr.left),
                                               self._as_sop(right, expr.right)), expr.span)
        # Plain values keep Python's meaning: `a or b` is a or b, not a boolean.
        return (left and right) if expr.op == "and" else (left or right)

    def _contains(self, expr: ast.Binary) -> Any:
        item, container = self.eval(expr.left), self.eval(expr.right)
        if isinstance(item, graph.Sop):
            if not isinstance(container, list) or not all(is_atom(v) for v in container):
                raise RaspTypeError(f"`s-op in X` needs X to be a list of atoms, but it is "
                                    f"{kind_name(container)}", expr.right.span)
            return graph.InList.make((tuple(container),), (item,), expr.span)
        if is_atom(item):
            if isinstance(container, (list, dict)):
                return item in container
            if isinstance(container, graph.Sop):
                found = graph.Map.make(("==",), (container, self._constant(item)), expr.span)
                share = graph.Aggregate.make((0,), (self._full_selector(expr.span),
                                                    graph.Map.make(("indicator",), (found,),
                                                                   expr.span)), expr.span)
                return graph.Map.make((">",), (share, self._constant(0)), expr.span)
            if isinstance(container, str):
                return str(item) in container
        raise RaspTypeError(f"cannot test whether {kind_name(item)} is in "
                            f"{kind_name(container)}", expr.span)

    def _full_selector(self, span: ast.Span) -> graph.Selector:
        one = self._constant(1)
        return graph.Select.make(("==",), (one, one), span)

    def _constant(self, value: Any) -> graph.Sop:
        return graph.Constant.make((value,), ())

    def _as_sop(self, value: Any, expr: ast.Expr) -> graph.Sop:
        if isinstance(value, graph.Sop):
            return value
        if is_atom(value):
            try:
                ops.as_array(value)  # refuses ints beyond 64 bits, here where it can say where
            except ops.OpError as error:
                raise error.rasp_error(str(error), expr.span) from None
            return self._constant(value)
        raise RaspTypeError(f"expected an s-op or an atom, but this is {kind_name(value)}",
                            expr.span)

    def _expect_sop(self, value: Any, expr: ast.Expr, what: str) -> graph.Sop:
        if not isinstance(value, graph.Sop):
            raise RaspTypeError(f"{what} expects an s-op, but this is {kind_name(value)}",
                                expr.span)
        return value

    def _eval_Ternary(self, expr: ast.Ternary) -> Any:
        cond = self.eval(expr.cond)
        if isinstance(cond, graph.Selector):
            raise RaspTypeError("the condition of `a if c else b` cannot be a selector",
                                expr.cond.span)
        if isinstance(cond, graph.Sop):
            then, otherwise = self.eval(expr.then), self.eval(expr.otherwise)
            return graph.Map.make(("if",), (cond, self._as_sop(then, expr.then),
                                            self._as_sop(otherwise, expr.otherwise)), expr.span)
        # A plain condition picks one branch lazily, so loops over atoms can branch.
        return self.eval(expr.then) if cond else self.eval(expr.otherwise)

    def _eval_Index(self, expr: ast.Index) -> Any:
        target, index = self.eval(expr.target), self.eval(expr.index)
        if isinstance(target, (list, str)):
            if not isinstance(index, int) or isinstance(index, bool):
                raise RaspTypeError(f"a list or string index must be an int, not "
                                    f"{kind_name(index)}", expr.index.span)
            if not -len(target) <= index < len(target):
                raise RaspValueError(f"index {index} is out of range for a "
                                     f"{ops.type_name(target)} of length {len(target)}",
                                     expr.index.span)
            return target[index]
        if isinstance(target, dict):
            if not is_atom(index):
                raise RaspTypeError("a dict index must be a number, string or boolean",
                                    expr.index.span)
            if index not in target:
                raise RaspValueError(f"key {index!r} is not in the dict", expr.index.span,
                                     hint=did_you_mean(str(index), [str(k) for k in target]))
            return target[index]
        if isinstance(target, graph.Sop):
            if not isinstance(index, int) or isinstance(index, bool):
                raise RaspTypeError(f"an s-op index must be an int, not {kind_name(index)}",
                                    expr.index.span)
            # s[i] reads position i (from the end when negative) into every position.
            position: graph.Sop = self._constant(index)
            if index < 0:
                position = graph.Map.make(("+",), (graph.Length.make((), ()), position),
                                          expr.span)
            select = graph.Select.make(("==",), (graph.Indices.make((), ()), position),
                                       expr.span)
            return graph.Aggregate.make((0,), (select, target), expr.span)
        raise RaspTypeError(f"cannot index into {kind_name(target)}", expr.target.span)

    def _eval_Call(self, expr: ast.Call) -> Any:
        func = self.eval(expr.func)
        args = [self.eval(arg) for arg in expr.args]
        if isinstance(func, Function):
            return self.call(func, args, expr)
        if isinstance(func, Builtin):
            self._check_arity(func.signature(), len(func.params), args, expr)
            try:
                return func.build(*args, span=expr.span)
            except RaspError as error:
                if error.span is ast.NO_SPAN:
                    error.span = expr.span
                raise
        if isinstance(func, graph.Node):
            if len(args) != 1:
                raise RaspTypeError(f"applying {kind_name(func)} takes one input, "
                                    f"got {len(args)}", expr.span)
            return apply_to_input(func, args[0], expr.args[0].span)
        raise RaspTypeError(f"{kind_name(func)} is not a function", expr.func.span)

    def _check_arity(self, signature: str, expected: int, args: list, expr: ast.Call) -> None:
        if len(args) != expected:
            raise RaspTypeError(f"`{signature}` takes {expected} argument"
                                f"{'s' if expected != 1 else ''}, got {len(args)}", expr.span)

    def call(self, func: Function, args: list, expr: ast.Call) -> Any:
        definition = func.definition
        self._check_arity(func.signature(), len(definition.params), args, expr)
        scope = Scope(func.closure)
        for name, value in zip(definition.params, args):
            scope.variables[name] = value
        inner = Interpreter(scope, self.loader, budget=self.budget)
        for statement in definition.body:
            inner.execute(statement)
        results = [inner.eval(value) for value in definition.ret.values]
        return results[0] if len(results) == 1 else tuple(results)

    def _eval_Select(self, expr: ast.Select) -> graph.Selector:
        keys = self._select_operand(expr.keys)
        queries = self._select_operand(expr.queries)
        return graph.Select.make((expr.op,), (keys, queries), expr.span)

    def _select_operand(self, expr: ast.Expr) -> graph.Sop:
        value = self.eval(expr)
        if isinstance(value, graph.Sop) or is_atom(value):
            return self._as_sop(value, expr)
        raise RaspTypeError(f"select compares s-ops or atoms, but this is {kind_name(value)}",
                            expr.span)

    def _eval_Aggregate(self, expr: ast.Aggregate) -> graph.Sop:
        selector = self.eval(expr.selector)
        if not isinstance(selector, graph.Selector):
            raise RaspTypeError(f"`aggregate` expects a selector as its first argument, but "
                                f"this is {kind_name(selector)}", expr.selector.span,
                                hint="build one with select(keys, queries, op)")
        sop = self._as_sop(self.eval(expr.sop), expr.sop)
        default = self.eval(expr.default) if expr.default is not None else 0
        if not is_atom(default):
            raise RaspTypeError(f"the default of `aggregate` must be an atom, but this is "
                                f"{kind_name(default)}", expr.default.span)
        return graph.Aggregate.make((default,), (selector, sop), expr.span)

    def _eval_Range(self, expr: ast.Range) -> list:
        args = [self.eval(a) for a in expr.args]
        if not 1 <= len(args) <= 3 or not all(isinstance(a, int) and not isinstance(a, bool)
                                                for a in args):
            raise RaspTypeError("range takes 1 to 3 integers", expr.span)
        if len(args) == 3 and args[2] == 0:
            raise RaspValueError("the step of range cannot be 0", expr.args[2].span)
        return list(_bounded(range(*args), expr.span))

    def _eval_Zip(self, expr: ast.Zip) -> list:
        lists = [self.eval(a) for a in expr.args]
        for arg, value in zip(expr.args, lists):
            if not isinstance(value, list):
                raise RaspTypeError(f"zip takes lists, but this is {kind_name(value)}", arg.span)
        if len({len(v) for v in lists}) > 1:
            raise RaspValueError("zip needs lists of equal length", expr.span)
        return [list(items) for items in zip(*lists)]

    def _eval_Len(self, expr: ast.Len) -> int:
        value = self.eval(expr.arg)
        if not isinstance(value, (list, dict, str)):
            raise RaspTypeError(f"len takes a list, dict or string, but this is "
                                f"{kind_name(value)}", expr.arg.span)
        return len(value)


def _bounded(items: Any, span: ast.Span) -> Any:
    """`items` (a list, string or range), refused when longer than limits.MAX_LIST_LENGTH."""
    if len(items) > limits.MAX_LIST_LENGTH:
        raise RaspValueError(f"this would make {len(items):,} items, more than the "
                             f"{limits.MAX_LIST_LENGTH:,} a list or string may hold", span,
                             hint="programs work on short lists; the input is the long sequence")
    return items


def input_tokens(value: Any, span: ast.Span) -> list:
    """An input written in RASP (`"abc"` or `[1, 2]`) as a list of tokens."""
    if isinstance(value, str):
        return list(value)
    if isinstance(value, list) and all(is_atom(v) for v in value):
        return value
    raise RaspTypeError(f"an input must be a string or a list of atoms, but this is "
                        f"{kind_name(value)}", span)


def apply_to_input(node: graph.Node, value: Any, span: ast.Span) -> Any:
    """Evaluate an s-op or selector on one input, as `sop("abc")` does."""
    tokens = evaluate.normalise_input(input_tokens(value, span))
    result = evaluate.run(node, [tokens])[0]
    if isinstance(node, graph.Selector):
        return SelectorValue(tuple(tuple(row) for row in result), tuple(tokens))
    return SequenceValue(tuple(result), tuple(tokens))


def evaluate_show(value: Any) -> str:
    return repr(value) if is_atom(value) else kind_name(value)
