"""``biosynapse-verify bench shift``: the distribution-shift benchmark."""

from __future__ import annotations

import argparse

from biosynapse_verify.bench import add_bench_parser

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    add_bench_parser(subparsers)
