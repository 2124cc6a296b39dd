"""Compiled models as TransformerLens `HookedTransformer`s, for hooks, caching and patching.

    lens = compiler.to_transformer_lens(model)          # or model.to_transformer_lens()
    logits, cache = lens.run_with_cache(lens_tokens(model, ["abc"]))
    decode_lens(model, logits, ["abc"])                 # == model.run(["abc"])

A compiled model (`compiler/model.py`) is tracr's transformer: no LayerNorm, ReLU MLPs, no
biases, attention logits scaled by 1/sqrt(key size), a BOS token at position 0, and the output
read off the residual by an unembedding. That is a `HookedTransformer` with
`normalization_type=None`, `act_fn="relu"`, `d_head` = key size (so TransformerLens's own
1/sqrt(d_head) scale is the same), zero biases, and `attention_dir` bidirectional or causal as
compiled. Its weights map one to one:

    embed.W_E = token_embed [tokens, D]        pos_embed.W_pos = pos_embed [max_seq_len + 1, D]
    blocks.l.attn.W_Q[h] = query[:, h*k:(h+1)*k]   (likewise W_K, W_V)     [H, D, k]
    blocks.l.attn.W_O[h] = linear[h*k:(h+1)*k, :]                           [H, k, D]
    blocks.l.mlp.W_in = linear_1 [D, M]        blocks.l.mlp.W_out = linear_2 [M, D]
    unembed.W_U = unembed [D, outputs]

so on the same token ids (BOS first, no padding) the logits are the compiled model's outputs,
up to float32 rounding, and they decode the same way (`decode_lens`). Inputs of different
lengths run in groups of one length, as TransformerLens pads nothing here.

TransformerLens needs torch: `pip install -e '.[lens]'` (TransformerLens 2 or 3; version 4
replaced `HookedTransformer` by `TransformerBridge`).
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from compiler.model import CompiledModel
from rasp.errors import RaspValueError
from rasp.files import write_atomically

CONFIG_FILE = "transformer_lens.json"
WEIGHTS_FILE = "transformer_lens.safetensors"


def _library() -> tuple[Any, Any, Any]:
    """(torch, HookedTransformer, HookedTransformerConfig), or a RaspError saying what to
    install."""
    try:
        import torch
        from transformer_lens import HookedTransformer, HookedTransformerConfig
    except ImportError as error:
        raise RaspValueError(f"exporting to TransformerLens needs torch and transformer-lens "
                             f"(<4): {error}", hint="pip install -e '.[lens]'") from None
    return torch, HookedTransformer, HookedTransformerConfig


def _hooked(HookedTransformer: Any, config: Any) -> Any:
    """A HookedTransformer, without TransformerLens 3's notice that version 4 drops the class
    (this module asks for version 2 or 3)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return HookedTransformer(config)


def lens_config(model: CompiledModel) -> dict[str, Any]:
    """The `HookedTransformerConfig` arguments of the model, as plain data."""
    w = model.weights
    return {"n_layers": model.num_layers, "d_model": model.residual_width,
            "n_heads": max(w.num_heads, 1), "d_head": max(w.key_size, 1),
            "d_mlp": max(w.mlp_hidden_size, 1), "d_vocab": w.token_embed.shape[0],
            "d_vocab_out": w.unembed.shape[1], "n_ctx": w.pos_embed.shape[0],
            "act_fn": "relu", "normalization_type": None,
            "attention_dir": "causal" if model.causal else "bidirectional",
            "positional_embedding_type": "standard", "default_prepend_bos": False,
            "model_name": f"rasp-{model.sop}"}


def lens_state(model: CompiledModel) -> dict[str, np.ndarray]:
    """The HookedTransformer's parameters (module docstring), float32, zero biases."""
    w = model.weights
    heads, key_size, width = max(w.num_heads, 1), max(w.key_size, 1), model.residual_width
    hidden = max(w.mlp_hidden_size, 1)

    def per_head_in(matrix: np.ndarray) -> np.ndarray:   # [D, H*k] -> [H, D, k]
        out = np.zeros((heads, width, key_size))
        out[:, :, :w.key_size] = matrix.reshape(width, w.num_heads, w.key_size).transpose(1, 0, 2)
        return out

    def padded(matrix: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape)
        out[tuple(slice(0, n) for n in matrix.shape)] = matrix
        return out

    state = {"embed.W_E": w.token_embed, "pos_embed.W_pos": w.pos_embed,
             "unembed.W_U": w.unembed, "unembed.b_U": np.zeros(w.unembed.shape[1])}
    for number, layer in enumerate(w.layers):
        block = f"blocks.{number}"
        for name, key in (("W_Q", "query"), ("W_K", "key"), ("W_V", "value")):
            state[f"{block}.attn.{name}"] = per_head_in(layer[key])
            state[f"{block}.attn.b_{name[-1]}"] = np.zeros((heads, key_size))
        state[f"{block}.attn.W_O"] = per_head_in(layer["linear"].T).transpose(0, 2, 1)
        state[f"{block}.attn.b_O"] = np.zeros(width)
        state[f"{block}.mlp.W_in"] = padded(layer["linear_1"], (width, hidden))
        state[f"{block}.mlp.b_in"] = np.zeros(hidden)
        state[f"{block}.mlp.W_out"] = padded(layer["linear_2"], (hidden, width))
        state[f"{block}.mlp.b_out"] = np.zeros(width)
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in state.items()}


def to_transformer_lens(model: CompiledModel) -> Any:
    """The compiled model as a TransformerLens `HookedTransformer` (module docstring)."""
    torch, HookedTransformer, HookedTransformerConfig = _library()
    lens = _hooked(HookedTransformer, HookedTransformerConfig(**lens_config(model)))
    state = {name: torch.from_numpy(array) for name, array in lens_state(model).items()}
    missing, unexpected = lens.load_state_dict(state, strict=False)
    # The only parameters we leave out are TransformerLens's attention-mask buffers.
    leftover = [name for name in missing if not name.endswith((".mask", ".IGNORE"))]
    assert not leftover and not unexpected, (leftover, unexpected)
    return lens.eval()


def lens_tokens(model: CompiledModel, inputs: Sequence[Any]) -> Any:
    """The token ids (BOS first) of inputs of one length, as a torch tensor [batch, n + 1]."""
    torch, _, _ = _library()
    rows = [model._check(tokens) for tokens in inputs]
    if len({len(row) for row in rows}) > 1:
        raise RaspValueError("lens_tokens takes inputs of one length",
                             hint="group the inputs by length, as run_lens does")
    ids, _ = model.encode(rows)
    width = len(rows[0]) + 1 if rows else 1
    return torch.from_numpy(ids[:len(rows), :width].astype(np.int64))


def decode_lens(model: CompiledModel, logits: Any, inputs: Sequence[Any]) -> list[list]:
    """The values that a HookedTransformer's logits [batch, n + 1, outputs] stand for, as the
    compiled model decodes its own (the BOS position dropped)."""
    array = logits.detach().cpu().numpy()
    return [model._decode(array[i, 1:len(model._check(tokens)) + 1])
            for i, tokens in enumerate(inputs)]


def run_lens(lens: Any, model: CompiledModel, inputs: Sequence[Any]) -> list[list]:
    """Decoded outputs of the HookedTransformer `lens` on `inputs` (any lengths, run in
    groups of one length): what `model.run(inputs)` gives when the export is right."""
    torch, _, _ = _library()
    groups: dict[int, list[int]] = defaultdict(list)
    rows = [model._check(tokens) for tokens in inputs]
    for index, row in enumerate(rows):
        groups[len(row)].append(index)
    outputs: list[list] = [[] for _ in rows]
    with torch.no_grad():
        for indices in groups.values():
            batch = [rows[i] for i in indices]
            decoded = decode_lens(model, lens(lens_tokens(model, batch)), batch)
            for index, output in zip(indices, decoded):
                outputs[index] = output
    return outputs


def save_lens(model: CompiledModel, directory: str | Path) -> list[Path]:
    """Write the HookedTransformer's config (JSON) and state dict (safetensors) into
    `directory`; `load_lens` reads them back."""
    import safetensors.numpy

    folder = Path(directory)
    weights = safetensors.numpy.save(lens_state(model))
    write_atomically(folder / WEIGHTS_FILE, weights)
    write_atomically(folder / CONFIG_FILE, json.dumps(lens_config(model), indent=1) + "\n")
    return [folder / CONFIG_FILE, folder / WEIGHTS_FILE]


def load_lens(directory: str | Path) -> Any:
    """The HookedTransformer saved by `save_lens` in `directory`."""
    import safetensors.torch

    torch, HookedTransformer, HookedTransformerConfig = _library()
    folder = Path(directory)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        state = safetensors.torch.load_file(folder / WEIGHTS_FILE)
    except (OSError, ValueError) as error:
        raise RaspValueError(f"{folder}: no TransformerLens export here ({error})",
                             hint="export one with `rasp compile ... --format lens -o DIR`") \
            from None
    lens = _hooked(HookedTransformer, HookedTransformerConfig(**config))
    lens.load_state_dict(state, strict=False)
    return lens.eval()
