"""Hypothesis strategies that generate valid network specs and transfer functions.

Every spec drawn here validates against the schema and lies inside the
mean-field model (plastic synapses come from Poisson inputs), so a property
test can go straight to :func:`biosynapse_verify.testing.certify_mean_field`::

    from hypothesis import given
    from biosynapse_verify.testing import REFERENCE_TRANSFER, certify_mean_field
    from biosynapse_verify.testing.strategies import network_specs

    @given(network_specs(rules=("multiplicative",)))
    def test_multiplicative_networks_settle(spec):
        outcome = certify_mean_field(spec, {"post": REFERENCE_TRANSFER})
        assert outcome.verdict != "refuted"

The family is :func:`biosynapse_verify.testing.networks.feedforward_spec_data`;
each keyword argument below narrows one of its parameters. Needs the
``hypothesis`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec.loader import parse_spec
from biosynapse_verify.spec.schema import NetworkSpec
from biosynapse_verify.testing.networks import feedforward_spec_data

__all__ = [
    "RULES",
    "network_spec_data",
    "network_specs",
    "plasticity_parameters",
    "softplus_transfers",
]

RULES = ("additive", "multiplicative", "power_law")


def _floats(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def plasticity_parameters(
    draw: st.DrawFn,
    rules: Sequence[str] = RULES,
    a_minus_ratio: tuple[float, float] = (1.0, 3.0),
) -> dict[str, Any]:
    """Draw STDP parameters: rule, amplitudes, time constants (s), eta and mu.

    Parameters
    ----------
    rules : sequence of str
        Rules to choose from.
    a_minus_ratio : (float, float)
        Range of A- / A+; depression must dominate for a stable
        multiplicative equilibrium, so the default starts at 1.
    """
    rule = draw(st.sampled_from(list(rules)))
    a_plus = draw(_floats(1e-4, 1e-3))
    return {
        "rule": rule,
        "a_plus": a_plus,
        "a_minus": a_plus * draw(_floats(*a_minus_ratio)),
        "tau_plus": draw(_floats(0.01, 0.04)),
        "tau_minus": draw(_floats(0.01, 0.04)),
        "eta": draw(_floats(0.5, 10.0)),
        # The schema allows mu only for the power law.
        "mu": draw(_floats(0.0, 1.0)) if rule == "power_law" else 0.0,
    }


@st.composite
def network_spec_data(
    draw: st.DrawFn,
    *,
    rules: Sequence[str] = RULES,
    max_inputs: int = 30,
    max_neurons: int = 3,
    input_rate: tuple[float, float] = (5.0, 40.0),
    w_max: tuple[float, float] = (0.05, 1.0),
    a_minus_ratio: tuple[float, float] = (1.0, 3.0),
    sparse: bool = True,
    max_inhibitory: int = 5,
    equilibria: Sequence[str] = ("interior", "boundary"),
) -> dict[str, Any]:
    """Draw a feed-forward STDP network spec as plain data (SI units).

    Parameters
    ----------
    rules : sequence of str
        STDP rules to choose from.
    max_inputs, max_neurons : int
        Largest number of Poisson inputs (at least 2) and LIF neurons.
    input_rate, w_max, a_minus_ratio : (float, float)
        Ranges of the input rate (Hz), of w_max and of A- / A+.
    sparse : bool
        Also draw random connectivity with probability in [0.5, 1).
    max_inhibitory : int
        Largest number of static inhibitory inputs (0 for none).
    equilibria : sequence of str
        Which equilibrium the analysis judges.
    """
    plasticity = draw(plasticity_parameters(rules, a_minus_ratio))
    probability = 1.0
    if sparse and draw(st.booleans()):
        probability = draw(_floats(0.5, 0.99))
    return feedforward_spec_data(
        name=f"drawn_{plasticity['rule']}",
        n_inputs=draw(st.integers(2, max_inputs)),
        input_rate=draw(_floats(*input_rate)),
        n_neurons=draw(st.integers(1, max_neurons)),
        w_max=draw(_floats(*w_max)),
        connection_probability=probability,
        n_inhibitory=draw(st.integers(0, max_inhibitory)),
        equilibrium=draw(st.sampled_from(list(equilibria))),
        seed=draw(st.integers(0, 2**31 - 1)),
        **plasticity,
    )


def network_specs(**kwargs: Any) -> st.SearchStrategy[NetworkSpec]:
    """Draw validated :class:`NetworkSpec` objects; keywords as for :func:`network_spec_data`."""
    return network_spec_data(**kwargs).map(
        lambda data: parse_spec(data, origin="drawn spec")
    )


@st.composite
def softplus_transfers(
    draw: st.DrawFn,
    gain: tuple[float, float] = (2e3, 2e4),
    width: tuple[float, float] = (1e-5, 1e-3),
    threshold: tuple[float, float] = (0.005, 0.03),
) -> SoftplusTransfer:
    """Draw a softplus rate function: gain in Hz/V, width and threshold in volts."""
    return SoftplusTransfer(
        gain=draw(_floats(*gain)),
        width=draw(_floats(*width)),
        threshold=draw(_floats(*threshold)),
    )
