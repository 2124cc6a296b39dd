"""The attention families of the learned transformer: softmax, linear and mesa.

Every family maps per-head queries, keys and values q, k, v: float[B, T, H, d] and a key mask
(bool[B, T], True at real tokens) to outputs o: float[B, T, H, d]. A query t may read the keys
s in its allowed set S(t): the real positions, and when causal only those with s <= t.

    softmax  o_t = sum_{s in S(t)} softmax_s(q_t . k_s / sqrt(d) + bias_ts) v_s
    linear   o_t = sum_{s in S(t)} (q_t . k_s) v_s                    (unnormalised), or
             o_t = 1/|S(t)| sum_{s in S(t)} (q_t . k_s) v_s          (normalise=True)
    mesa     o_t = Phi_t q_t,   Phi_t = argmin_Phi 1/2 sum_{s in S(t)} |v_s - Phi k_s|^2
                                                   + 1/(2 lambda) |Phi|_F^2
                 = V_t^T K_t (K_t^T K_t + I / lambda)^(-1) q_t

The unnormalised linear sum grows with |S(t)|, so a model trained on short inputs sees larger
outputs on long ones; normalising by the number of keys keeps it an average (the option that
matters for length generalization). Linear attention is von Oswald et al. (2023)'s linear
self-attention and Ren et al. (2024)'s linear transformer; the mesa layer is von Oswald et al.
(2023)'s (their code: mtavit/transformers_mesa_optimization_paper, `src/mesa.py`, which starts
the Sherman-Morrison recursion from lambda I and learns lambda per head, initialised to 1; we
keep lambda > 0 as softplus of a free parameter). As lambda -> 0, (K^T K + I/lambda)^(-1) ->
lambda I and mesa -> lambda times unnormalised linear attention.

Bidirectional linear and mesa attention read the whole sequence's keys at every query (for
mesa the one regression over every real position): our extension, the papers' layers are
causal.

Each of linear and mesa has two forms that agree (tests): a parallel one (a masked score matrix
for linear; cumulative sums of k k^T and v k^T and one solve per position for mesa) and a
recurrent one, a `lax.scan` over positions carrying the state (the sums of v k^T for linear;
for mesa also R_t = (K_t^T K_t + I/lambda)^(-1), updated by Sherman-Morrison:
R_t = R_(t-1) - R_(t-1) k_t k_t^T R_(t-1) / (1 + k_t^T R_(t-1) k_t), from R_0 = lambda I).
The model uses the parallel form of linear attention (no sequential loop over T, so XLA
computes it in a few large operations) and the recurrent form of mesa, as the authors' code
does: the parallel form's batched d x d solves, forward and backward, measured 3-4x slower on a
2-core CPU than the scan (`bench/bench_attention.py`, which prints the ratio; not measured on
a GPU). A padded position contributes k = v = 0, which leaves both states unchanged.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

# The families, as `[model] attention` names them.
FAMILIES: tuple[str, ...] = ("softmax", "linear", "mesa")

# Finite rather than -inf so that a row with every key masked (a padded query of an empty
# input) softmaxes to uniform weights instead of NaN.
MASKED_SCORE = -1e30


def allowed_keys(mask: jax.Array, causal: bool) -> jax.Array:
    """bool[B, 1, T, T]: whether query i may read key j (j real, and j <= i when causal)."""
    length = mask.shape[1]
    allowed = mask[:, None, None, :]
    if causal:
        allowed = allowed & jnp.tril(jnp.ones((length, length), dtype=bool))
    return allowed


def softmax_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, causal: bool,
                      bias: jax.Array | None = None) -> jax.Array:
    """Scaled dot-product attention; `bias` float[1 or B, H, T, T] is added to the scores
    (ALiBi)."""
    scores = jnp.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    weights = jax.nn.softmax(jnp.where(allowed_keys(mask, causal), scores, MASKED_SCORE),
                             axis=-1)
    return jnp.einsum("bhij,bjhd->bihd", weights, v)


def linear_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, causal: bool,
                     normalise: bool = False) -> jax.Array:
    """Linear attention, parallel form: the masked score matrix q k^T times v."""
    allowed = allowed_keys(mask, causal)
    scores = jnp.where(allowed, jnp.einsum("bihd,bjhd->bhij", q, k), 0.0)
    out = jnp.einsum("bhij,bjhd->bihd", scores, v)
    if normalise:
        out = out / _key_counts(allowed, out.dtype)
    return out


def linear_attention_recurrent(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array,
                               causal: bool, normalise: bool = False) -> jax.Array:
    """Linear attention, recurrent form: a scan over positions carrying S_t = sum v_s k_s^T
    (and the number of keys read), o_t = S_t q_t (/ that number)."""
    real = mask[:, :, None, None].astype(q.dtype)
    k, v = k * real, v * real
    if not causal:
        state = jnp.einsum("bshd,bshe->bhde", v, k)
        out = jnp.einsum("bhde,bthe->bthd", state, q)
        counts = jnp.sum(mask, axis=1).astype(q.dtype)[:, None, None, None]
        return out / jnp.maximum(counts, 1.0) if normalise else out

    def step(carry, inputs):
        state, count = carry
        q_t, k_t, v_t, real_t = inputs
        state = state + jnp.einsum("bhd,bhe->bhde", v_t, k_t)
        count = count + real_t                                          # [B, 1]
        out = jnp.einsum("bhde,bhe->bhd", state, q_t)
        return (state, count), out / jnp.maximum(count, 1.0)[:, :, None] if normalise else out

    batch, _, heads, size = q.shape
    start = (jnp.zeros((batch, heads, size, size), q.dtype), jnp.zeros((batch, 1), q.dtype))
    _, out = jax.lax.scan(step, start, (_time_major(q), _time_major(k), _time_major(v),
                                        _time_major(real[..., 0])))
    return jnp.moveaxis(out, 0, 1)


def mesa_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, causal: bool,
                   lam: jax.Array) -> jax.Array:
    """The mesa layer, parallel form: with A_t = sum_{s in S(t)} k_s k_s^T + I / lambda and
    B_t = sum_{s in S(t)} v_s k_s^T (cumulative sums when causal), o_t = B_t A_t^(-1) q_t by
    one linear solve per position and head. `lam`: float[H], lambda > 0 per head."""
    real = mask[:, :, None, None].astype(q.dtype)
    k, v = k * real, v * real
    key_moments = jnp.einsum("bthd,bthe->bthde", k, k)
    cross_moments = jnp.einsum("bthd,bthe->bthde", v, k)
    if causal:
        key_moments = jnp.cumsum(key_moments, axis=1)
        cross_moments = jnp.cumsum(cross_moments, axis=1)
    else:
        key_moments = jnp.broadcast_to(key_moments.sum(1, keepdims=True), key_moments.shape)
        cross_moments = jnp.broadcast_to(cross_moments.sum(1, keepdims=True),
                                         cross_moments.shape)
    size = q.shape[-1]
    ridge = jnp.eye(size, dtype=q.dtype) / lam[:, None, None]          # [H, d, d]
    solved = jnp.linalg.solve(key_moments + ridge, q[..., None])[..., 0]
    return jnp.einsum("bthde,bthe->bthd", cross_moments, solved)


def mesa_attention_recurrent(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array,
                             causal: bool, lam: jax.Array) -> jax.Array:
    """The mesa layer, recurrent form: a scan carrying R_t = A_t^(-1) (Sherman-Morrison, from
    R_0 = lambda I) and B_t; o_t = B_t (R_t q_t), computed inside the scan when causal (so no
    [T, B, H, d, d] stack of states is kept for the output), from the final state otherwise."""
    real = mask[:, :, None, None].astype(q.dtype)
    k, v = k * real, v * real
    batch, _, heads, size = q.shape

    def absorb(carry, inputs):
        inverse, cross = carry
        k_t, v_t, q_t = inputs
        rk = jnp.einsum("bhde,bhe->bhd", inverse, k_t)
        denominator = 1.0 + jnp.einsum("bhd,bhd->bh", k_t, rk)
        inverse = inverse - jnp.einsum("bhd,bhe->bhde", rk, rk) / denominator[..., None, None]
        cross = cross + jnp.einsum("bhd,bhe->bhde", v_t, k_t)
        if not causal:
            return (inverse, cross), None
        return (inverse, cross), jnp.einsum("bhde,bhe->bhd", cross,
                                            jnp.einsum("bhde,bhe->bhd", inverse, q_t))

    start = (jnp.broadcast_to(lam[:, None, None] * jnp.eye(size, dtype=q.dtype),
                              (batch, heads, size, size)),
             jnp.zeros((batch, heads, size, size), q.dtype))
    (inverse, cross), out = jax.lax.scan(absorb, start, (_time_major(k), _time_major(v),
                                                         _time_major(q)))
    if not causal:
        return jnp.einsum("bhde,bhef,bthf->bthd", cross, inverse, q)
    return jnp.moveaxis(out, 0, 1)


def unit_norm(x: jax.Array) -> jax.Array:
    """x scaled to unit L2 norm over its last axis (the authors' option for mesa's q and k;
    their 1e-16 guards a zero vector)."""
    return x / (1e-16 + jnp.linalg.norm(x, axis=-1, keepdims=True))


def _key_counts(allowed: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """[B, T, 1, 1]: |S(t)|, at least 1 (a padded query of an empty input reads none)."""
    counts = jnp.sum(allowed, axis=-1)[:, 0]                            # [B, T]
    return jnp.maximum(counts, 1).astype(dtype)[:, :, None, None]


def _time_major(x: jax.Array) -> jax.Array:
    """[B, T, ...] -> [T, B, ...], the axis `lax.scan` walks."""
    return jnp.moveaxis(x, 1, 0)
