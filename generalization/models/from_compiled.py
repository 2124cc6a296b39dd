"""Learned models initialised from compiled weights: a compiled (tracr) model written exactly into
the learned transformer of `model.py`, to fine-tune from (the `compiled` positions kind).

The compiled model (`compiler/model.py`) reads [BOS, t_1, ..., t_n] at positions 0..n and computes,
with residual width D, H heads per layer of key size k, MLP hidden size M and no biases:

    x   = T[t_i] + P[i]
    x  += sum_h softmax(x Q_h (x K_h)^T / sqrt(k), masked) x V_h O_h      each layer l:
    x  += relu(x W1) W2                                                     attention, then MLP
    out = x U                        (the predicted value is argmax over U's output values)

The learned model with `layer_norm=False`, `activation="relu"` and `bos=True` computes the same
sums with width W, H heads of size d = W / H, and a bias on every linear map. Choosing
W = H * max(k, ceil(D / H)) makes d >= k and W >= D, and then:

* residual: compiled coordinate j is learned coordinate j; coordinates D..W-1 are 0 in every
  embedding and in every column that writes to the residual, so they stay 0 and are read by
  nothing;
* embeddings: token id i (1..V, the task's vocab in order) gets T[vocab[i - 1]], PAD (id 0)
  gets T[pad]; the learned BOS vector is T[bos]; the position table (max_seq_len + 1 rows,
  the BOS at id 0, token i at id i, as in the compiled model) is P;
* attention, head h: Q_h, K_h, V_h fill the first k of the head's d columns of query, key and
  value (rows 0..D-1), and O_h the matching k rows of output. The remaining d - k columns are
  0, so they add 0 to every score and every output. Q_h is multiplied by sqrt(d / k), so that
  the learned score q k^T / sqrt(d) equals the compiled q k^T / sqrt(k);
* MLP: mlp_in = W1 in rows 0..D-1, mlp_out = W2 in columns 0..D-1;
* head: class c (the task's sorted output values) reads U's column of the same value, so the
  argmax over classes picks the compiled model's value;
* every bias is 0.

Hence the learned logits are the compiled outputs in the class order, up to float32 rounding
(sums taken in another order, the sqrt(d / k) scale): the predictions agree wherever the
compiled model's argmax is not a near tie.
"""

from __future__ import annotations

import math

import haiku as hk
import numpy as np

from compiler.model import CompiledModel
from generalization.models.config import ModelConfig
from generalization.tasks import TaskData
from rasp.errors import RaspValueError
from rasp.values import value_key

# Largest residual or MLP width accepted: training S seeds of a wider model does not fit the
# memory (or the patience) this harness is meant for.
MAX_WIDTH = 4096


def from_compiled(reference: CompiledModel, data: TaskData) -> tuple[ModelConfig, hk.Params]:
    """The learned model shaped like `reference` (positions "compiled", max_position its
    max_seq_len) and its parameters, which compute the compiled model's outputs as logits over
    `data.classes` (module docstring); the parameters are float32 numpy arrays of one seed."""
    weights = reference.weights
    if reference.output_encoding != "categorical":
        raise RaspValueError(
            f"`{reference.sop}` has a numerical output; a learned classifier can only be "
            f"initialised from a compiled model with a categorical output",
            hint='remove "compiled" from [model] positions, or choose a categorical s-op')
    heads, key_size, residual = weights.num_heads, weights.key_size, reference.residual_width
    width = heads * max(key_size, math.ceil(residual / heads))
    if max(width, weights.mlp_hidden_size) > MAX_WIDTH:
        raise RaspValueError(
            f"the compiled model of `{reference.sop}` is too large to initialise a learned model "
            f"from: residual width {width}, MLP width {weights.mlp_hidden_size} (at most "
            f"{MAX_WIDTH})",
            hint='shorten the test lengths or the vocab, or remove "compiled" from [model] '
                 'positions')
    config = ModelConfig(
        vocab_size=data.vocab_size, num_classes=data.num_classes,
        num_layers=reference.num_layers, num_heads=heads, width=width,
        mlp_width=weights.mlp_hidden_size, positions="compiled",
        max_position=reference.max_seq_len, causal=reference.causal, layer_norm=False,
        activation="relu", bos=True)

    def padded(matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """`matrix` in the top-left corner of zeros of `shape` (the unused coordinates)."""
        out = np.zeros(shape, np.float32)
        out[:matrix.shape[0], :matrix.shape[1]] = matrix
        return out

    def linear(matrix: np.ndarray, rows: int, columns: int) -> dict[str, np.ndarray]:
        return {"w": padded(matrix, (rows, columns)), "b": np.zeros(columns, np.float32)}

    def per_head(matrix: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """[D, H * k] compiled columns as [D, W]: head h's k columns start at h * d."""
        head_size = width // heads
        out = np.zeros((matrix.shape[0], width))
        for h in range(heads):
            out[:, h * head_size:h * head_size + key_size] = \
                matrix[:, h * key_size:(h + 1) * key_size] * scale
        return out

    token_rows = [reference.token_ids[value_key(token)] for token in data.vocab]
    params: dict[str, dict[str, np.ndarray]] = {
        "token_embeddings": {"embeddings": padded(
            weights.token_embed[[reference.pad_id, *token_rows]], (data.vocab_size, width))},
        "bos_embedding": {"embeddings": padded(weights.token_embed[[reference.bos_id]],
                                               (1, width))},
        "position_embeddings": {"embeddings": padded(weights.pos_embed,
                                                     (reference.max_seq_len + 1, width))},
    }
    query_scale = math.sqrt((width // heads) / key_size)
    hidden = weights.mlp_hidden_size
    for number, layer in enumerate(weights.layers):
        block = f"block_{number}"
        params[f"{block}/attention/query"] = linear(per_head(layer["query"], query_scale),
                                                    width, width)
        params[f"{block}/attention/key"] = linear(per_head(layer["key"]), width, width)
        params[f"{block}/attention/value"] = linear(per_head(layer["value"]), width, width)
        params[f"{block}/attention/output"] = linear(per_head(layer["linear"].T).T, width, width)
        params[f"{block}/mlp_in"] = linear(layer["linear_1"], width, hidden)
        params[f"{block}/mlp_out"] = linear(layer["linear_2"], hidden, width)
    column = {value_key(value): i for i, value in enumerate(reference.output_values)}
    params["head"] = linear(weights.unembed[:, [column[value_key(value)]
                                                for value in data.classes]],
                            width, data.num_classes)
    return config, params
