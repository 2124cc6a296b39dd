"""Checkpoints (generalization/training/checkpoint.py) on a small state: a damaged one is one
line with what to do, and the record cannot point at another run's state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from generalization.training import checkpoint

STATE = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)}


def saved(folder: Path) -> Path:
    checkpoint.save(folder, 7, STATE, {"note": "meta"})
    return folder


def test_a_checkpoint_loads_back(tmp_path: Path) -> None:
    step, state, meta = checkpoint.load(saved(tmp_path / "run"), STATE)
    assert step == 7 and meta == {"note": "meta"}
    np.testing.assert_array_equal(state["w"], STATE["w"])


def test_a_truncated_state_file_is_one_line_with_what_to_do(tmp_path: Path) -> None:
    folder = saved(tmp_path / "run")
    state = next(folder.glob("state_*.npz"))
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.load(folder, STATE)
    message = str(caught.value)
    assert "damaged checkpoint" in message and "\n" not in message
    assert f"delete {folder}" in message and "another -o" in message


@pytest.mark.parametrize("arrays", ["../other/state_000000007.npz", "/tmp/state_000000007.npz",
                                    "state_7.npz", 7])
def test_the_record_cannot_name_a_state_outside_its_folder(tmp_path: Path, arrays) -> None:
    other = saved(tmp_path / "other")
    folder = saved(tmp_path / "run")
    record = json.loads((folder / checkpoint.RECORD).read_text())
    record["arrays"] = arrays
    (folder / checkpoint.RECORD).write_text(json.dumps(record))
    shutil.copy(next(other.glob("state_*.npz")), tmp_path / "state_000000007.npz")
    with pytest.raises(checkpoint.CheckpointError, match="must name a state file of this folder"):
        checkpoint.load(folder, STATE)


def test_an_unreadable_record_is_one_line(tmp_path: Path) -> None:
    folder = saved(tmp_path / "run")
    (folder / checkpoint.RECORD).write_text("{")
    with pytest.raises(checkpoint.CheckpointError, match="damaged checkpoint"):
        checkpoint.load(folder, STATE)
