"""Run every proof in ``proofs/`` and print a summary.

Run as ``python proofs/run_all.py``; the exit status is 1 if any proof fails.
The report layer can call :func:`derive_all` to collect the appendix entries.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

__all__ = ["PROOF_NAMES", "ProofOutcome", "derive_all", "load_proof", "run_all"]

PROOFS_DIR = Path(__file__).resolve().parent

# In the order the appendix presents them: model formulas, then the algebra
# behind the stability and instability checks, then forgetting.
PROOF_NAMES = (
    "window_integrals",
    "trace_stdp_closed_form",
    "jacobian_entries",
    "multiplicative_fixed_point",
    "two_time_scales",
    "exact_residual_check",
    "chetaev_instability",
    "forgetting_bound",
)


@dataclass(frozen=True)
class ProofOutcome:
    """The result of running one proof.

    Attributes
    ----------
    name : str
        Module name of the proof.
    passed : bool
        Whether ``derive()`` finished without an exception.
    seconds : float
        Wall-clock time of ``derive()``.
    result : dict or None
        The appendix entry (title, statement, latex, assumptions) if it passed.
    error : str or None
        The traceback if it failed.
    """

    name: str
    passed: bool
    seconds: float
    result: dict[str, object] | None
    error: str | None


def load_proof(name: str) -> ModuleType:
    """Import ``proofs/<name>.py`` as module ``proofs.<name>``, reusing a loaded one."""
    if name not in PROOF_NAMES:
        raise ValueError(
            f"unknown proof {name!r}; expected one of {', '.join(PROOF_NAMES)}"
        )
    module_name = f"proofs.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(
        module_name, PROOFS_DIR / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def run_all(names: tuple[str, ...] = PROOF_NAMES) -> list[ProofOutcome]:
    """Run ``derive()`` of each named proof, catching failures per proof."""
    outcomes = []
    for name in names:
        start = time.perf_counter()
        try:
            result = load_proof(name).derive()
        except Exception:  # a failed proof is reported, not raised
            outcomes.append(
                ProofOutcome(
                    name,
                    False,
                    time.perf_counter() - start,
                    None,
                    traceback.format_exc(),
                )
            )
            continue
        outcomes.append(
            ProofOutcome(name, True, time.perf_counter() - start, result, None)
        )
    return outcomes


def derive_all(names: tuple[str, ...] = PROOF_NAMES) -> list[dict[str, object]]:
    """Return the appendix entry of each named proof, in the given order.

    Raises
    ------
    RuntimeError
        If any proof fails, naming the failed proofs.
    """
    outcomes = run_all(names)
    failed = [o.name for o in outcomes if not o.passed]
    if failed:
        raise RuntimeError(
            f"proofs failed: {', '.join(failed)}; run python proofs/<name>.py "
            "to see the failed check"
        )
    return [o.result for o in outcomes]


def main() -> int:
    outcomes = run_all()
    for outcome in outcomes:
        status = "PASS" if outcome.passed else "FAIL"
        print(f"{status}  {outcome.name:28s} {outcome.seconds:6.1f} s")
        if outcome.passed:
            print(f"      {outcome.result['title']}: {outcome.result['statement']}\n")
        else:
            print(outcome.error)
    passed = sum(o.passed for o in outcomes)
    total_time = sum(o.seconds for o in outcomes)
    print(f"{passed}/{len(outcomes)} proofs passed in {total_time:.1f} s")
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
