"""The averaged (mean-field) learning dynamics of a network and its Jacobian.

State ``x = (r, u)``: the rate ``r`` of every LIF neuron (Hz) followed by the
normalised weight ``u = w / w_max`` of every plastic synapse, projection by
projection in spec order. Normalising weights makes the state's Euclidean norm
meaningful: rates in hertz and weights as fractions of their range.

Fast dynamics, one equation per neuron ``j``::

    tau_r dr_j/dt = -r_j + phi(d_j)
    d_j = i_bias + sum over synapses s onto j of  w_s * nu_pre(s) * k_s

The drive ``d_j`` is the mean depolarisation (V) that the synaptic input
causes, with ``k_s = tau_syn * (E_rev - v_ref)`` for the synapse's receptor.
``v_ref`` is ``v_rest`` for current-based synapses, where the mean drive is
exact, and the midpoint of reset and threshold for conductance-based ones,
where it is an approximation that the calibrated ``phi`` absorbs.

Slow dynamics, one equation per plastic synapse ``i -> j`` with input rate
``nu_i``::

    dw/dt = eta nu_i [ r_j (f+ A+ tau+ - f- A- tau-) + f+ A+ w c+_j ]
    c+_j  = phi'(d_j) k_s tau+ / (tau+ + tau_kappa)

The last term is the spike-triggered correlation: a presynaptic spike raises
the postsynaptic rate by ``w kappa(s)``, modelled as an exponential kernel of
integral ``phi'(d_j) k_s`` and time constant ``tau_kappa = tau_m + tau_syn``,
so ``c+ = int_0^inf kappa(s) exp(-s / tau+) ds`` has the closed form above.

Per post neuron the weight block of the Jacobian is diagonal plus rank one
(through ``phi''(d_j)``), and the rate block couples to weights only through
the drive, so the Jacobian is assembled from sparse factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from biosynapse_verify.dynamics.rules import (
    weight_dependence,
    weight_dependence_derivative,
)
from biosynapse_verify.dynamics.transfer import SoftplusTransfer
from biosynapse_verify.spec.schema import LIFPopulation, NetworkSpec, Projection
from biosynapse_verify.spec.structure import NetworkStructure, ProjectionStructure

__all__ = ["MeanFieldModel", "synaptic_scale"]


def synaptic_scale(population: LIFPopulation, projection: Projection) -> float:
    """Return ``k = tau_syn (E_rev - v_ref)`` in V s: drive per unit weight and rate."""
    if projection.receptor == "excitatory":
        tau, reversal = population.tau_syn_exc, population.e_exc
    else:
        tau, reversal = population.tau_syn_inh, population.e_inh
    if population.synapse == "current":
        v_ref = population.v_rest
    else:
        v_ref = 0.5 * (population.v_reset + population.v_threshold)
    return tau * (reversal - v_ref)


@dataclass(frozen=True)
class _Block:
    """Index bookkeeping for one projection inside the state vector."""

    structure: ProjectionStructure
    target_offset: int  # first rate index of the target population
    source_offset: int  # first rate index of a LIF source, -1 for inputs
    weight_slice: slice | None  # slice of x holding normalised weights, if plastic
    scale: float  # k_s in V s
    kernel_factor: float  # tau+ / (tau+ + tau_kappa); 0 for static projections


class MeanFieldModel:
    """Mean-field drift ``F(x)`` and its sparse Jacobian for one network.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    structure : NetworkStructure
        Its synapses, from :func:`biosynapse_verify.spec.structure.build_structure`.
    transfers : dict of str to SoftplusTransfer
        The calibrated rate function of each LIF population.
    static_weights : dict of str to ndarray
        Weights of non-plastic projections, shape (n_syn,).

    Raises
    ------
    NotImplementedError
        If a plastic projection has a LIF population as its source: the
        presynaptic rate would then be a state variable, which this model does
        not yet include.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        structure: NetworkStructure,
        transfers: dict[str, SoftplusTransfer],
        static_weights: dict[str, np.ndarray],
    ) -> None:
        self.spec = spec
        self.structure = structure
        self.transfers = transfers
        self.static_weights = static_weights
        self.tau_rate = self._tau_rate()
        self.rate_offsets = self._rate_offsets()
        self.n_rates = sum(p.size for p in spec.populations)
        self.blocks = self._blocks()
        self.n_weights = sum(
            b.structure.size for b in self.blocks if b.weight_slice is not None
        )
        self.n = self.n_rates + self.n_weights
        self._input_rates = {
            p.name: np.asarray(p.rates(), dtype=np.float64) for p in spec.inputs
        }
        self._constant_parts = self._constant_arrays()

    # ----------------------------------------------------------------- layout
    def _tau_rate(self) -> np.ndarray:
        tau = self.spec.analysis.tau_rate
        return np.concatenate(
            [np.full(p.size, tau if tau else p.tau_m) for p in self.spec.populations]
        )

    def _rate_offsets(self) -> dict[str, int]:
        offsets, start = {}, 0
        for pop in self.spec.populations:
            offsets[pop.name] = start
            start += pop.size
        return offsets

    def _blocks(self) -> list[_Block]:
        blocks, start = [], sum(p.size for p in self.spec.populations)
        for name, proj in self.structure.projections.items():
            target = self.spec.population(proj.spec.target)
            plasticity = proj.spec.plasticity
            if plasticity is not None and not proj.source_is_input:
                raise NotImplementedError(
                    f"projection {name!r} is plastic with LIF source "
                    f"{proj.spec.source!r}; the mean-field model covers plastic "
                    "synapses from input populations only, because a LIF "
                    "presynaptic rate would add rate-dependent pre terms"
                )
            weight_slice = None
            kernel_factor = 0.0
            if plasticity is not None:
                weight_slice = slice(start, start + proj.size)
                start += proj.size
                tau_kappa = target.tau_m + (
                    target.tau_syn_exc
                    if proj.spec.receptor == "excitatory"
                    else target.tau_syn_inh
                )
                kernel_factor = plasticity.tau_plus / (plasticity.tau_plus + tau_kappa)
            blocks.append(
                _Block(
                    structure=proj,
                    target_offset=self.rate_offsets[proj.spec.target],
                    source_offset=(
                        -1 if proj.source_is_input else self.rate_offsets[proj.spec.source]
                    ),
                    weight_slice=weight_slice,
                    scale=synaptic_scale(target, proj.spec),
                    kernel_factor=kernel_factor,
                )
            )
        return blocks

    def _constant_arrays(self) -> dict[str, np.ndarray]:
        bias = np.concatenate(
            [np.full(p.size, p.i_bias) for p in self.spec.populations]
        )
        return {"bias": bias}

    def plastic_blocks(self) -> list[_Block]:
        return [b for b in self.blocks if b.weight_slice is not None]

    def w_max_vector(self) -> np.ndarray:
        """Return ``w_max`` of every plastic synapse, shape (n_weights,)."""
        return np.concatenate(
            [np.full(b.structure.size, b.structure.spec.w_max) for b in self.plastic_blocks()]
        ) if self.n_weights else np.zeros(0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return lower and upper bounds of the normalised weights, each (n_weights,)."""
        lower = [
            np.full(b.structure.size, b.structure.spec.w_min / b.structure.spec.w_max)
            for b in self.plastic_blocks()
        ]
        if not lower:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(lower), np.ones(self.n_weights)

    def pack(self, rates: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
        """Build a state vector from rates (Hz) and plastic weights (weight units)."""
        x = np.empty(self.n)
        x[: self.n_rates] = rates
        for block in self.plastic_blocks():
            name = block.structure.spec.name
            x[block.weight_slice] = weights[name] / block.structure.spec.w_max
        return x

    # ------------------------------------------------------------ evaluation
    def _presynaptic_rates(self, block: _Block, rates: np.ndarray) -> np.ndarray:
        proj = block.structure
        if proj.source_is_input:
            return self._input_rates[proj.spec.source][proj.pre]
        return rates[block.source_offset + proj.pre]

    def _weights(self, block: _Block, x: np.ndarray) -> np.ndarray:
        if block.weight_slice is None:
            return self.static_weights[block.structure.spec.name]
        return x[block.weight_slice] * block.structure.spec.w_max

    def drive(self, x: np.ndarray) -> np.ndarray:
        """Return the mean drive ``d`` of every neuron in volts, shape (n_rates,)."""
        rates = x[: self.n_rates]
        drive = self._constant_parts["bias"].copy()
        for block in self.blocks:
            proj = block.structure
            contribution = (
                self._weights(block, x) * self._presynaptic_rates(block, rates) * block.scale
            )
            np.add.at(drive, block.target_offset + proj.post, contribution)
        return drive

    def _transfer_arrays(self, drive: np.ndarray) -> tuple[np.ndarray, ...]:
        phi, slope, curvature = (np.empty(self.n_rates) for _ in range(3))
        for pop in self.spec.populations:
            part = slice(self.rate_offsets[pop.name], self.rate_offsets[pop.name] + pop.size)
            transfer = self.transfers[pop.name]
            phi[part] = transfer.rate(drive[part])
            slope[part] = transfer.slope(drive[part])
            curvature[part] = transfer.curvature(drive[part])
        return phi, slope, curvature

    def drift(self, x: np.ndarray) -> np.ndarray:
        """Return ``F(x) = dx/dt``, shape (n,), in Hz/s for rates and 1/s for weights."""
        x = np.asarray(x, dtype=np.float64)
        rates = x[: self.n_rates]
        drive = self.drive(x)
        phi, slope, _ = self._transfer_arrays(drive)
        out = np.empty(self.n)
        out[: self.n_rates] = (phi - rates) / self.tau_rate
        for block in self.plastic_blocks():
            terms = self._synapse_terms(block, x, rates, slope)
            out[block.weight_slice] = terms["drift"] / block.structure.spec.w_max
        return out

    def _synapse_terms(
        self, block: _Block, x: np.ndarray, rates: np.ndarray, slope: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Per-synapse pieces of the weight drift, in weight units per second."""
        proj = block.structure
        plasticity = proj.spec.plasticity
        w_max = proj.spec.w_max
        u = x[block.weight_slice]
        w = u * w_max
        nu = self._presynaptic_rates(block, rates)
        post = block.target_offset + proj.post
        f_plus, f_minus = weight_dependence(plasticity, u)
        df_plus, df_minus = weight_dependence_derivative(plasticity, u)
        a_p, a_m = plasticity.a_plus, plasticity.a_minus
        t_p, t_m = plasticity.tau_plus, plasticity.tau_minus
        eta = plasticity.eta
        c_plus = slope[post] * block.scale * block.kernel_factor
        window = f_plus * a_p * t_p - f_minus * a_m * t_m
        drift = eta * nu * (rates[post] * window + f_plus * a_p * w * c_plus)
        # d(drift)/du for the synapse's own weight, in weight units per second.
        own = eta * nu * (
            rates[post] * (df_plus * a_p * t_p - df_minus * a_m * t_m)
            + a_p * c_plus * (df_plus * w + f_plus * w_max)
        )
        return {
            "drift": drift,
            "own": own,
            "d_rate": eta * nu * window,
            # d(drift)/d(phi'') through c+: eta nu f+ A+ w k tau+/(tau+ + tau_kappa)
            "d_curvature": eta * nu * f_plus * a_p * w * block.scale * block.kernel_factor,
            "post": post,
            "nu": nu,
        }

    # -------------------------------------------------------------- Jacobian
    def jacobian(self, x: np.ndarray) -> sp.csr_matrix:
        """Return the Jacobian ``dF/dx`` at ``x`` as a sparse (n, n) matrix."""
        x = np.asarray(x, dtype=np.float64)
        rates = x[: self.n_rates]
        drive = self.drive(x)
        _, slope, curvature = self._transfer_arrays(drive)
        drive_by_rate = self._drive_by_rate(x)  # (n_rates, n_rates)
        drive_by_weight = self._drive_by_weight(rates)  # (n_rates, n_weights)

        inv_tau = sp.diags(1.0 / self.tau_rate)
        j_rr = inv_tau @ (sp.diags(slope) @ drive_by_rate - sp.identity(self.n_rates))
        j_rw = inv_tau @ sp.diags(slope) @ drive_by_weight
        if self.n_weights == 0:
            return sp.csr_matrix(j_rr)

        own, d_rate, d_curv, post = [], [], [], []
        for block in self.plastic_blocks():
            terms = self._synapse_terms(block, x, rates, slope)
            w_max = block.structure.spec.w_max
            own.append(terms["own"] / w_max)
            d_rate.append(terms["d_rate"] / w_max)
            d_curv.append(terms["d_curvature"] / w_max)
            post.append(terms["post"])
        own, d_rate, d_curv, post = map(np.concatenate, (own, d_rate, d_curv, post))
        select = sp.csr_matrix(
            (np.ones(self.n_weights), (np.arange(self.n_weights), post)),
            shape=(self.n_weights, self.n_rates),
        )
        through_drive = sp.diags(d_curv * curvature[post]) @ select
        j_wr = sp.diags(d_rate) @ select + through_drive @ drive_by_rate
        j_ww = sp.diags(own) + through_drive @ drive_by_weight
        return sp.bmat([[j_rr, j_rw], [j_wr, j_ww]], format="csr")

    def _drive_by_rate(self, x: np.ndarray) -> sp.csr_matrix:
        """Return ``dd/dr``: drive of each neuron per Hz of each LIF source."""
        rows, cols, values = [], [], []
        for block in self.blocks:
            if block.source_offset < 0:
                continue
            proj = block.structure
            rows.append(block.target_offset + proj.post)
            cols.append(block.source_offset + proj.pre)
            values.append(self._weights(block, x) * block.scale)
        if not rows:
            return sp.csr_matrix((self.n_rates, self.n_rates))
        return sp.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_rates, self.n_rates),
        )

    def _drive_by_weight(self, rates: np.ndarray) -> sp.csr_matrix:
        """Return ``dd/du``: drive of each neuron per unit of normalised weight."""
        rows, cols, values = [], [], []
        for block in self.plastic_blocks():
            proj = block.structure
            rows.append(block.target_offset + proj.post)
            cols.append(np.arange(block.weight_slice.start, block.weight_slice.stop) - self.n_rates)
            values.append(
                self._presynaptic_rates(block, rates) * block.scale * proj.spec.w_max
            )
        return sp.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_rates, self.n_weights),
        )
