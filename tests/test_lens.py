"""Compiled models exported to TransformerLens (compiler/lens.py): on every input up to the
compiled length, the HookedTransformer's decoded outputs are the compiled model's; its hooks and
cache work; the export saved by `rasp compile --format lens` loads back the same."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import compiler
import rasp
from compiler.lens import decode_lens, lens_tokens, run_lens
from test_cli import ROOT

pytest.importorskip("transformer_lens")


PROGRAMS = [   # (file, s-op, vocab, max length, causal): categorical, multi-layer, numerical
    ("reverse.rasp", "reverse", "abc", 4, False),
    ("sort.rasp", "sort_tokens", "abc", 4, False),
    ("frac_prevs.rasp", "frac_prevs", "()x", 4, True),
    ("histogram.rasp", "hist", "ab", 5, False),
]


def every_input(vocab: str, longest: int) -> list[list]:
    return [list(tokens) for length in range(1, longest + 1)
            for tokens in itertools.product(vocab, repeat=length)]


@pytest.mark.parametrize("file, sop, vocab, longest, causal", PROGRAMS,
                         ids=[sop for _, sop, *_ in PROGRAMS])
def test_the_hooked_transformer_computes_the_compiled_model_on_every_input(
        file: str, sop: str, vocab: str, longest: int, causal: bool) -> None:
    model = compiler.compile(rasp.load(ROOT / "examples" / file), sop, vocab, longest,
                             causal=causal)
    lens = model.to_transformer_lens()
    inputs = every_input(vocab, longest)
    assert run_lens(lens, model, inputs) == model.run(inputs)


def test_hooks_and_the_cache_see_the_compiled_computation() -> None:
    model = compiler.compile(rasp.load(ROOT / "examples" / "reverse.rasp"), "reverse", "abc", 4)
    lens = model.to_transformer_lens()
    tokens = lens_tokens(model, ["abca"])
    logits, cache = lens.run_with_cache(tokens)
    assert decode_lens(model, logits, ["abca"]) == [["a", "c", "b", "a"]]
    # The residual after each block is the compiled model's, which `residuals` exposes.
    residuals = model.residuals([list("abca")])
    for layer in range(model.num_layers):
        lens_residual = cache[f"blocks.{layer}.hook_resid_post"][0].numpy()
        assert abs(lens_residual - residuals[2 * layer + 1][0, :5]).max() < 1e-3
    pattern = cache["blocks.0.attn.hook_pattern"][0].numpy()
    assert pattern.shape[-2:] == (5, 5) and abs(pattern.sum(-1) - 1).max() < 1e-5


def test_rasp_compile_format_lens_saves_what_load_lens_reads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from command_line.main import app

    result = CliRunner().invoke(app, [
        "compile", str(ROOT / "examples" / "sort.rasp"), "--sop", "sort_tokens", "--vocab",
        '"abc"', "--max-len", "3", "-o", str(tmp_path / "out"), "--format", "lens"])
    assert result.exit_code == 0, result.stderr
    model, lens = compiler.load_model(tmp_path / "out"), compiler.load_lens(tmp_path / "out")
    inputs = every_input("abc", 3)
    assert run_lens(lens, model, inputs) == model.run(inputs)
