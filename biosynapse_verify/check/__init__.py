"""Rigorous checks of stability and instability certificates.

:func:`check_lyapunov` proves that (P, beta) is a Lyapunov certificate for
dx/dt = A x; :func:`check_instability` proves that (P, gamma, witness) is a
Chetaev-type refutation. The float64 inputs are taken as exact rationals.
This package imports nothing from the certificate search, so a bug there
cannot make a check pass.
"""

from biosynapse_verify.check.instability import check_instability
from biosynapse_verify.check.lyapunov import LAMBDA_MIN_P_FLOOR, check_lyapunov
from biosynapse_verify.check.methods import EXACT_MAX_N, RUMP_MAX_N
from biosynapse_verify.check.result import CheckResult, DefinitenessOutcome

__all__ = [
    "EXACT_MAX_N",
    "LAMBDA_MIN_P_FLOOR",
    "RUMP_MAX_N",
    "CheckResult",
    "DefinitenessOutcome",
    "check_instability",
    "check_lyapunov",
]
