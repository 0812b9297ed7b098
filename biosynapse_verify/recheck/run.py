"""Re-verify a certificate from its spec and stored certificate data alone.

The steps, each of which can reject the certificate:

1. array files: every ``.npz`` listed matches its recorded SHA-256;
2. spec: the recorded spec validates and matches ``hashes.spec``;
3. model: the mean-field model is rebuilt from the spec, the recorded
   transfer parameters and the static weights of the first seed;
4. equilibrium: the stored x* is an equilibrium of that model, of the kind
   the spec asks for;
5. Jacobian: A at x* on the free coordinates is recomputed and matches
   ``hashes.A`` (see :mod:`biosynapse_verify.recheck.model`);
6. rigorous check: the stored (P, beta), or the Chetaev data of a
   refutation, are proven for the recomputed A.

This package imports nothing from :mod:`biosynapse_verify.certify`, so a
bug in the certificate search cannot make a re-check pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biosynapse_verify.recheck.bundle import (
    ARRAY_STEP,
    CertificateBundle,
    read_arrays,
    read_record,
    resolve_certificate_path,
)
from biosynapse_verify.recheck.claims import (
    CHECK_STEP,
    check_instability_claim,
    check_stability_claim,
)
from biosynapse_verify.recheck.errors import RecheckRejection
from biosynapse_verify.recheck.matrix import (
    read_matrix_record,
    recheck_matrix_certificate,
)
from biosynapse_verify.recheck.model import (
    EQUILIBRIUM_STEP,
    JACOBIAN_STEP,
    MODEL_STEP,
    SPEC_STEP,
    check_equilibrium,
    rebuild_model,
    rebuild_spec,
    recompute_jacobian,
    stored_state,
)
from biosynapse_verify.recheck.result import RecheckResult, RecheckStep

__all__ = ["recheck_certificate"]

logger = logging.getLogger(__name__)

CLAIM_STEP = "claim"


class _Steps:
    """Record the steps of one re-check as they pass."""

    def __init__(self) -> None:
        self.done: list[RecheckStep] = []

    def run(
        self, name: str, action: Callable[[], Any], detail: Callable[[Any], str]
    ) -> Any:
        value = action()
        self.done.append(RecheckStep(name, True, detail(value)))
        return value


def recheck_certificate(path: str | Path, *, method: str = "auto") -> RecheckResult:
    """Re-verify the certificate at ``path`` without the certificate search.

    Parameters
    ----------
    path : str or Path
        A ``certificate.json``, or the report folder that contains it, with
        its ``.npz`` array files beside it. A certificate that
        ``biosynapse-verify certify`` wrote for a matrix file is re-checked
        against its stored A instead of a spec
        (:mod:`biosynapse_verify.recheck.matrix`).
    method : {"auto", "exact", "sylvester", "rump", "interval"}
        Method of the rigorous check, as in
        :func:`biosynapse_verify.check.check_lyapunov`.

    Returns
    -------
    RecheckResult
        ``valid`` is True only when every step passed; otherwise ``steps``
        ends with the step that rejected the certificate.

    Raises
    ------
    UnreadableCertificateError
        If the JSON cannot be parsed, a listed file is missing, or the
        certificate lacks data the re-check needs (exit code 2).
    """
    start = time.perf_counter()
    path = resolve_certificate_path(path)
    matrix_record = read_matrix_record(path)
    if matrix_record is not None:
        return recheck_matrix_certificate(path, matrix_record, method)
    record = read_record(path)
    steps = _Steps()
    facts: dict[str, Any] = {}
    try:
        _recheck_steps(path, record, method, steps, facts)
    except RecheckRejection as rejection:
        steps.done.append(RecheckStep(rejection.step, False, rejection.reason))
        logger.info(
            "certificate %s rejected at %s: %s", path, rejection.step, rejection.reason
        )
        return _result(path, record, steps, facts, False, rejection.reason, start)
    check = facts["check"]
    return _result(path, record, steps, facts, True, check.reason, start)


def _recheck_steps(
    path: Path,
    record: dict[str, Any],
    method: str,
    steps: _Steps,
    facts: dict[str, Any],
) -> None:
    """Run steps 1-6 in order, filling ``facts``; the first failure raises."""
    verdict = record["verdict"]
    if verdict not in ("certified", "refuted"):
        raise RecheckRejection(
            CLAIM_STEP,
            f"the verdict is {verdict!r}, so the certificate makes no claim to re-check",
        )
    arrays = steps.run(
        ARRAY_STEP,
        lambda: read_arrays(path, record),
        lambda found: f"{len(found)} array files match their SHA-256",
    )
    bundle = CertificateBundle(path=path, record=record, arrays=arrays)
    spec = steps.run(
        SPEC_STEP, lambda: rebuild_spec(bundle), lambda _: "spec matches hashes.spec"
    )
    model = steps.run(
        MODEL_STEP,
        lambda: rebuild_model(bundle, spec),
        lambda m: f"mean-field model rebuilt with {m.n} state coordinates",
    )
    state = stored_state(bundle, model)
    steps.run(EQUILIBRIUM_STEP, lambda: check_equilibrium(model, state), lambda s: s)
    reproduction = steps.run(
        JACOBIAN_STEP,
        lambda: recompute_jacobian(bundle, model, state),
        lambda r: r.describe(),
    )
    facts["reproduction"] = reproduction
    checker = (
        check_stability_claim if verdict == "certified" else check_instability_claim
    )
    facts["check"] = steps.run(
        CHECK_STEP,
        lambda: checker(bundle, reproduction.A, method),
        lambda result: result.reason,
    )


def _result(
    path: Path,
    record: dict[str, Any],
    steps: _Steps,
    facts: dict[str, Any],
    valid: bool,
    reason: str,
    start: float,
) -> RecheckResult:
    check = facts.get("check")
    reproduction = facts.get("reproduction")
    certificate = (
        record.get("certificate") if isinstance(record.get("certificate"), dict) else {}
    )
    return RecheckResult(
        path=str(path),
        network=str(record["network"]),
        verdict=str(record["verdict"]),
        valid=valid,
        reason=reason,
        margin=None if check is None else check.margin,
        beta=certificate.get("beta") if record["verdict"] == "certified" else None,
        growth_rate_lower=None if check is None else check.growth_rate_lower,
        method=None if check is None else check.method,
        n=None if check is None else check.n,
        bit_exact=None if reproduction is None else reproduction.bit_exact,
        steps=list(steps.done),
        seconds=time.perf_counter() - start,
    )
