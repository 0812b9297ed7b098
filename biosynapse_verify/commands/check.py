"""``biosynapse-verify check CERTIFICATE.json``: re-verify a certificate.

Works for certificates written by ``verify`` (the Jacobian is rebuilt from
the stored spec) and by ``certify`` (the stored A.npz is matched with its
recorded hash). Prints one line: ``VALID ...`` with the margin of the
rigorous check, or
``INVALID ...`` with the step that rejected the certificate and why. Exit
codes: 0 valid, 1 invalid, 2 unreadable (invalid JSON, a missing file, or
data the re-check needs is absent).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="re-verify a certificate from its spec and stored P and beta",
        description=(
            "Rebuild the mean-field model from the certificate's spec and transfer "
            "parameters, confirm the stored equilibrium and the hash of A, and "
            "repeat the rigorous check. For a certificate written by certify, "
            "confirm the hash of the stored A instead. Exit 0 valid, 1 invalid, "
            "2 unreadable."
        ),
    )
    parser.add_argument(
        "certificate",
        type=Path,
        help="certificate.json, or the report folder that contains it",
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=["auto", "exact", "sylvester", "rump", "interval"],
        help="method of the rigorous check (default: chosen by size and structure of P)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print every step of the re-check as JSON instead of one line",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, progress) -> int:
    from biosynapse_verify.recheck import recheck_certificate

    result = recheck_certificate(args.certificate, method=args.method)
    progress.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(result.summary())
    return result.exit_code
