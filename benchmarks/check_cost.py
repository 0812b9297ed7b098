"""Measure the cost of the rigorous stability check by method and size.

Usage::

    python benchmarks/check_cost.py               # n = 100, 300, 1000
    python benchmarks/check_cost.py 100 300 2000  # other sizes

Each case is a random Hurwitz A (dense), its Lyapunov solution P scaled to
lambda_min(P) = 1.001, and beta at a quarter of lambda_min(-(A^T P + P A)).
The time covers check_lyapunov end to end (both P and M proven): wall-clock
and process CPU seconds, the minimum over ``--repeat`` runs, since other load
on the machine inflates single runs. Results go to stdout as one line per
(n, method).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg

from biosynapse_verify.check import check_lyapunov


def random_certificate(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Return A, a normalised Lyapunov P and a beta at half the available margin."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    A = -(B @ B.T) / n - 0.5 * np.eye(n) + 0.5 * (B - B.T) / np.sqrt(n)
    P = scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(n))
    P = (P + P.T) / 2
    P *= 1.001 / np.linalg.eigvalsh(P)[0]
    beta = 0.25 * float(np.linalg.eigvalsh(-(A.T @ P + P @ A))[0])
    return A, P, beta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 300, 1000])
    parser.add_argument(
        "--methods", nargs="+", default=["exact", "rump"], help="methods to time"
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs per case")
    args = parser.parse_args()
    for n in args.sizes:
        A, P, beta = random_certificate(n)
        for method in args.methods:
            walls, cpus = [], []
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                result = check_lyapunov(A, P, beta, method=method)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            print(
                f"n={n:5d} method={method:6s} valid={result.valid} "
                f"margin={result.margin:.4g} "
                f"lambda_min_P>={result.lambda_min_P_lower:.6f} "
                f"wall_s={min(walls):.2f} cpu_s={min(cpus):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
