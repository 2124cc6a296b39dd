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


def start_parameters(config: ModelConfig, saved: dict[str, dict[str, np.ndarray]]) -> dict:
    """`saved` parameters (one seed's, as `load_learned` gives them) as the starting point of a
    model of `config`: every parameter the model has, as a JAX array. Raises `ValueError`
    naming the first parameter that `saved` lacks or holds in another shape, as
    "block_0/mlp_in/w is [64, 256] here and [32, 128]" (the caller says where "there" is)."""
    import jax                      # JAX only when a run starts from saved weights
    import jax.numpy as jnp

    from generalization.models.transformer import build_model

    ids = np.zeros((1, 2), np.int32)
    tokens = np.zeros((1, 2, config.input_dim), np.float32) if config.input_dim else ids
    shapes = jax.eval_shape(lambda: build_model(config).init(jax.random.key(0), tokens, ids,
                                                             ids == 0))
    for module, parameters in shapes.items():
        for name, shape in parameters.items():
            there = saved.get(module, {}).get(name)
            if there is None or there.shape != shape.shape:
                raise ValueError(f"{module}/{name} is {list(shape.shape)} here and "
                                 f"{'absent' if there is None else list(there.shape)}")
    return {module: {name: jnp.asarray(saved[module][name]) for name in parameters}
            for module, parameters in shapes.items()}
