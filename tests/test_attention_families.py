"""The attention families (`generalization/models/attention.py`) against their definitions:
linear attention against the explicit double loop, mesa against a ridge regression solved on
every prefix, each recurrent form against its parallel form, padding and causality."""

from __future__ import annotations

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from generalization.models import attention

BATCH, LENGTH, HEADS, SIZE = 2, 7, 2, 3


def random_qkv(seed: int, length: int = LENGTH, size: int = SIZE, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shape = (BATCH, length, HEADS, size)
    return tuple(rng.normal(size=shape).astype(dtype) for _ in range(3))


def padding_mask(length: int = LENGTH) -> np.ndarray:
    """The first sequence full, the second with its last two positions padded."""
    mask = np.ones((BATCH, length), bool)
    mask[1, -2:] = False
    return mask


def reads(mask: np.ndarray, b: int, t: int, s: int, causal: bool) -> bool:
    return bool(mask[b, s]) and (s <= t or not causal)


def linear_by_loops(q, k, v, mask, causal, normalise):
    out = np.zeros_like(q)
    for b, t, h in itertools.product(range(BATCH), range(q.shape[1]), range(HEADS)):
        keys = [s for s in range(q.shape[1]) if reads(mask, b, t, s, causal)]
        for s in keys:
            out[b, t, h] += (q[b, t, h] @ k[b, s, h]) * v[b, s, h]
        if normalise and keys:
            out[b, t, h] /= len(keys)
    return out


def mesa_by_ridge(q, k, v, mask, causal, lam):
    """Phi_t = V^T K (K^T K + I/lambda)^(-1) over the keys of S(t), o_t = Phi_t q_t."""
    out = np.zeros_like(q)
    for b, t, h in itertools.product(range(q.shape[0]), range(q.shape[1]), range(q.shape[2])):
        keys = [s for s in range(q.shape[1]) if reads(mask, b, t, s, causal)]
        K, V = k[b, keys, h], v[b, keys, h]
        gram = K.T @ K + np.eye(q.shape[-1]) / lam[h]
        out[b, t, h] = V.T @ K @ np.linalg.solve(gram, q[b, t, h])
    return out


LAM = np.array([0.7, 2.0])


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("normalise", [False, True])
def test_linear_attention_equals_the_double_loop_and_its_scan(causal, normalise):
    q, k, v = random_qkv(0)
    mask = padding_mask()
    expected = linear_by_loops(q, k, v, mask, causal, normalise)
    with jax.enable_x64(True):
        parallel = np.asarray(attention.linear_attention(q, k, v, mask, causal, normalise))
        scan = np.asarray(attention.linear_attention_recurrent(q, k, v, mask, causal, normalise))
    real = mask[..., None, None].repeat(HEADS, 2)
    np.testing.assert_allclose(np.where(real, parallel, 0), np.where(real, expected, 0),
                               atol=1e-10, rtol=0)
    np.testing.assert_allclose(np.where(real, scan, 0), np.where(real, parallel, 0),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("causal", [True, False])
def test_mesa_equals_ridge_regression_on_every_prefix_in_float64(causal):
    q, k, v = random_qkv(1)
    mask = padding_mask()
    expected = mesa_by_ridge(q, k, v, mask, causal, LAM)
    with jax.enable_x64(True):
        parallel = np.asarray(attention.mesa_attention(q, k, v, mask, causal, jnp.asarray(LAM)))
        recurrent = np.asarray(attention.mesa_attention_recurrent(q, k, v, mask, causal,
                                                                  jnp.asarray(LAM)))
    real = mask[..., None, None].repeat(HEADS, 2)
    np.testing.assert_allclose(np.where(real, parallel, 0), np.where(real, expected, 0),
                               atol=1e-8, rtol=0)
    np.testing.assert_allclose(np.where(real, recurrent, 0), np.where(real, expected, 0),
                               atol=1e-8, rtol=0)


@pytest.mark.parametrize("form", [attention.mesa_attention, attention.mesa_attention_recurrent])
def test_mesa_in_float32_stays_within_1e_4_of_float64_up_to_512_positions(form):
    """Unit-norm keys and queries (the authors' option) keep A_t's conditioning that of a
    regression over up to 512 points; the error is relative to each output's norm."""
    rng = np.random.default_rng(2)
    length, size = 512, 4
    q, k, v = (rng.normal(size=(1, length, HEADS, size)) for _ in range(3))
    q, k = (x / np.linalg.norm(x, axis=-1, keepdims=True) for x in (q, k))
    mask = np.ones((1, length), bool)
    lam = np.array([1.0, 0.1])
    with jax.enable_x64(True):
        exact = np.asarray(form(q, k, v, mask, True, jnp.asarray(lam)))
    single = np.asarray(form(*(jnp.asarray(x, jnp.float32) for x in (q, k, v)), mask, True,
                             jnp.asarray(lam, jnp.float32)))
    error = np.linalg.norm(single - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    assert error.max() < 1e-4, error.max()


@pytest.mark.parametrize("form", [attention.mesa_attention, attention.mesa_attention_recurrent])
def test_mesa_tends_to_lambda_times_linear_attention_as_lambda_vanishes(form):
    q, k, v = random_qkv(3)
    mask = padding_mask()
    lam = np.array([1e-7, 1e-7])
    with jax.enable_x64(True):
        mesa = np.asarray(form(q, k, v, mask, True, jnp.asarray(lam)))
        linear = np.asarray(attention.linear_attention(q, k, v, mask, True))
    np.testing.assert_allclose(mesa / 1e-7, linear, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", [attention.mesa_attention, attention.mesa_attention_recurrent])
def test_mesa_gradients_pass_check_grads(form):
    q, k, v = random_qkv(4, length=4, size=2)
    mask = padding_mask(4)
    with jax.enable_x64(True):
        check_grads(lambda q, k, v, lam: form(q, k, v, mask, True, lam),
                    (q, k, v, jnp.asarray(LAM)), order=1, modes=["rev"])


FAMILIES = {
    "softmax": lambda q, k, v, mask, causal: attention.softmax_attention(q, k, v, mask, causal),
    "linear": lambda q, k, v, mask, causal: attention.linear_attention(q, k, v, mask, causal),
    "linear normalised": lambda q, k, v, mask, causal: attention.linear_attention(
        q, k, v, mask, causal, normalise=True),
    "mesa": lambda q, k, v, mask, causal: attention.mesa_attention(q, k, v, mask, causal,
                                                                   jnp.asarray(LAM)),
    "mesa recurrent (the model's)": lambda q, k, v, mask, causal:
        attention.mesa_attention_recurrent(q, k, v, mask, causal, jnp.asarray(LAM)),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("causal", [True, False])
def test_padding_added_after_an_input_leaves_its_outputs_unchanged(family, causal):
    q, k, v = random_qkv(5)
    mask = np.ones((BATCH, LENGTH), bool)
    rng = np.random.default_rng(6)
    padded = [np.concatenate([x, rng.normal(size=(BATCH, 3, HEADS, SIZE))], axis=1)
              for x in (q, k, v)]
    padded_mask = np.concatenate([mask, np.zeros((BATCH, 3), bool)], axis=1)
    with jax.enable_x64(True):
        plain = np.asarray(FAMILIES[family](q, k, v, mask, causal))
        longer = np.asarray(FAMILIES[family](*padded, padded_mask, causal))
    np.testing.assert_allclose(longer[:, :LENGTH], plain, atol=1e-10, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_causal_output_does_not_depend_on_later_inputs(family):
    q, k, v = random_qkv(7)
    mask = np.ones((BATCH, LENGTH), bool)
    query = 3
    with jax.enable_x64(True):
        jacobians = jax.jacrev(lambda q, k, v: FAMILIES[family](q, k, v, mask, True)[:, query],
                               argnums=(0, 1, 2))(q, k, v)
        for jacobian in jacobians:              # [B, H, d, B, T, H, d]
            later = np.asarray(jacobian)[:, :, :, :, query + 1:]
            assert np.all(later == 0)
            earlier = np.asarray(jacobian)[:, :, :, :, :query + 1]
            assert np.any(earlier != 0)


# ------------------------------------------------------------------ in the model


def tiny_model(attention_families, positions="learned", causal=True):
    from generalization.models.config import ModelConfig
    return ModelConfig(vocab_size=6, num_classes=5, num_layers=2, num_heads=2, width=8,
                       max_position=16, positions=positions, causal=causal,
                       attention=attention_families, mesa_unit_norm=True)


@pytest.mark.parametrize("families, positions", [(("linear",), "learned"), (("mesa",), "rope"),
                                                 (("mesa", "softmax"), "learned")])
def test_models_of_every_family_run_under_jit_and_the_seed_vmap_and_ignore_padding(
        families, positions):
    from generalization.models.transformer import build_model
    config = tiny_model(families, positions)
    net = build_model(config)
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.integers(1, 6, size=(2, 5)), jnp.int32)
    ids = jnp.tile(jnp.arange(5, dtype=jnp.int32), (2, 1))
    mask = jnp.ones((2, 5), bool)
    keys = jax.random.split(jax.random.key(0), 3)
    stacked = jax.vmap(net.init, in_axes=(0, None, None, None))(keys, tokens, ids, mask)
    if "mesa" in families:    # lambda per head, 1 at initialisation
        lam = jax.nn.softplus(stacked["block_0/attention"]["lambda_raw"])
        np.testing.assert_allclose(np.asarray(lam), 1.0, rtol=1e-6)
    apply = jax.jit(jax.vmap(net.apply, in_axes=(0, None, None, None)))
    plain = apply(stacked, tokens, ids, mask)
    padded = apply(stacked, jnp.concatenate([tokens, jnp.zeros((2, 3), jnp.int32)], axis=1),
                   jnp.tile(jnp.arange(8, dtype=jnp.int32), (2, 1)),
                   jnp.concatenate([mask, jnp.zeros((2, 3), bool)], axis=1))
    np.testing.assert_allclose(np.asarray(padded[:, :, :5]), np.asarray(plain), atol=1e-5)
    assert not np.allclose(np.asarray(plain[0]), np.asarray(plain[1]))   # seeds differ


def test_layer_families_are_per_layer():
    from generalization.models.transformer import build_model
    net = build_model(tiny_model(("linear", "mesa")))
    params = jax.eval_shape(net.init, jax.random.key(0), jnp.ones((1, 3), jnp.int32),
                            jnp.arange(3)[None], jnp.ones((1, 3), bool))
    assert "block_0/attention" not in params          # linear: no parameters of its own
    assert list(params["block_1/attention"]) == ["lambda_raw"]


def test_alibi_and_a_wrong_number_of_layer_families_are_config_errors(tmp_path):
    from generalization.config import ConfigError, load_config
    program = tmp_path / "p.rasp"
    program.write_text("ident = tokens;\n")
    config = tmp_path / "exp.toml"

    def write(model: str) -> None:
        config.write_text(f'[task]\nprogram = "p.rasp"\nsop = "ident"\nvocab = "ab"\n'
                          f'train_lengths = [1, 3]\ntest_lengths = [4, 5]\n[model]\n{model}\n')

    write('attention = "linear"\npositions = ["alibi"]\nlayers = 1\nheads = 1')
    with pytest.raises(ConfigError, match=re.escape(
            "[model] attention: 'alibi' is a bias on softmax scores and cannot combine with "
            "linear attention")):
        load_config(config)
    write('attention = ["linear", "mesa"]\nlayers = 3\nheads = 1\npositions = ["rope"]')
    with pytest.raises(ConfigError, match="gives 2 attention families for 3 layers"):
        load_config(config)
    write('attention = "quadratic"\nlayers = 1\nheads = 1')
    with pytest.raises(ConfigError, match="unknown attention family 'quadratic'"):
        load_config(config)
    write('attention = ["linear", "mesa"]\nlayers = 2\nheads = 1\npositions = ["rope"]')
    assert load_config(config).model.attention == ("linear", "mesa")
