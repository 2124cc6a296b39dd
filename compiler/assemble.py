"""Transformer weights from a craft model, in numpy, without Haiku.

tracr's `assemble_craft_model` initialises a Haiku model only to learn the
parameter shapes, then overwrites every parameter; that initialisation is
most of its compile time. Here the same matrices are written directly:

* residual space R = craft residual space + tokens + indices + output spaces;
* token embedding: projection of the tokens space into R, plus the "one"
  direction for every token; position embedding: a zero row for the BOS
  position, then the projection of each index;
* attention layer l, head h: W_Q = P(R -> left space of W_QK) @ W_QK,
  W_K = P(R -> right space), W_V = P(R -> OV input) @ W_OV,
  W_O = P(OV output -> R); heads are padded to a common key size and count;
* MLP layer l: W_1 = P(R -> first input) @ first, W_2 = second @ P(output -> R);
* unembedding: P(R -> output space).

All biases are zero. `tests/test_compiler_assembly.py` checks these are the
exact arrays of tracr's assembly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tracr.compiler import assemble as tracr_assemble
from tracr.craft import bases, transformers, vectorspace_fns


@dataclass
class Weights:
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


def assemble(craft_model: transformers.SeriesWithResiduals,
             tokens_space: bases.VectorSpaceWithBasis,
             indices_space: bases.VectorSpaceWithBasis,
             output_space: bases.VectorSpaceWithBasis) -> Weights:
    config, module_names = tracr_assemble._get_model_config_and_module_names(craft_model)
    residual = bases.join_vector_spaces(craft_model.residual_space, tokens_space,
                                        indices_space, output_space)
    width = residual.num_dims
    heads, key_size, hidden = config.num_heads, config.key_size, config.mlp_hidden_size

    def project(space: bases.VectorSpaceWithBasis) -> np.ndarray:
        return vectorspace_fns.project(residual, space).matrix

    layers = [{
        "query": np.zeros((width, heads * key_size)), "key": np.zeros((width, heads * key_size)),
        "value": np.zeros((width, heads * key_size)), "linear": np.zeros((heads * key_size, width)),
        "linear_1": np.zeros((width, hidden)), "linear_2": np.zeros((hidden, width)),
    } for _ in range(config.num_layers)]

    for name, module in zip(module_names, craft_model.blocks):
        layer = layers[int(name.split("_")[1].split("/")[0])]
        if isinstance(module, transformers.MLP):
            size = module.fst.output_space.num_dims
            layer["linear_1"][:, :size] = project(module.fst.input_space) @ module.fst.matrix
            layer["linear_2"][:size, :] = module.snd.matrix @ project(module.snd.output_space).T
            continue
        for h, head in enumerate(module.as_multi().heads()):
            columns = slice(h * key_size, h * key_size + head.w_qk.matrix.shape[1])
            layer["query"][:, columns] = project(head.w_qk.left_space) @ head.w_qk.matrix
            layer["key"][:, columns] = project(head.w_qk.right_space)
            value_size = head.w_ov.matrix.shape[1]
            value_columns = slice(h * key_size, h * key_size + value_size)
            layer["value"][:, value_columns] = project(head.w_ov.input_space) @ head.w_ov.matrix
            layer["linear"][value_columns, :] = project(head.w_ov.output_space).T

    tokens_to_residual = vectorspace_fns.project(tokens_space, residual)
    one = bases.BasisDirection("one")
    if one in residual:
        to_one = vectorspace_fns.Linear.from_action(
            tokens_space, residual, lambda _: residual.vector_from_basis_direction(one))
        tokens_to_residual = vectorspace_fns.Linear.combine_in_parallel(
            [tokens_to_residual, to_one])
    positions = np.concatenate([np.zeros((1, width)),
                                vectorspace_fns.project(indices_space, residual).matrix])
    return Weights(
        token_embed=tokens_to_residual.matrix, pos_embed=positions,
        unembed=vectorspace_fns.project(residual, output_space).matrix, layers=layers,
        num_heads=heads, key_size=key_size, mlp_hidden_size=hidden,
        residual_labels=[str(d) for d in residual.basis])
