"""`rasp compile`, `rasp check` and `rasp inspect`: summaries, exports, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import compiler
import rasp
from command_line.main import app
from test_cli import ROOT, assert_one_error_line, rasp as run_rasp

SORT = str(ROOT / "examples" / "sort.rasp")


def test_compile_prints_the_summary_and_saves_a_model_that_loads(tmp_path: Path):
    result = run_rasp("compile", SORT, "--sop", "sort_tokens", "--vocab", '"abc"',
                      "--max-len", "5", "-o", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    for field in ("layers:", "heads per layer:", "residual width:", "parameters:",
                  "compile time:", "exactness check: equal to the interpreter"):
        assert field in result.stdout
    loaded = compiler.load_model(tmp_path / "model")
    inputs = [list("cab"), list("bbca"), list("a")]
    assert loaded.run(inputs) == rasp.load(SORT).run("sort_tokens", inputs)


def test_compile_refusal_is_one_located_line(tmp_path: Path):
    program = tmp_path / "mean.rasp"
    program.write_text("m = numerical(aggregate(select(indices, indices, <=), indices));\n")
    result = run_rasp("compile", str(program), "--sop", "m", "--vocab", "[1, 2]",
                      "--max-len", "4")
    line = assert_one_error_line(result, "mean.rasp:1:")
    assert "hint" in line


def test_compile_rejects_a_malformed_vocabulary_and_an_unknown_sop():
    assert_one_error_line(run_rasp("compile", SORT, "--sop", "sort_tokens", "--vocab", "abc",
                                   "--max-len", "4"), "--vocab")
    assert_one_error_line(run_rasp("compile", SORT, "--sop", "sort_tokns", "--vocab", '"ab"',
                                   "--max-len", "4"), "sort_tokens")


def test_check_exhaustive_passes_on_a_correct_compile():
    result = run_rasp("check", SORT, "--sop", "sort_tokens", "--vocab", '"ab"', "--max-len", "4",
                      "--exhaustive")
    assert result.returncode == 0, result.stderr
    assert "agree on 30 inputs" in result.stdout


def test_check_exits_1_with_a_shrunk_counterexample_when_the_model_is_wrong(monkeypatch):
    right = compiler.CompiledModel.run

    def wrong(self, inputs):  # errs on every input holding a "b" at position 2 or later
        outputs = right(self, inputs)
        return [out[:-1] + ["x"] if "b" in list(given)[2:] else out
                for given, out in zip(inputs, outputs)]

    monkeypatch.setattr(compiler.CompiledModel, "run", wrong)
    result = CliRunner().invoke(app, ["check", SORT, "--sop", "sort_tokens", "--vocab", '"ab"',
                                      "--max-len", "5", "--examples", "300"])
    assert result.exit_code == 1, result.output
    assert "DIFFERENT on input ['a', 'a', 'b']" in result.output
    assert "interpreter:" in result.output and "model:" in result.output


def test_inspect_writes_one_heatmap_per_head(tmp_path: Path):
    result = run_rasp("inspect", SORT, "--sop", "sort_tokens", "--vocab", '"abc"',
                      "--max-len", "5", "--input", '"cab"', "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "layer 0 head 1" in result.stdout
    pngs = sorted(tmp_path.glob("*.png"))
    # sort: two counts in layer 0 (smaller keys, earlier equal keys), the read in layer 2
    assert [p.name for p in pngs] == ["layer0_head0.png", "layer0_head1.png", "layer2_head0.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_inspect_rejects_a_token_outside_the_vocabulary(tmp_path: Path):
    assert_one_error_line(run_rasp("inspect", SORT, "--sop", "sort_tokens", "--vocab", '"abc"',
                                   "--max-len", "5", "--input", '"abz"', "-o", str(tmp_path)),
                          "z")


def test_compile_dry_run_prints_the_size_without_building_or_saving(tmp_path: Path):
    result = run_rasp("compile", SORT, "--sop", "sort_tokens", "--vocab", '"abc"',
                      "--max-len", "5", "--dry-run")
    assert result.returncode == 0, result.stderr
    size = compiler.compiled_size(rasp.load(SORT), "sort_tokens", "abc", 5)
    assert f"parameters:      {size.parameters:,} as blocks" in result.stdout
    assert "exactness check" not in result.stdout
    assert_one_error_line(run_rasp("compile", SORT, "--sop", "sort_tokens", "--vocab", '"abc"',
                                   "--max-len", "5", "--dry-run", "-o", str(tmp_path / "m")),
                          "--dry-run")
    assert not (tmp_path / "m").exists()
