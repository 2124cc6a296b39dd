"""Every bad input a user can give, across every subcommand: exit code 2 and one located line on
stderr, with no traceback, before any work is done.

The commands run in this process (typer's test runner), so the table stays fast; `test_cli.py`
runs the real `rasp` process for the behaviours that need one. Rows marked "issue 15" failed
before that issue's fixes (a traceback, a hang, silent acceptance, or the wrong place).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from command_line.main import app

ROOT = Path(__file__).resolve().parent.parent
REVERSE = str(ROOT / "examples" / "reverse.rasp")
QUICK = str(ROOT / "examples" / "experiments" / "quick.toml")
SWEEP = str(ROOT / "examples" / "sweeps" / "contrast.toml")

# Files each row may refer to, written into the test's folder: name -> text.
FILES = {
    "file.txt": "not a folder\n",
    "bad.jsonl": '["a"]\n{"input": \n',
    "big_range.rasp": "big = range(1000000000);\n",
    "long_loop.rasp": "for i in range(200000) { z = i; }\nx = tokens;\n",
    "doubling.rasp": 'x = [0];\nfor i in range(40) { x = x + x; }\ny = tokens;\n',
    "nul_load.rasp": 'load "a\x00b";\n',
    "long_load.rasp": f'load "{"x" * 300}";\n',
    "escape.rasp": "x = tokens;\n\x1b[31m y = 2;\n",
    "syntax.rasp": "x = select(;\n",
    "huge_steps.toml": f'[task]\nprogram = "{REVERSE}"\nsop = "reverse"\nvocab = "abc"\n'
                       f'train_lengths = [1, 4]\ntest_lengths = [5, 8]\n[training]\n'
                       f'steps = 99999999999999999999\n',
    "long_test.toml": f'[task]\nprogram = "{REVERSE}"\nsop = "reverse"\nvocab = "abc"\n'
                      f'train_lengths = [1, 4]\ntest_lengths = [5, 100000]\n',
    "seed_7919.toml": f'[task]\nprogram = "{REVERSE}"\nsop = "reverse"\nvocab = "abc"\n'
                      f'train_lengths = [1, 4]\ntest_lengths = [5, 8]\n[training]\n'
                      f'seeds = [0, 7919]\n',
    "ic_task.toml": '[task]\nin_context = "regresion"\ntrain_lengths = [1, 4]\n'
                    'test_lengths = [4, 8]\n',
    "ic_matching.toml": '[task]\nin_context = "lds"\ntrain_lengths = [1, 4]\n'
                        'test_lengths = [4, 8]\n[model]\nlayers = "matching"\n',
    "ic_fitted.toml": '[task]\nin_context = "lds"\ntrain_lengths = [1, 4]\n'
                      'test_lengths = [4, 8]\n[training]\nfitted_seeds = 3\n',
    "ic_window.toml": '[task]\nin_context = "scb"\ntrain_lengths = [2, 4]\n'
                      'test_lengths = [4, 8]\n',
    "ic_option.toml": '[task]\nin_context = "scb"\ntrain_lengths = [8, 8]\n'
                      'test_lengths = [8, 16]\n[task.options]\nvocab = 5\n',
    "ic_alibi.toml": '[task]\nin_context = "lds"\ntrain_lengths = [1, 4]\n'
                     'test_lengths = [4, 8]\n[model]\npositions = ["alibi"]\n'
                     '[compare]\nattention = ["softmax", "mesa"]\n',
    "ic_run/results.json": json.dumps({"schema": "rasp-in-context-results/1"}),
    "run/results.json": "{",
    "broken_key/results.json": json.dumps({"schema": "rasp-generalization/1"}),
    "bad_grid.toml": f'experiments = ["{QUICK}"]\n[grid]\nwidht = [16]\n',
    "bad_published.toml": f'experiments = ["{QUICK}"]\n[published.quick]\ngeneralizes = "yes"\n',
}

BAD = [
    # (arguments, fragment of the one error line)
    # rasp run
    (["run", "missing.rasp", "--sop", "x", '"a"'], "missing.rasp: no such file"),
    (["run", REVERSE, "--sop", "revers", '"a"'], "defines no s-op `revers`"),
    (["run", REVERSE, "--sop", "reverse"], "no inputs"),
    (["run", REVERSE, "--sop", "reverse", "hello"], "INPUT 1:1:1:"),
    (["run", REVERSE, "--sop", "reverse", "[99999999999999999999]"],   # issue 15
     "INPUT 1:1:1: integer overflow"),
    (["run", REVERSE, "--sop", "reverse", '"' + "a" * 5000 + '"'],     # issue 15
     "INPUT 1:1:1: an input of 5,000 tokens is longer than the 4,096"),
    (["run", REVERSE, "--sop", "reverse", "--max-input-len", "3", '"abcd"'],   # issue 15
     "longer than the 3 the interpreter evaluates"),
    (["run", REVERSE, "--sop", "reverse", "--inputs", "missing.jsonl"], "no such file"),
    (["run", REVERSE, "--sop", "reverse", "--inputs", "bad.jsonl"], "bad.jsonl:2:"),
    (["run", "big_range.rasp", "--sop", "big", '"a"'],                 # issue 15
     "big_range.rasp:1:7: this would make 1,000,000,000 items"),
    (["run", "long_loop.rasp", "--sop", "x", '"a"'],                   # issue 15
     "long_loop.rasp:1:1: the loops of this program run more than 100,000 iterations"),
    (["run", "doubling.rasp", "--sop", "y", '"a"'],                    # issue 15
     "doubling.rasp:2:26: this would make 1,048,576 items"),
    (["run", "nul_load.rasp", "--sop", "x", '"a"'],                    # issue 15
     "nul_load.rasp:1:1: `load` cannot look for a file named 'a\\x00b'"),
    (["run", "long_load.rasp", "--sop", "x", '"a"'],                   # issue 15
     "long_load.rasp:1:1: `load` cannot look for a file named"),
    (["run", "escape.rasp", "--sop", "x", '"a"'],                      # issue 15
     "escape.rasp:2:1: unexpected character `\\x1b`"),
    (["run", "syntax.rasp", "--sop", "x", '"a"'], "syntax.rasp:1:12:"),
    (["run", REVERSE, "--sop", "reverse", "-I", "no_such_dir", '"a"'],   # issue 15
     "search path no_such_dir: no such folder"),
    # rasp repl
    (["repl", "missing.rasp"], "missing.rasp: no such file"),           # issue 15
    (["repl", "-I", "no_such_dir"], "no such folder"),                   # issue 15
    # rasp compile
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len",
      "1000000000000"], "above the limit of 512"),                      # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "600"],
     "(hint: pass --large to allow up to 4,096)"),                      # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "5000",
      "--large"], "above the limit of 4,096"),                           # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "3", "-o",
      "/proc/x"], "-o /proc/x: cannot write there"),                     # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "3", "-o",
      "file.txt"], "-o file.txt: is a file, not a folder"),              # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"aab"', "--max-len", "3"],
     "lists the token 'a' twice"),                                        # issue 15
    (["compile", REVERSE, "--sop", "reverse", "--vocab", "abc", "--max-len", "3"], "--vocab:"),
    (["compile", REVERSE, "--sop", "nope", "--vocab", '"abc"', "--max-len", "3"],
     "defines no s-op `nope`"),
    (["compile", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "3",
      "--causal"], "reverse.rasp:"),
    # rasp check
    (["check", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "100000"],
     "above the limit of 512"),                                           # issue 15
    (["check", REVERSE, "--sop", "reverse", "--vocab", '""', "--max-len", "3"],
     "the vocabulary is empty"),
    (["check", REVERSE, "--sop", "reverse", "--vocab", '"abcdefgh"', "--max-len", "9",
      "--exhaustive"], "--exhaustive would check"),
    # rasp inspect
    (["inspect", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "3", "--input",
      '"ab"', "-o", "file.txt"], "-o file.txt: is a file, not a folder"),   # issue 15
    (["inspect", REVERSE, "--sop", "reverse", "--vocab", '"abc"', "--max-len", "3", "--input",
      "ab"], "--input:"),
    # rasp generalize
    (["generalize", QUICK, "-o", "file.txt"], "-o file.txt: is a file, not a folder"),  # issue 15
    (["generalize", "missing.toml"], "missing.toml: no such file"),
    (["generalize", "huge_steps.toml"],                                  # issue 15
     "[training] steps: must be at most 2,147,483,647"),
    (["generalize", "long_test.toml"],                                   # issue 15
     "[task] test_lengths: the longest test input (100,000 tokens)"),
    (["generalize", "seed_7919.toml"], "[training] seeds: must not include 7919"),
    (["generalize", QUICK, "--steps", "5"],                              # issue 15
     "quick.toml: --steps only go with a .rasp file"),
    (["generalize", REVERSE, "--sop", "reverse"], "the quick form needs --vocab"),
    (["generalize", QUICK, "--set", "training.steps=0"],
     "quick.toml with --set: [training] steps: must be a positive integer, got 0"),
    (["generalize", QUICK, "--set", "steps=5"], "--set steps=5: must look like section.key=value"),
    (["generalize", QUICK, "--set", "trainig.steps=5"],
     "[trainig]: unknown section (hint: did you mean `training`?)"),
    (["generalize", REVERSE, "--sop", "reverse", "--vocab", '"aab"', "--train-len", "1-3",
      "--test-len", "4-5"], 'lists the token "a" twice'),
    (["generalize", REVERSE, "--sop", "reverse", "--vocab", '"ab"', "--train-len", "3-1",
      "--test-len", "4-5"], "train_lengths: must be 1 <= lo <= hi"),
    # rasp report
    (["report", "."], "holds neither results.json"),
    (["curves", "."], ".: no results.json here"),
    (["curves", "run"], "run/results.json:1:2: not valid JSON"),
    (["curves", "run", "-o", "."], "-o .: is a folder, not a file"),
    (["curves", "run", "-o", "file.txt/c.png"], "-o file.txt: is a file, not a folder"),
    (["report", "run"], "run/results.json:1:2: not valid JSON"),
    (["report", "broken_key"], "broken_key/results.json: created: missing"),
    # rasp generalize with an in-context config (issue 14)
    (["generalize", "ic_task.toml"], '[task] in_context: unknown in-context task "regresion"'),
    (["generalize", "ic_matching.toml"], "[model] layers: \"matching\" takes the shape"),
    (["generalize", "ic_fitted.toml"], "[training] fitted_seeds: does not apply to an "
                                       "in-context task"),
    (["generalize", "ic_window.toml"], "[task] train_lengths: must start at the SCB window"),
    (["generalize", "ic_option.toml"], "[task.options] vocab: the `scb` task has no option"),
    (["generalize", "ic_alibi.toml"], "[compare] attention: 'alibi' is a bias on softmax"),
    (["generalize", "ic_task.toml", "--steps", "5"], "--steps only go with a .rasp file"),
    (["report", "ic_run"], "ic_run/results.json: name: missing"),
    # rasp sweep
    (["sweep", SWEEP, "-o", "file.txt"], "output folder file.txt: is a file, not a folder"),
    (["sweep", "missing.toml"], "missing.toml: no such file"),
    (["sweep", SWEEP, "--set", "model.steps=5"], "--set model.steps=5: a sweep sets keys"),
    (["sweep", "bad_grid.toml"], "[grid] widht: not a setting a sweep can vary"),
    (["sweep", "bad_published.toml"], "[published.quick] generalizes: must be true or false"),
]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("arguments, fragment", BAD,
                         ids=[" ".join(a[:2])[:40] + f"-{i}" for i, (a, _) in enumerate(BAD)])
def test_a_bad_input_is_one_located_line_and_exit_code_2(folder: Path, arguments: list[str],
                                                          fragment: str) -> None:
    before = sorted(path.relative_to(folder) for path in folder.rglob("*"))
    result = CliRunner().invoke(app, arguments, input="")
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    # Nothing was created (no output folder, no Hypothesis folder) by a command that failed.
    assert sorted(path.relative_to(folder) for path in folder.rglob("*")) == before


def test_the_table_covers_every_subcommand() -> None:
    commands = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert {arguments[0] for arguments, _ in BAD} == commands
    assert len(BAD) >= 40


def test_limits_are_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for flag in ("--max-input-len", "--large", "1,000,000", "100,000", "4,096", "512"):
        assert flag in readme, flag
    assert os.path.isfile(ROOT / "rasp" / "limits.py")
