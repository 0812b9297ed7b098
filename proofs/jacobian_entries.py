"""Jacobian entries of the mean-field STDP dynamics, derived and compared with the code.

The drift is the one in ``biosynapse_verify.dynamics.meanfield``, with
normalised weights ``u = w / w_max``::

    tau_r dr_j/dt = phi(d_j) - r_j
    du_i/dt = (eta nu_i / w_max) [ r_j (f+(u_i) A+ tau+ - f-(u_i) A- tau-)
                                   + f+(u_i) A+ w_max u_i c+_j ]
    c+_j = phi'(d_j) k kappa,   kappa = tau+ / (tau+ + tau_kappa)

where synapse ``i`` runs from an input with rate ``nu_i`` onto neuron ``j``
and ``d_j`` is the neuron's drive. The proof

1. differentiates this drift with sympy for a generic rate function ``phi``
   and generic weight dependences ``f+``, ``f-``. It checks the closed forms
   of four kinds of entry: ``d(du_i/dt)/du_i``, ``d(du_i/dt)/du_k`` for
   another synapse onto the same neuron (rank one, through ``phi''``),
   ``d(du_i/dt)/dr_j`` and ``d(dr_j/dt)/du_i``;
2. specialises them to the additive, multiplicative and power-law rules;
3. builds the symbolic drift of a small network (two neurons, plastic input
   synapses, static recurrent and inhibitory synapses) directly from its
   spec, differentiates it, and compares the result numerically with
   ``MeanFieldModel.jacobian`` at random states.

Run as ``python proofs/jacobian_entries.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = [
    "closed_form_entries",
    "compare_with_code",
    "derive",
    "network_spec",
    "symbolic_network",
]

# The code and sympy evaluate the same formulas in a different order. Without
# large cancellations they agree to about 1e-14 relative, so 1e-9 catches any
# wrong term while tolerating rounding.
JACOBIAN_RTOL = 1e-9

RULES = (("additive", 0.0), ("multiplicative", 0.0), ("power_law", 0.4))
N_RANDOM_STATES = 4

# Transfer function of the test network: threshold near the typical drive of
# the network below (about 0.2 mV) so that phi' and phi'' are both sizeable.
SOFTPLUS_GAIN = 1.0e5  # Hz per volt
SOFTPLUS_WIDTH = 1.0e-4  # V
SOFTPLUS_THRESHOLD = 1.5e-4  # V


class PhiSecond(sp.Function):
    """``phi''``, the curvature of the rate function (a generic function)."""

    nargs = 1

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\phi''\left(" + printer._print(self.args[0]) + r"\right)"


class PhiPrime(sp.Function):
    """``phi'``, the slope of the rate function; its derivative is ``phi''``."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return PhiSecond(self.args[0])

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\phi'\left(" + printer._print(self.args[0]) + r"\right)"


class Phi(sp.Function):
    """``phi``, the rate function of the drive; its derivative is ``phi'``."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return PhiPrime(self.args[0])

    def _latex(self, printer: sp.printing.latex.LatexPrinter) -> str:
        return r"\phi\left(" + printer._print(self.args[0]) + r"\right)"


F_PLUS = sp.Function("f_+")
F_MINUS = sp.Function("f_-")
ETA, A_PLUS, A_MINUS = sp.symbols("eta A_+ A_-", positive=True)
TAU_PLUS, TAU_MINUS, TAU_RATE = sp.symbols("tau_+ tau_- tau_r", positive=True)
W_MAX, SCALE, KERNEL = sp.symbols("w_max k kappa", positive=True)
MU = sp.Symbol("mu", positive=True)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _weight_drift(
    u: sp.Expr, nu: sp.Expr, rate: sp.Expr, drive: sp.Expr, params: dict
) -> sp.Expr:
    """Return du/dt of one synapse; ``params`` maps the rule symbols to values."""
    f_plus, f_minus = F_PLUS(u), F_MINUS(u)
    window = f_plus * params["a_plus"] * params["tau_plus"]
    window -= f_minus * params["a_minus"] * params["tau_minus"]
    c_plus = PhiPrime(drive) * params["scale"] * params["kernel"]
    spike_term = f_plus * params["a_plus"] * params["w_max"] * u * c_plus
    return params["eta"] * nu / params["w_max"] * (rate * window + spike_term)


def _symbolic_parameters() -> dict[str, sp.Expr]:
    return {
        "eta": ETA,
        "a_plus": A_PLUS,
        "a_minus": A_MINUS,
        "tau_plus": TAU_PLUS,
        "tau_minus": TAU_MINUS,
        "w_max": W_MAX,
        "scale": SCALE,
        "kernel": KERNEL,
    }


def closed_form_entries() -> dict[str, sp.Expr]:
    """Derive and check the four kinds of Jacobian entry for a generic rule.

    The test system is one neuron with rate ``r``, self-coupling ``W k_r``, a
    fixed drive ``b`` and two plastic synapses ``u_1``, ``u_2`` from inputs
    with rates ``nu_1``, ``nu_2``.

    Returns
    -------
    dict of str to Expr
        ``own``, ``other``, ``rate`` and ``rate_by_weight`` in terms of
        ``u_1``, ``nu_1``, ``nu_2``, ``r`` and the drive ``d``.
    """
    rate, bias, coupling, coupling_scale = sp.symbols("r b W k_r", real=True)
    u1, u2 = sp.symbols("u_1 u_2", positive=True)
    nu1, nu2 = sp.symbols("nu_1 nu_2", positive=True)
    params = _symbolic_parameters()
    drive = (
        bias + W_MAX * SCALE * (nu1 * u1 + nu2 * u2) + coupling * coupling_scale * rate
    )
    drift = sp.Matrix(
        [
            (Phi(drive) - rate) / TAU_RATE,
            _weight_drift(u1, nu1, rate, drive, params),
            _weight_drift(u2, nu2, rate, drive, params),
        ]
    )
    jacobian = drift.jacobian([rate, u1, u2])

    d = sp.Symbol("d", real=True)
    f_p, f_m = F_PLUS(u1), F_MINUS(u1)
    df_p, df_m = sp.diff(f_p, u1), sp.diff(f_m, u1)
    prefactor = ETA * nu1 / W_MAX
    # d(drive)/du_k = w_max k nu_k, and c+ depends on u_k only through phi'(d).
    rank_one_row = ETA * nu1 * f_p * A_PLUS * u1 * SCALE * KERNEL * PhiSecond(d)
    closed = {
        "own": prefactor
        * (
            rate * (df_p * A_PLUS * TAU_PLUS - df_m * A_MINUS * TAU_MINUS)
            + A_PLUS * PhiPrime(d) * SCALE * KERNEL * W_MAX * (df_p * u1 + f_p)
        )
        + rank_one_row * W_MAX * SCALE * nu1,
        "other": rank_one_row * W_MAX * SCALE * nu2,
        "rate": prefactor * (f_p * A_PLUS * TAU_PLUS - f_m * A_MINUS * TAU_MINUS)
        + rank_one_row * coupling * coupling_scale,
        "rate_by_weight": PhiPrime(d) * W_MAX * SCALE * nu1 / TAU_RATE,
    }
    positions = {
        "own": (1, 1),
        "other": (1, 2),
        "rate": (1, 0),
        "rate_by_weight": (0, 1),
    }
    for name, (row, column) in positions.items():
        difference = sp.simplify(jacobian[row, column] - closed[name].subs(d, drive))
        _check(difference == 0, f"Jacobian entry {name!r} differs by {difference}")
    return closed


def rule_weight_dependence(rule: str, u: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """Return ``(f+(u), f-(u))`` of a rule as sympy expressions."""
    if rule == "additive":
        return sp.Integer(1), sp.Integer(1)
    if rule == "multiplicative":
        return sp.Integer(1), u
    if rule == "power_law":
        return (1 - u) ** MU, u**MU
    raise ValueError(
        f"unknown rule {rule!r}; use additive, multiplicative or power_law"
    )


def specialise(expression: sp.Expr, rule: str) -> sp.Expr:
    """Substitute a rule's weight dependence for the generic ``f+`` and ``f-``."""
    v = sp.Dummy("v")
    f_plus, f_minus = rule_weight_dependence(rule, v)
    result = expression.subs(
        {F_PLUS: sp.Lambda(v, f_plus), F_MINUS: sp.Lambda(v, f_minus)}
    ).doit()
    d = sp.Symbol("d", real=True)
    return sp.collect(sp.expand(result), [PhiPrime(d), PhiSecond(d)])


def network_spec(rule: str, mu: float) -> dict:
    """Return the spec of the small test network with the given plastic rule."""
    plasticity = {"rule": rule, "a_plus": 1e-4, "a_minus": 1.2e-4, "eta": 0.7}
    if rule == "power_law":
        plasticity["mu"] = mu
    return {
        "name": "jacobian_proof",
        "inputs": [
            {"name": "drive", "kind": "poisson", "size": 3, "rate": [8.0, 11.0, 14.0]},
            {"name": "noise", "kind": "poisson", "size": 2, "rate": "5 Hz"},
        ],
        "populations": [
            {
                "name": "exc",
                "size": 2,
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
                "target": "exc",
                "weight": {"distribution": "uniform", "low": 0.01, "high": 0.03},
                "w_max": 0.04,
                "plasticity": plasticity,
            },
            {
                "name": "inh",
                "source": "noise",
                "target": "exc",
                "receptor": "inhibitory",
                "weight": 0.01,
                "w_max": 0.05,
            },
            {
                "name": "rec",
                "source": "exc",
                "target": "exc",
                "weight": 0.005,
                "w_max": 0.01,
            },
        ],
        "simulation": {"dt": "0.1 ms", "duration": "1 s"},
    }


def _softplus(drive: sp.Expr) -> sp.Expr:
    z = (drive - SOFTPLUS_THRESHOLD) / SOFTPLUS_WIDTH
    return SOFTPLUS_GAIN * SOFTPLUS_WIDTH * sp.log(1 + sp.exp(z))


def _receptor_scale(population: object, receptor: str) -> tuple[float, float]:
    """Return ``(k, tau_syn)`` for a receptor: ``k = tau_syn (E_rev - v_ref)``."""
    if receptor == "excitatory":
        tau, reversal = population.tau_syn_exc, population.e_exc
    else:
        tau, reversal = population.tau_syn_inh, population.e_inh
    if population.synapse == "current":
        v_ref = population.v_rest
    else:
        v_ref = 0.5 * (population.v_reset + population.v_threshold)
    return tau * (reversal - v_ref), tau


def symbolic_network(
    spec: object, structure: object, static: dict
) -> tuple[list, sp.Matrix]:
    """Build the symbolic state and drift of a network from its spec.

    Parameters
    ----------
    spec : NetworkSpec
        A network whose plastic projections all come from input populations.
    structure : NetworkStructure
        Its synapse lists (the state orders rates by population, then the
        plastic weights projection by projection, synapse by synapse).
    static : dict of str to ndarray
        Weights of the static projections.

    Returns
    -------
    state : list of Symbol
        Rates, then normalised plastic weights.
    drift : Matrix, shape (n, 1)
        ``dx/dt`` in terms of the generic rate function ``Phi``.
    """
    sizes = [p.size for p in spec.populations]
    names = [p.name for p in spec.populations]
    offsets = dict(zip(names, np.cumsum([0, *sizes[:-1]]), strict=True))
    rates = list(sp.symbols(f"r_0:{sum(sizes)}", real=True))
    drive = [
        sp.Float(spec.population(p.name).i_bias)
        for p in spec.populations
        for _ in range(p.size)
    ]
    plastic_terms, weights = [], []

    for name, proj in structure.projections.items():
        target = spec.population(proj.spec.target)
        scale, tau_syn = _receptor_scale(target, proj.spec.receptor)
        if proj.source_is_input:
            source_rates = [float(v) for v in spec.input(proj.spec.source).rates()]
            pre_rate = [source_rates[i] for i in proj.pre]
        else:
            pre_rate = [rates[offsets[proj.spec.source] + i] for i in proj.pre]
        if proj.plastic:
            u = list(sp.symbols(f"u_{name}_0:{proj.size}", real=True))
            weights += u
            synapse_weight = [proj.spec.w_max * value for value in u]
            plasticity = proj.spec.plasticity
            params = {
                "eta": plasticity.eta,
                "a_plus": plasticity.a_plus,
                "a_minus": plasticity.a_minus,
                "tau_plus": plasticity.tau_plus,
                "tau_minus": plasticity.tau_minus,
                "w_max": proj.spec.w_max,
                "scale": scale,
                "kernel": plasticity.tau_plus
                / (plasticity.tau_plus + target.tau_m + tau_syn),
            }
            for s in range(proj.size):
                post = offsets[proj.spec.target] + int(proj.post[s])
                plastic_terms.append((u[s], pre_rate[s], post, params, plasticity))
        else:
            synapse_weight = [float(value) for value in static[name]]
        for s in range(proj.size):
            post = offsets[proj.spec.target] + int(proj.post[s])
            drive[post] += synapse_weight[s] * pre_rate[s] * scale

    tau_rate = [
        spec.analysis.tau_rate or p.tau_m
        for p in spec.populations
        for _ in range(p.size)
    ]
    drift = [(Phi(drive[j]) - rates[j]) / tau_rate[j] for j in range(len(rates))]
    for u, nu, post, params, plasticity in plastic_terms:
        generic = _weight_drift(u, nu, rates[post], drive[post], params)
        drift.append(_substitute_rule(generic, plasticity.rule, plasticity.mu))
    drift_matrix = sp.Matrix(drift)
    return rates + weights, drift_matrix


def _substitute_rule(expression: sp.Expr, rule: str, mu: float) -> sp.Expr:
    v = sp.Dummy("v")
    f_plus, f_minus = rule_weight_dependence(rule, v)
    mapping = {
        F_PLUS: sp.Lambda(v, f_plus.subs(MU, mu)),
        F_MINUS: sp.Lambda(v, f_minus.subs(MU, mu)),
    }
    return expression.subs(mapping).doit()


def _softplus_functions() -> dict[str, object]:
    """Return numpy versions of the softplus and its first two sympy derivatives.

    They stand in for ``Phi``, ``PhiPrime`` and ``PhiSecond`` when the
    network's Jacobian is evaluated, which is much faster than substituting
    the softplus into every entry before ``lambdify``.
    """
    x = sp.Symbol("x", real=True)
    softplus = _softplus(x)
    return {
        "Phi": sp.lambdify(x, softplus, modules="numpy"),
        "PhiPrime": sp.lambdify(x, sp.diff(softplus, x), modules="numpy"),
        "PhiSecond": sp.lambdify(x, sp.diff(softplus, x, 2), modules="numpy"),
    }


def _build_model(rule: str, mu: float) -> tuple[object, object, dict]:
    from biosynapse_verify.dynamics.meanfield import MeanFieldModel
    from biosynapse_verify.dynamics.transfer import SoftplusTransfer
    from biosynapse_verify.spec import parse_spec
    from biosynapse_verify.spec.structure import build_structure, initial_weights

    spec = parse_spec(network_spec(rule, mu))
    structure = build_structure(spec)
    static = {
        name: initial_weights(p, seed=0)
        for name, p in structure.projections.items()
        if not p.plastic
    }
    transfer = SoftplusTransfer(SOFTPLUS_GAIN, SOFTPLUS_WIDTH, SOFTPLUS_THRESHOLD)
    model = MeanFieldModel(spec, structure, {"exc": transfer}, static)
    return model, structure, static


def compare_with_code(rule: str, mu: float, seed: int = 0) -> float:
    """Return the largest relative difference between sympy's and the code's Jacobian.

    Evaluates both at ``N_RANDOM_STATES`` random states (rates 5-30 Hz,
    normalised weights 0.05-0.95). Entries that sympy finds identically zero
    must be exactly zero in the code too; they count as difference 1 if not.
    """
    model, structure, static = _build_model(rule, mu)
    state, drift = symbolic_network(model.spec, structure, static)
    modules = [_softplus_functions(), "numpy"]
    evaluate_jacobian = sp.lambdify(state, drift.jacobian(state), modules=modules)
    evaluate_drift = sp.lambdify(state, drift, modules=modules)

    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(N_RANDOM_STATES):
        x = np.concatenate(
            [
                rng.uniform(5.0, 30.0, model.n_rates),
                rng.uniform(0.05, 0.95, model.n_weights),
            ]
        )
        expected = np.asarray(evaluate_jacobian(*x), dtype=np.float64)
        actual = model.jacobian(x).toarray()
        worst = max(worst, _relative_difference(actual, expected))
        expected_drift = np.asarray(evaluate_drift(*x), dtype=np.float64).ravel()
        worst = max(worst, _relative_difference(model.drift(x), expected_drift))
    return worst


def _relative_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    zero = expected == 0.0
    if np.any(actual[zero] != 0.0):
        return 1.0
    return float(
        np.max(np.abs(actual[~zero] - expected[~zero]) / np.abs(expected[~zero]))
    )


def derive() -> dict[str, object]:
    """Derive the entries, compare them with the code; return the appendix entry."""
    closed = closed_form_entries()
    own_by_rule = {rule: specialise(closed["own"], rule) for rule, _ in RULES}
    differences = {rule: compare_with_code(rule, mu) for rule, mu in RULES}
    for rule, difference in differences.items():
        _check(
            difference <= JACOBIAN_RTOL,
            f"{rule}: MeanFieldModel.jacobian differs from sympy by {difference:.3g} "
            f"relative (tolerance {JACOBIAN_RTOL})",
        )

    names = {
        "own": r"\partial \dot u_1/\partial u_1",
        "other": r"\partial \dot u_1/\partial u_2",
        "rate": r"\partial \dot u_1/\partial r",
        "rate_by_weight": r"\partial \dot r/\partial u_1",
    }
    latex = r",\\ ".join(
        f"{names[key]} = {sp.latex(value)}" for key, value in closed.items()
    )
    latex += r",\\ " + r",\\ ".join(
        rf"\text{{{rule.replace('_', ' ')}: }} \partial \dot u_1/\partial u_1 = "
        + sp.latex(value)
        for rule, value in own_by_rule.items()
    )
    agreement = ", ".join(f"{rule} {value:.1e}" for rule, value in differences.items())
    statement = (
        "Differentiating the mean-field drift gives, for synapse 1 onto a "
        "neuron with drive d: the own entry (window slope plus the "
        "spike-triggered term plus a phi'' term), a rank-one coupling "
        "eta nu_1 f+(u_1) A+ u_1 k kappa phi''(d) * w_max k nu_2 to every other "
        "synapse onto the same neuron (zero across neurons), the rate entry "
        "through the window and, under recurrence, through phi'', and "
        "d(dr/dt)/du_1 = phi'(d) w_max k nu_1 / tau_r. Against "
        "MeanFieldModel.jacobian on a 2-neuron, 6-synapse network at "
        f"{N_RANDOM_STATES} random states the largest relative difference was: "
        f"{agreement}."
    )
    return {
        "title": "Jacobian entries of the mean-field STDP dynamics",
        "statement": statement,
        "latex": latex,
        "assumptions": [
            "plastic synapses come from input populations (fixed rates nu_i)",
            "phi is twice differentiable; the comparison uses the softplus",
            "weights in the interior 0 < u < 1, where the power law is smooth",
        ],
    }


def main() -> None:
    result = derive()
    print(result["title"])
    print(result["statement"])
    print("LaTeX:", result["latex"])


if __name__ == "__main__":
    main()
