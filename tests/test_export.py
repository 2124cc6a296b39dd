"""Saved compiled models: a round trip gives the same model; a save interrupted at any moment
leaves the old model or the new one, never a mix; and a folder whose files were damaged or
tampered with is refused in one line naming the file, never loaded as something else."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

import compiler
import rasp
from compiler import export
from test_cli import ROOT

INPUTS = ["abc", "cab", "b", "aacb"]


@pytest.fixture(scope="module")
def models() -> tuple[compiler.CompiledModel, compiler.CompiledModel]:
    program = rasp.load(ROOT / "examples" / "reverse.rasp")
    return (compiler.compile(program, "reverse", "abc", 4),
            compiler.compile(program, "reverse", "abcd", 4))


def test_a_saved_model_loads_back_and_computes_the_same(tmp_path: Path, models) -> None:
    model, _ = models
    compiler.save_model(model, tmp_path / "model")
    loaded = compiler.load_model(tmp_path / "model")
    assert loaded.run(INPUTS) == model.run(INPUTS)
    np.testing.assert_array_equal(loaded.raw_outputs([list("abca")]),
                                  model.raw_outputs([list("abca")]))
    names = sorted(path.name for path in (tmp_path / "model").iterdir())
    assert names[0] == "manifest.json" and len(names) == 2   # no temporary file left behind
    assert all(path.stat().st_mode & 0o777 == 0o644 for path in (tmp_path / "model").iterdir())


def test_a_save_over_another_replaces_it_whole(tmp_path: Path, models) -> None:
    first, second = models
    compiler.save_model(first, tmp_path / "model")
    compiler.save_model(second, tmp_path / "model")
    assert compiler.load_model(tmp_path / "model").vocab == second.vocab
    assert len(list((tmp_path / "model").glob("weights*"))) == 1


class Interrupted(Exception):
    """A save killed at one of its steps."""


@pytest.mark.parametrize("step", range(6))
def test_a_save_interrupted_at_any_step_leaves_the_old_model_or_the_new(
        tmp_path: Path, models, monkeypatch, step: int) -> None:
    """Every file-system step of a save (write, flush, rename, delete) may be the last."""
    first, second = models
    folder = tmp_path / "model"
    compiler.save_model(first, folder)
    steps = []

    def counted(name, real):
        def step_then_maybe_die(*args, **kwargs):
            if len(steps) == step:
                raise Interrupted(name)
            steps.append(name)
            return real(*args, **kwargs)
        return step_then_maybe_die

    monkeypatch.setattr(os, "replace", counted("replace", os.replace))
    monkeypatch.setattr(os, "fsync", counted("fsync", os.fsync))
    monkeypatch.setattr(Path, "unlink", counted("unlink", Path.unlink))
    try:
        compiler.save_model(second, folder)
    except Interrupted:
        pass
    monkeypatch.undo()
    loaded = compiler.load_model(folder)
    assert loaded.vocab in (first.vocab, second.vocab)
    expected = first if loaded.vocab == first.vocab else second
    assert loaded.run(INPUTS[:3]) == expected.run(INPUTS[:3])


@pytest.mark.slow
def test_rasp_compile_killed_at_random_moments_leaves_a_whole_export(tmp_path: Path) -> None:
    """The real command, killed (SIGKILL) at seeded random moments while it saves over an
    earlier export: the folder loads, as the old model or the new one. (About 20 s; the fast
    version, interrupting a save at each of its steps, is in the default run.)"""
    folder = tmp_path / "model"
    command = [sys.executable, "-m", "command_line.main", "compile", "examples/reverse.rasp",
               "--sop", "reverse", "--max-len", "4", "-o", str(folder)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    subprocess.run([*command, "--vocab", '"abc"'], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    old = compiler.load_model(folder).vocab
    # How long the command takes, then kills spread over its end, where it saves.
    started = time.perf_counter()
    subprocess.run([*command, "--vocab", '"abcd"'], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    duration = time.perf_counter() - started
    shutil.rmtree(folder)
    subprocess.run([*command, "--vocab", '"abc"'], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    rng = random.Random(15)
    for _ in range(3):
        process = subprocess.Popen([*command, "--vocab", '"abcd"'], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * rng.uniform(0.85, 1.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert compiler.load_model(folder).vocab in (old, ["a", "b", "c", "d"])


# ------------------------------------------------------------------ damaged or tampered files


def edit_manifest(change):
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return edit


def edit_weights(change):
    """Rewrite the weights file with an array changed, and the manifest's hash to match (so
    that only the validation of the contents can catch it)."""
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        path = folder / manifest["weights"]
        arrays = safetensors.numpy.load_file(path)
        change(arrays)
        safetensors.numpy.save_file(arrays, path)
        manifest["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return edit


def truncate_weights(folder: Path) -> None:
    """A damaged weights file of a folder saved before the manifest recorded the hash."""
    edit_manifest(lambda m: m.pop("weights_sha256"))(folder)
    path = next(folder.glob("weights*"))
    path.write_bytes(path.read_bytes()[:200])


def nan_weights(arrays):
    arrays["layer_0/query"][0, 0] = np.nan


TAMPERED = [
    ("manifest.json", "not valid JSON", lambda f: (f / "manifest.json").write_text("{")),
    ("manifest.json", "not a JSON object", lambda f: (f / "manifest.json").write_text("[]")),
    ("manifest.json", "unsupported model format 7",
     edit_manifest(lambda m: m.update(format_version=7))),
    ("manifest.json", "`num_layers` must be an integer >= 0, got -1",
     edit_manifest(lambda m: m.update(num_layers=-1))),
    ("manifest.json", "`num_layers` is 5 but the weights lack",
     edit_manifest(lambda m: m.update(num_layers=5))),
    ("manifest.json", "distinct rows of the", edit_manifest(
        lambda m: m["token_ids"][0].__setitem__(2, 999))),
    ("manifest.json", "do not give each token of `vocab` one id",
     edit_manifest(lambda m: m.update(vocab=["a", "b", "z"]))),
    ("manifest.json", "`max_seq_len` must be an integer >= 1",
     edit_manifest(lambda m: m.update(max_seq_len="4"))),
    ("manifest.json", "`pos_embed` should be", edit_manifest(lambda m: m.update(max_seq_len=9))),
    ("manifest.json", "`unembed` should be",
     edit_manifest(lambda m: m["output_values"].append("q"))),
    ("manifest.json", "`weights` must name a weights file of this folder",
     edit_manifest(lambda m: m.update(weights="../../elsewhere.npz"))),
    ("manifest.json", "`layout` names head 3 of layer 0",
     edit_manifest(lambda m: m["layout"]["heads"][0].update(head=3))),
    ("manifest.json", "`output_encoding` must be", edit_manifest(
        lambda m: m.update(output_encoding="binary"))),
    ("manifest.json", "`residual_labels` names", edit_manifest(
        lambda m: m["residual_labels"].pop())),
    ("weights", "is not the file the manifest was saved with", edit_manifest(
        lambda m: m.update(weights_sha256="0" * 64))),
    ("weights", "damaged weights file", truncate_weights),
    ("weights", "holds values that are not finite numbers", edit_weights(nan_weights)),
    ("weights", "`layer_0/query` must be a matrix of floats",
     edit_weights(lambda a: a.update({"layer_0/query": np.zeros((2, 2, 2))}))),
    ("weights", "`layer_0/key` should be",
     edit_weights(lambda a: a.update({"layer_0/key": a["layer_0/key"][:, :1]}))),
    ("weights", "the weights lack unembed", edit_weights(lambda a: a.pop("unembed"))),
    ("weights", "is missing", lambda f: next(f.glob("weights*")).unlink()),
]


@pytest.mark.parametrize("where, fragment, tamper", TAMPERED,
                         ids=[fragment[:40] for _, fragment, _ in TAMPERED])
def test_a_tampered_folder_is_one_error_naming_the_file(tmp_path: Path, models, where: str,
                                                        fragment: str, tamper) -> None:
    model, _ = models
    folder = compiler.save_model(model, tmp_path / "model")
    tamper(folder)
    with pytest.raises(rasp.RaspValueError) as caught:
        compiler.load_model(folder)
    message = str(caught.value)
    assert fragment in message and "\n" not in message
    assert str(folder) in message and (where in message or where == "weights")


def test_the_source_hash_is_checked_when_the_source_is_given(tmp_path: Path, models) -> None:
    model, _ = models
    folder = compiler.save_model(model, tmp_path / "model")
    source = (ROOT / "examples" / "reverse.rasp").read_text()
    assert compiler.load_model(folder, source=source).run(["ab"]) == [["b", "a"]]
    with pytest.raises(rasp.RaspValueError, match="compiled from another version"):
        compiler.load_model(folder, source=source + "\nx = tokens;\n")


def test_a_folder_saved_as_weights_npz_without_a_hash_still_loads(tmp_path: Path,
                                                                  models) -> None:
    """The layout of exports before safetensors and the hash: weights.npz beside a manifest
    that does not name it."""
    model, _ = models
    folder = compiler.save_model(model, tmp_path / "model", dtype="float64")
    manifest = json.loads((folder / "manifest.json").read_text())
    weights = folder / manifest["weights"]
    np.savez(folder / "weights.npz", **safetensors.numpy.load_file(weights))
    weights.unlink()
    for key in ("weights", "weights_sha256"):
        del manifest[key]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    loaded = export.load_model(folder)
    assert loaded.run(INPUTS) == model.run(INPUTS)
    np.testing.assert_array_equal(loaded.weights.token_embed, model.weights.token_embed)


def test_weights_are_float32_safetensors_unless_asked_otherwise(tmp_path: Path,
                                                                models) -> None:
    model, _ = models
    for dtype in ("float32", "float64"):
        folder = compiler.save_model(model, tmp_path / dtype, dtype=dtype)
        [weights] = folder.glob("weights-*.safetensors")
        arrays = safetensors.numpy.load_file(weights)
        assert {array.dtype.name for array in arrays.values()} == {dtype}
        assert compiler.load_model(folder).run(INPUTS) == model.run(INPUTS)
    with pytest.raises(rasp.RaspValueError, match="cannot save weights as float16"):
        compiler.save_model(model, tmp_path / "half", dtype="float16")
