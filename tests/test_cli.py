"""The `rasp` command, run as a subprocess: outputs, and one located line per mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rasp.errors import RaspError
from rasp.inputs import parse_input, read_jsonl_inputs

ROOT = Path(__file__).resolve().parent.parent
REVERSE = str(ROOT / "examples" / "reverse.rasp")


def rasp(*args: str, cwd: Path = ROOT, stdin: str | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "command_line.main", *args], cwd=cwd,
                          capture_output=True, text=True, input=stdin, timeout=timeout,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "COLUMNS": "200"})


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_run_reverse_on_inputs():
    result = rasp("run", "examples/reverse.rasp", "--sop", "reverse", '"hello"', "[3, 1, 4]")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['reverse("hello") = [o, l, l, e, h]',
                                          "reverse([3, 1, 4]) = [4, 1, 3]"]


def test_run_negative_numbers_and_equal_values_in_full():
    result = rasp("run", REVERSE, "--sop", "reverse", "[-1, -1, -2]")
    assert result.stdout.splitlines() == ["reverse([-1, -1, -2]) = [-2, -1, -1]"]


def test_run_json_lines():
    result = rasp("run", REVERSE, "--sop", "reverse", '"ab"', "[1, 2, 3]", "--json")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"input": ["a", "b"], "output": ["b", "a"]},
        # `tokens` is `tokens_str`: reverse outputs the tokens as strings.
        {"input": [1, 2, 3], "output": ["3", "2", "1"]},
    ]


def test_run_inputs_from_jsonl(tmp_path: Path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('[1, 2]\n\n[2.5]\n{"input": [7], "expected": [8]}\n')
    (tmp_path / "inc.rasp").write_text("inc = tokens_asis + 1;\n")
    result = rasp("run", "inc.rasp", "--sop", "inc", "--inputs", str(inputs), "--json",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"input": [1, 2], "output": [2, 3]},
        {"input": [2.5], "output": [3.5]},
        {"input": [7], "output": [8]},
    ]


def test_jsonl_strings_are_characters_and_follow_arguments(tmp_path: Path):
    (tmp_path / "in.jsonl").write_text('"abc"\n{"input": "xy"}\n')
    result = rasp("run", REVERSE, "--sop", "reverse", '"q"', "--inputs", "in.jsonl",
                  cwd=tmp_path)
    assert result.stdout.splitlines() == ['reverse("q") = [q]', 'reverse("abc") = [c, b, a]',
                                          'reverse("xy") = [y, x]']


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("rasp")
    if not script.exists():
        pytest.skip("the rasp console script is not installed next to this Python")
    result = subprocess.run([str(script), "run", REVERSE, "--sop", "reverse", '"ab"'],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout == 'reverse("ab") = [b, a]\n'


def test_missing_file():
    assert_one_error_line(rasp("run", "no/such.rasp", "--sop", "x", '"a"'), "no such file")


def test_syntax_error_in_program(tmp_path: Path):
    (tmp_path / "bad.rasp").write_text("x = tokens;\ny = 1 +;\n")
    line = assert_one_error_line(rasp("run", "bad.rasp", "--sop", "x", '"a"', cwd=tmp_path))
    assert line.startswith("bad.rasp:2:8: unexpected `;`")


def test_unknown_sop_suggests_a_name():
    assert_one_error_line(rasp("run", REVERSE, "--sop", "revers", '"a"'),
                          "revers", "did you mean `reverse`?")


def test_unquoted_input():
    line = assert_one_error_line(rasp("run", REVERSE, "--sop", "reverse", "hello"))
    assert line.startswith("INPUT 1:1:1: ")
    assert "write strings in double quotes: '\"hello\"'" in line


def test_malformed_list_input_names_its_position():
    line = assert_one_error_line(rasp("run", REVERSE, "--sop", "reverse", '"ok"', "[1, 2"))
    assert line.startswith("INPUT 2:1:")


def test_bad_jsonl_line_names_file_and_line(tmp_path: Path):
    (tmp_path / "in.jsonl").write_text('"ok"\n[1, null]\n')
    line = assert_one_error_line(rasp("run", REVERSE, "--sop", "reverse", "--inputs",
                                      "in.jsonl", cwd=tmp_path))
    assert line.startswith("in.jsonl:2:")


def test_token_conversion_error_at_run_time(tmp_path: Path):
    (tmp_path / "ints.rasp").write_text("plus = tokens_int + 1;\n")
    assert_one_error_line(rasp("run", "ints.rasp", "--sop", "plus", '"abc"', cwd=tmp_path),
                          "ints.rasp", "cannot convert")


def test_no_inputs_is_an_error():
    assert_one_error_line(rasp("run", REVERSE, "--sop", "reverse"), "no inputs")


def test_usage_errors_exit_with_2():
    result = rasp("run", REVERSE)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--sop" in result.stderr


def test_repl_reads_piped_input():
    result = rasp("repl", REVERSE, stdin='reverse;\nx = ;\ny = 1;\n')
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert '\t Example: out("hello") = [o, l, l, e, h] (strings)' in lines
    assert lines[-1] == "value: y = 1"


# ---------------------------------------------------------------- inputs, in process


@pytest.mark.parametrize("text, tokens", [
    ('"hello"', list("hello")),
    ("[3, 1, 4]", [3, 1, 4]),
    ("[-1, 2]", [-1, 2]),
    ("[1.5, 2]", [1.5, 2]),
    ('["ab", "c"]', ["ab", "c"]),
    ("[True, False]", [True, False]),
    ('  ""  ', []),
])
def test_parse_input_literals(text: str, tokens: list):
    assert parse_input(text) == tokens


@pytest.mark.parametrize("text, message", [
    ("hello", "write strings in double quotes: \'\"hello\"\'"),
    ("hello world", "write strings in double quotes"),
    ("tokens", "not the name `tokens`"),
    ("1 + x", "not the name `x`"),
    ("3", "write a list for a single token: '[3]'"),
    ('[1, "a"]', "cannot mix token types"),
    ("[[1]]", "token 0 of the input is [1]"),
])
def test_parse_input_rejects_non_literals(text: str, message: str):
    with pytest.raises(RaspError) as caught:
        parse_input(text, "argument 2")
    assert str(caught.value).startswith("argument 2:1:")
    assert message in str(caught.value)


def test_read_jsonl_inputs(tmp_path: Path):
    path = tmp_path / "in.jsonl"
    path.write_text('"ab"\n\n[1, 2.5]\n{"input": [true]}\n')
    assert read_jsonl_inputs(path) == [["a", "b"], [1, 2.5], [True]]
    path.write_text('"ok"\n{"x": 1}\n')
    with pytest.raises(RaspError, match=r"in.jsonl:2:1: .*\"input\""):
        read_jsonl_inputs(path)


@pytest.mark.parametrize("command", [["run", REVERSE, "--sop", "reverse", '"ab"'],
                                     ["repl", REVERSE], ["--version"]])
def test_commands_that_need_no_model_start_without_jax_or_tracr(command):
    """`rasp run` and `rasp repl` start in a third of a second (bench/bench_startup.py) because
    the compiler and the harness, and with them JAX and tracr, are imported only by the
    commands that use them."""
    script = (f"import sys\nsys.argv = ['rasp', *{command!r}]\n"
              "from command_line.main import main\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & "
              "{'jax', 'jaxlib', 'tracr', 'haiku', 'torch', 'matplotlib', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, input="", timeout=60, env={"PYTHONPATH": str(ROOT),
                                                                  "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
