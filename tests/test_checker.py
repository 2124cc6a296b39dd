"""The static checker finds name and kind errors before anything runs, and accepts valid RASP."""

from __future__ import annotations

from typing import Optional

import pytest

from rasp import ast
from rasp.checker import (UNKNOWN, BuiltinKind, Checker, FunctionKind, Kind, SelectorKind,
                          SopKind, TupleKind, ValueKind, builtin_scope, describe)
from rasp.errors import RaspError, RaspNameError, RaspTypeError
from rasp.parser import parse

# The standard library as the real program auto-loads it (written in terms of the primitives).
LIBRARY = """
tokens = tokens_str;
def has_focus(sel) { return aggregate(sel,1,0)>0; }
full_s = select(1,1,==);
def count(seq,atom) { return round(length * aggregate(full_s, indicator(seq==atom))); }
def max(a,b) { return a if a>b else b; }
def load_from_location(seq,location) { return aggregate(select(indices,location,==),seq); }
def shift(seq,n,filler) { return aggregate(select(indices+n,indices,==), seq, filler); }
def mark_last_instance(seq,val) {
	has_val = seq == val;
	find_later_val = select(seq,val,==) and select(indices,indices,>);
	return has_val and not has_focus(find_later_val);
}
def sort(seq,key) {
	select_earlier_in_sorted = select(key,key,<) or (select(key,key,==) and select(indices,indices,<));
	target_position = selector_width(select_earlier_in_sorted);
	return aggregate(select(target_position,indices,==),seq);
}
"""

# The paper's Dyck-k recogniser: a list comprehension over a function parameter, `in` a list.
DYCK = """
def dyck(pairs) {
    opening = [pair[0] for pair in pairs];
    closing = [pair[1] for pair in pairs];
    is_open = indicator(tokens in opening);
    is_close = indicator(tokens in closing);
    prefix = select(indices, indices, <=);
    depth = (indices + 1) * (aggregate(prefix, is_open) - aggregate(prefix, is_close));
    level = depth + is_close;
    level_rank = selector_width(select(level, level, ==) and prefix);
    partner = select(is_open, True, ==) and select(level, level, ==)
              and select(level_rank, level_rank - 1, ==);
    opener = aggregate(partner, tokens, "-");
    bad_close = is_close and not (opener + tokens in pairs);
    broken = aggregate(prefix, indicator(bad_close or (depth < 0))) > 0;
    return "F" if broken else ("T" if depth == 0 else "P");
}
dyck2 = dyck(["()", "{}"]);
"""

# The paper's long addition: nested def, a for loop over a dict, multiple return and assignment.
LONG_ADDITION = """
def split_operands() {
    def digit_value(t) {
        digits = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9};
        value = -1;
        for d in digits { value = digits[d] if t == d else value; }
        return value;
    }
    plus_at = aggregate(select(tokens, "+", ==), indices);
    numbers = digit_value(tokens);
    right = numbers if indices > plus_at else 0;
    left = aggregate(select(indices + length - plus_at, indices, ==), numbers, 0);
    return left, right;
}
left, right = split_operands();
carry_in = aggregate(select(indices, indices + 1, ==), left + right > 9, False);
sum_digits = (left + right + indicator(carry_in)) % 10;
"""


def run(text: str, checker: Optional[Checker] = None) -> dict[str, Kind]:
    checker = checker or library_checker()
    return checker.check_module(parse(text, "case.rasp"), text)


def library_checker() -> Checker:
    checker = Checker()
    checker.check_module(parse(LIBRARY, "lib.rasp"), LIBRARY)
    return checker


def kind_of(expr: str) -> Kind:
    return run(f"result = {expr};")["result"]


# ------------------------------------------------------------------- valid programs


def test_library_passes_and_defines_functions() -> None:
    scope = library_checker().scope
    assert scope["tokens"] == SopKind("str")
    assert scope["full_s"] == SelectorKind()
    assert describe(scope["shift"]) == "function shift(seq, n, filler)"


def test_paper_programs_pass_with_the_right_kinds() -> None:
    assert run(DYCK)["dyck2"] == SopKind("str")
    scope = run(LONG_ADDITION)
    assert isinstance(scope["left"], SopKind) and isinstance(scope["right"], SopKind)
    assert scope["carry_in"] == SopKind("bool")


@pytest.mark.parametrize("expr, expected", [
    ("sort(tokens, indices)", SopKind("str")),
    ("select(tokens, tokens, ==)", SelectorKind()),
    ("aggregate(full_s, tokens)", SopKind("str")),
    ("aggregate(full_s, tokens_int)", SopKind("number")),
    ("aggregate(full_s, tokens, 0)", SopKind()),  # str or the int default
    ("selector_width(select(tokens, tokens, ==))", SopKind("int")),
    ("shift(tokens, 1, \"-\")", SopKind("str")),
    ("count(tokens, \"a\")", SopKind("int")),
    ("mark_last_instance(tokens, \"a\")", SopKind("bool")),
    ("has_focus(full_s)", SopKind("bool")),
    ("max(1, 2)", ValueKind("int")),
    ("max(indices, 2)", SopKind("int")),
    ("indices / 2", SopKind("float")),
    ("round(indices / 2)", SopKind("int")),
    ("tokens + \"!\"", SopKind("str")),
    ("tokens == \"a\"", SopKind("bool")),
    ("not full_s", SelectorKind()),
    ("full_s and select(indices, 0, ==)", SelectorKind()),
    ("tokens == \"a\" or indices > 2", SopKind("bool")),
    ("tokens in [\"a\", \"b\"]", SopKind("bool")),
    ("\"a\" in [\"a\"]", ValueKind("bool")),
    ("tokens if indices > 0 else \"-\"", SopKind("str")),
    ("indices if indices > 0 else 0.5", SopKind("number")),
    ("1 if True else 2", ValueKind("int")),
    ("tokens[0]", SopKind("str")),
    ("[1, 2][0]", UNKNOWN),
    ("tokens(\"abc\")", ValueKind("list")),
    ("numerical(indices)", SopKind("int")),
    ("{\"a\": 1}", ValueKind("dict")),
    ("[x * 2 for x in range(3)]", ValueKind("list")),
    ("{k: v for k, v in zip([1], [2])}", ValueKind("dict")),
    ("len([1, 2])", ValueKind("int")),
])
def test_kinds(expr: str, expected: Kind) -> None:
    assert kind_of(expr) == expected


def test_nested_defs_multiple_return_loops_and_comprehensions() -> None:
    scope = run("""
def outer(seq) {
    def inner(x) { return x + offset; }   # `offset` is bound later in outer: fine at call time
    offset = 1;
    return inner(seq), select(seq, seq, ==);
}
a, b = outer(indices);
total = 0;
for k in {"x": 1, "y": 2} { total = total + 1; }
for i, j in zip(range(2), range(2)) { total = total + i * j; }
squares = [i * i for i in range(5)];
""")
    assert scope["a"] == SopKind("int") and scope["b"] == SelectorKind()
    assert scope["squares"] == ValueKind("list")


def test_function_body_may_use_global_defined_later() -> None:
    scope = run("def f() { return later + 1; }\nlater = indices;\nx = f();")
    assert scope["x"] == SopKind("int")


def test_unknown_parameters_never_cause_errors() -> None:
    scope = run("def g(s, v) { return aggregate(s, v, 0) + v; }")
    assert isinstance(scope["g"], FunctionKind)


def test_recursion_gives_unknown() -> None:
    assert run("def f(x) { return f(x); }\ny = f(1);")["y"] == UNKNOWN


def test_tuple_result_bound_to_one_name() -> None:
    scope = run("def two() { return 1, tokens; }\npair = two();")
    assert scope["pair"] == TupleKind((ValueKind("int"), SopKind("str")))


def test_repl_commands_are_checked() -> None:
    run("set example \"hello\"\nshow example\nexamples off\nfull seq display on\nexit")
    with pytest.raises(RaspNameError, match="unknown name `helo`"):
        run("set example helo")


# ------------------------------------------------------------------------- errors

ERRORS = [
    # source, error class, message fragment, (line, column), hint fragment
    ("x = selectr_width(full_s);", RaspNameError, "unknown name `selectr_width`", (1, 5),
     "did you mean `selector_width`?"),
    ("def f(a) {\n  return a + zzz;\n}", RaspNameError, "unknown name `zzz`", (2, 14), None),
    ("x = y;\ny = 1;", RaspNameError, "unknown name `y`", (1, 5), "assigned further down"),
    ("def f() {\n  a = b;\n  b = 1;\n  return a;\n}", RaspNameError, "unknown name `b`", (2, 7),
     "assigned further down"),
    ("def f() { return aggregate(tokens, 1); }", RaspTypeError, "expects a selector", (1, 28),
     None),  # found in a body that is never called
    ("x = shift(tokens, 1);", RaspTypeError,
     "`shift` takes 3 arguments (seq, n, filler), got 2", (1, 5), "shift(seq, n, filler)"),
    ("x = selector_width(full_s, full_s);", RaspTypeError,
     "`selector_width` takes 1 argument (sel), got 2", (1, 5), None),
    ("x = indicator(select(tokens, tokens, ==));", RaspTypeError,
     "`indicator` expects an s-op, but `select(tokens, tokens, ==)` is a selector", (1, 15),
     "selectors go into aggregate"),
    ("x = indicator(3);", RaspTypeError, "`indicator` expects an s-op", (1, 15), None),
    ("x = select(full_s, tokens, ==);", RaspTypeError, "`select` expects s-ops or values",
     (1, 12), None),
    ("s = full_s;\nx = s + 1;", RaspTypeError, "`+` expects s-ops or values, but `s` is a selector",
     (2, 5), None),
    ("x = -full_s;", RaspTypeError, "unary `-` expects an s-op or a value", (1, 6), None),
    ("x = aggregate(tokens, tokens);", RaspTypeError,
     "`aggregate` expects a selector as its first argument, but `tokens` is an s-op", (1, 15),
     "build one with select(keys, queries, op)"),
    ("x = aggregate(full_s, full_s);", RaspTypeError, "as its second argument", (1, 23), None),
    ("x = aggregate(full_s, tokens, indices);", RaspTypeError,
     "`aggregate` expects a plain value as its default, but `indices` is an s-op", (1, 31),
     "constant"),
    ("x = full_s and tokens == \"a\";", RaspTypeError,
     "`and` cannot combine a selector with an s-op", (1, 5), "select(x, True, ==)"),
    ("x = indices > 1 or full_s;", RaspTypeError, "`or` cannot combine a selector", (1, 5), None),
    ("for t in tokens { y = t; }", RaspTypeError,
     "a for loop iterates over a plain list, dict or range, but `tokens` is an s-op", (1, 10),
     "unrolled"),
    ("y = [x for x in full_s];", RaspTypeError, "a comprehension iterates", (1, 17), None),
    ("x = 3;\ny = x(1);", RaspTypeError, "`x` is a value (int), not a function", (2, 5), None),
    ("y = tokens(\"a\", \"b\");", RaspTypeError, "is applied to one input, got 2 arguments",
     (1, 5), None),
    ("y = full_s(\"a\", \"b\");", RaspTypeError, "a selector is applied to one input", (1, 5), None),
    ("def f() { return 1, 2, 3; }\na, b = f();", RaspTypeError,
     "2 names on the left but 3 values on the right", (2, 1), "`f()` returns 3 values"),
    ("a, b = 1, 2, 3;", RaspTypeError, "2 names on the left but 3 values", (1, 1), None),
    ("a, b = tokens;", RaspTypeError, "assigning to 2 names needs several values", (1, 8), None),
    ("draw(full_s);", RaspTypeError, "`draw` expects an s-op, but `full_s` is a selector",
     (1, 6), None),
    ("x = tokens - 1;", RaspTypeError, "unsupported operand types for `-`: str and int", (1, 5),
     None),
    ("x = \"a\" * 2;", RaspTypeError, "unsupported operand types for `*`: str and int", (1, 5),
     None),
    ("x = tokens_int + tokens;", RaspTypeError, "unsupported operand types for `+`: int and str",
     (1, 5), None),
    ("x = \"a\" + 1.5;", RaspTypeError, "`+`: str and float", (1, 5), None),
    ("x = round(tokens);", RaspTypeError, "round expects numbers", (1, 5), None),
    ("x = selector_width(tokens);", RaspTypeError,
     "`selector_width` expects a selector, but `tokens` is an s-op", (1, 20), "select("),
    ("x = numerical(full_s);", RaspTypeError, "`numerical` expects an s-op", (1, 15), None),
    ("x = full_s[0];", RaspTypeError, "only s-ops and plain values can be indexed", (1, 5), None),
    ("x = tokens[\"a\"];", RaspTypeError, "an s-op is indexed by an int position", (1, 12), None),
    ("x = tokens in tokens;", RaspTypeError, "expects a plain list on its right", (1, 15), None),
    ("x = full_s in [1];", RaspTypeError, "`in` expects an s-op or a value on its left", (1, 5),
     None),
    ("x = full_s if indices > 0 else full_s;", RaspTypeError,
     "both branches of `if` must be s-ops or values", (1, 5), None),
    ("x = 1 if full_s else 2;", RaspTypeError, "the condition of `if`", (1, 10), None),
    ("x = not shift;", RaspTypeError, "but `shift` is a function shift(seq, n, filler)", (1, 9),
     None),
    ("def g(s) { return aggregate(s, s); }\nx = g(tokens);", RaspTypeError,
     "`aggregate` expects a selector", (1, 29), "found while checking the call to `g` at case.rasp:2:5"),
]


@pytest.mark.parametrize("source, cls, message, place, hint", ERRORS,
                         ids=[case[0].splitlines()[-1] for case in ERRORS])
def test_errors(source: str, cls: type[RaspError], message: str, place: tuple[int, int],
                hint: Optional[str]) -> None:
    with pytest.raises(cls) as caught:
        run(source)
    error = caught.value
    assert message in error.message
    assert (error.span.line, error.span.column) == place
    if hint is not None:
        assert error.hint is not None and hint in error.hint


def test_error_in_library_body_points_into_library_source() -> None:
    with pytest.raises(RaspTypeError) as caught:
        run("x = shift(full_s, 1, 0);")
    error = caught.value
    assert error.span.file == "lib.rasp" and "`seq` is a selector" in error.message
    assert "def shift(seq,n,filler)" in error.render()
    assert "case.rasp:1:5" in error.hint


def test_render_underlines_the_offending_expression() -> None:
    with pytest.raises(RaspNameError) as caught:
        run("x = 1;\ny = selectr_width(full_s);")
    assert caught.value.render() == (
        "case.rasp:2:5: unknown name `selectr_width`\n"
        "    y = selectr_width(full_s);\n"
        "        ^^^^^^^^^^^^^\n"
        "hint: did you mean `selector_width`?")


# ----------------------------------------------------------- scope and loading


def test_scope_persists_across_modules_and_rolls_back_on_error() -> None:
    checker = library_checker()
    run("hist = selector_width(select(tokens, tokens, ==));", checker)
    assert run("y = hist + 1;", checker)["y"] == SopKind("int")
    with pytest.raises(RaspNameError):
        run("z = 1;\nw = nothing;", checker)
    assert "z" not in checker.scope and "y" in checker.scope


def test_builtin_scope_and_describe() -> None:
    scope = builtin_scope()
    assert scope["indices"] == SopKind("int") and scope["True"] == ValueKind("bool")
    assert "tokens" not in scope  # the library defines it
    assert isinstance(scope["selector_width"], BuiltinKind)
    assert describe(scope["selector_width"]) == "function selector_width(sel)"
    assert describe(SopKind("int")) == "s-op (int)"
    assert describe(ValueKind("list")) == "value (list)"
    assert describe(SelectorKind()) == "selector"


def test_load_merges_what_the_loader_returns() -> None:
    seen: list[tuple[str, ast.Span]] = []

    def loader(path: str, span: ast.Span) -> dict[str, Kind]:
        seen.append((path, span))
        return {"helper": SopKind("int")}

    scope = Checker(loader=loader).check_module(parse("load \"extra\";\nx = helper * 2;"))
    assert scope["x"] == SopKind("int")
    assert seen[0][0] == "extra" and seen[0][1].line == 1


def test_load_without_loader_is_an_error() -> None:
    with pytest.raises(RaspError, match="cannot load `extra`"):
        Checker().check_module(parse("load \"extra\";"))
