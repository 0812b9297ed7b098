"""Symbolic derivations (sympy) of the formulas that ``biosynapse_verify`` relies on.

Each module is a script (``python proofs/<name>.py``) with a ``derive()``
function that checks its result and returns the appendix entry
``{"title", "statement", "latex", "assumptions"}``. :mod:`proofs.run_all`
runs them all.
"""
