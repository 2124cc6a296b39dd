"""compiler/tracr_speedups.py: tracr's functions replaced by faster ones give the same results."""

from __future__ import annotations

import numpy as np
import pytest
from tracr.craft import bases

import compiler
import rasp
from compiler import tracr_speedups
from test_cli import ROOT


def test_one_hot_vectors_are_tracrs() -> None:
    space = bases.VectorSpaceWithBasis.from_values("x", [3, 1, "a", True, 2.5])
    for direction in space.basis:
        ours = space.vector_from_basis_direction(direction)
        theirs = tracr_speedups._TRACR_VECTOR_FROM_BASIS_DIRECTION(space, direction)
        assert ours == theirs and ours.magnitudes.dtype == theirs.magnitudes.dtype


@pytest.mark.parametrize("file, sop, vocab", [("suite/majority.rasp", "majority", "abc"),
                                              ("sort.rasp", "sort_tokens", "abcd")])
def test_compiled_weights_are_the_same_with_tracrs_own_vectors(monkeypatch, file, sop,
                                                                vocab) -> None:
    program = rasp.load(ROOT / "examples" / file)
    fast = compiler.compile(program, sop, vocab, 6, verify=False)
    monkeypatch.setattr(bases.VectorSpaceWithBasis, "vector_from_basis_direction",
                        tracr_speedups._TRACR_VECTOR_FROM_BASIS_DIRECTION)
    slow = compiler.compile(program, sop, vocab, 6, verify=False)
    for name in ("token_embed", "pos_embed", "unembed"):
        np.testing.assert_array_equal(getattr(fast.weights, name), getattr(slow.weights, name))
    for ours, theirs in zip(fast.weights.layers, slow.weights.layers):
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key])
