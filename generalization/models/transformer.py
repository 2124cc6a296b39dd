"""The learned transformer of the length-generalization harness: a small nanoGPT in Haiku.

For tokens t, position ids p and a padding mask, with L pre-LayerNorm blocks:

    x_0     = E[t] (+ the position signal of `positions.input_embedding`, if any)
    y_l     = x_l + Attention(LN(x_l))
    x_(l+1) = y_l + W_2 gelu(W_1 LN(y_l) + b_1) + b_2
    logits  = W_out LN(x_L) + b_out                      float32[B, T, num_classes]

Three options, all off by default, give the maths of a compiled (tracr) model, so that
`from_compiled` can embed one exactly: `layer_norm=False` makes every LN the identity (and
creates no LN parameters), `activation="relu"` replaces gelu, and `bos=True` prepends a learned
vector B that every query may attend to (tracr's BOS token, the default target of its
attention): the sequence becomes [B, x_0] with position ids [p_0, p + 1], so a position table
has max_position + 1 rows, and the logits of B are dropped. B is the sequence's first token:
it takes the first id and every token moves up one, so with ids from 0 (tracr's, and every
evaluation) B sits at 0, and with a training offset o at o, next to x_0, as the <bos> of
Huang et al.'s GPT-2 inputs does (their position ids run from the offset through the whole
sequence, <bos> included).

Two options give GPT-2's recipe (Radford et al. 2019, as Huang et al. 2025 train it through
Hugging Face's `GPT2LMHeadModel`): `init="gpt2"` draws every weight matrix and embedding from
N(0, 0.02^2), the two projections that write into the residual stream (attention output,
second MLP layer) from N(0, (0.02 / sqrt(2 L))^2), biases zero, LayerNorm scales one (Haiku's
defaults are truncated normals of std 1/sqrt(fan_in) and, for embeddings, 1); and
`tied_classes` ties the output layer to the token embedding E: the logit of a class that is an
input token t is LN(x_L) . E[t] (a class that is no input token, such as the filler a causal
program writes inside the prompt, has a row of its own), with no output bias, as GPT-2's LM
head. GPT-2's head scores its whole vocabulary, so with `scores_vocabulary` the logits of the
classes are followed by LN(x_L) . E[t] for every input id t that is no class's token (PAD and
the separator among them) and LN(x_L) . B for the BOS: they are never a label, but they are in
the loss's softmax. That matters: on Huang et al.'s unique_copy at the CPU preset's scale,
their GPT-2 trained from one initialisation on the same batches reached 99% in-distribution
exact match in 2,000 steps with the softmax over its whole vocabulary and 64% with it
restricted to the output classes. Predictions take the argmax over the classes only
(`class_logits`).

The shape is a `ModelConfig` (`config.py`, plain data checked without JAX). Attention has H
heads of size d = width / H; each layer's is of one family (`config.attention`, per layer):
softmax (the default),

    A = softmax(q k^T / sqrt(d) + bias),   out = A v,

linear (out_t = sum_s (q_t . k_s) v_s, optionally divided by the number of keys) or mesa (a
ridge regression of values on keys over the keys read, applied to q_t; lambda learned per
head); `attention.py` has their maths. RoPE rotates q and k by their positions (any family),
ALiBi supplies the softmax bias, and padded keys (and, when causal, keys after the query) are
never read. Every shape depends only on the input shape, so `apply` runs under `jax.jit` and
under `jax.vmap` over a leading seed axis of the parameters.
"""

from __future__ import annotations

import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from generalization.models import attention
from generalization.models import positions as pos
from generalization.models.config import ModelConfig

# The functions of `config.ACTIVATIONS`.
ACTIVATION_FUNCTIONS = {"gelu": jax.nn.gelu, "relu": jax.nn.relu}

class SelfAttention(hk.Module):
    """Multi-head self-attention of one family (`attention.py`) with the key padding mask, the
    causal mask, and RoPE (any family) or ALiBi (softmax only)."""

    def __init__(self, config: ModelConfig, family: str, name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.family = family

    def __call__(self, x: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        config = self.config
        batch, length, width = x.shape
        heads = config.num_heads

        def project(name: str) -> jax.Array:
            return linear(width, name, x, initialiser(config)).reshape(batch, length, heads,
                                                                    width // heads)

        q, k, v = project("query"), project("key"), project("value")
        if config.positions == "rope":
            q, k = pos.rotate(q, positions), pos.rotate(k, positions)
        if self.family == "linear":
            out = attention.linear_attention(q, k, v, mask, config.causal,
                                             config.linear_normalise)
        elif self.family == "mesa":
            if config.mesa_unit_norm:
                q, k = attention.unit_norm(q), attention.unit_norm(k)
            # lambda = softplus(raw) > 0 per head, 1 at initialisation as in the authors' code.
            raw = hk.get_parameter("lambda_raw", (heads,), init=hk.initializers.Constant(
                MESA_LAMBDA_RAW_INIT))
            out = attention.mesa_attention_recurrent(q, k, v, mask, config.causal,
                                                     jax.nn.softplus(raw))
        else:
            bias = pos.alibi_bias(positions, heads, config.causal) \
                if config.positions == "alibi" else None
            out = attention.softmax_attention(q, k, v, mask, config.causal, bias)
        return linear(width, "output", out.reshape(batch, length, width),
                      initialiser(config, residual=True))


# softplus^(-1)(1): the mesa layer's lambda starts at 1.
MESA_LAMBDA_RAW_INIT = math.log(math.e - 1)


class Block(hk.Module):
    """Pre-LayerNorm block: x + Attention(LN(x)), then y + MLP(LN(y)) (gelu or ReLU MLP)."""

    def __init__(self, config: ModelConfig, layer: int, name: str | None = None):
        super().__init__(name=name)
        self.config = config
        self.layer = layer

    def __call__(self, x: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        config = self.config
        attend = SelfAttention(config, config.attention_of(self.layer), name="attention")
        x = x + attend(layer_norm(config, "ln_attention", x), positions, mask)
        hidden = linear(config.hidden_width, "mlp_in", layer_norm(config, "ln_mlp", x),
                        initialiser(config))
        return x + linear(config.width, "mlp_out",
                          ACTIVATION_FUNCTIONS[config.activation](hidden),
                          initialiser(config, residual=True))


# GPT-2's initialisation scale of weights and embeddings.
GPT2_STD = 0.02


def initialiser(config: ModelConfig, residual: bool = False) -> hk.initializers.Initializer | None:
    """The initialiser of a weight matrix or embedding: Haiku's default (None), or GPT-2's
    N(0, 0.02^2), scaled by 1/sqrt(2 L) for a projection into the residual stream."""
    if config.init != "gpt2":
        return None
    scale = 1 / math.sqrt(2 * max(config.num_layers, 1)) if residual else 1.0
    return hk.initializers.RandomNormal(GPT2_STD * scale)


def linear(size: int, name: str, x: jax.Array,
           w_init: hk.initializers.Initializer | None = None) -> jax.Array:
    """hk.Linear(size) over the last axis of x (parameters `name/w`, `name/b`).

    x is flattened to a matrix first: XLA:CPU differentiates a [B, T, d] x [d, n] product
    through transposes that the [B*T, d] x [d, n] product avoids (measured at 64 x 40 x 64 ->
    256: backward 1.47 ms against 0.62 ms, and a whole training step about 15% faster)."""
    rows = x.reshape(-1, x.shape[-1])
    return hk.Linear(size, name=name, w_init=w_init)(rows).reshape(*x.shape[:-1], size)


def layer_norm(config: ModelConfig, name: str, x: jax.Array) -> jax.Array:
    """LayerNorm over the feature axis with a learned scale and offset (x itself, and no
    parameters, when `config.layer_norm` is off)."""
    if not config.layer_norm:
        return x
    return hk.LayerNorm(axis=-1, create_scale=True, create_offset=True, name=name)(x)


def build_model(config: ModelConfig, residuals: bool = False) -> hk.Transformed:
    """The model as a Haiku transform without apply rng:

        init(rng, tokens, positions, mask) -> params
        apply(params, tokens int32[B, T], positions int32[B, T], mask bool[B, T])
            -> logits float32[B, T, num_classes] (more with `scores_vocabulary`: the
               vocabulary's logits follow the classes', `tied_logits`)

    (with `config.input_dim`, tokens are vectors float32[B, T, input_dim], embedded by a
    linear map `input_embedding`, and the "logits" are a regression's outputs)

    With `residuals`, apply returns (logits, streams float32[L + 1, B, T, width]): the
    residual stream x_l entering each block and leaving the last (x_0 the embeddings plus the
    position signal), at the input positions (the BOS row dropped). The parameters are the
    same as without.

    `positions` come from `positions.position_ids(config.positions, ...)`; `mask` is True at
    real tokens. Outputs at padded positions are computed but meaningless.
    """
    table_rows = config.max_position + config.bos  # ids move up one for the BOS (docstring)

    def forward(tokens: jax.Array, positions: jax.Array, mask: jax.Array) -> jax.Array:
        if config.input_dim:
            x = linear(config.width, "input_embedding", tokens, initialiser(config))
        else:
            embed = hk.Embed(config.vocab_size, config.width, w_init=initialiser(config),
                             name="token_embeddings")
            x = embed(tokens)
        if config.bos:
            batch = tokens.shape[0]
            bos = hk.Embed(1, config.width, w_init=initialiser(config),
                           name="bos_embedding").embeddings
            x = jnp.concatenate([jnp.broadcast_to(bos, (batch, 1, config.width)), x], axis=1)
            positions = jnp.concatenate([positions[:, :1], positions + 1], axis=1)
            mask = jnp.concatenate([jnp.ones((batch, 1), bool), mask], axis=1)
        signal = pos.input_embedding(config.positions, positions, table_rows, config.width,
                                     initialiser(config))
        if signal is not None:
            x = x + signal
        streams = [x]
        for layer in range(config.num_layers):
            x = Block(config, layer, name=f"block_{layer}")(x, positions, mask)
            streams.append(x)
        final = layer_norm(config, "ln_final", x)
        if config.tied_classes:
            logits = tied_logits(config, embed.embeddings, final,
                                 bos if config.bos else None)
        else:
            logits = linear(config.num_classes, "head", final)
        inputs = slice(1, None) if config.bos else slice(None)
        if residuals:
            return logits[:, inputs], jnp.stack(streams)[:, :, inputs]
        return logits[:, inputs]

    return hk.without_apply_rng(hk.transform(forward))


def tied_logits(config: ModelConfig, embeddings: jax.Array, x: jax.Array,
                bos: jax.Array | None) -> jax.Array:
    """x . W^T with W's row c the embedding of class c's input token, or for a class that is
    no input token a row of its own (`head_untied`); no bias. With `scores_vocabulary`, W
    goes on with the embeddings of the input ids that are no class's token and the BOS
    vector `bos` (when the model has one)."""
    untied = [c for c, token in enumerate(config.tied_classes) if token < 0]
    rows = embeddings
    index = np.asarray(config.tied_classes)
    if untied:
        own = hk.get_parameter("head_untied", (len(untied), config.width),
                               init=initialiser(config) or hk.initializers.TruncatedNormal())
        rows = jnp.concatenate([embeddings, own])
        index = index.copy()
        index[untied] = config.vocab_size + np.arange(len(untied))
    rows = rows[index]
    if config.scores_vocabulary:
        others = sorted(set(range(config.vocab_size)) - set(config.tied_classes))
        rows = jnp.concatenate([rows, embeddings[np.asarray(others, int)]]
                               + ([] if bos is None else [bos]))
    return jnp.einsum("btd,cd->btc", x, rows)


def class_logits(config: ModelConfig, logits: jax.Array) -> jax.Array:
    """The logits of the output classes: the model's outputs less the vocabulary's logits
    that `scores_vocabulary` appends (module docstring)."""
    return logits[..., :config.num_classes]


def count_parameters(params: hk.Params) -> int:
    """Number of scalars in `params` (pass one seed's params, not a stack over seeds)."""
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(params))
