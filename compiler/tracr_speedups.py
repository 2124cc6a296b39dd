"""Faster equivalents of tracr functions whose cost dominates compiling long models.

tracr builds the one-hot vector of a basis direction as `np.eye(n)[i]`, an n x n identity
for each vector: O(n^2) time and memory per call, and a discretising MLP calls it once per
hidden unit, so building one grows as O(n^3) (at max length 81, 132 s of a 135 s compile was
spent there). `vector_from_basis_direction` below builds the same float64 vector in O(n).
Importing this module installs it into tracr's `VectorSpaceWithBasis`, for every user of
tracr in the process; the vectors, and so every weight, are unchanged (tested against tracr's
own, and by every exactness test of the compiler).
"""

from __future__ import annotations

import numpy as np
from tracr.craft import bases

_TRACR_VECTOR_FROM_BASIS_DIRECTION = bases.VectorSpaceWithBasis.vector_from_basis_direction


def vector_from_basis_direction(self: bases.VectorSpaceWithBasis,
                                basis_direction: bases.BasisDirection) -> bases.VectorInBasis:
    """The one-hot vector of `basis_direction` in this space (tracr's, in O(n))."""
    vector = np.zeros(self.num_dims)
    vector[self.index_by_direction[basis_direction]] = 1.0
    return self.make_vector(vector)


bases.VectorSpaceWithBasis.vector_from_basis_direction = vector_from_basis_direction
