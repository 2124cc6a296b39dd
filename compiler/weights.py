"""A compiled model's weights: as blocks, each head and MLP over the residual directions it
reads and writes (what the compiler keeps and runs), and dense (tracr's layout, on request).

A block of tracr's model reads a few of the residual's D directions and writes a few: a head
comparing tokens with indices has a query and key space of |V| + N directions, not D. The
dense form (`assemble.Weights`, tracr's layout: every head a [D, key size] slice, every MLP a
[D, hidden] matrix, all padded to the widest) has D x (key size) entries per projection, and
only about one in a thousand is non-zero in a long model. Here each block keeps its rows and
columns:

    head:  Q = x[:, q_rows] @ w_q,  K = x[:, k_rows] @ w_k,  V = x[:, v_rows] @ w_v,
           x[:, o_cols] += softmax(Q K^T * logit_scale) V @ w_o
    MLP:   x[:, out_cols] += relu(x[:, in_rows] @ w_1) @ w_2

which is the dense layer's arithmetic with its zero rows and columns left out (so the same
numbers, up to the order of float32 sums). The batched runner computes on blocks, and the
parameter count of the blocks is what the model costs to keep and run; `dense()` writes
tracr's layout where a user asks for it (export, TransformerLens, compiled initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Weights:
    """The dense form: tracr's parameter layout, every block over the whole residual."""

    token_embed: np.ndarray          # [tokens, D]
    pos_embed: np.ndarray            # [max_seq_len + 1, D]
    unembed: np.ndarray              # [D, outputs]
    layers: list[dict[str, np.ndarray]] = field(default_factory=list)
    num_heads: int = 1
    key_size: int = 1
    mlp_hidden_size: int = 1
    residual_labels: list[str] = field(default_factory=list)

    def parameter_count(self) -> int:
        arrays = [self.token_embed, self.pos_embed, self.unembed]
        arrays += [a for layer in self.layers for a in layer.values()]
        return int(sum(a.size for a in arrays))


@dataclass
class HeadBlock:
    q_rows: np.ndarray      # residual directions the query reads
    w_q: np.ndarray         # [len(q_rows), k]
    k_rows: np.ndarray
    w_k: np.ndarray         # [len(k_rows), k]
    v_rows: np.ndarray
    w_v: np.ndarray         # [len(v_rows), v]
    o_cols: np.ndarray      # residual directions the head writes
    w_o: np.ndarray         # [v, len(o_cols)]

    def parameter_count(self) -> int:
        return self.w_q.size + self.w_k.size + self.w_v.size + self.w_o.size


@dataclass
class MLPBlock:
    in_rows: np.ndarray
    w_1: np.ndarray         # [len(in_rows), hidden]
    out_cols: np.ndarray
    w_2: np.ndarray         # [hidden, len(out_cols)]

    def parameter_count(self) -> int:
        return self.w_1.size + self.w_2.size


@dataclass
class LayerBlocks:
    heads: list[HeadBlock] = field(default_factory=list)
    mlp: MLPBlock | None = None


@dataclass
class Blocks:
    """Embeddings and unembedding (dense: they are one-hot tables) and each layer's blocks,
    with the dense form's shape (for `dense()`) and its logit scale 1/sqrt(key size)."""

    token_embed: np.ndarray          # [tokens, D]
    pos_embed: np.ndarray            # [max_seq_len + 1, D]
    unembed: np.ndarray              # [D, outputs]
    layers: list[LayerBlocks]
    num_heads: int
    key_size: int
    mlp_hidden_size: int
    residual_labels: list[str]

    @property
    def residual_width(self) -> int:
        return self.token_embed.shape[1]

    @property
    def logit_scale(self) -> float:
        return 1 / float(np.sqrt(self.key_size))

    def parameter_count(self) -> int:
        """The numbers the blocks hold (embeddings, unembedding and every block)."""
        total = self.token_embed.size + self.pos_embed.size + self.unembed.size
        for layer in self.layers:
            total += sum(head.parameter_count() for head in layer.heads)
            total += layer.mlp.parameter_count() if layer.mlp is not None else 0
        return int(total)

    def dense_parameter_count(self) -> int:
        """The numbers of the dense form (`dense().parameter_count()`), without writing it."""
        width = self.residual_width
        per_layer = 4 * width * self.num_heads * self.key_size + \
            2 * width * self.mlp_hidden_size
        return int(self.token_embed.size + self.pos_embed.size + self.unembed.size +
                   len(self.layers) * per_layer)

    def dense(self) -> Weights:
        """tracr's dense layout (`assemble.Weights`): heads at key-size slices, padded."""
        width, size = self.residual_width, self.key_size
        layers = []
        for blocks in self.layers:
            layer = {
                "query": np.zeros((width, self.num_heads * size)),
                "key": np.zeros((width, self.num_heads * size)),
                "value": np.zeros((width, self.num_heads * size)),
                "linear": np.zeros((self.num_heads * size, width)),
                "linear_1": np.zeros((width, self.mlp_hidden_size)),
                "linear_2": np.zeros((self.mlp_hidden_size, width)),
            }
            for h, head in enumerate(blocks.heads):
                start = h * size
                layer["query"][head.q_rows, start:start + head.w_q.shape[1]] = head.w_q
                layer["key"][head.k_rows, start:start + head.w_k.shape[1]] = head.w_k
                layer["value"][head.v_rows, start:start + head.w_v.shape[1]] = head.w_v
                layer["linear"][start:start + head.w_o.shape[0], head.o_cols] = head.w_o
            if blocks.mlp is not None:
                hidden = blocks.mlp.w_1.shape[1]
                layer["linear_1"][blocks.mlp.in_rows, :hidden] = blocks.mlp.w_1
                layer["linear_2"][:hidden, blocks.mlp.out_cols] = blocks.mlp.w_2
            layers.append(layer)
        return Weights(self.token_embed, self.pos_embed, self.unembed, layers,
                       num_heads=self.num_heads, key_size=self.key_size,
                       mlp_hidden_size=self.mlp_hidden_size,
                       residual_labels=list(self.residual_labels))


def from_dense(weights: Weights) -> Blocks:
    """The blocks of dense weights (a loaded or hand-made model): each head's slice and the
    MLP with their all-zero rows and columns left out, which changes no output."""
    size = weights.key_size
    layers = []
    for layer in weights.layers:
        blocks = LayerBlocks()
        for h in range(weights.num_heads):
            columns = slice(h * size, (h + 1) * size)
            q, k, v = (layer[name][:, columns] for name in ("query", "key", "value"))
            o = layer["linear"][columns]
            if not (v.any() and o.any()):
                continue   # padding, or a head that writes nothing
            qk = _used(q, axis=0) | _used(k, axis=0)
            vo = _used(v, axis=0) | _used(o, axis=1)
            q_rows, k_rows, v_rows = _used(q, 1), _used(k, 1), _used(v, 1)
            o_cols = _used(o, 0)
            blocks.heads.append(HeadBlock(
                np.flatnonzero(q_rows), q[q_rows][:, qk], np.flatnonzero(k_rows),
                k[k_rows][:, qk], np.flatnonzero(v_rows), v[v_rows][:, vo],
                np.flatnonzero(o_cols), o[vo][:, o_cols]))
        first, second = layer["linear_1"], layer["linear_2"]
        hidden = _used(first, 0) & _used(second, 1)
        if hidden.any():
            in_rows, out_cols = _used(first[:, hidden], 1), _used(second[hidden], 0)
            blocks.mlp = MLPBlock(np.flatnonzero(in_rows), first[in_rows][:, hidden],
                                  np.flatnonzero(out_cols), second[hidden][:, out_cols])
        layers.append(blocks)
    return Blocks(weights.token_embed, weights.pos_embed, weights.unembed, layers,
                  weights.num_heads, weights.key_size, weights.mlp_hidden_size,
                  list(weights.residual_labels))


def _used(matrix: np.ndarray, axis: int) -> np.ndarray:
    """Which lines of `matrix` hold a non-zero entry: its columns for axis=0 (summed over the
    rows), its rows for axis=1."""
    return np.abs(matrix).sum(axis=axis) > 0
