"""Subcommands of the ``biosynapse-verify`` command line, one module each.

Every public module here defines ``register(subparsers)``, which adds its
subparser and sets ``handler`` to a function ``handler(args, progress) -> int``
returning the exit code. ``progress(stage, fraction)`` draws progress in the
terminal. Handlers raise :class:`biosynapse_verify.errors.BadInputError` for
input the user can fix (exit 2) and
:class:`biosynapse_verify.errors.NumericalFailure` for numerical failures
(exit 3). Modules whose names start with an underscore are helpers.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["command_modules"]


def command_modules() -> list[ModuleType]:
    """Import and return every subcommand module, sorted by name."""
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            modules.append(importlib.import_module(f"{__name__}.{info.name}"))
    return modules
