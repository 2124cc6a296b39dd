"""The parser: precedence of the original grammar, statements, spans, syntax errors, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasp import ast
from rasp.ast import Binary, Call, IntLit, Name, StrLit, Ternary, Unary
from rasp.errors import RaspError, RaspSyntaxError
from rasp.parser import parse, parse_expression
from rasp.printer import to_source
from strategies import modules, mutate

a, b, c, d, e = (Name(id) for id in "abcde")


def statement(source: str) -> ast.Stmt:
    """The single statement of `source`."""
    (only,) = parse(source).statements
    return only


def syntax_error(source: str) -> RaspSyntaxError:
    with pytest.raises(RaspSyntaxError) as caught:
        parse(source, "bad.rasp")
    return caught.value


# ------------------------------------------------------------------- precedence


@pytest.mark.parametrize("source, tree", [
    # Left associativity of every binary level, `^` included.
    ("a - b - c", Binary("-", Binary("-", a, b), c)),
    ("a ^ b ^ c", Binary("^", Binary("^", a, b), c)),
    ("a < b == c", Binary("==", Binary("<", a, b), c)),
    # `%` is its own level, looser than `*` and `/`, tighter than `+` and `-`.
    ("a % b * c", Binary("%", a, Binary("*", b, c))),
    ("a * b % c", Binary("%", Binary("*", a, b), c)),
    ("a + b % c", Binary("+", a, Binary("%", b, c))),
    # `and` and `or` share one left-associative level.
    ("a or b and c", Binary("and", Binary("or", a, b), c)),
    ("a and b or c", Binary("or", Binary("and", a, b), c)),
    ("a and b == c", Binary("and", a, Binary("==", b, c))),
    # Unary operators bind tighter than `^`; `not` binds tighter than comparisons.
    ("-a ^ 2", Binary("^", Unary("-", a), IntLit(2))),
    ("not a == b", Binary("==", Unary("not", a), b)),
    ("- -a", Unary("-", Unary("-", a))),
    ("-a[0]", Unary("-", ast.Index(a, IntLit(0)))),
    ("-1", Unary("-", IntLit(1))),
    # The ternary associates to the left, its condition is a full expression and its
    # else branch is at the `and`/`or` level.
    ("a if b else c if d else e", Ternary(Ternary(a, b, c), d, e)),
    ("a if b else (c if d else e)", Ternary(a, b, Ternary(c, d, e))),
    ("a if b if c else d else e", Ternary(a, Ternary(b, c, d), e)),
    ("a if b else c and d", Ternary(a, b, Binary("and", c, d))),
    ("a or b if c else d", Ternary(Binary("or", a, b), c, d)),
    ("a if b in c else d", Ternary(a, Binary("in", b, c), d)),
    # `in` is the loosest operator, left-associative, with a ternary on its right.
    ("a in b in c", Binary("in", Binary("in", a, b), c)),
    ("a in b if c else d", Binary("in", a, Ternary(b, c, d))),
    ("a if b else c in d", Binary("in", Ternary(a, b, c), d)),
    ("a + b in c", Binary("in", Binary("+", a, b), c)),
    # Postfix indexing and calls chain on any atom.
    ("a(b)[c](d)", Call(ast.Index(Call(a, (b,)), c), (d,))),
    ("(a + b)(c)", Call(Binary("+", a, b), (c,))),
    ("round(a) + indicator(b)", Binary("+", Unary("round", a), Unary("indicator", b))),
])
def test_precedence_follows_the_original_grammar(source: str, tree: ast.Expr) -> None:
    assert parse_expression(source) == tree


# ------------------------------------------------------------------- statements


def test_select_accepts_a_space_before_its_parenthesis() -> None:
    assert parse_expression("select (a, b, ==)") == ast.Select(a, b, "==")
    assert parse_expression("select(a,b,!=)") == ast.Select(a, b, "!=")


def test_builtins() -> None:
    assert parse_expression("aggregate(s, v)") == ast.Aggregate(Name("s"), Name("v"))
    assert parse_expression("aggregate(s, v, 0)") == ast.Aggregate(Name("s"), Name("v"),
                                                                   IntLit(0))
    assert parse_expression("range(1, 5)") == ast.Range((IntLit(1), IntLit(5)))
    assert parse_expression("zip(a, b)") == ast.Zip((a, b))
    assert parse_expression("len(a)") == ast.Len(a)
    assert parse_expression("f()") == Call(Name("f"), ())
    assert parse_expression("1.50") == ast.FloatLit(1.5)


def test_multiple_assignment() -> None:
    assert statement("a, b = 1, c;") == ast.Assign(("a", "b"), (IntLit(1), c))
    assert statement("a, b = f();") == ast.Assign(("a", "b"), (Call(Name("f"), ()),))


def test_nested_definitions_with_multiple_return_values() -> None:
    source = """
    def outer(x, y) {
        def inner() { return 1; }
        z = inner();
        return x, z;
    }
    """
    assert statement(source) == ast.FuncDef(
        "outer", ("x", "y"),
        (ast.FuncDef("inner", (), (), ast.Return((IntLit(1),))),
         ast.Assign(("z",), (Call(Name("inner"), ()),))),
        ast.Return((Name("x"), Name("z"))))


def test_for_loops() -> None:
    assert statement("for k, v in zip(a, b) { x = k; draw(v); }") == ast.ForLoop(
        ("k", "v"), ast.Zip((a, b)),
        (ast.Assign(("x",), (Name("k"),)), ast.Draw(Name("v"))))
    assert statement("for i in range(3) {}") == ast.ForLoop(
        ("i",), ast.Range((IntLit(3),)), ())


def test_comprehensions_and_dicts() -> None:
    assert parse_expression("[x + 1 for x in a]") == ast.ListComp(
        Binary("+", Name("x"), IntLit(1)), ("x",), a)
    assert parse_expression("{k: v for k, v in zip(a, b)}") == ast.DictComp(
        Name("k"), Name("v"), ("k", "v"), ast.Zip((a, b)))
    assert parse_expression('{"a": 1, 2: b}') == ast.DictLit(
        ((StrLit("a"), IntLit(1)), (IntLit(2), b)))
    assert parse_expression("{}") == ast.DictLit(())
    assert parse_expression("[]") == ast.ListLit(())


def test_comments_and_whitespace_are_ignored() -> None:
    source = '# a comment\nx = "# not a comment"; # trailing\n\t  load "lib";# end'
    assert parse(source).statements == (
        ast.Assign(("x",), (StrLit("# not a comment"),)), ast.Load("lib"))


@pytest.mark.parametrize("source, command", [
    ('set example "hello"', ast.SetExample(None, StrLit("hello"))),
    ("set s-op example [1, 2]", ast.SetExample("s-op", ast.ListLit((IntLit(1), IntLit(2))))),
    ("set selector example a", ast.SetExample("selector", a)),
    ("show example", ast.ShowExample(None)),
    ("show s-op example", ast.ShowExample("s-op")),
    ("examples off", ast.ToggleExamples(None, False)),
    ("selector examples on", ast.ToggleExamples("selector", True)),
    ("full seq display on", ast.ToggleFullSeq(True)),
    ("exit", ast.Exit()),
    ("quit()", ast.Exit()),
])
def test_repl_commands(source: str, command: ast.ReplCommand) -> None:
    assert statement(source) == command


def test_repl_commands_need_no_separator() -> None:
    assert parse('set example "ab" x = 1; show example exit').statements == (
        ast.SetExample(None, StrLit("ab")), ast.Assign(("x",), (IntLit(1),)),
        ast.ShowExample(None), ast.Exit())


def test_names_that_start_with_keywords_are_whole_names() -> None:
    assert statement("inx = notx + iffy + selector_width;") == ast.Assign(
        ("inx",), (Binary("+", Binary("+", Name("notx"), Name("iffy")),
                          Name("selector_width")),))


# The original implementation's own programs (tech-srl/RASP), tabs and all.
ORIGINAL_PROGRAMS = """\
def _with_bos_selector_width(s) {
\ts = s or select(indices,0,==);
\treturn (1/aggregate(s,indicator(indices==0)))-1;
}
hist_bos = _with_bos_selector_width( select(tokens_str,tokens_str,==)); 
def _dyck1_ptf() {
\tup_to_self = select(indices,indices,<=);
\tn_opens = (indices+1)*aggregate(up_to_self,indicator(tokens_str=="("));
\tn_closes = (indices+1)*aggregate(up_to_self,indicator(tokens_str==")"));
\tbalance = n_opens - n_closes;
\tprev_imbalances = aggregate(up_to_self,indicator(balance<0));
\treturn "F" if prev_imbalances>0 else 
\t\t\t("T" if balance==0 else "P");
}
def dyckk_ptf(paren_pairs) {
\t# paren pairs should come as list of strings of length 2, e.g.: ["()","{}"]
\topeners = [p[0] for p in paren_pairs];
\topener_matches = matched_opener+tokens_str in paren_pairs;
\treturn "F" if had_problem else ("T" if depth==0 else "P");
}
dyck2_ptf = dyckk_ptf(["()","{}"]);
def prepare_numbers() {
\tdef dig2num(t) {
\t\tddig2num = {"0":0, "1":1, "2":2};
\t\tres = -1;
\t\tfor d in ddig2num {
\t\t\tres = ddig2num[d] if t==d else res;
\t\t}
\t\treturn res;
\t}
\tval1 = aggregate(select(val1_target_pos,indices,==),as_nums,0);
\treturn val1,val2;
}
val1,val2 = prepare_numbers();
"""


def test_programs_of_the_original_implementation_parse() -> None:
    module = parse(ORIGINAL_PROGRAMS, "original.rasp")
    names = [getattr(s, "name", None) or s.targets for s in module.statements]
    assert names == ["_with_bos_selector_width", ("hist_bos",), "_dyck1_ptf", "dyckk_ptf",
                     ("dyck2_ptf",), "prepare_numbers", ("val1", "val2")]
    dyck1 = module.statements[2]
    assert dyck1.ret.values == (Ternary(
        StrLit("F"), Binary(">", Name("prev_imbalances"), IntLit(0)),
        Ternary(StrLit("T"), Binary("==", Name("balance"), IntLit(0)), StrLit("P"))),)
    opener_matches = module.statements[3].body[1]
    assert opener_matches.values == (Binary(
        "in", Binary("+", Name("matched_opener"), Name("tokens_str")),
        Name("paren_pairs")),)
    dig2num = module.statements[5].body[0]
    assert dig2num.body[1] == ast.Assign(("res",), (Unary("-", IntLit(1)),))
    assert parse(to_source(module)) == module


# ------------------------------------------------------------------------ spans


def test_spans_are_one_based_with_exclusive_ends() -> None:
    module = parse("x = a + bc;\n\ndef f(p) {\n    return p[0];\n}\n", "f.rasp")
    assign, funcdef = module.statements
    spans = {
        "assign": assign.span, "sum": assign.values[0].span,
        "bc": assign.values[0].right.span, "def": funcdef.span,
        "index": funcdef.ret.values[0].span, "zero": funcdef.ret.values[0].index.span,
    }
    at = {name: (s.line, s.column, s.end_line, s.end_column) for name, s in spans.items()}
    assert at == {
        "assign": (1, 1, 1, 11), "sum": (1, 5, 1, 11), "bc": (1, 9, 1, 11),
        "def": (3, 1, 5, 2), "index": (4, 12, 4, 16), "zero": (4, 14, 4, 15),
    }
    assert str(assign.span) == "f.rasp:1:1"


# ---------------------------------------------------------------- syntax errors


def test_missing_semicolon_is_located_at_the_next_token_with_a_hint() -> None:
    error = syntax_error("x = a + 1\ny = 2;")
    assert (error.span.file, error.span.line, error.span.column) == ("bad.rasp", 2, 1)
    assert error.hint == "a statement must end with `;`"
    assert str(error).startswith("bad.rasp:2:1: unexpected `y`")


def test_missing_semicolon_at_the_end_of_input() -> None:
    error = syntax_error("x = 1;\ny = 2")
    assert (error.span.line, error.span.column) == (2, 6)
    assert error.message == "unexpected end of input"
    assert error.hint == "a statement must end with `;`"


@pytest.mark.parametrize("source, line, column, hint", [
    ("x = (1 + ;", 1, 10, None),
    ("x = 'a';", 1, 5, "strings use double quotes"),
    ("def f() {\n  x = 1;\n}", 3, 1, None),
    ("f(a,\n  );", 2, 3, None),
    ("x = [1, 2\n;", 2, 1, "expected `]`"),
])
def test_syntax_errors_are_located(source: str, line: int, column: int,
                                   hint: str | None) -> None:
    error = syntax_error(source)
    assert (error.span.line, error.span.column) == (line, column)
    if hint is not None:
        assert error.hint == hint
    assert "^" in error.render()


# ------------------------------------------------------------------------ fuzzing


def parses_or_raises_rasp_error(text: str) -> None:
    """Parse `text`; the only acceptable failure is a `RaspError` that renders."""
    try:
        parse(text)
    except RaspError as error:
        error.render()


# Fragments of RASP text, so that random sequences often come close to valid programs.
_FRAGMENTS = st.sampled_from([
    *"abxz019 _.\"#()[]{},;:=<>!+-*/%^\n\t'", "if", "else", "not", "and", "or", "in",
    "def", "return", "for", "select", "aggregate", "round", "indicator", "range", "zip",
    "len", "load", "draw", "set", "show", "example", "examples", "s-op", "selector",
    "full seq display", "on", "off", "exit", "==", "<=", "1.5",
])


@settings(max_examples=500, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map(" ".join) | st.lists(_FRAGMENTS).map("".join)
       | st.text(max_size=40))
def test_random_text_raises_only_rasp_errors(text: str) -> None:
    parses_or_raises_rasp_error(text)


@st.composite
def mutated_programs(draw: st.DrawFn) -> str:
    """The text of a random module after a few character deletions, insertions,
    duplications and swaps."""
    return mutate(draw, to_source(draw(modules())), st.integers(min_value=1, max_value=4))


@settings(max_examples=500, deadline=None)
@given(mutated_programs())
def test_mutated_programs_raise_only_rasp_errors(text: str) -> None:
    parses_or_raises_rasp_error(text)


def test_huge_integer_literal() -> None:
    parses_or_raises_rasp_error("x = " + "9" * 5000 + ";")


@pytest.mark.parametrize("source", [
    "x = " + "a + " * 600 + "a;",
    "x = " + "[" * 400 + "]" * 400 + ";",
    "x = " + "f(" * 400 + ")" * 400 + ";",
])
def test_deeply_nested_expressions(source: str) -> None:
    parses_or_raises_rasp_error(source)
