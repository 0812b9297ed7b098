"""Assertions for your own test suite: a certificate is valid and its margins are large enough.

Each assertion re-checks the certificate with
:func:`biosynapse_verify.recheck.recheck_certificate`, the logic of
``biosynapse-verify check``, so it trusts neither the run that wrote the
certificate nor the certificate search. It accepts a ``certificate.json``
path, its report folder, or the outcome of
:func:`biosynapse_verify.pipeline.verify` or
:func:`biosynapse_verify.testing.certify_mean_field`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biosynapse_verify.recheck import RecheckResult, recheck_certificate

__all__ = ["assert_certified", "assert_refuted", "certificate_path"]


def certificate_path(target: Any) -> Path:
    """Return the ``certificate.json`` that ``target`` stands for.

    Parameters
    ----------
    target : str, Path, VerifyOutcome or MeanFieldOutcome
        A certificate file or report folder, or an outcome that wrote one.

    Raises
    ------
    TypeError
        If ``target`` is none of these, or an outcome that wrote no file.
    """
    if isinstance(target, (str, Path)):
        return Path(target)
    paths = getattr(target, "paths", None)
    if isinstance(paths, dict) and "certificate.json" in paths:
        return Path(paths["certificate.json"])
    path = getattr(target, "path", None)
    if path is not None:
        return Path(path)
    raise TypeError(
        f"cannot find a certificate file in {type(target).__name__}; pass a path, "
        "a verify() outcome, or certify_mean_field(..., out_dir=...)"
    )


def _rechecked(target: Any, expected: str) -> RecheckResult:
    """Re-check the certificate and fail unless it is valid with verdict ``expected``."""
    result = recheck_certificate(certificate_path(target))
    if result.verdict != expected:
        raise AssertionError(
            f"{result.network}: expected a {expected} certificate, got verdict "
            f"{result.verdict!r}: {result.reason}"
        )
    if not result.valid:
        raise AssertionError(f"certificate did not re-check: {result.summary()}")
    return result


def assert_certified(
    target: Any, *, min_beta: float | None = None, min_margin: float | None = None
) -> RecheckResult:
    """Assert that ``target`` is a valid stability certificate with large enough margins.

    Parameters
    ----------
    target : str, Path, VerifyOutcome or MeanFieldOutcome
        See :func:`certificate_path`.
    min_beta : float, optional
        Smallest acceptable beta in dV/dt <= -beta ||x - x*||^2, in 1/s.
    min_margin : float, optional
        Smallest acceptable rigorous lower bound on
        lambda_min(-(A^T P + P A) - 2 beta I).

    Returns
    -------
    RecheckResult
        For further checks, for example on ``result.n``.

    Raises
    ------
    AssertionError
        If the verdict is not "certified", the re-check fails, or a margin
        is below its threshold; the message gives the values.
    """
    result = _rechecked(target, "certified")
    if min_beta is not None and not result.beta >= min_beta:
        raise AssertionError(
            f"{result.network}: certified with beta = {result.beta:.6g} 1/s, below the "
            f"required {min_beta:.6g} 1/s"
        )
    if min_margin is not None and not result.margin >= min_margin:
        raise AssertionError(
            f"{result.network}: lambda_min(M) >= {result.margin:.6g}, below the required "
            f"margin {min_margin:.6g}"
        )
    return result


def assert_refuted(
    target: Any, *, min_growth_rate: float | None = None
) -> RecheckResult:
    """Assert that ``target`` is a valid refutation: the equilibrium is proven unstable.

    Parameters
    ----------
    target : str, Path, VerifyOutcome or MeanFieldOutcome
        See :func:`certificate_path`.
    min_growth_rate : float, optional
        Smallest acceptable proven lower bound on max Re lambda(A), in 1/s.

    Returns
    -------
    RecheckResult

    Raises
    ------
    AssertionError
        If the verdict is not "refuted", the re-check fails, or the growth
        rate is below ``min_growth_rate``.
    """
    result = _rechecked(target, "refuted")
    if min_growth_rate is not None and not result.growth_rate_lower >= min_growth_rate:
        raise AssertionError(
            f"{result.network}: proven growth rate {result.growth_rate_lower:.6g} 1/s is "
            f"below the required {min_growth_rate:.6g} 1/s"
        )
    return result
