"""The learned transformer of the length-generalization harness: a small nanoGPT in Haiku.

For tokens t, position ids p and a padding mask, with L pre-LayerNorm blocks:

    x_0     = E[t] (+ the position signal of `positions.input_embedding`, if any)
    y_l     = x_l + Attention(LN(x_l))
    x_(l+1) = y_l + W_2 gelu(W_1 LN(y_l) + b_1) + b_2
    logits  = W_out LN(x_L) + b_out                      float32[B, T, num_classes]

Attention has H heads of size d = width / H. Per head,

    A = softmax(q k^T / sqrt(d) + bias),   out = A v,

where RoPE rotates q and k by their positions, ALiBi supplies the bias, and keys at padded
positions (and, when causal, keys after the query) get a score of -1e30, i.e. weight 0. Every
shape depends only on the input shape, so `apply` runs under `jax.jit` and under `jax.vmap` over
a leading seed axis of the parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from generalization import positions as pos

# Finite rather than -inf so that a row with every key masked (a padded query of an empty
# input) softmaxes to uniform weights instead of NaN.
MASKED_SCORE = -1e30


@dataclass(frozen=True)
class ModelConfig:
    """Shape of one learned transformer (plain data; checked by `build_model`)."""

    vocab_size: int        # number of input ids including PAD (= len(vocab) + 1)
    num_classes: int       # output classes
    num_layers: int
    num_heads: int
    width: int = 64
    mlp_width: int = 0     # 0 means 4 * width
    positions: str = "learned"   # one of positions.POSITION_KINDS
    max_position: int = 256      # position ids are < max_position
    causal: bool = False

    @property
    def hidden_width(self) -> int:
        """Width of the MLP's hidden layer: `mlp_width`, or 4 * width when that is 0."""
        return self.mlp_width or 4 * self.width


class SelfAttention(hk.Module):
    """Multi-head self-attention with key padding mask, optional causal mask, RoPE or ALiBi."""

    def __init__(self, config: ModelConfig, name: str | None = None):
        super().__init__(name=name)
        self.config = config

    def __call__(self, x: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        config = self.config
        batch, length, width = x.shape
        heads = config.num_heads
        head_size = width // heads

        def project(name: str) -> jax.Array:
            return hk.Linear(width, name=name)(x).reshape(batch, length, heads, head_size)

        q, k, v = project("query"), project("key"), project("value")
        if config.positions == "rope":
            q, k = pos.rotate(q, positions), pos.rotate(k, positions)
        scores = jnp.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(head_size)
        if config.positions == "alibi":
            scores = scores + pos.alibi_bias(positions, heads, config.causal)

        allowed = mask[:, None, None, :]                       # keys that are real tokens
        if config.causal:
            allowed = allowed & jnp.tril(jnp.ones((length, length), dtype=bool))
        weights = jax.nn.softmax(jnp.where(allowed, scores, MASKED_SCORE), axis=-1)
        out = jnp.einsum("bhij,bjhd->bihd", weights, v).reshape(batch, length, width)
        return hk.Linear(width, name="output")(out)


class Block(hk.Module):
    """Pre-LayerNorm block: x + Attention(LN(x)), then y + MLP(LN(y)) with a GELU MLP."""

    def __init__(self, config: ModelConfig, name: str | None = None):
        super().__init__(name=name)
        self.config = config

    def __call__(self, x: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + SelfAttention(self.config, name="attention")(layer_norm("ln_attention", x),
                                                             positions, mask)
        hidden = hk.Linear(self.config.hidden_width, name="mlp_in")(layer_norm("ln_mlp", x))
        return x + hk.Linear(self.config.width, name="mlp_out")(jax.nn.gelu(hidden))


def layer_norm(name: str, x: jax.Array) -> jax.Array:
    """LayerNorm over the feature axis with a learned scale and offset."""
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, name=name)(x)


def check_config(config: ModelConfig) -> None:
    """Raise ValueError naming the field when `config` describes no valid model."""
    pos.check_kind(config.positions)
    for field in ("vocab_size", "num_classes", "num_heads", "width", "max_position"):
        if getattr(config, field) < 1:
            raise ValueError(f"ModelConfig.{field} must be >= 1, got {getattr(config, field)}")
    for field in ("num_layers", "mlp_width"):
        if getattr(config, field) < 0:
            raise ValueError(f"ModelConfig.{field} must be >= 0, got {getattr(config, field)}")
    if config.width % config.num_heads:
        raise ValueError(f"ModelConfig.width ({config.width}) must be divisible by "
                         f"num_heads ({config.num_heads})")
    if config.positions == "rope" and (config.width // config.num_heads) % 2:
        raise ValueError(f"positions 'rope' rotates pairs of coordinates and needs an even head "
                         f"size, got width {config.width} / num_heads {config.num_heads}")


def build_model(config: ModelConfig) -> hk.Transformed:
    """The model as a Haiku transform without apply rng:

        init(rng, tokens, positions, mask) -> params
        apply(params, tokens int32[B, T], positions int32[B, T], mask bool[B, T])
            -> logits float32[B, T, num_classes]

    `positions` come from `positions.position_ids(config.positions, ...)`; `mask` is True at
    real tokens. Outputs at padded positions are computed but meaningless.
    """
    check_config(config)

    def forward(tokens: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        x = hk.Embed(config.vocab_size, config.width, name="token_embeddings")(tokens)
        signal = pos.input_embedding(config.positions, positions, config.max_position,
                                     config.width)
        if signal is not None:
            x = x + signal
        for layer in range(config.num_layers):
            x = Block(config, name=f"block_{layer}")(x, positions, mask)
        return hk.Linear(config.num_classes, name="head")(layer_norm("ln_final", x))

    return hk.without_apply_rng(hk.transform(forward))


def count_parameters(params: hk.Params) -> int:
    """Number of scalars in `params` (pass one seed's params, not a stack over seeds)."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))
