"""Transformer weights from a craft model, in numpy, without Haiku.

tracr's `assemble_craft_model` initialises a Haiku model only to learn the
parameter shapes, then overwrites every parameter; that initialisation is
most of its compile time. Here the same matrices are written directly, as
blocks over the directions each head and MLP reads and writes
(`weights.Blocks`; `assemble(...).dense()` is tracr's layout):

* residual space R = craft residual space + tokens + indices + output spaces;
* token embedding: projection of the tokens space into R, plus the "one"
  direction for every token; position embedding: a zero row for the BOS
  position, then the projection of each index;
* attention layer l, head h: W_Q = P(R -> left space of W_QK) @ W_QK,
  W_K = P(R -> right space), W_V = P(R -> OV input) @ W_OV,
  W_O = P(OV output -> R) (as blocks: the rows of those spaces, W_QK, the
  identity, W_OV, the identity); in the dense layout heads are padded to a
  common key size and count; the key size is the widest query/key or value
  space of any head (tracr's is the widest query/key space, too narrow for a
  head whose value has more dimensions);
* MLP layer l: W_1 = P(R -> first input) @ first, W_2 = second @ P(output -> R);
* unembedding: P(R -> output space).

All biases are zero. `tests/test_compiler_assembly.py` checks the dense layout
holds the exact arrays of tracr's assembly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tracr.craft import bases, transformers

from compiler.weights import Blocks, HeadBlock, LayerBlocks, MLPBlock


@dataclass
class ModelSize:
    """A compiled model's shape: `parameters` as blocks (what the compiler keeps and runs),
    `dense_parameters` in tracr's padded dense layout (what an export writes)."""

    layers: int
    heads_per_layer: list[int]
    residual_width: int
    key_size: int
    mlp_hidden_size: int
    parameters: int
    dense_parameters: int

    @classmethod
    def of(cls, blocks: Blocks) -> "ModelSize":
        return cls(len(blocks.layers), [len(layer.heads) for layer in blocks.layers],
                   blocks.residual_width, blocks.key_size, blocks.mlp_hidden_size,
                   blocks.parameter_count(), blocks.dense_parameter_count())


def _residual(craft_model: transformers.SeriesWithResiduals,
              tokens_space: bases.VectorSpaceWithBasis,
              indices_space: bases.VectorSpaceWithBasis,
              output_space: bases.VectorSpaceWithBasis) -> bases.VectorSpaceWithBasis:
    return bases.join_vector_spaces(craft_model.residual_space, tokens_space, indices_space,
                                    output_space)


def assemble(craft_model: transformers.SeriesWithResiduals,
             tokens_space: bases.VectorSpaceWithBasis,
             indices_space: bases.VectorSpaceWithBasis,
             output_space: bases.VectorSpaceWithBasis) -> Blocks:
    layer_of = _layer_numbers(craft_model.blocks)
    heads, key_size, hidden = sizes(craft_model.blocks)
    residual = _residual(craft_model, tokens_space, indices_space, output_space)
    width = residual.num_dims

    def rows(space: bases.VectorSpaceWithBasis) -> np.ndarray:
        return np.array([residual.index_by_direction[d] for d in space.basis], dtype=np.int64)

    layers = [LayerBlocks() for _ in range(layer_of[-1] + 1 if layer_of else 0)]
    for number, module in zip(layer_of, craft_model.blocks):
        layer = layers[number]
        if isinstance(module, transformers.MLP):
            layer.mlp = MLPBlock(rows(module.fst.input_space), module.fst.matrix,
                                 rows(module.snd.output_space), module.snd.matrix)
            continue
        for head in module.as_multi().heads():
            qk, ov = head.w_qk, head.w_ov
            layer.heads.append(HeadBlock(
                rows(qk.left_space), qk.matrix, rows(qk.right_space),
                np.eye(qk.right_space.num_dims), rows(ov.input_space), ov.matrix,
                rows(ov.output_space), np.eye(ov.output_space.num_dims)))

    return Blocks(
        token_embed=_token_embedding(tokens_space, residual),
        pos_embed=np.concatenate([np.zeros((1, width)), projection(indices_space, residual)]),
        unembed=projection(residual, output_space), layers=layers,
        num_heads=heads, key_size=key_size, mlp_hidden_size=hidden,
        residual_labels=[str(d) for d in residual.basis])


def _layer_numbers(blocks: list) -> list[int]:
    """The layer of each block: blocks alternate attention, MLP, and a missing one leaves
    its half-layer empty (tracr's module names)."""
    numbers, half = [], 0
    for block in blocks:
        is_mlp = isinstance(block, transformers.MLP)
        if half % 2 != is_mlp:
            half += 1
        numbers.append(half // 2)
        half += 1
    return numbers


def sizes(blocks: list) -> tuple[int, int, int]:
    """Heads per layer, key size and MLP hidden size (1 where there is none, as tracr)."""
    attentions = [list(b.as_multi().heads()) for b in blocks
                  if not isinstance(b, transformers.MLP)]
    heads = [head for layer in attentions for head in layer]
    mlps = [b for b in blocks if isinstance(b, transformers.MLP)]
    return (max((len(layer) for layer in attentions), default=1),
            max((max(*h.w_qk.matrix.shape, h.w_ov.matrix.shape[1]) for h in heads), default=1),
            max((m.fst.output_space.num_dims for m in mlps), default=1))


def _token_embedding(tokens_space: bases.VectorSpaceWithBasis,
                     residual: bases.VectorSpaceWithBasis) -> np.ndarray:
    """Each token's direction, plus the "one" direction (1 at every position) if used."""
    matrix = projection(tokens_space, residual)
    one = bases.BasisDirection("one")
    if one in residual:
        matrix[:, residual.index_by_direction[one]] += 1
    return matrix


def projection(source: bases.VectorSpaceWithBasis,
               target: bases.VectorSpaceWithBasis) -> np.ndarray:
    """tracr's `vectorspace_fns.project(source, target).matrix`: 1 where a direction is in
    both spaces (tracr builds it from one-hot vectors, quadratic in the widths)."""
    matrix = np.zeros((source.num_dims, target.num_dims))
    for direction in source.basis:
        if direction in target:
            matrix[source.index_by_direction[direction], target.index_by_direction[direction]] = 1
    return matrix
