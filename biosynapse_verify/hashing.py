"""Canonical SHA-256 of a matrix, shared by the writers and the re-check.

This module imports only numpy and scipy, so commands that hash a matrix do
not pay for loading the report or re-check packages.
"""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp

__all__ = ["canonical_matrix_sha256"]


def canonical_matrix_sha256(matrix: sp.spmatrix | sp.sparray | np.ndarray) -> str:
    """Return the SHA-256 of a matrix in canonical CSR form.

    The digest covers, in order, the shape, ``indptr``, ``indices`` (all as
    little-endian int64) and ``data`` (float64) of the CSR matrix with
    duplicates summed and indices sorted. Explicit zeros are kept.
    """
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()
    digest = hashlib.sha256()
    digest.update(np.asarray(csr.shape, dtype="<i8").tobytes())
    digest.update(csr.indptr.astype("<i8").tobytes())
    digest.update(csr.indices.astype("<i8").tobytes())
    digest.update(csr.data.astype("<f8").tobytes())
    return digest.hexdigest()
