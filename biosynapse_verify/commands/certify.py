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
did not. With ``--out`` it writes ``certificate.json``, A and the
certificate's arrays, which ``biosynapse-verify check`` re-verifies. Exit
codes: 0 certified, 1 refuted or inconclusive, 2 unreadable input, 3
numerical failure.
"""

from __future__ import annotations

import argparse
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

__all__ = [
    "MatrixVerdict",
    "certify_matrix",
    "load_matrix",
    "register",
    "write_certificate",
]

logger = logging.getLogger(__name__)

EXIT_CERTIFIED = 0
EXIT_NOT_CERTIFIED = 1
CERTIFICATE_FILE = "certificate.json"
MATRIX_FORMAT = {"name": "biosynapse-verify matrix certificate", "version": 1}
"""Format of the certificate JSON; :mod:`biosynapse_verify.recheck.matrix` reads it."""
MATRIX_SUFFIXES = (".npy", ".npz", ".mtx")
MATRIX_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK", ".mtx": b"%%MatrixMarket"}
"""First bytes of a .npy file, a .npz (zip) archive and a Matrix Market file."""
MATRIX_WRITERS = {
    ".npy": "numpy.save",
    ".npz": "scipy.sparse.save_npz or numpy.savez",
    ".mtx": "scipy.io.mmwrite",
}


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
        "--out",
        type=Path,
        default=None,
        help="folder for certificate.json, A.npz and the certificate's arrays "
        "(re-check them with biosynapse-verify check FOLDER)",
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
        If the file is missing, has another suffix, contains no single square
        numeric matrix, or has a NaN or infinite entry.
    """
    suffix = path.suffix.lower()
    if suffix not in MATRIX_SUFFIXES:
        raise BadInputError(
            f"{path}: unknown suffix {suffix!r}; give a .npy, .npz or .mtx file"
        )
    if not path.is_file():
        raise BadInputError(
            f"{path}: file not found; give the path of a .npy, .npz or .mtx file"
        )
    _require_magic(path, suffix)
    try:
        matrix = _read(path, suffix)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise BadInputError(
            f"{path}: cannot read the matrix ({err}); write A with "
            f"{MATRIX_WRITERS[suffix]}"
        ) from None
    matrix = _as_float_matrix(path, matrix)
    _require_finite(path, matrix)
    return matrix


def _require_magic(path: Path, suffix: str) -> None:
    """Reject a file whose first bytes do not match its suffix.

    Without this, numpy reads a non-.npy file as a pickle and reports a
    message about pickled data instead of a corrupt file.
    """
    magic = MATRIX_MAGIC[suffix]
    with path.open("rb") as handle:
        head = handle.read(len(magic))
    if head != magic:
        raise BadInputError(
            f"{path}: not a {suffix} file (it starts with {head[:8]!r}, not "
            f"{magic!r}); write A with {MATRIX_WRITERS[suffix]}"
        )


def _read(path: Path, suffix: str) -> object:
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        return _load_npz(path)
    import scipy.io

    return scipy.io.mmread(path)


def _as_float_matrix(path: Path, matrix: object) -> np.ndarray | sp.csr_array:
    """Return ``matrix`` as float64, dense or CSR, after checking it is square."""
    if sp.issparse(matrix):
        kind = matrix.dtype.kind
    else:
        matrix = np.asarray(matrix)
        kind = matrix.dtype.kind
    if kind not in "fiub":
        raise BadInputError(
            f"{path}: the matrix has dtype {matrix.dtype}; give real numbers"
        )
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise BadInputError(
            f"{path}: A must be square; got shape {tuple(matrix.shape)}, so save "
            "the n x n Jacobian"
        )
    if sp.issparse(matrix):
        return sp.csr_array(matrix, dtype=np.float64)
    return matrix.astype(np.float64)


def _require_finite(path: Path, matrix: np.ndarray | sp.csr_array) -> None:
    """Reject NaN and infinite entries, naming the first one and the count."""
    if sp.issparse(matrix):
        coo = sp.coo_array(matrix)
        bad = ~np.isfinite(coo.data)
        if not bad.any():
            return
        first = np.flatnonzero(bad)[0]
        row, column, value = coo.row[first], coo.col[first], coo.data[first]
    else:
        bad = ~np.isfinite(matrix)
        if not bad.any():
            return
        row, column = np.argwhere(bad)[0]
        value = matrix[row, column]
    raise BadInputError(
        f"{path}: A[{row}, {column}] = {value} is not finite (non-finite entries: "
        f"{int(bad.sum())}); a Jacobian evaluated outside the model's domain "
        "gives NaN or inf, so recompute A at a valid equilibrium"
    )


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
        return (
            "inconclusive",
            f"the rigorous check rejected the {check.claim} claim: {check.reason}",
        )
    if check.claim == "stable":
        return "certified", check.reason
    return "refuted", check.reason


def _record(A: np.ndarray | sp.sparray, result: MatrixVerdict) -> dict:
    from biosynapse_verify import __version__

    search, check = result.search, result.check
    record = {
        "format": dict(MATRIX_FORMAT),
        "verdict": result.verdict,
        "reason": result.reason,
        "n": int(A.shape[0]),
        "nnz": int(A.nnz) if sp.issparse(A) else int(np.count_nonzero(A)),
        "hashes": {"A": matrix_sha256(A)},
        "ladder": search.to_dict(),
        "check": None if check is None else check.to_dict(),
        "timings": dict(result.timings),
        "versions": {
            "biosynapse-verify": __version__,
            "python": platform.python_version(),
        },
    }
    if search.candidate is not None:
        record["certificate"] = search.candidate.to_dict()
    if search.instability is not None:
        record["refutation"] = search.instability.to_dict()
    return record


def matrix_sha256(A: np.ndarray | sp.sparray) -> str:
    """Return the canonical SHA-256 of A that ``biosynapse-verify check`` compares."""
    from biosynapse_verify.hashing import canonical_matrix_sha256

    return canonical_matrix_sha256(A)


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
    result.record["matrix"] = {"file": str(args.matrix)}
    progress("certify", 1.0)
    progress.close()
    if args.out is not None:
        write_certificate(args.out, A, result)
    if args.json:
        print(json.dumps(_json_ready(result.record), indent=2, sort_keys=True))
    else:
        _print_summary(args.matrix, result)
    return result.exit_code


def write_certificate(
    out: Path, A: np.ndarray | sp.sparray, result: MatrixVerdict
) -> Path:
    """Write ``certificate.json`` and its arrays into ``out``, each file atomically.

    The arrays are A (so ``biosynapse-verify check`` can re-check the claim
    without the original file), P and the shear of a factored P for a
    certificate, and the Chetaev matrix for a refutation. Each is listed
    under ``arrays`` with its SHA-256. The JSON is written last, so it never
    lists a file that is not complete.

    Returns
    -------
    Path
        The written ``certificate.json``.
    """
    from biosynapse_verify.recheck import CHETAEV_ARRAY, recheck_instructions
    from biosynapse_verify.report.atomic import atomic_write_bytes, atomic_write_text
    from biosynapse_verify.report.writer import _encode_arrays

    arrays: dict[str, object] = {"A": sp.csr_matrix(A)}
    candidate = result.search.candidate
    if candidate is not None:
        arrays["P"] = (
            candidate.P if sp.issparse(candidate.P) else np.asarray(candidate.P)
        )
        if candidate.transform is not None:
            arrays["P_transform"] = sp.csr_matrix(candidate.transform)
    instability = result.search.instability
    if instability is not None and instability.chetaev is not None:
        arrays[CHETAEV_ARRAY] = np.asarray(instability.chetaev.P)
    # The same .npz encoding as a verify report, which the re-check reads.
    files, entries = _encode_arrays(arrays)

    path = out / CERTIFICATE_FILE
    record = dict(result.record, arrays=entries, recheck=recheck_instructions(path))
    text = json.dumps(_json_ready(record), indent=2, sort_keys=True, allow_nan=False)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    atomic_write_text(path, text + "\n")
    logger.info("wrote %s with arrays %s", path, ", ".join(sorted(entries)))
    return path


def _json_ready(record: dict) -> object:
    """Return the record as plain JSON values, with NaN and infinity as null."""
    from biosynapse_verify.certify.candidate import jsonable
    from biosynapse_verify.report.certificate import replace_non_finite

    plain, replaced = replace_non_finite(jsonable(record))
    if replaced:
        plain["non_finite_values"] = {
            "replaced_by_null": replaced,
            "note": "JSON has no NaN or infinity, so these values are written as null",
        }
    return plain


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
            print(
                f"  decay rate of ||x||: {c.decay_rate:.6g} 1/s (kappa(P) = {c.condition_number:.3g})"
            )
        factor = c.details.get("eta_factor_max")
        if factor is not None:
            print(
                f"  slow-rate factor s* = {factor:.4g} (learning rate up to s* times the current one)"
            )
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
