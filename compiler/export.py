"""Saving a compiled model to a folder and loading it back without recompiling.

A model folder holds:

* `weights.npz`: `token_embed`, `pos_embed`, `unembed` and, for each layer i,
  `layer_{i}/query|key|value|linear|linear_1|linear_2` (all biases are zero);
* `manifest.json`: format version, the s-op, the SHA-256 of the program source,
  vocabulary, BOS and PAD tokens, max length, causal flag, layer/head layout,
  encodings of every s-op, residual labels, the output encoding and the value of
  each output dimension (the unembedding), the MLP slope used, and the SHA-256 of
  `weights.npz`.

Each file is written atomically (`rasp.files`), weights first: the manifest is the
commit. A save killed between the two writes leaves new weights beside the old
manifest, and the manifest's hash of the weights tells `load_model` that the pair
does not belong together, so a mismatched pair is never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from compiler.assemble import Weights
from compiler.model import CompiledModel, Head, Layout
from rasp.errors import RaspValueError
from rasp.files import write_atomically
from rasp.values import value_key

FORMAT_VERSION = 1
LAYER_KEYS = ("query", "key", "value", "linear", "linear_1", "linear_2")


def save_model(model: CompiledModel, directory: str | Path) -> Path:
    """Write the model's weights and manifest into `directory` (created if needed)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"token_embed": model.weights.token_embed, "pos_embed": model.weights.pos_embed,
              "unembed": model.weights.unembed}
    for i, layer in enumerate(model.weights.layers):
        arrays.update({f"layer_{i}/{key}": layer[key] for key in LAYER_KEYS})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    weights = buffer.getvalue()
    write_atomically(folder / "weights.npz", weights)
    manifest = {
        "format_version": FORMAT_VERSION,
        "sop": model.sop,
        "source_sha256": model.source_hash,
        "vocab": model.vocab,
        "bos": model.bos,
        "token_ids": [[kind, value, index] for (kind, value), index in model.token_ids.items()],
        "bos_id": model.bos_id,
        "pad_id": model.pad_id,
        "max_seq_len": model.max_seq_len,
        "causal": model.causal,
        "num_layers": model.num_layers,
        "num_heads": model.weights.num_heads,
        "key_size": model.weights.key_size,
        "mlp_hidden_size": model.weights.mlp_hidden_size,
        "layout": {"heads": [vars(h) for h in model.layout.heads],
                   "mlps": {str(k): v for k, v in model.layout.mlps.items()}},
        "encodings": model.encodings,
        "residual_labels": model.weights.residual_labels,
        "output_encoding": model.output_encoding,
        "output_values": model.output_values,
        "mlp_exactness": model.mlp_exactness,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    write_atomically(folder / "manifest.json",
                     json.dumps(manifest, indent=1, default=_json_value).encode())
    return folder


def load_model(directory: str | Path) -> CompiledModel:
    """A model saved by `save_model`, ready to run."""
    folder = Path(directory)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        weights_file = (folder / "weights.npz").read_bytes()
        recorded = manifest.get("weights_sha256")   # absent in models saved before it was
        if recorded is not None and hashlib.sha256(weights_file).hexdigest() != recorded:
            raise RaspValueError(f"{folder}: weights.npz is not the one manifest.json was "
                                 f"saved with (a save was interrupted)",
                                 hint="save the model again")
        with np.load(io.BytesIO(weights_file)) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError as error:
        raise RaspValueError(f"{folder}: not a saved model ({Path(error.filename).name} is "
                             f"missing)", hint="save one with `rasp compile ... -o DIR`") from None
    except (ValueError, OSError) as error:
        raise RaspValueError(f"{folder}: cannot read the saved model ({error})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RaspValueError(f"{folder}: unsupported model format "
                             f"{manifest.get('format_version')!r}")
    layers = [{key: arrays[f"layer_{i}/{key}"] for key in LAYER_KEYS}
              for i in range(manifest["num_layers"])]
    weights = Weights(arrays["token_embed"], arrays["pos_embed"], arrays["unembed"], layers,
                      manifest["num_heads"], manifest["key_size"], manifest["mlp_hidden_size"],
                      manifest["residual_labels"])
    layout = Layout([Head(**h) for h in manifest["layout"]["heads"]],
                    {int(k): v for k, v in manifest["layout"]["mlps"].items()})
    return CompiledModel(
        weights=weights, vocab=manifest["vocab"], max_seq_len=manifest["max_seq_len"],
        causal=manifest["causal"], output_encoding=manifest["output_encoding"],
        output_values=manifest["output_values"],
        token_ids={value_key(value): index for _, value, index in manifest["token_ids"]},
        bos_id=manifest["bos_id"], pad_id=manifest["pad_id"], layout=layout,
        sop=manifest["sop"], source_hash=manifest["source_sha256"],
        encodings=manifest["encodings"], mlp_exactness=manifest["mlp_exactness"],
        bos=manifest["bos"])


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {value!r} in a manifest")
