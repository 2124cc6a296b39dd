"""Static checker: finds name and kind errors in a RASP program before anything runs.

Every expression gets a *kind*: a plain value, an s-op, a selector, a function, a
built-in function, a tuple (several return values) or unknown. Values and s-ops
also carry an element type when it is known (int, float, str, bool, list, dict,
or "number" for int-or-float). The rules:

- An elementwise operation (arithmetic, comparison, `not`, `round`, ternary,
  `in`) gives an s-op when any operand is an s-op ("s-op wins"), else a value.
- Selectors only go into `and`/`or`/`not`, `aggregate`, `selector_width` and
  function arguments; two selectors combine into a selector. Anywhere else a
  selector (or a function) is a type error, as is an s-op where a selector or a
  plain value is required (`aggregate(tokens, ...)`, an s-op as default).
- Arithmetic types: int op int is int (`/` gives float), a float makes float,
  bool counts as int, str + str is str. `- * / % ^` on a str, or `+` between a
  str and a number, is an error when both types are known.
- A `def` body is checked when defined, with its parameters unknown; each call
  checks the body again with the argument kinds (memoised; recursion gives
  unknown). Lookup is dynamic as in the interpreter, so a body may use names the
  enclosing scopes bind later; top-level statements are sequential.
- UNKNOWN never causes an error: the checker only reports definite mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Union

from rasp import ast
from rasp.errors import RaspError, RaspNameError, RaspTypeError, did_you_mean

NUMERIC = frozenset({"int", "float", "bool", "number"})
CONTAINERS = frozenset({"list", "dict", "str"})
UNROLL_HINT = "loops are unrolled before running, so they go over plain values, not s-ops"
SELECTOR_HINT = "selectors go into aggregate and selector_width, and combine with and/or/not"


@dataclass(frozen=True)
class ValueKind:
    type: Optional[str] = None  # int float str bool list dict, None when unknown


@dataclass(frozen=True)
class SopKind:
    type: Optional[str] = None  # element type: int float str bool number, None when unknown


@dataclass(frozen=True)
class SelectorKind:
    pass


@dataclass(frozen=True)
class UnknownKind:
    pass


@dataclass(frozen=True)
class TupleKind:
    items: tuple[Kind, ...]


@dataclass(frozen=True, eq=False)
class FunctionKind:
    """A RASP `def`; compared by identity since it closes over a mutable scope."""

    name: str
    params: tuple[str, ...]
    node: ast.FuncDef
    scope: Scope
    source: Optional[str] = None  # text of the file defining it, for error excerpts


class BadArgument(Exception):
    """Raised by a built-in rule: argument `index` should have been `expected`."""

    def __init__(self, index: int, expected: str, hint: Optional[str] = None):
        super().__init__(expected)
        self.index, self.expected, self.hint = index, expected, hint


@dataclass(frozen=True)
class BuiltinKind:
    name: str
    params: tuple[str, ...]
    rule: Callable[[tuple[Kind, ...]], Kind] = field(compare=False)


Kind = Union[ValueKind, SopKind, SelectorKind, UnknownKind, TupleKind, FunctionKind, BuiltinKind]
SELECTOR = SelectorKind()
UNKNOWN = UnknownKind()


def describe(kind: Kind) -> str:
    """Human wording of a kind: "s-op (int)", "selector", "function shift(seq, n, filler)"."""
    match kind:
        case ValueKind(type=t):
            return f"value ({t})" if t else "value"
        case SopKind(type=t):
            return f"s-op ({t})" if t else "s-op"
        case SelectorKind():
            return "selector"
        case FunctionKind() | BuiltinKind():
            return f"function {kind.name}({', '.join(kind.params)})"
        case TupleKind(items=items):
            return f"tuple of {len(items)} values ({', '.join(map(describe, items))})"
    return "unknown"


def _a(kind: Kind) -> str:
    text = describe(kind)
    return ("an " if text.startswith(("s-op", "u")) else "a ") + text


def _is(kind: Kind, *kinds: type) -> bool:
    """Whether `kind` is one of `kinds`; UNKNOWN always fits."""
    return isinstance(kind, (UnknownKind, *kinds))


def _selector_width(args: tuple[Kind, ...]) -> Kind:
    if not _is(args[0], SelectorKind):
        raise BadArgument(0, "a selector", "build one with select(keys, queries, op)")
    return SopKind("int")


def _encoding_hint(args: tuple[Kind, ...]) -> Kind:
    # numerical/categorical only annotate an s-op for the compiler.
    if not _is(args[0], SopKind):
        raise BadArgument(0, "an s-op")
    return args[0]


def builtin_scope() -> dict[str, Kind]:
    """The names every program starts with (the library is written in terms of these)."""
    return {
        "tokens_str": SopKind("str"), "tokens_int": SopKind("int"),
        "tokens_float": SopKind("float"), "tokens_bool": SopKind("bool"),
        "tokens_asis": SopKind(), "indices": SopKind("int"), "length": SopKind("int"),
        "True": ValueKind("bool"), "False": ValueKind("bool"),
        "selector_width": BuiltinKind("selector_width", ("sel",), _selector_width),
        "numerical": BuiltinKind("numerical", ("sop",), _encoding_hint),
        "categorical": BuiltinKind("categorical", ("sop",), _encoding_hint),
    }


@dataclass(eq=False)
class Scope:
    """One level of name binding: the module, a function call, or a comprehension.

    `pending` holds the names this level binds somewhere in its statements. A
    function body runs later than its definition, so from inside a nested
    function those names count as bound (with unknown kind) even before their
    assignment; code running in the level itself sees only what is bound so far.
    """

    names: dict[str, Kind]
    parent: Optional[Scope] = None
    function: bool = False
    pending: frozenset[str] = frozenset()

    def _levels(self) -> Iterator[tuple[Scope, frozenset[str]]]:
        """Each level outwards, with the pending names that count there."""
        scope, inside_function = self, False
        while scope is not None:
            yield scope, scope.pending if inside_function else frozenset()
            inside_function = inside_function or scope.function
            scope = scope.parent

    def lookup(self, name: str) -> Optional[Kind]:
        for scope, pending in self._levels():
            if name in scope.names:
                return scope.names[name]
            if name in pending:
                return UNKNOWN
        return None

    def visible(self) -> set[str]:
        """The names `lookup` finds, for did-you-mean hints."""
        return set().union(*(scope.names.keys() | pending for scope, pending in self._levels()))

    def bound_later(self, name: str) -> bool:
        return any(name in scope.pending for scope, _ in self._levels())


def bound_names(statements: tuple) -> frozenset[str]:
    """Names a block binds at its own level (loops are unrolled in place)."""
    names: set[str] = set()
    for stmt in statements:
        if isinstance(stmt, (ast.Assign, ast.ForLoop)):
            names.update(stmt.targets)
        if isinstance(stmt, ast.ForLoop):
            names |= bound_names(stmt.body)
        elif isinstance(stmt, ast.FuncDef):
            names.add(stmt.name)
    return frozenset(names)


def _join(left: Optional[str], right: Optional[str]) -> Optional[str]:
    """Element type of something that is either `left` or `right`."""
    if left == right:
        return left
    return "number" if {left, right} <= NUMERIC else None


Loader = Callable[[str, ast.Span], dict[str, Kind]]


class Checker:
    """Checks modules one after another against a persistent global scope."""

    def __init__(self, scope: Optional[dict[str, Kind]] = None, loader: Optional[Loader] = None):
        """`scope` (updated in place; default `builtin_scope()`) holds the global names;
        `loader(path, span)` returns the public names a `load`ed file defines."""
        self._globals = Scope(scope if scope is not None else builtin_scope())
        self._loader = loader
        self._source: Optional[str] = None
        self._memo: dict[tuple, Kind] = {}
        self._active: list[FunctionKind] = []  # function bodies being checked, innermost last

    @property
    def scope(self) -> dict[str, Kind]:
        return self._globals.names

    def check_module(self, module: ast.Module, source: Optional[str] = None) -> dict[str, Kind]:
        """Check statements in order, updating and returning the scope; raise the first RaspError.

        `source`, the module's text, goes into errors so `render()` can show the line.
        On error the scope is left as it was before the call, since the caller
        runs none of the module's statements then.
        """
        outer_source, self._source = self._source, source
        snapshot = dict(self._globals.names)
        self._globals.pending = bound_names(module.statements)
        try:
            self._block(module.statements, self._globals)
        except RaspError:
            self._globals.names.clear()
            self._globals.names.update(snapshot)
            raise
        finally:
            self._globals.pending = frozenset()
            self._source = outer_source
        return self._globals.names

    # ---------------------------------------------------------------- helpers

    def _error(self, cls: type[RaspError], message: str, span: ast.Span,
               hint: Optional[str] = None) -> RaspError:
        return cls(message, span, hint=hint, source=self._source)

    def _show(self, expr: ast.Expr) -> str:
        """The expression as written, for messages."""
        if isinstance(expr, ast.Name):
            return f"`{expr.id}`"
        span = expr.span
        lines = self._source.splitlines() if self._source else []
        if span.line == span.end_line and 0 < span.line <= len(lines):
            text = lines[span.line - 1][span.column - 1:span.end_column - 1]
            if len(text) <= 40:
                return f"`{text}`"
        return "this expression"

    def _expect(self, expr: ast.Expr, kind: Kind, kinds: tuple[type, ...], wanted: str,
                hint: Optional[str] = None) -> None:
        if not _is(kind, *kinds):
            if hint is None and isinstance(kind, SelectorKind):
                hint = SELECTOR_HINT
            raise self._error(RaspTypeError, f"{wanted}, but {self._show(expr)} is {_a(kind)}",
                              expr.span, hint)

    def _expect_container(self, expr: ast.Expr, kind: Kind, wanted: str,
                          allowed: tuple[type, ...] = (ValueKind,),
                          hint: Optional[str] = None) -> None:
        self._expect(expr, kind, allowed, wanted, hint)
        if isinstance(kind, ValueKind) and kind.type not in CONTAINERS | {None}:
            raise self._error(RaspTypeError, f"{wanted}, but {self._show(expr)} is {_a(kind)}",
                              expr.span, hint)

    # ------------------------------------------------------------- statements

    def _block(self, statements: tuple, scope: Scope) -> None:
        for stmt in statements:
            if scope is self._globals:
                # Globals may be rebound by this statement: call results memoised so far may change.
                self._memo.clear()
            self._statement(stmt, scope)

    def _statement(self, stmt, scope: Scope) -> None:
        match stmt:
            case ast.Assign():
                self._assign(stmt, scope)
            case ast.ExprStmt(expr=expr) | ast.SetExample(example=expr):
                self._expr(expr, scope)
            case ast.FuncDef():
                function = FunctionKind(stmt.name, stmt.params, stmt, scope, self._source)
                scope.names[stmt.name] = function
                # Check the body now (parameters unknown) so mistakes show even if never called.
                self._call_function(function, (UNKNOWN,) * len(stmt.params), None)
            case ast.ForLoop():
                iterable = self._expr(stmt.iterable, scope)
                self._expect_container(stmt.iterable, iterable,
                                       "a for loop iterates over a plain list, dict or range",
                                       hint=UNROLL_HINT)
                scope.names.update(dict.fromkeys(stmt.targets, UNKNOWN))
                self._block(stmt.body, scope)
            case ast.Draw():
                self._expect(stmt.sop, self._expr(stmt.sop, scope), (SopKind,),
                             "`draw` expects an s-op")
                if stmt.example is not None:
                    self._expect(stmt.example, self._expr(stmt.example, scope), (ValueKind,),
                                 "`draw` expects a plain input value")
            case ast.Load():
                if self._loader is None:
                    raise self._error(RaspError, f"cannot load `{stmt.path}` here", stmt.span)
                scope.names.update(self._loader(stmt.path, stmt.span))
            # The other REPL commands hold no expression.

    def _assign(self, stmt: ast.Assign, scope: Scope) -> None:
        values = tuple(self._expr(value, scope) for value in stmt.values)
        count = len(stmt.targets)
        if len(values) == count:
            kinds = values
        elif len(values) == 1:
            value, expr = values[0], stmt.values[0]
            if isinstance(value, TupleKind) and len(value.items) != count:
                raise self._error(
                    RaspTypeError, f"{count} names on the left but {len(value.items)} values "
                    "on the right", stmt.span, f"{self._show(expr)} returns {len(value.items)} values")
            self._expect_container(expr, value, f"assigning to {count} names needs several values",
                                   (ValueKind, TupleKind))
            kinds = value.items if isinstance(value, TupleKind) else (UNKNOWN,) * count
        else:
            raise self._error(RaspTypeError, f"{count} names on the left but {len(values)} values "
                              "on the right", stmt.span)
        scope.names.update(zip(stmt.targets, kinds))

    def _call_function(self, function: FunctionKind, args: tuple[Kind, ...],
                       call: Optional[ast.Span]) -> Kind:
        key = (function, args)
        if key in self._memo:
            return self._memo[key]
        if function in self._active:
            return UNKNOWN  # recursion: what it returns is not known yet
        node = function.node
        scope = Scope(dict(zip(node.params, args)), function.scope, True, bound_names(node.body))
        outer_source, self._source = self._source, function.source
        self._active.append(function)
        try:
            self._block(node.body, scope)
            kinds = tuple(self._expr(value, scope) for value in node.ret.values)
        except RaspError as error:
            if call is not None and len(self._active) == 1:
                # The error sits in the body; say which of the user's calls led there.
                note = f"found while checking the call to `{function.name}` at {call}"
                error.hint = f"{error.hint}; {note}" if error.hint else note
            raise
        finally:
            self._active.pop()
            self._source = outer_source
        result = kinds[0] if len(kinds) == 1 else TupleKind(kinds)
        self._memo[key] = result
        return result

    # ------------------------------------------------------------ expressions

    def _expr(self, expr: ast.Expr, scope: Scope) -> Kind:
        match expr:
            case ast.IntLit() | ast.FloatLit() | ast.StrLit():
                return ValueKind(type(expr.value).__name__)
            case ast.Name(id=name):
                kind = scope.lookup(name)
                if kind is None:
                    hint = (f"`{name}` is assigned further down; statements run in order"
                            if scope.bound_later(name) else did_you_mean(name, scope.visible()))
                    raise self._error(RaspNameError, f"unknown name `{name}`", expr.span, hint)
                return kind
            case ast.ListLit(items=items):
                for item in items:
                    self._expr(item, scope)
                return ValueKind("list")
            case ast.DictLit(entries=entries):
                for key, value in entries:
                    self._expr(key, scope)
                    self._expr(value, scope)
                return ValueKind("dict")
            case ast.ListComp() | ast.DictComp():
                return self._comprehension(expr, scope)
            case ast.Unary():
                return self._unary(expr, self._expr(expr.operand, scope))
            case ast.Binary():
                return self._binary(expr, self._expr(expr.left, scope),
                                    self._expr(expr.right, scope))
            case ast.Ternary():
                return self._ternary(expr, *(self._expr(part, scope) for part in
                                             (expr.then, expr.cond, expr.otherwise)))
            case ast.Index():
                return self._index(expr, self._expr(expr.target, scope),
                                   self._expr(expr.index, scope))
            case ast.Call():
                return self._call(expr, self._expr(expr.func, scope),
                                  tuple(self._expr(arg, scope) for arg in expr.args))
            case ast.Select():
                for part in (expr.keys, expr.queries):
                    self._expect(part, self._expr(part, scope), (SopKind, ValueKind),
                                 "`select` expects s-ops or values as keys and queries")
                return SELECTOR
            case ast.Aggregate():
                return self._aggregate(expr, scope)
            case ast.Range(args=args) | ast.Zip(args=args) | ast.Len(arg=args):
                for arg in args if isinstance(args, tuple) else (args,):
                    self._expect(arg, self._expr(arg, scope), (ValueKind,),
                                 "`range`, `zip` and `len` expect plain values")
                return ValueKind("int" if isinstance(expr, ast.Len) else "list")
        raise TypeError(f"not an expression: {expr!r}")

    def _comprehension(self, expr: ast.ListComp | ast.DictComp, scope: Scope) -> Kind:
        iterable = self._expr(expr.iterable, scope)
        self._expect_container(expr.iterable, iterable,
                               "a comprehension iterates over a plain list, dict or range",
                               hint=UNROLL_HINT)
        inner = Scope(dict.fromkeys(expr.targets, UNKNOWN), scope)
        if isinstance(expr, ast.ListComp):
            self._expr(expr.element, inner)
            return ValueKind("list")
        self._expr(expr.key, inner)
        self._expr(expr.value, inner)
        return ValueKind("dict")

    def _unary(self, expr: ast.Unary, operand: Kind) -> Kind:
        op, arg = expr.op, expr.operand
        if op == "not":
            self._expect(arg, operand, (SopKind, ValueKind, SelectorKind), "`not` expects an "
                         "s-op, a selector or a value")
            return SopKind("bool") if isinstance(operand, SopKind) else (
                ValueKind("bool") if isinstance(operand, ValueKind) else operand)
        if op == "indicator":
            self._expect(arg, operand, (SopKind,), "`indicator` expects an s-op")
            return SopKind("int")
        name = "round" if op == "round" else f"unary `{op}`"
        self._expect(arg, operand, (SopKind, ValueKind), f"{name} expects an s-op or a value")
        if isinstance(operand, UnknownKind):
            return UNKNOWN
        if operand.type not in NUMERIC | {None}:
            raise self._error(RaspTypeError, f"{name} expects numbers, but {self._show(arg)} is "
                              f"{_a(operand)}", expr.span)
        result = "int" if op == "round" or operand.type == "bool" else operand.type
        return type(operand)(result)

    def _binary(self, expr: ast.Binary, left: Kind, right: Kind) -> Kind:
        op = expr.op
        if op in ast.LOGICAL_OPS:
            return self._logical(expr, left, right)
        if op == "in":
            return self._contains(expr, left, right)
        for part, kind in ((expr.left, left), (expr.right, right)):
            self._expect(part, kind, (SopKind, ValueKind), f"`{op}` expects s-ops or values")
        result = "bool" if op in ast.COMPARISON_OPS else self._arithmetic_type(expr, left, right)
        if SopKind in (type(left), type(right)):
            return SopKind(result)
        return UNKNOWN if UNKNOWN in (left, right) else ValueKind(result)

    def _arithmetic_type(self, expr: ast.Binary, left: Kind, right: Kind) -> Optional[str]:
        op, types = expr.op, (getattr(left, "type", None), getattr(right, "type", None))
        if None in types:
            return None
        if "str" in types:
            if op == "+" and types == ("str", "str"):
                return "str"
            if op != "+" or NUMERIC & set(types):
                raise self._error(RaspTypeError, f"unsupported operand types for `{op}`: "
                                  f"{types[0]} and {types[1]}", expr.span)
            return None
        if not set(types) <= NUMERIC:
            return None
        if op == "/" or "float" in types:
            return "float"
        return "number" if "number" in types else "int"

    def _logical(self, expr: ast.Binary, left: Kind, right: Kind) -> Kind:
        for part, kind in ((expr.left, left), (expr.right, right)):
            self._expect(part, kind, (SopKind, ValueKind, SelectorKind),
                         f"`{expr.op}` expects s-ops, selectors or values")
        selectors = [isinstance(kind, SelectorKind) for kind in (left, right)]
        if any(selectors):
            other = right if selectors[0] else left
            if not _is(other, SelectorKind):
                raise self._error(
                    RaspTypeError, f"`{expr.op}` cannot combine a selector with {_a(other)}",
                    expr.span, "selectors combine only with selectors; to turn a boolean s-op "
                    "into one, use select(x, True, ==)")
            return SELECTOR
        if SopKind in (type(left), type(right)):
            return SopKind("bool")
        if isinstance(left, ValueKind) and isinstance(right, ValueKind):
            return ValueKind(left.type if left.type == right.type else None)
        return UNKNOWN

    def _contains(self, expr: ast.Binary, item: Kind, container: Kind) -> Kind:
        self._expect(expr.left, item, (SopKind, ValueKind), "`in` expects an s-op or a value "
                     "on its left")
        if isinstance(item, SopKind):
            self._expect_container(expr.right, container, "`in` with an s-op on its left expects "
                                   "a plain list on its right")
        else:
            self._expect_container(expr.right, container, "`in` expects a list, dict or s-op on "
                                   "its right", (ValueKind, SopKind))
        if SopKind in (type(item), type(container)):
            return SopKind("bool")
        return UNKNOWN if UNKNOWN in (item, container) else ValueKind("bool")

    def _ternary(self, expr: ast.Ternary, then: Kind, cond: Kind, otherwise: Kind) -> Kind:
        self._expect(expr.cond, cond, (SopKind, ValueKind), "the condition of `if` must be an "
                     "s-op or a value")
        if isinstance(cond, SopKind):
            for part, kind in ((expr.then, then), (expr.otherwise, otherwise)):
                self._expect(part, kind, (SopKind, ValueKind), "with an s-op condition, both "
                             "branches of `if` must be s-ops or values")
            return SopKind(_join(getattr(then, "type", None), getattr(otherwise, "type", None)))
        if type(then) is type(otherwise) and isinstance(then, (SopKind, ValueKind)):
            return type(then)(_join(then.type, otherwise.type))
        return then if then == otherwise else UNKNOWN

    def _index(self, expr: ast.Index, target: Kind, index: Kind) -> Kind:
        self._expect(expr.target, target, (SopKind, ValueKind), "only s-ops and plain values "
                     "can be indexed")
        self._expect(expr.index, index, (ValueKind,), "an index must be a plain value")
        if isinstance(target, ValueKind) and target.type in NUMERIC:
            raise self._error(RaspTypeError, f"cannot index {_a(target)}", expr.span)
        if isinstance(target, SopKind):
            if isinstance(index, ValueKind) and index.type not in {"int", "bool", None}:
                raise self._error(RaspTypeError, "an s-op is indexed by an int position, but "
                                  f"{self._show(expr.index)} is {_a(index)}", expr.index.span)
            return target
        return UNKNOWN

    def _call(self, expr: ast.Call, callee: Kind, args: tuple[Kind, ...]) -> Kind:
        if isinstance(callee, (FunctionKind, BuiltinKind)):
            params = callee.params
            if len(args) != len(params):
                count = f"{len(params)} argument{'s' * (len(params) != 1)}"
                count = f"{count} ({', '.join(params)})" if params else "no arguments"
                raise self._error(RaspTypeError, f"`{callee.name}` takes {count}, got {len(args)}",
                                  expr.span, f"call it as `{callee.name}({', '.join(params)})`")
            if isinstance(callee, FunctionKind):
                return self._call_function(callee, args, expr.span)
            try:
                return callee.rule(args)
            except BadArgument as bad:
                arg = expr.args[bad.index]
                raise self._error(RaspTypeError, f"`{callee.name}` expects {bad.expected}, but "
                                  f"{self._show(arg)} is {_a(args[bad.index])}", arg.span,
                                  bad.hint) from None
        if isinstance(callee, (SopKind, SelectorKind)):
            # Applying an s-op or selector to an input evaluates it there.
            if len(args) != 1:
                raise self._error(RaspTypeError, f"{_a(callee)} is applied to one input, got "
                                  f"{len(args)} arguments", expr.span)
            self._expect(expr.args[0], args[0], (ValueKind,), f"{_a(callee)} is applied to a "
                         "plain input value")
            return ValueKind("list")
        if isinstance(callee, UnknownKind):
            return UNKNOWN
        raise self._error(RaspTypeError, f"{self._show(expr.func)} is {_a(callee)}, not a function",
                          expr.func.span)

    def _aggregate(self, expr: ast.Aggregate, scope: Scope) -> Kind:
        selector, values = self._expr(expr.selector, scope), self._expr(expr.sop, scope)
        self._expect(expr.selector, selector, (SelectorKind,), "`aggregate` expects a selector as "
                     "its first argument", "build one with select(keys, queries, op)")
        self._expect(expr.sop, values, (SopKind, ValueKind), "`aggregate` expects an s-op or a "
                     "value as its second argument")
        element = getattr(values, "type", None)
        # Averaging ints gives fractions; other types are moved, not averaged.
        result = "number" if element == "int" else element
        if expr.default is not None:
            default = self._expr(expr.default, scope)
            self._expect(expr.default, default, (ValueKind,), "`aggregate` expects a plain value "
                         "as its default", "the default is a constant such as 0 or \"-\"")
            if getattr(default, "type", None) is not None and result is not None:
                result = _join(result, default.type)
        return SopKind(result)
