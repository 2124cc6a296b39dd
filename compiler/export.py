"""Saving a compiled model to a folder and loading it back without recompiling.

A model folder holds:

* `weights-<hash>.safetensors`: `token_embed`, `pos_embed`, `unembed` and, for each layer i,
  `layer_{i}/query|key|value|linear|linear_1|linear_2` (all biases are zero), as float32
  unless asked otherwise (the compiled model computes in float32, so its outputs are the
  same); `<hash>` is the first 16 hex digits of the file's SHA-256. safetensors holds plain
  tensors with names, so any framework reads it, and no code runs on loading;
* `manifest.json`: format version, the name of the weights file and its SHA-256, the s-op,
  the SHA-256 of the program source, vocabulary, BOS and PAD tokens, max length, causal flag,
  layer/head layout, encodings of every s-op, residual labels, the output encoding and the
  value of each output dimension (the unembedding), and the MLP slope used.

A save writes the new weights file atomically beside the old one, then the manifest
atomically (the commit), then deletes the weights files the manifest does not name. A save
killed at any moment therefore leaves either the old model or the new one, complete: the
manifest always names a whole weights file of its own. (Folders saved earlier hold
`weights.npz` or `weights-<hash>.npz`, which `load_model` still reads.)

`load_model` trusts nothing in the folder: the manifest is checked against the weights (every
shape, every token id, finite values, the format version, the weights' hash, and the source's
hash when the program is given) and the first inconsistency is one `RaspValueError` naming the
file, instead of a model that loads and computes something else.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import safetensors.numpy

from compiler.model import CompiledModel, Head, Layout
from compiler.weights import Weights, from_dense
from rasp.errors import RaspValueError
from rasp.files import write_atomically
from rasp.values import value_key

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LAYER_KEYS = ("query", "key", "value", "linear", "linear_1", "linear_2")
_WEIGHTS_NAME = re.compile(r"weights(-[0-9a-f]{16})?\.(npz|safetensors)")
DTYPES = ("float32", "float64")


def save_model(model: CompiledModel, directory: str | Path, dtype: str = "float32") -> Path:
    """Write the model's weights (as `dtype`) and manifest into `directory` (created if
    needed)."""
    if dtype not in DTYPES:
        raise RaspValueError(f"cannot save weights as {dtype}; choose {' or '.join(DTYPES)}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"token_embed": model.weights.token_embed, "pos_embed": model.weights.pos_embed,
              "unembed": model.weights.unembed}
    for i, layer in enumerate(model.weights.layers):
        arrays.update({f"layer_{i}/{key}": layer[key] for key in LAYER_KEYS})
    weights = safetensors.numpy.save({name: np.ascontiguousarray(array, dtype=dtype)
                                      for name, array in arrays.items()})
    digest = hashlib.sha256(weights).hexdigest()
    weights_name = f"weights-{digest[:16]}.safetensors"
    write_atomically(folder / weights_name, weights)
    manifest = {
        "format_version": FORMAT_VERSION,
        "weights": weights_name,
        "weights_sha256": digest,
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
    }
    write_atomically(folder / MANIFEST,
                     json.dumps(manifest, indent=1, default=_json_value).encode())
    for stale in folder.glob("weights*"):   # the commit is done: the old weights go
        if stale.name != weights_name and _WEIGHTS_NAME.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    return folder


def load_model(directory: str | Path, source: str | None = None) -> CompiledModel:
    """A model saved by `save_model`, checked and ready to run; `source`, when given, is the
    program text it must have been compiled from."""
    folder = Path(directory)
    manifest = _read_manifest(folder)
    problem = _Problems(folder / MANIFEST)
    problem.check(manifest.get("format_version") == FORMAT_VERSION,
                  f"unsupported model format {manifest.get('format_version')!r} (this version "
                  f"reads {FORMAT_VERSION})")
    weights_name = manifest.get("weights", "weights.npz")
    problem.check(isinstance(weights_name, str) and _WEIGHTS_NAME.fullmatch(weights_name),
                  f"`weights` must name a weights file of this folder, got {weights_name!r}")
    if source is not None:
        problem.check(hashlib.sha256(source.encode()).hexdigest() ==
                      manifest.get("source_sha256"), "the model was compiled from another "
                      "version of the program (its source hash differs)")
    arrays = _read_weights(folder / weights_name, manifest.get("weights_sha256"))
    return _model(manifest, arrays, problem, _Problems(folder / weights_name))


class _Problems:
    """The one-line errors of one file: the first inconsistency found ends the load."""

    def __init__(self, path: Path):
        self.path = path

    def check(self, ok: Any, problem: str) -> None:
        if not ok:
            raise RaspValueError(f"{self.path}: {problem}",
                                 hint="save the model again with `rasp compile ... -o DIR`")


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RaspValueError(f"{folder}: not a saved model ({MANIFEST} is missing)",
                             hint="save one with `rasp compile ... -o DIR`") from None
    except json.JSONDecodeError as error:
        raise RaspValueError(f"{folder / MANIFEST}:{error.lineno}:{error.colno}: not valid "
                             f"JSON: {error.msg}", hint="save the model again") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RaspValueError(f"{folder / MANIFEST}: cannot read it ({error})") from None
    _Problems(folder / MANIFEST).check(isinstance(manifest, dict), "is not a JSON object")
    return manifest


def _read_weights(path: Path, recorded_hash: Any) -> dict[str, np.ndarray]:
    """The arrays of the weights file, after checking it against the manifest's hash."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RaspValueError(f"{path.parent}: not a saved model ({path.name} is missing)",
                             hint="save one with `rasp compile ... -o DIR`") from None
    except OSError as error:
        raise RaspValueError(f"{path}: cannot read it ({error.strerror or error})") from None
    # Absent in models saved before it was recorded.
    if recorded_hash is not None and hashlib.sha256(data).hexdigest() != recorded_hash:
        raise RaspValueError(f"{path}: is not the file the manifest was saved with",
                             hint="save the model again")
    try:
        if path.suffix == ".safetensors":
            return safetensors.numpy.load(data)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:   # saved before safetensors
            return {name: npz[name] for name in npz.files}
    except Exception as error:   # header, zip or npy errors of a damaged file
        raise RaspValueError(f"{path}: damaged weights file ({type(error).__name__}: {error})",
                             hint="save the model again") from None


def _model(manifest: dict[str, Any], arrays: dict[str, np.ndarray], problem: _Problems,
           weights_problem: _Problems) -> CompiledModel:
    """The model the manifest describes, its fields checked for type and range."""
    def integer(key: str, low: int) -> int:
        value = manifest.get(key)
        problem.check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
                      f"`{key}` must be an integer >= {low}, got {value!r}")
        return value

    for key, kind in (("sop", str), ("source_sha256", str), ("vocab", list), ("bos", str),
                      ("token_ids", list), ("causal", bool), ("layout", dict),
                      ("encodings", dict), ("residual_labels", list), ("output_values", list),
                      ("mlp_exactness", (int, float))):
        problem.check(isinstance(manifest.get(key), kind),
                      f"`{key}` is missing or of the wrong type")
    problem.check(manifest.get("output_encoding") in ("categorical", "numerical"),
                  f"`output_encoding` must be categorical or numerical, got "
                  f"{manifest.get('output_encoding')!r}")
    token_ids = {}
    for entry in manifest["token_ids"]:
        problem.check(isinstance(entry, list) and len(entry) == 3 and
                      isinstance(entry[2], int), f"`token_ids` entry {entry!r} is not "
                                                 f"[kind, token, id]")
        token_ids[value_key(entry[1])] = entry[2]
    problem.check(set(token_ids) == {value_key(token) for token in manifest["vocab"]},
                  "`token_ids` do not give each token of `vocab` one id")
    try:
        layout = Layout([Head(**h) for h in manifest["layout"]["heads"]],
                        {int(k): list(v) for k, v in manifest["layout"]["mlps"].items()})
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RaspValueError(f"{problem.path}: `layout` is not the layout of a model") from None
    num_layers = integer("num_layers", 0)
    layers = []
    for i in range(num_layers):
        missing = [f"layer_{i}/{key}" for key in LAYER_KEYS if f"layer_{i}/{key}" not in arrays]
        problem.check(not missing, f"`num_layers` is {num_layers} but the weights lack "
                                   f"{', '.join(missing)}")
        layers.append({key: arrays[f"layer_{i}/{key}"] for key in LAYER_KEYS})
    missing = [name for name in ("token_embed", "pos_embed", "unembed") if name not in arrays]
    problem.check(not missing, f"the weights lack {', '.join(missing)}")
    weights = Weights(arrays["token_embed"], arrays["pos_embed"], arrays["unembed"], layers,
                      integer("num_heads", 0), integer("key_size", 0),
                      integer("mlp_hidden_size", 0), manifest["residual_labels"])
    fields = dict(
        vocab=manifest["vocab"], max_seq_len=integer("max_seq_len", 1),
        causal=manifest["causal"], output_encoding=manifest["output_encoding"],
        output_values=manifest["output_values"], token_ids=token_ids,
        bos_id=integer("bos_id", 0), pad_id=integer("pad_id", 0), layout=layout,
        sop=manifest["sop"], source_hash=manifest["source_sha256"],
        encodings=manifest["encodings"], mlp_exactness=manifest["mlp_exactness"],
        bos=manifest["bos"])
    # the shapes are checked before the blocks are cut out of the dense arrays
    _check_weights(SimpleNamespace(weights=weights, num_layers=num_layers, **fields), arrays,
                   weights_problem, problem)
    return CompiledModel(blocks=from_dense(weights), _dense=weights, **fields)


def _check_weights(model: SimpleNamespace, arrays: dict[str, np.ndarray],
                   weights_problem: _Problems, manifest_problem: _Problems) -> None:
    """Every array's shape and values against what the manifest says the model is (`model`:
    the model's fields and dense weights)."""
    for name, array in arrays.items():
        weights_problem.check(array.dtype.kind == "f" and array.ndim == 2,
                              f"`{name}` must be a matrix of floats, got {array.dtype} "
                              f"{array.shape}")
        weights_problem.check(np.isfinite(array).all(), f"`{name}` holds values that are not "
                                                       f"finite numbers")
    w = model.weights
    vocab_rows, width = w.token_embed.shape
    inner, hidden = w.num_heads * w.key_size, w.mlp_hidden_size
    outputs = len(model.output_values) if model.output_encoding == "categorical" else 1
    expected = {"pos_embed": (model.max_seq_len + 1, width), "unembed": (width, outputs)}
    for i in range(model.num_layers):
        expected.update({f"layer_{i}/query": (width, inner), f"layer_{i}/key": (width, inner),
                         f"layer_{i}/value": (width, inner), f"layer_{i}/linear": (inner, width),
                         f"layer_{i}/linear_1": (width, hidden),
                         f"layer_{i}/linear_2": (hidden, width)})
    for name, shape in expected.items():
        manifest_problem.check(arrays[name].shape == shape,
                               f"`{name}` should be {shape} for this manifest, but the weights "
                               f"hold {arrays[name].shape}")
    manifest_problem.check(len(w.residual_labels) == width,
                           f"`residual_labels` names {len(w.residual_labels)} dimensions, the "
                           f"weights have {width}")
    ids = [*model.token_ids.values(), model.bos_id, model.pad_id]
    manifest_problem.check(all(0 <= i < vocab_rows for i in ids) and len(set(ids)) == len(ids),
                           f"token, BOS and PAD ids must be distinct rows of the "
                           f"{vocab_rows}-row token embedding, got {sorted(ids)}")
    for head in model.layout.heads:
        manifest_problem.check(0 <= head.layer < model.num_layers and
                               0 <= head.head < max(w.num_heads, 1),
                               f"`layout` names head {head.head} of layer {head.layer}, which "
                               f"the model does not have")


def _json_value(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {value!r} in a manifest")
