"""A compiled transformer: weights, layout, and a batched, jitted forward pass.

The forward pass is tracr's model (no layer norm, ReLU MLPs, attention logits
scaled by 1/sqrt(key size), masked logits set to -1e30), written in plain JAX
so that a whole batch runs in one call, on the weights as blocks
(`weights.Blocks`: each head and MLP over the residual directions it reads and
writes). Inputs of different lengths are padded (BOS first) and padding keys
are masked out of every attention, so an input's outputs do not depend on the
rest of its batch.
Outputs are decoded back to values: categorical outputs by argmax over the
output space, numerical ones to the nearest value the s-op can take.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from compiler.weights import Blocks, Weights
from rasp import evaluate
from rasp.errors import RaspValueError
from rasp.values import value_key

# Floats of activations one forward call may hold (the residual stream, the MLP's hidden layer
# and the attention logits of a chunk of inputs): 2**26 float32 are 256 MB.
ACTIVATION_BUDGET = 1 << 26
# Multiply-adds per input at full width (parameters x positions) above which inputs run at
# the width of their length: below it a call over the whole batch takes milliseconds, and
# the overhead of more calls would cost more than the positions saved (measured: the
# throughput benchmark's small models at lengths 1-6 lose 40% when split).
WIDTH_BUCKETING_WORK = 10 ** 8
# Long inputs of a large model run at widths in steps of this many positions.
WIDTH_STEP = 64
# Backends on which the shapes above pay: on the CPU a call costs what its positions cost, so
# fewer positions save time. On an accelerator a call costs milliseconds and XLA compiles, and
# autotunes, each new input shape: measured on an H200 (2026-12-04, at HIGHEST precision), 48 s
# for the first shape of the paper preset's bin_majority and 52 s for a width of sort_next,
# against 5-12 ms a call of 40 inputs after it. There every call runs at one shape (`run`).
SHAPE_SAVING_BACKENDS = ("cpu",)
# Every matmul of the forward pass runs at full float32 precision. JAX's default on an NVIDIA
# GPU is TF32 (10 mantissa bits) and bfloat16 passes on a TPU; tracr's weights are exact only
# in float32: attention logits scaled by a large softmax coldness and MLP tables read off
# narrow gaps, so rounding flips outputs (measured on an H200 before this was set: the paper
# preset's `majority` and `sort_next` disagreed with the interpreter on one-token inputs).
EXACT = jax.lax.Precision.HIGHEST
# Dense parameters up to which a model runs on the dense layout: a small model's dense
# matrices cost less to compile (XLA) and run than one gather and scatter per block
# (measured: the block forward of a 5-token sort takes 1.7x as long to jit).
DENSE_RUN_PARAMETERS = 2_000_000


@dataclass
class Head:
    layer: int
    head: int
    computes: str
    label: str


@dataclass
class Layout:
    """Which s-op each attention head and MLP computes, layer by layer."""

    heads: list[Head] = field(default_factory=list)
    mlps: dict[int, list[str]] = field(default_factory=dict)

    def describe(self, num_layers: int) -> list[str]:
        lines = []
        for layer in range(num_layers):
            for head in (h for h in self.heads if h.layer == layer):
                lines.append(f"layer {layer} head {head.head}: {head.computes}")
            for computes in self.mlps.get(layer, []):
                lines.append(f"layer {layer} mlp: {computes}")
        return lines


@dataclass
class CompiledModel:
    """Exact transformer weights for one s-op of a RASP program."""

    blocks: Blocks
    vocab: list
    max_seq_len: int
    causal: bool
    output_encoding: str            # "categorical" or "numerical"
    output_values: list             # categorical: value of each output dimension
    token_ids: dict                 # value_key(token) -> row of the token embedding
    bos_id: int
    pad_id: int
    layout: Layout
    sop: str = ""
    source_hash: str = ""
    encodings: dict[str, str] = field(default_factory=dict)
    mlp_exactness: float = 100.0
    compile_seconds: float = 0.0
    verified_inputs: int = 0
    bos: str = "compiler_bos"
    _params: Optional[dict] = None
    _dense: Optional[Weights] = None

    @property
    def weights(self) -> Weights:
        """The weights in tracr's dense layout (written on first use: export, TransformerLens
        and compiled initialisation read them; the model runs on `blocks`)."""
        if self._dense is None:
            self._dense = self.blocks.dense()
        return self._dense

    @property
    def num_layers(self) -> int:
        return len(self.blocks.layers)

    @property
    def residual_width(self) -> int:
        return self.blocks.residual_width

    def heads_per_layer(self) -> list[int]:
        return [sum(1 for h in self.layout.heads if h.layer == layer)
                for layer in range(self.num_layers)]

    def parameter_count(self) -> int:
        """The numbers the model keeps: its blocks, embeddings and unembedding."""
        return self.blocks.parameter_count()

    def dense_parameter_count(self) -> int:
        """The numbers of tracr's dense layout (`weights`), as an export writes them."""
        return self.blocks.dense_parameter_count()

    def operation_count(self) -> int:
        """The attention heads and MLP blocks the model computes, as the layout lists them: a
        head per `aggregate`, a head and an MLP per `selector_width`, an MLP per map (and one
        per composite selector's pairing of values)."""
        return len(self.layout.heads) + sum(len(mlps) for mlps in self.layout.mlps.values())

    def to_transformer_lens(self) -> Any:
        """This model as a TransformerLens `HookedTransformer` (`compiler/lens.py`; needs the
        `lens` extra)."""
        from compiler.lens import to_transformer_lens   # torch only where it is asked for
        return to_transformer_lens(self)

    def run(self, inputs: Iterable[Any]) -> list[list]:
        """Decoded outputs for a batch of inputs (strings or token lists).

        Inputs run in chunks that keep the activations within ACTIVATION_BUDGET floats. On the
        CPU (SHAPE_SAVING_BACKENDS) the inputs of a large model run in groups of similar
        length, each padded only to its own width (`_width`): a short input costs what its
        length costs, not what the longest input the model accepts would. On an accelerator
        every call runs at one shape, max_seq_len + 1 positions by a full chunk of rows, so
        that XLA compiles the model once. (Padding keys are masked, so an input's outputs do
        not depend on the width or the batch it runs in.)"""
        rows = [self._check(tokens) for tokens in inputs]
        results: list[list] = [[] for _ in rows]
        by_width: dict[int, list[int]] = defaultdict(list)
        one_shape = jax.default_backend() not in SHAPE_SAVING_BACKENDS
        bucketing = not one_shape and \
            self.parameter_count() * (self.max_seq_len + 1) > WIDTH_BUCKETING_WORK
        for index, row in enumerate(rows):
            by_width[self._width(len(row), bucketing)].append(index)
        for width, indices in sorted(by_width.items()):
            chunk = self._rows_per_call(width)
            for start in range(0, len(indices), chunk):
                part = indices[start:start + chunk]
                outputs = self.raw_outputs([rows[i] for i in part], width,
                                           batch=chunk if one_shape else None)
                for index, out in zip(part, outputs):
                    results[index] = self._decode(out[1:len(rows[index]) + 1])
        return results

    def raw_outputs(self, rows: list[list], width: int | None = None,
                    batch: int | None = None) -> np.ndarray:
        """Unembedded outputs [batch, width, outputs] (BOS at position 0; `encode`'s padding)."""
        ids, mask = self.encode(rows, width, batch)
        return np.asarray(self._forward(ids, mask))

    def _width(self, length: int, bucketing: bool) -> int:
        """The width an input of `length` tokens runs at: when `bucketing` (a large model,
        WIDTH_BUCKETING_WORK) the power of two that holds it and its BOS up to WIDTH_STEP,
        then the multiple of WIDTH_STEP, at most max_seq_len + 1 (few widths, so few compiled
        shapes, and at most WIDTH_STEP - 1 padding positions on long inputs); else
        max_seq_len + 1."""
        full = self.max_seq_len + 1
        if not bucketing:
            return full
        needed = length + 1
        width = 1 << (needed - 1).bit_length() if needed <= WIDTH_STEP else \
            -(-needed // WIDTH_STEP) * WIDTH_STEP
        return min(width, full)

    def _rows_per_call(self, width: int) -> int:
        """The most inputs of `width` one call runs within ACTIVATION_BUDGET, a power of two."""
        b = self.blocks
        per_row = width * (self.residual_width + b.mlp_hidden_size + b.num_heads * width)
        rows = max(ACTIVATION_BUDGET // max(per_row, 1), 8)
        return 1 << (rows.bit_length() - 1)

    def residuals(self, rows: list[list]) -> list[np.ndarray]:
        """The residual stream after each sub-layer, for inspection."""
        ids, mask = self.encode(rows)
        return [np.asarray(r) for r in self._forward_function()(
            self.params(), ids, mask, self.causal, self.blocks.logit_scale, collect=True)[1]]

    def attention(self, tokens: list) -> list[np.ndarray]:
        """Attention weights per layer [heads, query, key] for one input, BOS included."""
        ids, mask = self.encode([self._check(tokens)])
        length = len(tokens) + 1
        patterns = self._forward_function()(self.params(), ids, mask, self.causal,
                                            self.blocks.logit_scale, collect=True)[2]
        return [np.asarray(p[0, :, :length, :length]) for p in patterns]

    def encode(self, rows: list[list], width: int | None = None, batch: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Token ids with BOS first and PAD after, padded to `batch` rows (default: a power of
        two, at least 8) and to `width` positions (default max_seq_len + 1)."""
        batch = 1 << max(3, (len(rows) - 1).bit_length()) if batch is None else batch
        width = self.max_seq_len + 1 if width is None else width
        ids = np.full((batch, width), self.pad_id, dtype=np.int32)
        ids[:, 0] = self.bos_id
        for i, row in enumerate(rows):
            ids[i, 1:len(row) + 1] = [self.token_ids[value_key(t)] for t in row]
        return ids, ids != self.pad_id

    def runs_dense(self) -> bool:
        """Whether the model runs on the dense layout (small models) or on blocks."""
        return self.dense_parameter_count() <= DENSE_RUN_PARAMETERS

    def params(self) -> dict:
        if self._params is None:
            b = self.blocks
            params = {"token_embed": jnp.asarray(b.token_embed, jnp.float32),
                      "pos_embed": jnp.asarray(b.pos_embed, jnp.float32),
                      "unembed": jnp.asarray(b.unembed, jnp.float32)}
            if self.runs_dense():
                params["layers"] = [{k: jnp.asarray(v, jnp.float32) for k, v in layer.items()}
                                    for layer in self.weights.layers]
                # the head split as an empty array's shape, which jit sees as static
                params["heads"] = jnp.zeros((b.num_heads, b.key_size, 0))
            else:
                def arrays(block: Any) -> dict:
                    return {name: jnp.asarray(value, jnp.int32 if name.endswith(
                        ("rows", "cols")) else jnp.float32)
                        for name, value in vars(block).items()}
                params["layers"] = [
                    {"heads": [arrays(head) for head in layer.heads],
                     "mlp": arrays(layer.mlp) if layer.mlp is not None else None}
                    for layer in b.layers]
            self._params = params
        return self._params

    def _forward_function(self):
        return _dense_forward if self.runs_dense() else _block_forward

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> jax.Array:
        jitted = _jitted_dense_forward if self.runs_dense() else _jitted_block_forward
        return jitted(self.params(), ids, mask, self.causal, self.blocks.logit_scale)

    def _check(self, tokens: Any) -> list:
        row = evaluate.normalise_input(tokens)
        if len(row) > self.max_seq_len:
            raise RaspValueError(f"input of length {len(row)} is longer than the model's "
                                 f"max_seq_len {self.max_seq_len}",
                                 hint=f"compile with a max length of at least {len(row)}")
        for token in row:
            if value_key(token) not in self.token_ids:
                raise RaspValueError(f"token {token!r} is not in the model's vocabulary "
                                     f"{_show_vocab(self.vocab)}")
        return row

    def _decode(self, outputs: np.ndarray) -> list:
        if self.output_encoding == "categorical":
            return [self.output_values[i] for i in outputs.argmax(axis=-1).tolist()]
        values = np.asarray(self.output_values, dtype=np.float64)
        nearest = np.abs(outputs.reshape(-1, 1) - values[None, :]).argmin(axis=1)
        return [self.output_values[i] for i in nearest.tolist()]


def _show_vocab(vocab: list) -> str:
    shown = ", ".join(repr(v) for v in vocab[:12])
    return "{" + shown + (", ..." if len(vocab) > 12 else "") + "}"


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.matmul(a, b, precision=EXACT)


def _dense_forward(params: dict, ids: jax.Array, mask: jax.Array, causal: bool,
                   logit_scale: float, collect: bool = False):
    """The model on tracr's dense layout: every head a key-size slice of each matrix."""
    num_heads, key_size = params["heads"].shape[:2]
    batch, width = ids.shape
    x = params["token_embed"][ids] + params["pos_embed"][jnp.arange(width)][None]
    allowed = mask[:, None, None, :]
    if causal:
        allowed = allowed & jnp.tril(jnp.ones((width, width), dtype=bool))[None, None]
    residuals, patterns = [], []
    for layer in params["layers"]:
        def heads(w):
            return _matmul(x, w).reshape(batch, width, num_heads, key_size)
        logits = jnp.einsum("bthd,bThd->bhtT", heads(layer["query"]), heads(layer["key"]),
                            precision=EXACT)
        logits = jnp.where(allowed, logits * logit_scale, -1e30)
        weights = jax.nn.softmax(logits, axis=-1)
        attended = jnp.einsum("bhtT,bThd->bthd", weights, heads(layer["value"]), precision=EXACT)
        x = x + _matmul(attended.reshape(batch, width, num_heads * key_size), layer["linear"])
        residuals.append(x)
        x = x + _matmul(jax.nn.relu(_matmul(x, layer["linear_1"])), layer["linear_2"])
        residuals.append(x)
        patterns.append(weights)
    out = _matmul(x, params["unembed"])
    return (out, residuals, patterns) if collect else out


def _block_forward(params: dict, ids: jax.Array, mask: jax.Array, causal: bool,
                   logit_scale: float, collect: bool = False):
    """The model on blocks: each head reads its rows of the residual and adds to its columns,
    each MLP likewise (`weights.Blocks`); layers with no heads still record an empty
    attention pattern, so patterns stay one per layer."""
    batch, width = ids.shape
    x = params["token_embed"][ids] + params["pos_embed"][jnp.arange(width)][None]
    allowed = mask[:, None, :]
    if causal:
        allowed = allowed & jnp.tril(jnp.ones((width, width), dtype=bool))[None]
    residuals, patterns = [], []
    for layer in params["layers"]:
        update = jnp.zeros_like(x)
        layer_patterns = []
        for head in layer["heads"]:
            queries = _matmul(x[..., head["q_rows"]], head["w_q"])
            keys = _matmul(x[..., head["k_rows"]], head["w_k"])
            logits = jnp.einsum("btd,bTd->btT", queries, keys, precision=EXACT) * logit_scale
            weights = jax.nn.softmax(jnp.where(allowed, logits, -1e30), axis=-1)
            values = _matmul(x[..., head["v_rows"]], head["w_v"])
            mixed = jnp.einsum("btT,bTd->btd", weights, values, precision=EXACT)
            written = _matmul(mixed, head["w_o"])
            update = update.at[..., head["o_cols"]].add(written)
            layer_patterns.append(weights)
        x = x + update
        residuals.append(x)
        mlp = layer["mlp"]
        if mlp is not None:
            hidden = jax.nn.relu(_matmul(x[..., mlp["in_rows"]], mlp["w_1"]))
            x = x.at[..., mlp["out_cols"]].add(_matmul(hidden, mlp["w_2"]))
        residuals.append(x)
        patterns.append(jnp.stack(layer_patterns, axis=1) if layer_patterns else
                        jnp.zeros((batch, 0, width, width)))
    out = _matmul(x, params["unembed"])
    return (out, residuals, patterns) if collect else out


_jitted_dense_forward = functools.partial(jax.jit, static_argnums=(3, 4))(_dense_forward)
_jitted_block_forward = functools.partial(jax.jit, static_argnums=(3, 4))(_block_forward)
