"""Saved compiled models: a round trip gives the same model, and a folder whose weights and
manifest do not belong together (a save killed between its two writes) is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import compiler
import rasp

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def models() -> tuple[compiler.CompiledModel, compiler.CompiledModel]:
    program = rasp.load(ROOT / "examples" / "reverse.rasp")
    return (compiler.compile(program, "reverse", "abc", 4),
            compiler.compile(program, "reverse", "abcd", 4))


def test_a_saved_model_loads_back_and_computes_the_same(tmp_path: Path, models) -> None:
    model, _ = models
    compiler.save_model(model, tmp_path / "model")
    loaded = compiler.load_model(tmp_path / "model")
    inputs = ["abc", "cab", "b", "aacb"]
    assert loaded.run(inputs) == model.run(inputs)
    np.testing.assert_array_equal(loaded.raw_outputs([list("abca")]),
                                  model.raw_outputs([list("abca")]))
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "manifest.json", "weights.npz"]   # no temporary file left behind


def test_weights_of_another_save_beside_the_manifest_are_refused(tmp_path: Path, models) -> None:
    first, second = models
    compiler.save_model(first, tmp_path / "old")
    compiler.save_model(second, tmp_path / "new")
    # What a save of `second` over `first` killed after the weights and before the manifest
    # leaves: new weights, old manifest.
    (tmp_path / "old" / "weights.npz").write_bytes((tmp_path / "new" / "weights.npz").read_bytes())
    with pytest.raises(rasp.RaspValueError, match="weights.npz is not the one manifest.json "
                                                  "was saved with"):
        compiler.load_model(tmp_path / "old")


def test_a_manifest_saved_before_the_hash_existed_still_loads(tmp_path: Path, models) -> None:
    model, _ = models
    compiler.save_model(model, tmp_path / "model")
    manifest_path = tmp_path / "model" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["weights_sha256"]
    manifest_path.write_text(json.dumps(manifest))
    assert compiler.load_model(tmp_path / "model").run(["abc"]) == [["c", "b", "a"]]
