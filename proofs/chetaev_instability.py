"""Chetaev-type instability certificate for x' = A x with a growth-rate bound.

Claim: let ``P`` be symmetric, ``Q = A^T P + P A`` and ``gamma >= 0`` with
``Q - 2 gamma I`` positive definite, and let some ``w`` have
``w^T P w > 0``. Then ``lambda_max(P) > 0`` and ``A`` has an eigenvalue with

    Re(lambda) >= lambda_min(Q) / (2 lambda_max(P)) >= gamma / lambda_max(P),

which is > 0 (``lambda_min(Q) > 2 gamma >= 0``).

Derivation: along ``x(t) = e^{At} w`` put ``V = x^T P x``. Then
``dV/dt = x^T Q x >= lambda_min(Q) ||x||^2 >= 0``, so ``V(t) >= V(0) > 0``,
and ``V <= lambda_max(P) ||x||^2`` gives ``dV/dt >= 2 mu V`` with
``mu = lambda_min(Q) / (2 lambda_max(P))``. Since
``d/dt (V e^{-2 mu t}) = e^{-2 mu t} (dV/dt - 2 mu V) >= 0``,
``V(t) >= V(0) e^{2 mu t}``. But ``V(t) <= lambda_max(P) ||e^{At}||^2 ||w||^2
<= K (1 + t^k)^2 e^{2 s(A) t}`` with ``s(A)`` the spectral abscissa and ``k``
the largest Jordan block size minus one. If ``s(A) < mu`` the ratio of the
lower to the upper bound grows like ``e^{2 (mu - s(A)) t} / (1 + t^k)^2``,
which is unbounded, a contradiction; so ``s(A) >= mu``.

The proof checks the Gronwall step and the growth comparison symbolically,
shows the bound is attained for ``A = a I``, ``P = I``, and checks
``mu <= s(A)`` on random unstable matrices.

Run as ``python proofs/chetaev_instability.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.linalg import solve_continuous_lyapunov

__all__ = ["derive", "growth_rate_bound", "random_check"]

N_STATES = 6
N_RANDOM = 200
# eigvals/eigvalsh of these 6x6 matrices are accurate to ~1e-13 relative;
# mu <= s(A) is checked with this slack.
EIGENVALUE_RTOL = 1e-9


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def growth_rate_bound(a: np.ndarray, p: np.ndarray) -> float:
    """Return ``lambda_min(A^T P + P A) / (2 lambda_max(P))``.

    Raises
    ------
    ValueError
        If ``A^T P + P A`` is not positive definite or ``P`` has no positive
        eigenvalue, because the bound is then not proven.
    """
    q = a.T @ p + p @ a
    q_min = float(np.min(np.linalg.eigvalsh((q + q.T) / 2)))
    p_max = float(np.max(np.linalg.eigvalsh((p + p.T) / 2)))
    if q_min <= 0 or p_max <= 0:
        raise ValueError(
            f"lambda_min(A^T P + P A) = {q_min:.3g} and lambda_max(P) = {p_max:.3g} "
            "must both be positive; choose P from A^T P + P A = Q with Q > 0"
        )
    return q_min / (2 * p_max)


def _check_gronwall() -> None:
    t, mu = sp.symbols("t mu", real=True)
    value = sp.Function("V")
    weighted = value(t) * sp.exp(-2 * mu * t)
    identity = sp.simplify(
        sp.diff(weighted, t)
        - sp.exp(-2 * mu * t) * (sp.diff(value(t), t) - 2 * mu * value(t))
    )
    _check(identity == 0, f"Gronwall identity fails: {identity}")


def _check_growth_comparison() -> sp.Expr:
    """Show that ``V0 e^{2 mu t} / (K (1 + t^k)^2 e^{2 s t})`` grows without bound.

    Here ``s < mu`` and the symbol ``delta`` stands for ``mu - s > 0``.
    """
    t, k = sp.symbols("t k", positive=True)
    gap, v0, scale = sp.symbols("delta V_0 K", positive=True)
    log_ratio = sp.log(v0) + 2 * gap * t - sp.log(scale) - 2 * sp.log(1 + t**k)
    rate = sp.limit(log_ratio / t, t, sp.oo)
    _check(
        sp.simplify(rate - 2 * gap) == 0,
        f"log-ratio grows at rate {rate}, expected 2 delta",
    )
    _check(sp.limit(log_ratio, t, sp.oo) == sp.oo, "the ratio should be unbounded")
    return rate


def _check_tight_case() -> sp.Expr:
    """For ``A = a I``, ``P = I`` the bound equals ``s(A) = a``."""
    a = sp.Symbol("a", positive=True)
    n = 3
    matrix, p = a * sp.eye(n), sp.eye(n)
    q = matrix.T * p + p * matrix
    bound = min(q.eigenvals()) / (2 * max(p.eigenvals()))
    abscissa = max(sp.re(v) for v in matrix.eigenvals())
    _check(
        sp.simplify(bound - abscissa) == 0,
        f"bound {bound} != s(A) {abscissa} for A = aI",
    )
    return bound


def random_check(seed: int = 0) -> tuple[float, float]:
    """Check ``gamma / lambda_max(P) <= mu <= s(A)`` on random unstable matrices.

    Each ``A`` is a random matrix shifted so that its spectral abscissa is in
    [0.1, 1]. ``P`` solves ``A^T P + P A = Q`` for a random ``Q > 0``, and
    ``gamma = lambda_min(Q) / 2`` is the largest allowed value (up to rounding).

    Returns
    -------
    min_ratio, max_ratio : float
        Range of ``mu / s(A)`` over the samples (1 means the bound is tight).
    """
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(N_RANDOM):
        a = rng.standard_normal((N_STATES, N_STATES))
        eigenvalues = np.linalg.eigvals(a)
        a += (rng.uniform(0.1, 1.0) - np.max(eigenvalues.real)) * np.eye(N_STATES)
        b = rng.standard_normal((N_STATES, N_STATES))
        q = b @ b.T + 0.1 * np.eye(N_STATES)
        p = solve_continuous_lyapunov(a.T, q)
        p = (p + p.T) / 2
        top = np.linalg.eigh(p)[1][:, -1]
        _check(top @ p @ top > 0, "P has no direction with w^T P w > 0")

        mu = growth_rate_bound(a, p)
        gamma = float(np.min(np.linalg.eigvalsh(q))) / 2
        abscissa = float(np.max(np.linalg.eigvals(a).real))
        _check(
            gamma / np.max(np.linalg.eigvalsh(p)) <= mu * (1 + EIGENVALUE_RTOL),
            "gamma / lambda_max(P) exceeds mu",
        )
        _check(
            mu <= abscissa * (1 + EIGENVALUE_RTOL),
            f"bound mu = {mu} exceeds the spectral abscissa {abscissa}",
        )
        ratios.append(mu / abscissa)
    return float(min(ratios)), float(max(ratios))


def derive() -> dict[str, object]:
    """Check the derivation's steps and the bound; return the appendix entry."""
    _check_gronwall()
    _check_growth_comparison()
    tight = _check_tight_case()
    low, high = random_check()

    latex = (
        r"\dot V = x^\top Q x \ge \lambda_{\min}(Q)\|x\|^2 \ge 2\mu V,\ "
        r"V(t) \ge V(0) e^{2\mu t},\ \mu = \frac{\lambda_{\min}(Q)}{2\lambda_{\max}(P)}"
        r" \ge \frac{\gamma}{\lambda_{\max}(P)}"
        r"\;\Rightarrow\; \max_i \operatorname{Re}\lambda_i(A) \ge \mu"
    )
    statement = (
        "If A^T P + P A - 2 gamma I > 0 (gamma >= 0) and w^T P w > 0, then "
        "V = x^T P x grows at least like V(0) exp(2 mu t) from w with "
        "mu = lambda_min(Q)/(2 lambda_max(P)) >= gamma/lambda_max(P), while "
        "||e^{At}|| <= C (1 + t^k) e^{s(A) t}; so A has an eigenvalue with real "
        "part >= mu > 0. The bound is attained for A = aI, P = I (mu = "
        f"{tight}). On {N_RANDOM} random unstable {N_STATES}x{N_STATES} matrices "
        f"mu / s(A) ranged over [{low:.3g}, {high:.3g}], never above 1."
    )
    return {
        "title": "Chetaev instability certificate with a growth-rate bound",
        "statement": statement,
        "latex": latex,
        "assumptions": [
            "P symmetric, Q = A^T P + P A, Q - 2 gamma I positive definite, gamma >= 0",
            "some w with w^T P w > 0 (so lambda_max(P) > 0)",
            "exact eigenvalue bounds; a rigorous check must enclose lambda_min(Q) "
            "from below and lambda_max(P) from above",
        ],
    }


def main() -> None:
    result = derive()
    print(result["title"])
    print(result["statement"])
    print("LaTeX:", result["latex"])


if __name__ == "__main__":
    main()
