"""Named tolerances of the search and the rounding budgets built from them.

A candidate (P, beta) leaves the search only if the floating-point values
clear two margins:

* a *rounding budget*: a first-order bound on the rounding error that a
  rigorous checker working in binary64 meets when it forms
  M = -(A^T P + P A) - 2 beta I and proves it positive definite by a shifted
  Cholesky factorisation (Rump's test), plus the error of the eigenvalue
  routine the search itself used;
* a *marginal tolerance*: the certified decay rate alpha = beta / lambda_max(P)
  must be at least ``MARGINAL_RELATIVE_TOL * ||A||_2``.

The second margin has a precise meaning. If A^T P + P A <= -2 beta I, then
every perturbation E with ||E||_2 < alpha satisfies
(A + E)^T P + P (A + E) <= -2 (beta - ||P|| ||E||) I < 0, so alpha is the
perturbation radius the certificate itself tolerates. A certificate with
alpha below the tolerance would be destroyed by a relative change of A
smaller than the error with which A is usually computed.

References
----------
S. M. Rump, "Verification of positive definiteness", BIT Numerical
Mathematics 46 (2006) 433-452.
N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
SIAM 2002, section 3.1 (the constant gamma_k = k u / (1 - k u)).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "BETA_RELATIVE_BACKOFF",
    "MARGINAL_RELATIVE_TOL",
    "P_RELATIVE_BACKOFF",
    "ROUNDING_SAFETY",
    "SMALLEST_SUBNORMAL",
    "UNIT_ROUNDOFF",
    "formation_error_bound",
    "rump_shift",
    "tolerance_record",
]

UNIT_ROUNDOFF = 2.0**-53
"""Unit roundoff u of binary64 with round-to-nearest."""

SMALLEST_SUBNORMAL = 2.0**-1074
"""Smallest positive binary64 number; bounds the absolute error of an underflow."""

ROUNDING_SAFETY = 8.0
"""Factor on every first-order rounding bound k*u.

It covers the second-order part of gamma_k = k u / (1 - k u), the unstated
constant in LAPACK's backward-error bound for ``eigvalsh``, and a checker that
sums in another order than the search did.
"""

P_RELATIVE_BACKOFF = 1e-9
"""Fraction by which P is divided below its computed lambda_min.

Dividing by lambda_min * (1 - 1e-9) rather than lambda_min keeps the
normalised lambda_min(P) strictly above 1 even for a diagonal P, where the
comparison with 1 is exact and no rounding budget applies.
"""

BETA_RELATIVE_BACKOFF = 1e-6
"""Fraction of beta given up after the rounding budget is subtracted.

One part in a million is far above the relative error of ``eigvalsh`` on a
well-conditioned M (about n * u = 2e-13 at n = 1000) and costs nothing that
a report would show, so a claim never sits exactly on a float estimate.
"""

MARGINAL_RELATIVE_TOL = 1e-10
"""Smallest accepted decay rate alpha, and smallest |Re lambda| counted as
off the imaginary axis, relative to an upper bound on ||A||_2.

A Jacobian built by Newton's method and analytic derivatives carries a
relative error of roughly 1e-14 to 1e-12. 1e-10 sits a hundred times above
that, yet below the slow-over-fast ratio (learning rate times membrane time
constant, 1e-5 to 1e-8) of the networks this package studies.
"""


def rump_shift(matrix: np.ndarray | sp.sparray) -> float:
    """Return Rump's diagonal shift for a Cholesky proof of ``matrix`` > 0.

    The shift is sum_j (t_j + 3) u m_jj + 6 n (n + max m_jj) eta, where t_j is
    the number of envelope entries above the diagonal in column j and eta the
    smallest subnormal. If Cholesky of ``matrix - shift * I`` succeeds in
    floating point, ``matrix`` is positive definite.

    Parameters
    ----------
    matrix : ndarray or sparse array, shape (n, n)
        Symmetric matrix with positive diagonal.

    Returns
    -------
    float
        The shift, in the units of ``matrix``. ``inf`` if a diagonal entry is
        not positive, because no shift can then prove definiteness.
    """
    n = matrix.shape[0]
    diagonal = np.asarray(matrix.diagonal(), dtype=np.float64)
    if not np.all(diagonal > 0):
        return float("inf")

    envelope = _envelope_counts(matrix)
    shift = UNIT_ROUNDOFF * float(np.sum((envelope + 3.0) * diagonal))
    underflow = 6.0 * n * (n + float(diagonal.max())) * SMALLEST_SUBNORMAL
    return shift + underflow


def _envelope_counts(matrix: np.ndarray | sp.sparray) -> np.ndarray:
    """Return t_j: how many rows lie between column j's first non-zero and j."""
    n = matrix.shape[0]
    columns = np.arange(n, dtype=np.float64)
    if not sp.issparse(matrix):
        # NOTE: a dense matrix is treated as full, t_j = j, without scanning it.
        return columns
    coo = sp.coo_array(matrix)
    upper = coo.row <= coo.col
    first_row = np.arange(n)
    np.minimum.at(first_row, coo.col[upper], coo.row[upper])
    return columns - first_row


def formation_error_bound(
    a_abs_norm2: float, p_abs_norm2: float, inner_length: int
) -> float:
    """Bound ||fl(A^T P + P A) - (A^T P + P A)||_2 from first-order rounding.

    Each entry of A^T P is a dot product of at most ``inner_length`` terms,
    so its error is at most gamma_k (|A|^T |P|)_ij with k = inner_length + 1
    (the extra rounding is the final addition of the two products).

    Parameters
    ----------
    a_abs_norm2 : float
        Upper bound on || |A| ||_2.
    p_abs_norm2 : float
        Upper bound on || |P| ||_2.
    inner_length : int
        Largest number of non-zero terms in one dot product: 1 for a diagonal
        P, the largest column count of A otherwise.

    Returns
    -------
    float
        Upper bound, before the ``ROUNDING_SAFETY`` factor.
    """
    return 2.0 * (inner_length + 1) * UNIT_ROUNDOFF * a_abs_norm2 * p_abs_norm2


def tolerance_record() -> dict[str, float]:
    """Return the named tolerances of the search, for a certificate's JSON."""
    return {
        "unit_roundoff": UNIT_ROUNDOFF,
        "rounding_safety": ROUNDING_SAFETY,
        "p_relative_backoff": P_RELATIVE_BACKOFF,
        "beta_relative_backoff": BETA_RELATIVE_BACKOFF,
        "marginal_relative_tol": MARGINAL_RELATIVE_TOL,
    }
