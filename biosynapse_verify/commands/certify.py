"""``biosynapse-verify certify MATRIX``: certify a Jacobian given directly.

MATRIX is a real square matrix A of dx/dt = A x, in one of

* ``.npy``: a dense array (``numpy.save``);
* ``.npz``: a sparse matrix (``scipy.sparse.save_npz``, as the ``A.npz`` of
  a verify report) or an archive with exactly one dense array;
* ``.mtx``: Matrix Market (``scipy.io.mmwrite``).

The command runs the same certificate ladder and rigorous checks as
``verify`` and prints one verdict: CERTIFIED (a Lyapunov certificate that
passed the rigorous check), REFUTED (an instability proof that passed it)
or INCONCLUSIVE, with the strategy that decided and why the cheaper ones
did not. With ``--out`` it writes ``certificate.json`` and the certificate
arrays. Exit codes: 0 certified, 1 refuted or inconclusive, 2 unreadable
input, 3 numerical failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import time
import tracemalloc
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.errors import BadInputError

__all__ = ["MatrixVerdict", "certify_matrix", "load_matrix", "register"]

logger = logging.getLogger(__name__)

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "certify",
        help="certify a Jacobian given as a matrix file (.npy, .npz, .mtx)",
        description=(
            "Search a Lyapunov certificate (or an instability proof) for dx/dt = A x "
            "and check it rigorously. Exit 0 certified, 1 refuted or inconclusive, "
            "2 unreadable input, 3 numerical failure."
        ),
    )
    parser.add_argument("matrix", type=Path, help="A as .npy, .npz (sparse) or .mtx")
    parser.add_argument(
        "--structure",
        type=Path,
        default=None,
        help="optional .npz with boolean array 'fast' and integer array 'blocks' "
        "(one entry per coordinate) giving the time-scale split and the block "
        "partition; inferred from A when absent",
    )
    parser.add_argument(
        "--all-strategies",
        action="store_true",
        help="run every applicable strategy instead of stopping at the first "
        "candidate, and keep the one with the largest certified decay rate",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for certificate.json and arrays"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the full record as JSON"
    )
    parser.set_defaults(handler=run)


@dataclass
class MatrixVerdict:
    """Outcome of :func:`certify_matrix`.

    Attributes
    ----------
    verdict : {"certified", "refuted", "inconclusive"}
    reason : str
    search : SearchOutcome
    check : CheckResult or None
    timings : dict of str to float
        Seconds of the ``search`` and the ``check``.
    record : dict
        JSON-ready record of everything above.
    """

    verdict: str
    reason: str
    search: object
    check: object
    timings: dict[str, float] = field(default_factory=dict)
    record: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CERTIFIED if self.verdict == "certified" else EXIT_NOT_CERTIFIED


def load_matrix(path: Path) -> np.ndarray | sp.csr_array:
    """Read A from ``.npy``, ``.npz`` or ``.mtx``.

    Raises
    ------
    BadInputError
        If the file is missing, has another suffix, or holds no single
        2-D numeric matrix.
    """
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            matrix = _load_npz(path)
        elif suffix == ".mtx":
            import scipy.io

            matrix = scipy.io.mmread(path)
        else:
            raise BadInputError(
                f"{path}: unknown suffix {suffix!r}; give a .npy, .npz or .mtx file"
            )
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise BadInputError(f"{path}: cannot read the matrix ({err})") from None
    if sp.issparse(matrix):
        matrix = sp.csr_array(matrix, dtype=np.float64)
    else:
        matrix = np.asarray(matrix)
        if matrix.dtype.kind not in "fiu":
            raise BadInputError(
                f"{path}: the matrix has dtype {matrix.dtype}; give real numbers"
            )
        matrix = matrix.astype(np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise BadInputError(
            f"{path}: A must be square; got shape {tuple(matrix.shape)}"
        )
    return matrix


def _load_npz(path: Path) -> np.ndarray | sp.csr_array:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if "format" in names and "shape" in names:
            return sp.load_npz(path)
        if len(names) != 1:
            raise BadInputError(
                f"{path}: the archive holds {len(names)} arrays ({', '.join(names)}); "
                "save one matrix, or a sparse one with scipy.sparse.save_npz"
            )
        return archive[names[0]]


def load_structure(path: Path, n: int) -> object:
    """Read a StateStructure from an .npz with arrays ``fast`` and ``blocks``."""
    from biosynapse_verify.certify import StateStructure

    try:
        with np.load(path, allow_pickle=False) as archive:
            fast, blocks = archive["fast"], archive["blocks"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise BadInputError(
            f"--structure {path}: expected an .npz with arrays 'fast' and 'blocks' ({err})"
        ) from None
    if fast.shape != (n,) or blocks.shape != (n,):
        raise BadInputError(
            f"--structure {path}: 'fast' and 'blocks' must have shape ({n},); got "
            f"{fast.shape} and {blocks.shape}"
        )
    try:
        return StateStructure(fast.astype(bool), blocks.astype(np.int64), "given")
    except ValueError as err:
        raise BadInputError(f"--structure {path}: {err}") from None


def certify_matrix(
    A: np.ndarray | sp.sparray,
    *,
    structure: object = None,
    options: object = None,
) -> MatrixVerdict:
    """Search a certificate for dx/dt = A x and check it rigorously.

    Parameters
    ----------
    A : ndarray or sparse, shape (n, n)
        In 1/s.
    structure : StateStructure, optional
        Time-scale split and blocks; inferred from A when None.
    options : SearchOptions, optional

    Returns
    -------
    MatrixVerdict
    """
    from biosynapse_verify.certify import search_certificate
    from biosynapse_verify.check import check_instability, check_lyapunov

    timings: dict[str, float] = {}
    start = time.perf_counter()
    search = search_certificate(A, options=options, structure=structure)
    timings["search"] = time.perf_counter() - start

    start = time.perf_counter()
    check = None
    if search.candidate is not None:
        c = search.candidate
        check = check_lyapunov(
            A, c.P, c.beta, transform=c.transform, rate=c.decay_rate or 0.0
        )
    elif search.instability is not None and search.instability.chetaev is not None:
        ch = search.instability.chetaev
        check = check_instability(A, ch.P, ch.gamma, ch.witness)
    timings["check"] = time.perf_counter() - start

    verdict, reason = _verdict(search, check)
    result = MatrixVerdict(verdict, reason, search, check, timings)
    result.record = _record(A, result)
    return result


def _verdict(search: object, check: object) -> tuple[str, str]:
    if check is None:
        return "inconclusive", search.reason()
    if not check.valid:
        return "inconclusive", f"the rigorous check rejected the {check.claim} claim: {check.reason}"
    if check.claim == "stable":
        return "certified", check.reason
    return "refuted", check.reason


def _record(A: np.ndarray | sp.sparray, result: MatrixVerdict) -> dict:
    from biosynapse_verify import __version__

    search, check = result.search, result.check
    record = {
        "format": {"name": "biosynapse-verify matrix certificate", "version": 1},
        "verdict": result.verdict,
        "reason": result.reason,
        "n": int(A.shape[0]),
        "nnz": int(A.nnz) if sp.issparse(A) else int(np.count_nonzero(A)),
        "A_sha256": _matrix_hash(A),
        "ladder": search.to_dict(),
        "check": None if check is None else check.to_dict(),
        "timings": dict(result.timings),
        "versions": {"biosynapse-verify": __version__, "python": platform.python_version()},
    }
    if search.candidate is not None:
        record["certificate"] = search.candidate.to_dict()
    return record


def _matrix_hash(A: np.ndarray | sp.sparray) -> str:
    """SHA-256 of A in canonical CSR form (shape, indptr, indices, values)."""
    csr = sp.csr_array(A, dtype=np.float64)
    csr.sum_duplicates()
    csr.sort_indices()
    digest = hashlib.sha256()
    digest.update(np.asarray(csr.shape, dtype=np.int64).tobytes())
    for part in (csr.indptr, csr.indices):
        digest.update(part.astype(np.int64).tobytes())
    digest.update(csr.data.astype(np.float64).tobytes())
    return digest.hexdigest()


def run(args: argparse.Namespace, progress) -> int:
    from biosynapse_verify.certify import SearchOptions
    from biosynapse_verify.errors import NumericalFailure

    A = load_matrix(args.matrix)
    structure = None
    if args.structure is not None:
        structure = load_structure(args.structure, A.shape[0])
    options = SearchOptions(stop_at_first=not args.all_strategies)
    progress("certify", 0.0)
    tracemalloc.start()
    try:
        result = certify_matrix(A, structure=structure, options=options)
    except ValueError as err:
        raise BadInputError(f"{args.matrix}: {err}") from None
    except (np.linalg.LinAlgError, MemoryError) as err:
        raise NumericalFailure(f"{args.matrix}: {type(err).__name__}: {err}") from None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    result.record["timings"]["peak_python_memory_bytes"] = int(peak)
    progress("certify", 1.0)
    progress.close()
    if args.out is not None:
        _write(args.out, result)
    if args.json:
        print(json.dumps(result.record, indent=2, sort_keys=True))
    else:
        _print_summary(args.matrix, result)
    return result.exit_code


def _write(out: Path, result: MatrixVerdict) -> None:
    from biosynapse_verify.certify.candidate import jsonable

    out.mkdir(parents=True, exist_ok=True)
    (out / "certificate.json").write_text(
        json.dumps(jsonable(result.record), indent=2, sort_keys=True) + "\n"
    )
    candidate = result.search.candidate
    if candidate is None:
        return
    if sp.issparse(candidate.P):
        sp.save_npz(out / "P.npz", sp.csr_matrix(candidate.P))
    else:
        np.savez_compressed(out / "P.npz", P=candidate.P)
    if candidate.transform is not None:
        sp.save_npz(out / "P_transform.npz", sp.csr_matrix(candidate.transform))


def _print_summary(path: Path, result: MatrixVerdict) -> None:
    search, check = result.search, result.check
    print(f"{path}: {result.verdict.upper()} (n = {search.n})")
    c = search.candidate
    if c is not None:
        print(
            f"  strategy {c.strategy}: beta = {c.beta:.6g}, lambda_max(P) = "
            f"{c.lambda_max_P:.6g}, alpha = {c.alpha:.6g} 1/s"
        )
        if c.decay_rate is not None:
            print(f"  decay rate of ||x||: {c.decay_rate:.6g} 1/s (kappa(P) = {c.condition_number:.3g})")
        factor = c.details.get("eta_factor_max")
        if factor is not None:
            print(f"  slow-rate factor s* = {factor:.4g} (learning rate up to s* times the current one)")
    for attempt in search.attempts:
        if not attempt.succeeded:
            status = "not applicable" if not attempt.applied else "failed"
            print(f"  {attempt.strategy}: {status}: {attempt.reason}")
    if check is not None:
        print(f"  check: {check.method}: {check.reason}")
    else:
        print(f"  {result.reason}")
    timings = result.record["timings"]
    print(f"  search {timings['search']:.2f} s, check {timings['check']:.2f} s")
