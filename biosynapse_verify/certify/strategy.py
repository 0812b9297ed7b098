"""The contract every certificate strategy follows.

A strategy reports whether it can apply to a matrix (and why not), and
proposes a matrix P. The shared :meth:`Strategy.search` turns the proposal into a
normalised, backed-off and validated :class:`Candidate`, so no strategy can
skip that step.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from biosynapse_verify.certify.candidate import (
    Candidate,
    Failure,
    Proposal,
    finalise_candidate,
)
from biosynapse_verify.certify.linalg import JacobianMatrix, as_jacobian
from biosynapse_verify.certify.options import SearchOptions
from biosynapse_verify.certify.structured import (
    DIAGONAL_COMPARISON_MIN_N,
    FactoredP,
    as_factored_diagonal,
    finalise_structured,
)

__all__ = ["Strategy"]

logger = logging.getLogger(__name__)


class Strategy(ABC):
    """A way to propose a Lyapunov matrix P for dx/dt = A x.

    Subclasses set ``name`` and implement :meth:`applies` and :meth:`propose`.
    """

    name: ClassVar[str]

    @abstractmethod
    def applies(
        self, A: object, options: SearchOptions | None = None
    ) -> tuple[bool, str]:
        """Return whether the strategy can apply to ``A``, and why not.

        Parameters
        ----------
        A : array_like, sparse or JacobianMatrix, shape (n, n)
        options : SearchOptions, optional

        Returns
        -------
        applicable : bool
        reason : str
            Empty when applicable; otherwise the condition that failed.
        """

    @abstractmethod
    def propose(self, A: JacobianMatrix, options: SearchOptions) -> Proposal | Failure:
        """Propose a matrix P, or return a Failure with the reason.

        Callers use :meth:`search`; this method assumes :meth:`applies` holds.
        """

    def search(
        self, A: object, options: SearchOptions | None = None
    ) -> Candidate | Failure:
        """Propose P, then normalise, back off and validate it.

        Parameters
        ----------
        A : array_like, sparse or JacobianMatrix, shape (n, n)
            Should satisfy :meth:`applies`. The method does not re-check it,
            but the shared validation still rejects any invalid claim.
        options : SearchOptions, optional

        Returns
        -------
        Candidate or Failure
        """
        options = options or SearchOptions()
        jacobian = as_jacobian(A)
        proposal = self.propose(jacobian, options)
        if isinstance(proposal, Failure):
            return proposal
        if isinstance(proposal.P, FactoredP):
            return finalise_structured(jacobian, proposal, options, self.name)
        if np.ndim(proposal.P) == 1 and jacobian.n > DIAGONAL_COMPARISON_MIN_N:
            diagonal = Proposal(as_factored_diagonal(proposal.P), proposal.details)
            return finalise_structured(jacobian, diagonal, options, self.name)
        return finalise_candidate(jacobian, proposal, options, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
