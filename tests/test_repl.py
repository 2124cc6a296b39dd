"""The REPL, driven line by line through `run_repl` (no terminal involved)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from rasp.repl import Repl, run_repl


def session(*lines: str, **options) -> tuple[str, Repl]:
    out = io.StringIO()
    repl = run_repl(lines, out, **options)
    return out.getvalue(), repl


def output(*lines: str, **options) -> list[str]:
    return session(*lines, **options)[0].splitlines()


def test_sop_assignment_shows_example_on_hello():
    assert output("rev = aggregate(select(indices, length - indices - 1, ==), tokens);") == [
        "s-op: rev",
        '\t Example: rev("hello") = [o, l, l, e, h] (strings)',
    ]


def test_value_function_and_bare_expression():
    assert output("a = 3;", "def add(x, y) { return x + y; }", "add(a, 2);") == [
        "value: a = 3",
        "function: add(x, y)",
        "value: out = 5",
    ]


def test_bare_sop_expression_is_named_out():
    assert output("indices + 1;") == ["s-op: out",
                                      '\t Example: out("hello") = [1, 2, 3, 4, 5] (ints)']


def test_multiple_assignment_shows_each_name():
    assert output("m, n = 1, \"x\";") == ["value: m = 1", 'value: n = "x"']


def test_selector_shows_matrix():
    lines = output("same = select(tokens, tokens, ==);")
    assert lines[:2] == ["selector: same", "\t Example:"]
    assert lines[2:] == ["\t\t    h e l l o",
                         "\t\th | 1 0 0 0 0",
                         "\t\te | 0 1 0 0 0",
                         "\t\tl | 0 0 1 1 0",
                         "\t\tl | 0 0 1 1 0",
                         "\t\to | 0 0 0 0 1"]


def test_set_and_show_example():
    lines = output('set example "abc"', "show example", "tokens;")
    assert lines == ['\ts-op example: "abc"', '\tselector example: "abc"',
                     "s-op: out", '\t Example: out("abc") = [a, b, c] (strings)']


def test_set_sop_example_only():
    text, repl = session("set s-op example [3, 1]", "show example", "tokens_int + 1;")
    assert text.splitlines() == ["\ts-op example: [3, 1]", '\tselector example: "hello"',
                                 "s-op: out", "\t Example: out([3, 1]) = [4, 2] (ints)"]
    assert repl.examples == {"s-op": [3, 1], "selector": list("hello")}


def test_bad_example_is_reported_and_kept_unchanged():
    text, repl = session("set example 3")
    assert "an input must be a string or a list of tokens" in text
    assert repl.examples["s-op"] == list("hello")


def test_examples_toggle():
    lines = output("examples off", "x = tokens;", "s = select(tokens, tokens, ==);",
                   "s-op examples on", "y = tokens;", "t = select(tokens, tokens, ==);")
    assert lines == ["s-op: x", "selector: s", "s-op: y",
                     '\t Example: y("hello") = [h, e, l, l, o] (strings)', "selector: t"]


def test_full_seq_display_toggle():
    lines = output("c = length;", "full seq display on", "c;", "full seq display off", "c;")
    assert lines[1] == '\t Example: c("hello") = [5]*5 (ints)'
    assert lines[3] == '\t Example: out("hello") = [5, 5, 5, 5, 5] (ints)'
    assert lines[5] == '\t Example: out("hello") = [5]*5 (ints)'


def test_multi_line_def_reads_until_complete():
    text, repl = session("def double(x) {", "  y = x * 2;", "  return y;", "}", "double(4);")
    assert text.splitlines() == ["function: double(x)", "value: out = 8"]
    assert repl.entries == 2


def test_missing_semicolon_continues_on_next_line():
    assert output("x = 1", ";", "x;") == ["value: x = 1", "value: out = 1"]


def test_error_does_not_end_the_session():
    lines = output("lenght;", "x = 2;")
    assert lines[0] == "<repl:1>:1:1: unknown name `lenght`"
    assert lines[1:3] == ["    lenght;", "    ^^^^^^"]
    assert lines[3] == "hint: did you mean `length`?"
    assert lines[-1] == "value: x = 2"


def test_syntax_error_is_rendered_and_session_goes_on():
    lines = output("x = ;", "y = 1;")
    assert lines[0] == "<repl:1>:1:5: unexpected `;`"
    assert lines[-1] == "value: y = 1"


def test_errors_render_lines_of_earlier_entries():
    lines = output("def f(a) {", "  return [1][a];", "}", "f(3);")
    assert lines[1] == "<repl:1>:2:14: index 3 is out of range for a list of length 1"
    assert lines[2] == "      return [1][a];"


def test_failed_statement_leaves_no_trace_and_skips_the_rest():
    lines = output("a = 1; b = [1, 2][5]; c = 2;", "a;", "b;", "c;")
    assert lines[0] == "value: a = 1"
    assert "index 5 is out of range" in lines[1]
    assert "value: out = 1" in lines
    assert sum("unknown name" in line for line in lines) == 2


def test_runtime_error_in_example_is_shown_not_fatal():
    lines = output("n = tokens_int + 1;", "m = 2;")
    assert lines[0] == "s-op: n"
    assert lines[1] == '\t Example: n("hello") cannot be computed:'
    assert "cannot convert" in lines[2]
    assert lines[-1] == "value: m = 2"


def test_applying_an_sop_gives_a_value():
    assert output('reverse_me = aggregate(select(indices, length - indices - 1, ==), tokens);',
                  'reverse_me("abc");')[-1] == "value: out = [c, b, a] (strings)"


def test_applying_a_selector_shows_its_matrix():
    lines = output('select(tokens, tokens, ==)("ab");')
    assert lines == ["value: out =", "\t\t    a b", "\t\ta | 1 0", "\t\tb | 0 1"]


def test_draw_prints_the_graph_with_values():
    lines = output("rev = aggregate(select(indices, length - indices - 1, ==), tokens);",
                   'draw(rev, "ab");')
    assert lines[2] == 'draw: rev on "ab"'
    assert lines[3].endswith("= [b, a] (strings)")
    assert lines[-1].endswith("= [a, b] (strings)")


def test_load_statement_and_files_on_the_command_line(tmp_path: Path, monkeypatch):
    (tmp_path / "lib.rasp").write_text("_hidden = 1;\ndoubled = tokens_int * 2;\n")
    monkeypatch.chdir(tmp_path)
    lines = output('load "lib";', 'set example [1, 2]', "doubled;", "_hidden;")
    assert lines[0] == "s-op: doubled"
    assert lines[1:3] == ["s-op: out", "\t Example: out([1, 2]) = [2, 4] (ints)"]
    assert "unknown name `_hidden`" in lines[3]
    lines = output("doubled + 1;", files=[tmp_path / "lib.rasp"])
    assert lines[0] == f"loaded {tmp_path / 'lib.rasp'}"
    assert lines[1] == "s-op: doubled"
    assert lines[2] == "s-op: out"


def test_load_uses_the_search_path(tmp_path: Path):
    (tmp_path / "other.rasp").write_text("seven = 7;\n")
    assert output('load "other";', "seven;", search_path=[tmp_path]) == [
        "value: seven = 7", "value: out = 7"]


def test_missing_file_on_the_command_line_is_reported():
    lines = output("x = 1;", files=["no/such/file.rasp"])
    assert "no such file" in lines[0]
    assert lines[-1] == "value: x = 1"


@pytest.mark.parametrize("command", ["exit", "quit", "exit()"])
def test_exit_stops_reading(command: str):
    text, repl = session("x = 1;", command, "y = 2;")
    assert text.splitlines() == ["value: x = 1"]
    assert not repl.running


def test_end_of_input_inside_an_entry_is_reported():
    lines = output("def f(a) {")
    assert lines[0] == "<repl:1>:1:11: unexpected end of input"


def test_blank_lines_and_comments_do_nothing():
    text, repl = session("", "# a comment", "   ")
    assert text == ""
    assert repl.entries == 1  # the comment is an entry; blank lines are not


def test_library_names_cannot_be_redefined():
    lines = output("length = 3;", "length;")
    assert lines[0].endswith("`length` is a library name and cannot be redefined")
    assert lines[-2] == "s-op: out"


def test_internal_error_is_reported_and_session_goes_on(monkeypatch):
    original = Repl.run_statement
    failures = [ValueError("boom")]

    def fails_once(self, statement):
        if failures:
            raise failures.pop()
        original(self, statement)

    monkeypatch.setattr(Repl, "run_statement", fails_once)
    lines = output("x = 1;", "y = 2;")
    assert lines == ["internal error (please report it): ValueError: boom", "value: y = 2"]


def test_tab_completes_the_sessions_names_the_library_and_the_language() -> None:
    from prompt_toolkit.document import Document

    from rasp.repl import Repl, name_completer

    repl = Repl(io.StringIO())
    repl.feed("my_sop = tokens;")
    completer = name_completer(repl)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), None)]

    assert complete("x = my_") == ["my_sop"]
    assert complete("aggr") == ["aggregate"]
    assert "selector_width" in complete("sel") and "select_from_first" in complete("sel")
    assert complete("set ex") == ["example", "examples", "exit"]
    assert complete("x = 1 + ") == []


def test_the_repl_colours_input_with_the_rasp_lexer() -> None:
    from pygments.token import Keyword, Name

    from rasp.highlight import RaspLexer

    tokens = [(kind, text) for kind, text in RaspLexer().get_tokens("def f(x) { return x; }")
              if text.strip()]
    assert tokens[0] == (Keyword, "def") and (Name, "f") in tokens
