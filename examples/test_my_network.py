"""Testing your own STDP network with the biosynapse-verify pytest plugin.

An installed biosynapse-verify enables the plugin through its ``pytest11``
entry point, so this runs the file::

    pytest examples/test_my_network.py

(in a source checkout that is not installed, add
``-p biosynapse_verify.pytest_plugin``). The test that runs the spiking
simulator takes about half a minute; leave it out with
``-m "not biosynapse_simulation"``, or shorten it with
``--biosynapse-duration "5 s"``.

Fixtures (from the plugin):

* ``verify_network(spec)``: the full pipeline, as ``biosynapse-verify verify``.
* ``mean_field_certificate(spec, transfers=None)``: the mean-field verdict
  for given rate transfer functions, without simulation (about a second).

Each assertion re-checks the written certificate the way
``biosynapse-verify check`` does, so a test passes only when the
certificate can be verified again without the code that produced it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings

from biosynapse_verify.testing import (
    REFERENCE_TRANSFER,
    assert_certified,
    assert_refuted,
    certify_mean_field,
)
from biosynapse_verify.testing.strategies import network_specs

SPEC = Path(__file__).with_name("stdp_feedforward.yaml")


def test_network_is_certified(verify_network):
    # Simulates, calibrates the neuron's rate function, finds the equilibrium
    # and certifies it. beta is the decay constant in dV/dt <= -beta |x - x*|^2
    # for the P that the search found, so it depends on the strategy that
    # succeeded; keep the threshold well below the values you see.
    outcome = verify_network(SPEC)
    assert_certified(outcome, min_beta=0.05)


def test_mean_field_is_certified(mean_field_certificate):
    # The same analysis with a given rate function: no simulation.
    outcome = mean_field_certificate(SPEC, {"post": REFERENCE_TRANSFER})
    assert_certified(outcome, min_beta=0.05)


def test_additive_variant_is_refuted(mean_field_certificate):
    # With additive STDP the interior equilibrium is unstable (weight
    # competition), and the toolkit must prove it, not certify it.
    data = yaml.safe_load(SPEC.read_text())
    data["projections"][0]["plasticity"]["rule"] = "additive"
    outcome = mean_field_certificate(data)
    assert_refuted(outcome, min_growth_rate=1e-6)


@settings(max_examples=8, deadline=None)
@given(
    spec=network_specs(
        rules=("multiplicative",), max_inputs=8, max_neurons=2, equilibria=("interior",)
    )
)
def test_every_verdict_rechecks(spec):
    # A property over a family of networks: whatever the verdict, the
    # certificate written for it verifies again from the file alone.
    with tempfile.TemporaryDirectory() as folder:
        outcome = certify_mean_field(spec, {"post": REFERENCE_TRANSFER}, out_dir=folder)
        if outcome.verdict == "certified":
            assert_certified(outcome)
        elif outcome.verdict == "refuted":
            assert_refuted(outcome)
