"""Fixed point of multiplicative STDP and the unstable directions of additive STDP.

Weight drift of one synapse (weight units, see
``biosynapse_verify.dynamics.meanfield``)::

    dw/dt = eta nu [ r (f+ A+ tau+ - f- A- tau-) + f+ A+ w c+ ]

Multiplicative rule (``f+ = 1``, ``f- = w / w_max``), with ``r`` and ``c+``
held fixed:

* fixed point ``w* = A+ tau+ r / (A- tau- r / w_max - A+ c+)``;
* diagonal Jacobian entry ``eta nu (A+ c+ - r A- tau- / w_max)``, the same
  for ``w`` and for ``u = w / w_max``; it equals ``-eta nu r A+ tau+ / w*``,
  so ``w* > 0`` exactly when the entry is negative.

Additive rule (``f+ = f- = 1``): the diagonal entry is ``eta nu A+ c+ > 0``.
When all inputs onto a neuron share the rate ``nu``, every weight change
``v`` with ``sum(v) = 0`` leaves the drive, the rate and ``c+`` unchanged.
So ``(0, v)`` is an eigenvector of the full Jacobian with eigenvalue
``eta nu A+ c+``, which gives ``n - 1`` unstable directions that preserve
the summed weight. Both results are checked against ``MeanFieldModel`` too.

Run as ``python proofs/multiplicative_fixed_point.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = [
    "additive_sum_preserving_check",
    "derive",
    "multiplicative_check_against_code",
    "multiplicative_fixed_point",
]

# Drift and Jacobian are sums of a few products of doubles. The code and this
# proof order them differently, which moves the result by ~1e-15 relative.
CODE_RTOL = 1e-9
# Singular values of J - lambda I below this fraction of the largest count as
# zero: rounding gives ~1e-16, the nonzero ones here are above ~1e-8.
NULL_SPACE_RTOL = 1e-12
N_SYNAPSES = 5
INPUT_RATE = 15.0  # Hz, shared by all inputs in the additive check

ETA, NU, RATE = sp.symbols("eta nu r", positive=True)
A_PLUS, A_MINUS = sp.symbols("A_+ A_-", positive=True)
TAU_PLUS, TAU_MINUS = sp.symbols("tau_+ tau_-", positive=True)
W_MAX, C_PLUS = sp.symbols("w_max c_+", positive=True)
WEIGHT = sp.Symbol("w", real=True)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _drift(f_plus: sp.Expr, f_minus: sp.Expr) -> sp.Expr:
    window = f_plus * A_PLUS * TAU_PLUS - f_minus * A_MINUS * TAU_MINUS
    return ETA * NU * (RATE * window + f_plus * A_PLUS * WEIGHT * C_PLUS)


def multiplicative_fixed_point() -> tuple[sp.Expr, sp.Expr]:
    """Solve the multiplicative drift for ``w*``; return ``(w*, diagonal entry)``."""
    drift = _drift(sp.Integer(1), WEIGHT / W_MAX)
    roots = sp.solve(sp.Eq(drift, 0), WEIGHT)
    _check(
        len(roots) == 1, f"the multiplicative drift is linear in w; got roots {roots}"
    )
    diagonal = sp.diff(drift, WEIGHT)
    return sp.simplify(roots[0]), sp.simplify(diagonal)


def _check_multiplicative(fixed_point: sp.Expr, diagonal: sp.Expr) -> None:
    expected_point = (
        A_PLUS
        * TAU_PLUS
        * RATE
        / (A_MINUS * TAU_MINUS * RATE / W_MAX - A_PLUS * C_PLUS)
    )
    expected_diagonal = (
        ETA * NU * (A_PLUS * C_PLUS - RATE * A_MINUS * TAU_MINUS / W_MAX)
    )
    _check(sp.simplify(fixed_point - expected_point) == 0, f"w* = {fixed_point}")
    _check(sp.simplify(diagonal - expected_diagonal) == 0, f"diagonal = {diagonal}")

    # In u = w / w_max: du/dt = (dw/dt) / w_max and d/du = w_max d/dw.
    u = sp.Symbol("u", real=True)
    drift_u = _drift(sp.Integer(1), u).subs(WEIGHT, W_MAX * u) / W_MAX
    diagonal_u = sp.diff(drift_u, u)
    _check(sp.simplify(diagonal_u - diagonal) == 0, f"d(du/dt)/du = {diagonal_u}")

    identity = sp.simplify(diagonal * fixed_point + ETA * NU * RATE * A_PLUS * TAU_PLUS)
    _check(identity == 0, f"diagonal * w* + eta nu r A+ tau+ = {identity}, expected 0")


def _additive_symbolic_check(n: int = 3) -> sp.Expr:
    """Show ``(0, v)`` with ``sum(v) = 0`` is an eigenvector for ``n`` synapses.

    Uses a generic rate function ``phi`` of the drive
    ``d = b + w_max k nu sum(u)``; returns the eigenvalue.
    """
    phi = sp.Function("phi")
    bias, scale, kernel, tau_rate = sp.symbols("b k kappa tau_r", positive=True)
    x = sp.Symbol("x")
    weights = sp.symbols(f"u_1:{n + 1}", positive=True)
    drive = bias + W_MAX * scale * NU * sum(weights)
    slope = sp.diff(phi(x), x).subs(x, drive)
    c_plus = slope * scale * kernel
    drift = [(phi(drive) - RATE) / tau_rate]
    for u in weights:
        window = A_PLUS * TAU_PLUS - A_MINUS * TAU_MINUS
        drift.append(ETA * NU / W_MAX * (RATE * window + A_PLUS * W_MAX * u * c_plus))
    jacobian = sp.Matrix(drift).jacobian([RATE, *weights])

    eigenvalue = ETA * NU * A_PLUS * c_plus
    for k in range(1, n):
        direction = sp.zeros(n + 1, 1)
        direction[1], direction[k + 1] = 1, -1
        residual = sp.simplify(jacobian * direction - eigenvalue * direction)
        _check(
            residual == sp.zeros(n + 1, 1),
            f"(0, e_1 - e_{k + 1}) is no eigenvector: {residual.T}",
        )
    return eigenvalue


def _single_population_spec(rule: str, rates: list[float], w_max: float) -> dict:
    return {
        "name": f"{rule}_fixed_point_proof",
        "inputs": [
            {"name": "drive", "kind": "poisson", "size": len(rates), "rate": rates}
        ],
        "populations": [
            {
                "name": "post",
                "size": 1,
                "tau_m": "10 ms",
                "v_rest": "-70 mV",
                "v_threshold": "-54 mV",
                "v_reset": "-60 mV",
            }
        ],
        "projections": [
            {
                "name": "ff",
                "source": "drive",
                "target": "post",
                "weight": 0.0,
                "w_max": w_max,
                "plasticity": {
                    "rule": rule,
                    "a_plus": 1e-4,
                    "a_minus": 1.2e-4,
                    "eta": 0.5,
                },
            }
        ],
        "simulation": {"dt": "0.1 ms", "duration": "1 s"},
    }


def _model(rule: str, rates: list[float], w_max: float, transfer: object) -> object:
    from biosynapse_verify.dynamics.meanfield import MeanFieldModel
    from biosynapse_verify.spec import parse_spec
    from biosynapse_verify.spec.structure import build_structure

    spec = parse_spec(_single_population_spec(rule, rates, w_max))
    return MeanFieldModel(spec, build_structure(spec), {"post": transfer}, {})


def _c_plus(model: object, gain_slope: float) -> float:
    """Return ``c+ = phi' k tau+ / (tau+ + tau_m + tau_syn)`` from the spec."""
    population = model.spec.populations[0]
    plasticity = model.spec.projections[0].plasticity
    v_ref = 0.5 * (population.v_reset + population.v_threshold)
    scale = population.tau_syn_exc * (population.e_exc - v_ref)
    tau_kappa = population.tau_m + population.tau_syn_exc
    return gain_slope * scale * plasticity.tau_plus / (plasticity.tau_plus + tau_kappa)


def multiplicative_check_against_code(fixed_point: sp.Expr, diagonal: sp.Expr) -> float:
    """Evaluate ``w*`` and the diagonal entry in ``MeanFieldModel``; return the error.

    The transfer function is put deep in its linear regime (``phi' = gain``,
    ``phi'' = 0`` in double precision) so that ``c+`` is the same at every
    weight, as the formula assumes.
    """
    from biosynapse_verify.dynamics.transfer import SoftplusTransfer

    gain, w_max, rate = 1.0e3, 0.04, 20.0
    transfer = SoftplusTransfer(gain=gain, width=1e-3, threshold=-1.0)
    model = _model("multiplicative", [12.0] * 3, w_max, transfer)
    plasticity = model.spec.projections[0].plasticity
    values = {
        ETA: plasticity.eta,
        NU: 12.0,
        RATE: rate,
        A_PLUS: plasticity.a_plus,
        A_MINUS: plasticity.a_minus,
        TAU_PLUS: plasticity.tau_plus,
        TAU_MINUS: plasticity.tau_minus,
        W_MAX: w_max,
        C_PLUS: _c_plus(model, gain),
    }
    w_star = float(fixed_point.subs(values))
    _check(
        0 < w_star < w_max, f"test parameters give w* = {w_star}, outside (0, {w_max})"
    )

    x = np.concatenate([[rate], np.full(model.n_weights, w_star / w_max)])
    weight_drift = model.drift(x)[1:]
    # Scale of the terms that cancel at w*: eta nu r A+ tau+ / w_max per second.
    term_scale = float((ETA * NU * RATE * A_PLUS * TAU_PLUS / W_MAX).subs(values))
    drift_error = float(np.max(np.abs(weight_drift))) / term_scale
    jacobian_diagonal = np.diag(model.jacobian(x).toarray())[1:]
    expected = float(diagonal.subs(values))
    diagonal_error = float(np.max(np.abs(jacobian_diagonal - expected))) / abs(expected)
    return max(drift_error, diagonal_error)


def additive_sum_preserving_check(seed: int = 0) -> tuple[float, float, int]:
    """Apply ``MeanFieldModel.jacobian`` to sum-preserving weight changes.

    Returns
    -------
    relative_error : float
        Largest ``|J (0, v) - lambda (0, v)| / |lambda v|`` over random ``v``
        with ``sum(v) = 0``.
    eigenvalue : float
        ``lambda = eta nu A+ c+`` (1/s), from the spec and the transfer slope.
    multiplicity : int
        Dimension of the numerical null space of ``J - lambda I``.
    """
    from biosynapse_verify.dynamics.transfer import SoftplusTransfer

    transfer = SoftplusTransfer(gain=2.0e4, width=2e-4, threshold=1.0e-3)
    model = _model("additive", [INPUT_RATE] * N_SYNAPSES, 0.04, transfer)
    rng = np.random.default_rng(seed)
    x = np.concatenate([[12.0], rng.uniform(0.1, 0.9, N_SYNAPSES)])
    slope = float(transfer.slope(model.drive(x))[0])
    plasticity = model.spec.projections[0].plasticity
    eigenvalue = plasticity.eta * INPUT_RATE * plasticity.a_plus * _c_plus(model, slope)

    jacobian = model.jacobian(x).toarray()
    worst = 0.0
    for _ in range(4):
        # Entries in {-1, 0, 1} with zero sum keep sum(v) exactly 0 in floating
        # point, so the rate row gets no rounding error from a nonzero sum.
        v = np.zeros(N_SYNAPSES)
        chosen = rng.permutation(N_SYNAPSES)[:4]
        v[chosen] = [1.0, 1.0, -1.0, -1.0]
        direction = np.concatenate([[0.0], v])
        residual = jacobian @ direction - eigenvalue * direction
        worst = max(
            worst,
            float(np.linalg.norm(residual) / (eigenvalue * np.linalg.norm(direction))),
        )
    # Geometric multiplicity: the dimension of the null space of J - lambda I.
    singular_values = np.linalg.svd(
        jacobian - eigenvalue * np.eye(model.n), compute_uv=False
    )
    multiplicity = int(np.sum(singular_values <= NULL_SPACE_RTOL * singular_values[0]))
    return worst, eigenvalue, multiplicity


def derive() -> dict[str, object]:
    """Derive both results, check them against the code; return the appendix entry."""
    fixed_point, diagonal = multiplicative_fixed_point()
    _check_multiplicative(fixed_point, diagonal)
    code_error = multiplicative_check_against_code(fixed_point, diagonal)
    _check(
        code_error <= CODE_RTOL, f"MeanFieldModel disagrees with w* by {code_error:.3g}"
    )

    additive_diagonal = sp.diff(_drift(sp.Integer(1), sp.Integer(1)), WEIGHT)
    _check(
        sp.simplify(additive_diagonal - ETA * NU * A_PLUS * C_PLUS) == 0,
        f"additive diagonal {additive_diagonal}",
    )
    _check(
        additive_diagonal.is_positive is True,
        f"{additive_diagonal} is not provably > 0",
    )
    _additive_symbolic_check()
    error, eigenvalue, multiplicity = additive_sum_preserving_check()
    _check(error <= CODE_RTOL, f"sum-preserving directions: residual {error:.3g}")
    _check(
        multiplicity >= N_SYNAPSES - 1,
        f"eigenvalue {eigenvalue} has multiplicity {multiplicity}, "
        f"expected at least {N_SYNAPSES - 1}",
    )

    latex = (
        r"w^* = "
        + sp.latex(fixed_point)
        + r",\quad \partial_w \dot w\big|_{\text{mult}} = "
        + sp.latex(diagonal)
        + r" = -\frac{\eta \nu r A_+ \tau_+}{w^*}"
        + r",\quad \partial_w \dot w\big|_{\text{add}} = "
        + sp.latex(additive_diagonal)
        + r" > 0"
    )
    statement = (
        f"Multiplicative STDP with r and c+ fixed has the single fixed point "
        f"w* = {fixed_point} with diagonal Jacobian entry {diagonal} (same in "
        "w and in u = w/w_max), which equals -eta nu r A+ tau+ / w*: the fixed "
        "point is positive exactly when it is stable. Additive STDP has "
        f"diagonal entry {additive_diagonal} > 0, and with equal input rates "
        "every (0, v) with sum(v) = 0 is an eigenvector of the full Jacobian "
        "with that eigenvalue (n - 1 unstable directions that preserve the "
        f"summed weight). In MeanFieldModel: w* drift and diagonal agree to "
        f"{code_error:.1e} relative; for {N_SYNAPSES} synapses at 15 Hz the "
        f"eigenvalue {eigenvalue:.4g} 1/s has multiplicity {multiplicity} and "
        f"the eigenvector residual is {error:.1e}."
    )
    return {
        "title": "Multiplicative fixed point and additive instability",
        "statement": statement,
        "latex": latex,
        "assumptions": [
            "r and c+ held fixed for the multiplicative fixed point and its "
            "diagonal entry (the full Jacobian adds a rank-one phi'' term)",
            "c+ > 0: excitatory synapse, increasing rate function",
            "equal input rates for the eigenvector statement; with unequal rates only "
            "the diagonal entry is claimed",
        ],
    }


def main() -> None:
    result = derive()
    print(result["title"])
    print(result["statement"])
    print("LaTeX:", result["latex"])


if __name__ == "__main__":
    main()
