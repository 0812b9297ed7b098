"""One timed certificate run per child process, for ``certify_scaling.py``.

Each ``run_*`` function generates the network-shaped Jacobian of one size
(:func:`biosynapse_verify.certify.benchmark.network_jacobian`), decides
stability with one method and returns a flat dict. It holds the wall
seconds of the decision (generating A is not timed), the process CPU
seconds over the same interval, the verdict, beta and the facts the driver
compares. The driver runs each call in a fresh interpreter so that peak
memory belongs to one run.

Methods:

* ``ours``: :func:`biosynapse_verify.commands.certify.certify_matrix` with the
  network's block structure, the search ladder and the rigorous check that
  ``biosynapse-verify certify`` runs.
* ``sdp``: cvxpy + SCS on the dense A, maximising beta subject to
  I <= P <= kappa_max I and -(A^T P + P A) - 2 beta I >= 0, with the
  kappa_max and SCS tolerance of the package's SDP rung. Certified when SCS
  ends optimal (or optimal_inaccurate) with beta > 0. Not rigorous.
* ``lyapunov``: ``scipy.linalg.solve_continuous_lyapunov(A^T, -I)``, then
  ``numpy.linalg.eigvalsh`` of P and of M = -(A^T P + P A). Certified when
  both smallest eigenvalues exceed :func:`eigvalsh_tolerance`. Not rigorous.
After an ``ours`` run, small sizes also get a cross-check:
``numpy.linalg.eigvalsh`` on the dense form of our certificate confirms its
claimed beta (and decay rate) to within :func:`eigvalsh_tolerance`.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.certify.benchmark import network_jacobian

__all__ = ["METHODS", "eigvalsh_tolerance", "network_size", "run_task"]

SYNAPSES = 9
"""Plastic synapses per neuron, so n = 10 n_neurons hits the powers of ten.

``networks/ei_10k.yaml`` has 15 on average; the Jacobian's blocks have the
same form either way.
"""
IN_DEGREE = 100
"""Recurrent inputs per neuron, as in ``networks/ei_10k.yaml`` (80 E + 20 I)."""
UNIT_ROUNDOFF = 2.0**-53
WARMUP_N = 20
"""States of the untimed warm-up run before each measured run."""


def network_size(n_target: int) -> tuple[int, int]:
    """Return (n_neurons, n) for the network closest to ``n_target`` states."""
    n_neurons = max(2, round(n_target / (1 + SYNAPSES)))
    return n_neurons, n_neurons * (1 + SYNAPSES)


def generate(n_target: int, seed: int) -> Any:
    """Return the NetworkJacobian of about ``n_target`` states."""
    n_neurons, _ = network_size(n_target)
    rng = np.random.default_rng([seed, n_neurons])
    return network_jacobian(n_neurons, SYNAPSES, min(IN_DEGREE, n_neurons - 1), rng)


def eigvalsh_tolerance(X: np.ndarray, A: np.ndarray, P: np.ndarray) -> float:
    """Return the floating-point tolerance on eigenvalues of X = f(A, P).

    n u (||X||_F + 2 ||A||_F ||P||_F), u = 2^-53: LAPACK's symmetric
    eigensolvers are backward stable with an error of a modest multiple of
    u ||X||_2, and forming A^T P + P A in floating point moves each entry by
    at most about n u (|A|^T |P| + |P| |A|), whose 2-norm the Frobenius
    product bounds. A float tolerance for comparing peers, not a proof.
    """
    n = X.shape[0]
    frobenius = np.linalg.norm(X) + 2.0 * np.linalg.norm(A) * np.linalg.norm(P)
    return float(n * UNIT_ROUNDOFF * frobenius)


def run_ours(task: dict[str, Any], net: Any) -> dict[str, Any]:
    """Search and check a certificate with the package, then cross-check it.

    ``peak_MiB`` is this process's peak resident memory at the end of the
    timed part, before the cross-check (run when ``task["crosscheck"]``).
    """
    from biosynapse_verify.certify import network_structure
    from biosynapse_verify.commands.certify import certify_matrix

    structure = network_structure(net.n_rates, net.weight_post)
    start, cpu = time.perf_counter(), time.process_time()
    result = certify_matrix(net.A, structure=structure)
    seconds = time.perf_counter() - start
    row = {
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "search_seconds": result.timings["search"],
        "check_seconds": result.timings["check"],
        "peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "verdict": result.verdict,
        "nnz": int(net.A.nnz),
        "n": int(net.A.shape[0]),
    }
    candidate = result.search.candidate
    if candidate is not None:
        row.update(
            strategy=candidate.strategy,
            beta=candidate.beta,
            lambda_max_P=candidate.lambda_max_P,
            decay_rate=candidate.decay_rate,
            check_method=result.check.method,
        )
        if task.get("crosscheck"):
            row["crosscheck"] = crosscheck(net.A.toarray(), candidate, task)
    return row


def crosscheck(A: np.ndarray, candidate: Any, task: dict[str, Any]) -> dict[str, Any]:
    """Confirm a candidate's beta and decay rate with numpy.linalg.eigvalsh."""
    start = time.perf_counter()
    P = _dense_certificate(candidate)
    M = -(A.T @ P + P @ A)
    checks = {
        "lambda_min_P": np.linalg.eigvalsh(P)[0] - task["lambda_min_P_floor"],
        "lambda_min_M_minus_2beta": np.linalg.eigvalsh(M)[0] - 2.0 * candidate.beta,
    }
    tolerance = eigvalsh_tolerance(M, A, P)
    rate = candidate.decay_rate or 0.0
    if rate > 0:
        rated = M - 2.0 * rate * P
        checks["lambda_min_M_minus_2rate_P"] = np.linalg.eigvalsh(rated)[0]
        tolerance = max(tolerance, eigvalsh_tolerance(rated, A, P))
    confirmed = all(value >= -tolerance for value in checks.values())
    return {
        "seconds": time.perf_counter() - start,
        "confirmed": bool(confirmed),
        "tolerance": tolerance,
        **{key: float(value) for key, value in checks.items()},
    }


def _dense_certificate(candidate: Any) -> np.ndarray:
    """Return the candidate's P densely: (I + N)^T W (I + N) when it is factored."""
    P = candidate.P
    if sp.issparse(P):
        P = P.toarray()
    elif np.ndim(P) == 1:
        P = np.diag(P)
    if candidate.transform is not None:
        T = np.eye(P.shape[0]) + candidate.transform.toarray()
        P = T.T @ P @ T
    return 0.5 * (P + P.T)


def run_sdp(task: dict[str, Any], net: Any) -> dict[str, Any]:
    """Maximise beta over P with cvxpy + SCS on the dense A."""
    import cvxpy as cp

    A = net.A.toarray()
    n = A.shape[0]
    kappa_max, eps = task["kappa_max"], task["scs_eps"]
    start, cpu = time.perf_counter(), time.process_time()
    identity = np.eye(n)
    P = cp.Variable((n, n), symmetric=True)
    beta = cp.Variable()
    decay = -(A.T @ P + P @ A) - 2.0 * beta * identity
    constraints = [
        P >> identity,
        kappa_max * identity - P >> 0,
        0.5 * (decay + decay.T) >> 0,
    ]
    problem = cp.Problem(cp.Maximize(beta), constraints)
    problem.solve(
        solver=cp.SCS, eps_abs=eps, eps_rel=eps, max_iters=task["scs_max_iters"]
    )
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    value = None if beta.value is None else float(beta.value)
    solved = problem.status in ("optimal", "optimal_inaccurate")
    certified = solved and value is not None and value > 0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "verdict": "certified" if certified else "not certified",
        "beta": value,
        "solver_status": problem.status,
        "iterations": problem.solver_stats.num_iters,
    }


def run_lyapunov(task: dict[str, Any], net: Any) -> dict[str, Any]:
    """Solve A^T P + P A = -I densely and test P and M with eigvalsh."""
    import scipy.linalg

    A = net.A.toarray()
    start, cpu = time.perf_counter(), time.process_time()
    P = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(A.shape[0]))
    P = 0.5 * (P + P.T)
    M = -(A.T @ P + P @ A)
    lambda_P = np.linalg.eigvalsh(P)
    lambda_M = np.linalg.eigvalsh(M)[0]
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    tolerance_P = eigvalsh_tolerance(P, np.zeros((1, 1)), np.zeros((1, 1)))
    tolerance_M = eigvalsh_tolerance(M, A, P)
    certified = lambda_P[0] > tolerance_P and lambda_M > tolerance_M
    # Normalised to lambda_min(P) = 1, as the package normalises its P.
    beta = float(lambda_M / (2.0 * lambda_P[0])) if certified else None
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "verdict": "certified" if certified else "not certified",
        "beta": beta,
        "lambda_min_P": float(lambda_P[0]),
        "lambda_min_M": float(lambda_M),
    }


METHODS = {
    "ours": run_ours,
    "sdp": run_sdp,
    "lyapunov": run_lyapunov,
}


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Warm up, generate A, touch ``task["started_path"]``, then run the method.

    The warm-up runs the method once on a network of ``WARMUP_N`` states, so
    imports and first-call set-up are neither timed nor counted against the
    driver's cap, which starts when the marker file appears.
    """
    method = METHODS[task["method"]]
    method({**task, "crosscheck": False}, generate(WARMUP_N, task["seed"]))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    net = generate(task["n"], task["seed"])
    Path(task["started_path"]).touch()
    row = method(task, net)
    row["baseline_MiB"] = baseline
    row["process_peak_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row
