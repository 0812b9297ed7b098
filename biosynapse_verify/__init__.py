"""Formal stability verification of spiking networks that learn online with STDP.

The package is layered along the data flow: :mod:`spec` (network files),
:mod:`simulate` (spiking backends), :mod:`dynamics` (mean-field drift,
equilibrium, Jacobian), :mod:`certify` (Lyapunov search), :mod:`check`
(rigorous verification, independent of the search) and :mod:`report`.
Importing the package has no side effects.
"""

__version__ = "0.1.0"
