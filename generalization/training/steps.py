"""The jitted pieces of training: loss, optimiser, initialisation, and one chunk of steps of
every seed at once.

Objective of one seed on a batch with labels y[b, i] (-1 at padding, ignored):

    loss = sum_{(b, i): y[b, i] != -1} -log softmax(logits[b, i])[y[b, i]]  /  #{(b, i): y != -1}

Optimiser (optax): gradients clipped to global norm <= grad_clip, then AdamW with decoupled
weight decay on the matrices only (biases and LayerNorm parameters are not decayed, as in
nanoGPT), at the learning rate

    lr(t) = peak * t / warmup                                                  t < warmup
    lr(t) = end + (peak - end) * (1 + cos(pi * (t - warmup) / (steps - warmup))) / 2   after

with end = peak * END_LR_FRACTION (optax's `warmup_cosine_decay_schedule`), or with
`schedule = "linear"`

    lr(t) = peak * (steps - t) / (steps - warmup)                               after warm-up

(Hugging Face's `get_linear_schedule_with_warmup`, to 0 at the last step), t counting the
seed's own optimiser steps.

Parameters and optimiser state carry a leading axis S, one slice per seed: each function here
is a `vmap` over the seeds, jitted once per model and optimiser.
"""

from __future__ import annotations

from typing import Any, Callable

import haiku as hk
import jax
import jax.numpy as jnp
import optax

from generalization.evaluation.metrics import exact_match
from generalization.models.config import ModelConfig
from generalization.models.transformer import class_logits
from generalization.tasks.encoding import IGNORE_LABEL
from generalization.training.config import TrainConfig

# Final learning rate of the cosine decay as a fraction of the peak (nanoGPT's min_lr = lr / 10).
END_LR_FRACTION = 0.1


def masked_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy over the positions whose label is not -1 (0 when there are none)."""
    valid = labels != IGNORE_LABEL
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.where(valid, labels, 0))
    return jnp.sum(jnp.where(valid, losses, 0.0)) / jnp.maximum(jnp.sum(valid), 1)


def masked_squared_error(outputs: jax.Array, labels: tuple[jax.Array, jax.Array]) -> jax.Array:
    """A regression's loss: with labels = (targets float[B, T, D], weights float[B, T]),
    sum_(b,t) w[b,t] mean_d (out - target)^2 / sum w (0 when every weight is 0)."""
    targets, weights = labels
    errors = jnp.mean((outputs - targets) ** 2, axis=-1)
    return jnp.sum(weights * errors) / jnp.maximum(jnp.sum(weights), 1.0)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW on the warm-up + decay schedule (module docstring)."""
    if config.schedule == "linear":
        schedule = optax.join_schedules(
            [optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps),
             optax.linear_schedule(config.learning_rate, 0.0,
                                   config.steps - config.warmup_steps)],
            [config.warmup_steps])
    else:
        schedule = optax.warmup_cosine_decay_schedule(
            init_value=0.0, peak_value=config.learning_rate, warmup_steps=config.warmup_steps,
            decay_steps=config.steps, end_value=config.learning_rate * END_LR_FRACTION)
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(schedule, weight_decay=config.weight_decay,
                    mask=lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)))


def make_init(model: hk.Transformed, optimizer: optax.GradientTransformation,
              length: int, input_dim: int = 0) -> Callable[[jax.Array, Any], tuple[Any, Any]]:
    """jit((keys[S], start) -> (params, opt_state) stacked over seeds): seed s from keys[s], or
    every seed from `start` (one seed's params) unless it is None; one compiled program rather
    than hundreds of dispatched small ops. `input_dim` > 0: the model reads vectors."""
    ids = jnp.zeros((1, length), jnp.int32)
    tokens = jnp.zeros((1, length, input_dim)) if input_dim else ids

    def init(key, start):
        params = model.init(key, tokens, ids, ids == 0) if start is None else start
        return params, optimizer.init(params)

    # vmap broadcasts the unbatched `start` to every seed.
    return jax.jit(jax.vmap(init, in_axes=(0, None)))


def seed_keys(seeds: tuple[int, ...]) -> jax.Array:
    """The init keys PRNGKey(s) of the seeds, stacked."""
    return jnp.stack([jax.random.PRNGKey(seed) for seed in seeds])


def make_chunk_step(model: hk.Transformed, optimizer: optax.GradientTransformation,
                    objective: Callable[[jax.Array, Any], jax.Array] = masked_cross_entropy
                    ) -> Callable[..., Any]:
    """The one jitted training function:

        (params[S], opt_state[S], batches, active bool[K, S]) -> (params, opt_state, loss[K, S])

    with batches = (tokens, positions, mask, labels), each [K, S, B, T, ..]: a `lax.scan` over
    the K steps of a `vmap` over the S seeds of one optimiser step. Where active[k, s] is False
    the step leaves seed s's state exactly as it was. `objective(outputs, labels)` is the loss
    (labels may be a tuple of arrays, as `masked_squared_error`'s)."""

    def loss_fn(params, tokens, positions, mask, labels):
        return objective(model.apply(params, tokens, positions, mask), labels)

    def seed_step(params, opt_state, batch, active):
        loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)

        def keep(new, old):
            return jnp.where(active, new, old)

        return (jax.tree.map(keep, new_params, params),
                jax.tree.map(keep, new_opt_state, opt_state), loss)

    all_seeds = jax.vmap(seed_step)

    @jax.jit
    def chunk_step(params, opt_state, batches, active):
        def body(carry, step_inputs):
            batch, step_active = step_inputs
            params, opt_state, loss = all_seeds(*carry, batch, step_active)
            return (params, opt_state), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), (batches, active))
        return params, opt_state, losses

    return chunk_step


def make_measure(model: hk.Transformed,
                 config: ModelConfig) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """jit(vmap over seeds) of (params, tokens, positions, mask, labels) -> (loss, exact match),
    each seed on its own batch; predictions are the argmax over the classes."""

    def one_seed(params, tokens, positions, mask, labels):
        logits = model.apply(params, tokens, positions, mask)
        predictions = jnp.argmax(class_logits(config, logits), axis=-1)
        return (masked_cross_entropy(logits, labels),
                jnp.mean(exact_match(predictions, labels)))

    return jax.jit(jax.vmap(one_seed))
