"""Trained learned models, saved per seed so that users and diagnostics can load and run them.

A run folder's `models/<positions>/` holds, for each seed, `seed-<s>.safetensors` (the Haiku
parameters of that seed, named `module/parameter`, e.g. `block_0/attention/query/w`, float32)
and one `model.json` (the `ModelConfig`, the vocabulary and the output classes, in id order):
what `load_learned` needs to run the model on inputs, with no part of the harness's training.

    model = load_learned("runs/reverse", "rope", seed=0)
    model.run(["abc", "cab"])                  # decoded outputs, as at evaluation
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import safetensors.numpy

from generalization.models.config import ModelConfig
from generalization.tasks.encoding import Encoding
from rasp.errors import RaspValueError
from rasp.files import write_atomically

MODEL_FILE = "model.json"


def save_learned(folder: Path, config: ModelConfig, params_stacked: Any, seeds: Sequence[int],
                 encoding: Encoding) -> list[Path]:
    """Write every seed's parameters (the leading axis of `params_stacked`) and the model's
    description into `folder`."""
    written = []
    for index, seed in enumerate(seeds):
        flat = {f"{module}/{name}": np.asarray(value[index], dtype=np.float32)
                for module, parameters in params_stacked.items()
                for name, value in parameters.items()}
        path = folder / f"seed-{seed}.safetensors"
        write_atomically(path, safetensors.numpy.save(flat))
        written.append(path)
    description = {"config": config.to_dict(), "vocab": encoding.vocab,
                   "classes": encoding.classes, "seeds": list(seeds)}
    write_atomically(folder / MODEL_FILE, json.dumps(description, indent=1) + "\n")
    return [folder / MODEL_FILE, *written]


@dataclass
class LearnedModel:
    """One trained seed: its shape, its parameters and the ids of its inputs and outputs."""

    config: ModelConfig
    params: dict[str, dict[str, np.ndarray]]
    encoding: Encoding

    def run(self, inputs: Sequence[Any]) -> list[list]:
        """The model's decoded output on each input, positions as at evaluation."""
        from generalization.evaluation.predict import predict   # JAX only when it runs

        stacked = {module: {name: value[None] for name, value in parameters.items()}
                   for module, parameters in self.params.items()}
        return predict(self.config, stacked, self.encoding, inputs)[0]


def load_learned(run_dir: str | Path, positions: str, seed: int) -> LearnedModel:
    """Seed `seed` of the `positions` model that a run saved in `run_dir`."""
    folder = Path(run_dir) / "models" / positions
    try:
        description = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RaspValueError(f"{folder}: no saved `{positions}` model here",
                             hint="pass a run folder and one of its positional encodings") \
            from None
    if seed not in description["seeds"]:
        raise RaspValueError(f"{folder}: no seed {seed}; saved seeds: "
                             f"{', '.join(map(str, description['seeds']))}")
    flat = safetensors.numpy.load_file(folder / f"seed-{seed}.safetensors")
    params: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        module, _, name = key.rpartition("/")
        params.setdefault(module, {})[name] = value
    encoding = Encoding(description["vocab"], description["classes"])
    return LearnedModel(ModelConfig(**description["config"]), params, encoding)
