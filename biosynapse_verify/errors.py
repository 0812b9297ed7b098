"""Exception types that the command line maps to exit codes.

Raise a subclass of :class:`BadInputError` for anything the user can fix in
their input (exit code 2) and :class:`NumericalFailure` when a numerical stage
fails (exit code 3). Messages are one line: what is wrong, the value, and how
to fix it.
"""

from __future__ import annotations

__all__ = ["BadInputError", "NumericalFailure"]


class BadInputError(ValueError):
    """Invalid user input: a spec, an option, a file or a certificate (exit code 2)."""


class NumericalFailure(RuntimeError):
    """A numerical stage failed: non-finite simulation, no equilibrium, solver error (exit code 3)."""
