"""Helpers for testing networks with biosynapse-verify in your own test suite.

* :func:`certify_mean_field`: the mean-field verdict for given transfer
  functions, in about a second for small networks (no simulation).
* :func:`feedforward_spec` and :data:`REFERENCE_TRANSFER`: a small network
  family and a rate function for it.
* :func:`assert_certified`, :func:`assert_refuted`: assertions that re-check
  a certificate with ``biosynapse-verify check`` logic and compare its
  margins with your thresholds.
* :mod:`biosynapse_verify.testing.strategies`: Hypothesis strategies that
  generate valid network specs (needs the ``hypothesis`` package).

The pytest plugin :mod:`biosynapse_verify.pytest_plugin` wraps these in
fixtures.
"""

from biosynapse_verify.testing.assertions import (
    assert_certified,
    assert_refuted,
    certificate_path,
)
from biosynapse_verify.testing.meanfield import MeanFieldOutcome, certify_mean_field
from biosynapse_verify.testing.networks import (
    NEURON,
    REFERENCE_TRANSFER,
    feedforward_spec,
    feedforward_spec_data,
)

__all__ = [
    "NEURON",
    "REFERENCE_TRANSFER",
    "MeanFieldOutcome",
    "assert_certified",
    "assert_refuted",
    "certificate_path",
    "certify_mean_field",
    "feedforward_spec",
    "feedforward_spec_data",
]
