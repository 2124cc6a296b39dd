"""Checkpoints of a training run: the arrays of every seed in one .npz, committed by a JSON record.

Layout of a checkpoint directory:

    state_<step>.npz   the leaves of the state pytree (params and optimiser state, stacked over
                       seeds) in `jax.tree` order, as arrays leaf_00000, leaf_00001, ...
    checkpoint.json    {"format": 1, "step": ..., "arrays": "state_<step>.npz",
                        "leaves": [[shape, dtype], ...], "meta": {...caller's plain data...}}

A kill at any moment leaves a loadable checkpoint, because of the order of writes: the arrays go
to a temporary file, which is flushed and renamed to its final name (`os.replace` is atomic);
then the JSON record is written the same way, and its rename is the commit; only after that are
older arrays files deleted. The record therefore always names a complete arrays file, and a
temporary file left by a kill is never read (and is removed by the next save).

No random-generator state needs saving: the training data of step t comes from the seed and t
alone (see `train`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rasp.errors import RaspError
from rasp.files import write_atomically, writing_atomically

FORMAT = 1
RECORD = "checkpoint.json"
ARRAYS_NAME = re.compile(r"state_\d{9}\.npz")


class CheckpointError(RaspError):
    """A checkpoint that cannot be resumed: unreadable, or from a different configuration."""


def save(directory: Path, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Write `state` (a pytree of arrays) and `meta` (JSON data) as the checkpoint of `step`,
    atomically, and delete every older checkpoint in `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(state)]
    arrays_name = f"state_{step:09d}.npz"
    with writing_atomically(directory / arrays_name) as file:
        np.savez(file, **{f"leaf_{i:05d}": leaf for i, leaf in enumerate(leaves)})
    record = {"format": FORMAT, "step": step, "arrays": arrays_name,
              "leaves": [[list(leaf.shape), str(leaf.dtype)] for leaf in leaves], "meta": meta}
    text = json.dumps(record, indent=1)
    write_atomically(directory / RECORD, text)
    for old in directory.glob("state_*.npz*"):
        if old.name != arrays_name:
            old.unlink(missing_ok=True)


def load(directory: Path, template: Any) -> tuple[int, Any, dict[str, Any]] | None:
    """The latest checkpoint in `directory` as (step, state, meta), or None if there is none.

    `template` is a pytree of the state's structure (e.g. a freshly initialised state); the
    saved leaves must match its leaves in number, shape and dtype, else `CheckpointError`."""
    record_path = Path(directory) / RECORD
    if not record_path.exists():
        return None
    try:
        record = json.loads(record_path.read_text())
        arrays_name = record["arrays"]
        # A name in this folder, never a path: a record must not resume another run's state.
        if not isinstance(arrays_name, str) or not ARRAYS_NAME.fullmatch(arrays_name):
            raise ValueError(f"`arrays` must name a state file of this folder, got "
                             f"{arrays_name!r}")
        with np.load(Path(directory) / arrays_name, allow_pickle=False) as arrays:
            leaves = [arrays[f"leaf_{i:05d}"] for i in range(len(record["leaves"]))]
    except Exception as error:   # unreadable JSON, a damaged zip or npy header, a lost file
        raise CheckpointError(f"{record_path}: damaged checkpoint ({type(error).__name__}: "
                              f"{error})", hint=f"delete {Path(directory)} to start this "
                                                f"training afresh, or pass another -o") from None
    expected, treedef = jax.tree.flatten(template)
    shapes = [(tuple(np.shape(leaf)), np.asarray(leaf).dtype) for leaf in expected]
    if [(leaf.shape, leaf.dtype) for leaf in leaves] != shapes:
        raise CheckpointError(f"{record_path}: the saved state does not match the model's shape",
                              hint="delete the checkpoint directory to start afresh")
    return record["step"], jax.tree.unflatten(treedef, leaves), record["meta"]
