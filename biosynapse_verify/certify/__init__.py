"""Lyapunov certificate search: a ladder of strategies, cheapest first.

Given the Jacobian A of the mean-field dynamics at an equilibrium,
:func:`search_certificate` returns either a candidate (P, beta) with
lambda_min(P) >= 1 and -(A^T P + P A) - 2 beta I > 0 in floating point with
a rounding margin, or evidence of instability (unstable eigenvalues, modes,
and a Chetaev candidate), or the reasons why neither was found. Candidates
are claims only; :mod:`biosynapse_verify.check` proves or rejects them and
imports nothing from this package.

Each strategy follows one contract (:class:`Strategy`): ``applies(A)``
returns whether it can run and why not, ``search(A, options)`` returns a
:class:`Candidate` or a :class:`Failure` with its reason.
"""

from biosynapse_verify.certify.candidate import (
    Candidate,
    Failure,
    Proposal,
    ValidationReport,
    validate_candidate,
)
from biosynapse_verify.certify.instability import (
    ChetaevCandidate,
    InstabilityEvidence,
    Mode,
    find_instability,
)
from biosynapse_verify.certify.ladder import (
    Attempt,
    Ladder,
    SearchOutcome,
    default_strategies,
    search_certificate,
)
from biosynapse_verify.certify.linalg import solve_lyapunov
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.strategies import (
    BlockDiagonalStrategy,
    DenseLyapunovStrategy,
    DiagonalStrategy,
    IdentityStrategy,
    SdpStrategy,
    TwoTimeScaleStrategy,
)
from biosynapse_verify.certify.strategy import Strategy
from biosynapse_verify.certify.structure import (
    StateStructure,
    infer_structure,
    network_structure,
)
from biosynapse_verify.certify.structured import FactoredP

__all__ = [
    "Attempt",
    "BlockDiagonalStrategy",
    "Candidate",
    "ChetaevCandidate",
    "DenseLyapunovStrategy",
    "DiagonalStrategy",
    "FactoredP",
    "Failure",
    "IdentityStrategy",
    "InstabilityEvidence",
    "Ladder",
    "Mode",
    "Proposal",
    "SdpStrategy",
    "SearchOptions",
    "SearchOutcome",
    "StateStructure",
    "Strategy",
    "TwoTimeScaleStrategy",
    "ValidationReport",
    "default_strategies",
    "find_instability",
    "infer_structure",
    "network_structure",
    "search_certificate",
    "solve_lyapunov",
    "validate_candidate",
]
