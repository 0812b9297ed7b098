"""Small feed-forward network specs and a reference transfer function for tests.

:func:`feedforward_spec` builds the family that
:mod:`biosynapse_verify.testing.strategies` samples: Poisson inputs onto a
few conductance-based LIF neurons (the neuron of
``networks/vanrossum2000.yaml``) through one plastic excitatory projection,
optionally with a static inhibitory projection. :data:`REFERENCE_TRANSFER`
is a rate function for that neuron, so the mean-field verdict can be
computed without calibrating against the simulator.
"""

from __future__ import annotations

from typing import Any

from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec.loader import parse_spec
from biosynapse_verify.spec.schema import NetworkSpec

__all__ = ["NEURON", "REFERENCE_TRANSFER", "feedforward_spec", "feedforward_spec_data"]

REFERENCE_TRANSFER = SoftplusTransfer(gain=10295.88, width=3.63e-5, threshold=0.0166375)
"""Softplus rate function of :data:`NEURON`, in Hz of drive in volts.

Rounded from the fit that ``biosynapse-verify verify networks/vanrossum2000.yaml
--duration "20 s" --seeds 0 1`` produced (RMS error 5.7 Hz over 12
calibration points, up to about 160 Hz).
"""

NEURON: dict[str, Any] = {
    "tau_m": 0.01,
    "v_rest": -0.074,
    "v_threshold": -0.054,
    "v_reset": -0.06,
    "refractory": 0.002,
    "synapse": "conductance",
    "tau_syn_exc": 0.005,
    "e_exc": 0.0,
}
"""The conductance-based LIF neuron of networks/vanrossum2000.yaml, in SI units."""


def feedforward_spec_data(
    *,
    name: str = "feedforward",
    n_inputs: int = 10,
    input_rate: float = 20.0,
    n_neurons: int = 1,
    rule: str = "multiplicative",
    w_max: float = 0.6,
    a_plus: float = 4e-4,
    a_minus: float = 8e-4,
    tau_plus: float = 0.02,
    tau_minus: float = 0.02,
    eta: float = 5.0,
    mu: float = 0.0,
    connection_probability: float = 1.0,
    n_inhibitory: int = 0,
    inhibitory_weight: float = 0.2,
    equilibrium: str = "interior",
    seed: int = 0,
) -> dict[str, Any]:
    """Return the spec of a feed-forward STDP network as plain data (SI units).

    Parameters
    ----------
    name : str
    n_inputs : int
        Excitatory Poisson inputs, each firing at ``input_rate`` Hz.
    input_rate : float
        In Hz.
    n_neurons : int
        LIF neurons of :data:`NEURON`.
    rule : {"additive", "multiplicative", "power_law"}
    w_max : float
        Upper weight bound of the plastic projection (w_min is 0); initial
        weights are uniform on [0, w_max].
    a_plus, a_minus, tau_plus, tau_minus, eta, mu : float
        STDP parameters (times in seconds).
    connection_probability : float
        1 for all-to-all, otherwise each input-neuron pair is connected with
        this probability.
    n_inhibitory : int
        Static inhibitory Poisson inputs at 10 Hz, with weights uniform on
        [0, inhibitory_weight]; 0 for none.
    inhibitory_weight : float
    equilibrium : {"interior", "boundary"}
        Which equilibrium the analysis judges.
    seed : int
        The only trial seed; it draws the static weights.
    """
    plasticity = {
        "rule": rule,
        "a_plus": a_plus,
        "a_minus": a_minus,
        "tau_plus": tau_plus,
        "tau_minus": tau_minus,
        "eta": eta,
        "mu": mu,
    }
    connectivity = (
        {"connectivity": "all_to_all"}
        if connection_probability >= 1.0
        else {"connectivity": "sparse", "probability": connection_probability}
    )
    data: dict[str, Any] = {
        "name": name,
        "inputs": [
            {"name": "inputs", "kind": "poisson", "size": n_inputs, "rate": input_rate}
        ],
        "populations": [{"name": "post", "size": n_neurons, **NEURON}],
        "projections": [
            {
                "name": "feedforward",
                "source": "inputs",
                "target": "post",
                "weight": {"distribution": "uniform", "low": 0.0, "high": w_max},
                "w_max": w_max,
                "plasticity": plasticity,
                **connectivity,
            }
        ],
        "simulation": {"dt": 1e-4, "duration": 1.0, "seeds": [seed]},
        "analysis": {"equilibrium": equilibrium},
    }
    if n_inhibitory:
        data["inputs"].append(
            {
                "name": "inhibitory_inputs",
                "kind": "poisson",
                "size": n_inhibitory,
                "rate": 10.0,
            }
        )
        data["projections"].append(
            {
                "name": "inhibition",
                "source": "inhibitory_inputs",
                "target": "post",
                "receptor": "inhibitory",
                "weight": {
                    "distribution": "uniform",
                    "low": 0.0,
                    "high": inhibitory_weight,
                },
                "w_max": inhibitory_weight,
            }
        )
    return data


def feedforward_spec(**parameters: Any) -> NetworkSpec:
    """Return :func:`feedforward_spec_data` validated as a :class:`NetworkSpec`."""
    return parse_spec(feedforward_spec_data(**parameters), origin="feedforward_spec")
