"""The two ways a re-check can stop early: unreadable input and a rejected step."""

from __future__ import annotations

from biosynapse_verify.errors import BadInputError

__all__ = ["RecheckRejection", "UnreadableCertificateError"]


class UnreadableCertificateError(BadInputError):
    """The certificate cannot be parsed or lacks data the re-check needs (exit code 2).

    Examples are a truncated ``certificate.json``, a missing array file, or
    a refutation that does not store its Chetaev matrix.
    """


class RecheckRejection(Exception):
    """A step of the re-check found the certificate invalid (exit code 1).

    Parameters
    ----------
    step : str
        Name of the step that failed, for example ``"array files"``.
    reason : str
        One sentence: what did not verify, with the values involved.
    """

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
