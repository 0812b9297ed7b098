"""Re-verify a certificate from its spec and stored data, without the search code.

:func:`recheck_certificate` reads ``certificate.json`` and its array files,
rebuilds the mean-field model from the recorded spec and transfer
parameters, confirms the stored equilibrium and the Jacobian's hash, and
repeats the rigorous check of the stored (P, beta) or Chetaev data. Nothing
here imports :mod:`biosynapse_verify.certify`, and nothing read from a
certificate is executed or unpickled.
"""

from biosynapse_verify.recheck.bundle import CertificateBundle, read_bundle
from biosynapse_verify.recheck.claims import CHETAEV_ARRAY
from biosynapse_verify.recheck.errors import (
    RecheckRejection,
    UnreadableCertificateError,
)
from biosynapse_verify.recheck.model import A_RECOMPUTE_RTOL, canonical_matrix_sha256
from biosynapse_verify.recheck.result import (
    EXIT_INVALID,
    EXIT_UNREADABLE,
    EXIT_VALID,
    RecheckResult,
    RecheckStep,
    recheck_instructions,
)
from biosynapse_verify.recheck.run import recheck_certificate

__all__ = [
    "A_RECOMPUTE_RTOL",
    "CHETAEV_ARRAY",
    "EXIT_INVALID",
    "EXIT_UNREADABLE",
    "EXIT_VALID",
    "CertificateBundle",
    "RecheckRejection",
    "RecheckResult",
    "RecheckStep",
    "UnreadableCertificateError",
    "canonical_matrix_sha256",
    "read_bundle",
    "recheck_certificate",
    "recheck_instructions",
]
