"""Positional encodings of the learned transformers: which position ids a batch gets, and what
signal the model makes of them.

Every encoding is two small pieces. On the host, `position_ids` picks an integer id for each
token (numpy, so a training stream is reproducible from its `np.random.Generator`). In the model,
the ids become a signal that enters in one of two places:

| kind          | ids in training                     | ids at evaluation | signal                   |
|---------------|-------------------------------------|-------------------|--------------------------|
| `learned`     | 0..T-1                              | 0..T-1            | + P[id] (learned table)  |
| `offset`      | o..o+T-1, o uniform in [0, P-n]     | 0..T-1            | + P[id] (learned table)  |
| `nope`        | 0..T-1 (unused)                     | 0..T-1 (unused)   | none                     |
| `sinusoidal`  | 0..T-1                              | 0..T-1            | + PE(id) (fixed)         |
| `rope`        | 0..T-1                              | 0..T-1            | rotates q and k          |
| `alibi`       | 0..T-1                              | 0..T-1            | bias on attention scores |
| `randomized`  | sorted random T-subset of [0, P)    | 0..T-1            | + P[id] (learned table)  |
| `index_hints` | o..o+T-1, o uniform in [0, P-T]     | same as training  | + H[id] (learned table)  |
| `compiled`    | 0..T-1                              | 0..T-1            | + P[id] (learned table)  |

P is `max_position`: every id is < P, so a table of P rows covers every id ever used, and the
test lengths must not exceed P. Randomized positions (Ruoss et al., 2023, "Randomized Positional
Encodings Boost Length Generalization of Transformers") let training visit every row of the table
although training inputs are short; so do random offsets, which keep the ids consecutive: with
`learned`, the rows past the longest training input are never trained, so an absolute-position
model cannot be judged on longer inputs at all, while with `offset` every row is trained and
evaluation starts at 0 as `learned` does. Index hints (after Zhou et al., 2023, "What Algorithms can
Transformers Learn?") label tokens with consecutive hint ids from a random offset, in training and
evaluation alike, so the model can only use hints relative to each other. `compiled` is `learned`
with the model's shape and initial weights taken from the compiled program (`from_compiled`):
the same encoding, trained from the compiled solution instead of from scratch.
"""

from __future__ import annotations

import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from generalization.models.config import position_kind

# Wavelength base of both sinusoidal encodings and RoPE, as in the papers.
BASE = 10000.0


def position_ids(kind: str, rng: np.random.Generator, batch: int, length: int,
                 max_position: int, training: bool,
                 lengths: np.ndarray | None = None) -> np.ndarray:
    """Position ids, int32[batch, length], all in [0, max_position), for one batch of `kind`.

    `rng` is drawn from only by the random kinds (`randomized` and `offset` in training,
    `index_hints` always), so the same generator state gives the same ids. `lengths` (each
    row's number of real tokens; default: all `length`) bound each row's offset, so that
    o + n <= max_position for a row of n tokens: a short sequence in a batch of long ones
    reaches the last rows of the table too (as Huang et al. 2025 draw an offset per sequence).
    """
    position_kind(kind)   # a ValueError for an unknown kind
    if length > max_position:
        raise ValueError(
            f"positions {kind!r}: length {length} exceeds max_position {max_position}")
    if kind == "randomized" and training:
        # argsort of iid uniform keys is a uniform random permutation of range(max_position);
        # its first `length` entries are a uniform random subset, which is then sorted.
        subset = np.argsort(rng.random((batch, max_position)), axis=1)[:, :length]
        return np.sort(subset, axis=1).astype(np.int32)
    ids = np.broadcast_to(np.arange(length, dtype=np.int32), (batch, length))
    if kind == "index_hints" or kind == "offset" and training:
        rows = np.full(batch, length) if lengths is None else np.maximum(lengths, 1)
        offsets = rng.integers(0, max_position - rows + 1, dtype=np.int32)[:, None]
        return offsets + ids
    return ids.copy()


def sinusoidal(positions: jax.Array, width: int) -> jax.Array:
    """Vaswani et al. (2017): float32[B, T, width] with, for pair i = 0, 1, ...,

        PE[p, 2i]     = sin(p / BASE^(2i / width))
        PE[p, 2i + 1] = cos(p / BASE^(2i / width))

    (an odd width drops the last cosine).
    """
    frequencies = BASE ** (-jnp.arange(0, width, 2, dtype=jnp.float32) / width)
    angles = positions[..., None].astype(jnp.float32) * frequencies
    interleaved = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    return interleaved.reshape(*positions.shape, -1)[..., :width]


def rotate(x: jax.Array, positions: jax.Array) -> jax.Array:
    """RoPE (Su et al., 2021): rotate each pair (x_2i, x_2i+1) of a head by angle p * theta_i,

        theta_i = BASE^(-2i / d),   R(a) = [[cos a, -sin a], [sin a, cos a]],

    for x float[B, T, H, d] (d even) and positions int[B, T]. Since R(a)^T R(b) = R(b - a),
    the score <R_p q, R_s k> = <q, R_(s-p) k> depends on the offset s - p only.
    """
    d = x.shape[-1]
    theta = BASE ** (-jnp.arange(0, d, 2, dtype=jnp.float32) / d)
    angles = positions[..., None].astype(jnp.float32) * theta          # [B, T, d/2]
    cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]  # over heads
    pairs = x.reshape(*x.shape[:-1], d // 2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = jnp.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1)
    return rotated.reshape(x.shape)


def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi head slopes (Press et al., 2022), float32[num_heads].

    For n heads, n a power of two: m_h = 2^(-8 (h + 1) / n), the geometric sequence that starts
    at 2^(-8/n) with ratio 2^(-8/n). Otherwise, as in the paper's code: the slopes of the
    largest power of two c < n, then every other slope of 2c, up to n slopes in all.
    """
    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    closest = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = geometric(closest) + geometric(2 * closest)[0::2][: num_heads - closest]
    return np.asarray(slopes, dtype=np.float32)


def alibi_bias(positions: jax.Array, num_heads: int, causal: bool) -> jax.Array:
    """ALiBi bias added to attention scores, float32[B, H, T, T] for query i and key j:

        bidirectional: -m_h |p_j - p_i|        causal: m_h (p_j - p_i)   (<= 0 for j <= i)

    Keys after the query are masked in the causal case, so their (positive) bias never counts.
    """
    offsets = (positions[:, None, :] - positions[:, :, None]).astype(jnp.float32)  # p_j - p_i
    distance = offsets if causal else -jnp.abs(offsets)
    return jnp.asarray(alibi_slopes(num_heads))[None, :, None, None] * distance[:, None]


def input_embedding(kind: str, positions: jax.Array, max_position: int, width: int,
                    w_init: hk.initializers.Initializer | None = None) -> jax.Array | None:
    """The position signal added to the token embeddings, float32[B, T, width], or None for the
    kinds that add none (`nope`, and `rope`/`alibi`, which act inside attention).

    The learned tables keep Haiku's embedding init (truncated normal, std 1), as the token
    embeddings do, so that token and position signals start at comparable scales (the
    sinusoidal signal has mean square 1/2 per coordinate), unless `w_init` gives another
    initialiser (GPT-2's).
    """
    if kind in ("learned", "offset", "randomized", "compiled"):
        return hk.Embed(max_position, width, w_init=w_init, name="position_embeddings")(positions)
    if kind == "index_hints":
        return hk.Embed(max_position, width, w_init=w_init, name="hint_embeddings")(positions)
    if kind == "sinusoidal":
        return sinusoidal(positions, width)
    return None
