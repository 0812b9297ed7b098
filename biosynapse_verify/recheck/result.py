"""The outcome of re-checking a certificate: verdict, margin and every step."""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_INVALID",
    "EXIT_UNREADABLE",
    "EXIT_VALID",
    "RecheckResult",
    "RecheckStep",
    "recheck_instructions",
]

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_MEANINGS = {
    EXIT_VALID: "valid: every step passed, so the claim is proven again",
    EXIT_INVALID: "invalid: a step rejected the certificate, and the printed "
    "line names the step and the reason",
    EXIT_UNREADABLE: "unreadable: invalid JSON, a missing array file, or data "
    "the re-check needs is absent",
}


def recheck_instructions(certificate_path: str | Path) -> dict[str, Any]:
    """Return the certificate's ``recheck`` entry: the command and its exit codes.

    ``certificate_path`` is written as given (relative paths stay relative
    to the folder ``verify`` ran in) and quoted for a POSIX shell.
    """
    path = Path(certificate_path).as_posix()
    return {
        "command": f"biosynapse-verify check {shlex.quote(path)}",
        "exit_codes": {str(code): meaning for code, meaning in EXIT_MEANINGS.items()},
    }


@dataclass(frozen=True)
class RecheckStep:
    """One step of a re-check.

    Attributes
    ----------
    name : str
        For example ``"array files"``, ``"spec"``, ``"equilibrium"``.
    passed : bool
    detail : str
        What was confirmed, or why the step rejected the certificate.
    """

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class RecheckResult:
    """Verdict of :func:`biosynapse_verify.recheck.recheck_certificate`.

    Attributes
    ----------
    path : str
        The certificate file.
    network : str
        The network's name.
    verdict : str
        The certificate's verdict: ``"certified"``, ``"refuted"`` or
        ``"inconclusive"``.
    valid : bool
        Whether every step passed, so the verdict's claim is proven again.
    reason : str
        The rigorous check's sentence when valid; otherwise the first
        failed step and why.
    margin : float or None
        Rigorous lower bound on lambda_min of the matrix proven positive
        definite (M for a stability claim, Q for an instability claim).
    beta : float or None
        The decay constant of a stability claim, in 1/s.
    growth_rate_lower : float or None
        For an instability claim, a lower bound on max Re lambda(A), in 1/s.
    method : str or None
        The method of the rigorous check.
    n : int or None
        Dimension of A (free coordinates).
    bit_exact : bool or None
        Whether A was reproduced bit for bit (None if not reached).
    steps : list of RecheckStep
    seconds : float
    """

    path: str
    network: str
    verdict: str
    valid: bool
    reason: str
    margin: float | None = None
    beta: float | None = None
    growth_rate_lower: float | None = None
    method: str | None = None
    n: int | None = None
    bit_exact: bool | None = None
    steps: list[RecheckStep] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 when valid, 1 otherwise."""
        return EXIT_VALID if self.valid else EXIT_INVALID

    @property
    def failed_step(self) -> RecheckStep | None:
        """The step that rejected the certificate, or None."""
        return next((step for step in self.steps if not step.passed), None)

    def summary(self) -> str:
        """Return the one-line verdict printed by ``biosynapse-verify check``.

        The line starts with VALID or INVALID, then the network and its
        recorded verdict in capitals (CERTIFIED or REFUTED).
        """
        if not self.valid:
            failed = self.failed_step
            where = f"{failed.name}: " if failed else ""
            return (
                f"INVALID {self.network} ({self.verdict.upper()}): {where}{self.reason}"
            )
        reproduced = "bit-exactly" if self.bit_exact else "within tolerance"
        tail = f"({self.method}, n = {self.n}); A recomputed {reproduced}; {self.seconds:.2g} s"
        if self.verdict == "certified":
            return (
                f"VALID {self.network}: CERTIFIED stable, margin "
                f"lambda_min(M) >= {self.margin:.6g} with beta = {self.beta:.6g} 1/s {tail}"
            )
        return (
            f"VALID {self.network}: REFUTED (unstable), max Re lambda(A) >= "
            f"{self.growth_rate_lower:.6g} 1/s, margin lambda_min(Q) >= "
            f"{self.margin:.6g} {tail}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able values, with ``exit_code`` added."""
        record = dataclasses.asdict(self)
        record["exit_code"] = self.exit_code
        return record
