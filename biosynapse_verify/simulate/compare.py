"""Compare runs of one spec on different backends: summaries, two-sample tests, effect sizes.

Each run is summarised per population (mean rate, spread over seeds) and
per plastic projection (final weight mean, standard deviation, fractions
near the bounds). Each run is then tested against a reference run:

- Output rates: Welch's t-test on the per-seed mean rates, with Hedges' g
  (difference of means over the pooled standard deviation, small-sample
  corrected) as the effect size. When both runs used the same seeds they
  saw the same input spikes, so a paired t-test on the per-seed differences
  is added.
- Final weights, pooled over seeds and synapses: the two-sample
  Kolmogorov-Smirnov statistic D, which is also the effect size, and the
  Mann-Whitney statistic. The latter's effect size is ``U / (n1 n2)``, the
  probability that a weight of the first run exceeds one of the second.
  Welch's t-test on the per-seed mean weights is added.

The synapses of one seed share its postsynaptic spikes and its initial
weights, so they are not independent samples. The textbook p-values of the
pooled tests are therefore far too small (for vanrossum2000.yaml, torch
against torch on two disjoint seed sets gives KS p = 0.001). The pooled
tests here take their p-values from permutations of whole seeds between the
runs, or, when both runs used the same seeds, from swapping each seed's two
runs; with ``B`` shared seeds the smallest such p-value is ``2 / 2**B``.

A test agrees when its p-value is at least ``alpha``. With shared inputs the
unpaired rate test is conservative, because its two samples are positively
correlated; the paired test is the sharper one then.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from biosynapse_verify.evidence import weight_summary
from biosynapse_verify.simulate.base import SimulationResult
from biosynapse_verify.spec.schema import NetworkSpec

__all__ = [
    "DEFAULT_ALPHA",
    "compare_runs",
    "hedges_g",
    "run_backend_comparison",
    "summarise_run",
]

# Significance level of each two-sample test unless the caller sets one.
DEFAULT_ALPHA = 0.01
# Random seed permutations per weight test (so the smallest p-value is
# 1 / 2000), and the generator seed that makes the p-values reproducible.
PERMUTATIONS = 1999
PERMUTATION_SEED = 20000


def summarise_run(spec: NetworkSpec, result: SimulationResult, label: str) -> dict[str, Any]:
    """Summarise one run for a side-by-side table (JSON-able)."""
    populations = {}
    for pop in spec.populations:
        per_seed = result.mean_rates(pop.name).mean(axis=1)
        populations[pop.name] = {
            "mean_rate_Hz": float(per_seed.mean()),
            "rate_std_over_seeds_Hz": _sample_std(per_seed),
            "rate_per_seed_Hz": per_seed.tolist(),
        }
    projections = {}
    for proj in spec.projections:
        if proj.plasticity is None:
            continue
        final = result.final_weights(proj.name)
        summary = weight_summary(final, proj.w_min, proj.w_max)
        summary["mean_per_seed"] = final.mean(axis=1).tolist()
        projections[proj.name] = summary
    return {
        "label": label,
        "backend": result.backend,
        "seeds": list(result.seeds),
        "duration_s": result.duration,
        "wall_time_s": result.wall_time,
        "populations": populations,
        "projections": projections,
    }


def _sample_std(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Return Hedges' g of ``a - b``: Cohen's d with the small-sample correction.

    Zero when both samples are constant and equal; infinite when they are
    constant and differ; NaN when either sample has fewer than two values.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = a.size, b.size
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = ((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2)
    difference = float(a.mean() - b.mean())
    if pooled == 0:
        return 0.0 if difference == 0 else math.copysign(math.inf, difference)
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return correction * difference / math.sqrt(pooled)


def _test_row(
    compared: str, quantity: str, test: str, statistic: float, p_value: float,
    effect_name: str, effect: float, alpha: float, **extra: Any,
) -> dict[str, Any]:
    # A test with no defined p-value (constant samples) cannot reject.
    p = float(p_value) if np.isfinite(p_value) else 1.0
    row = {
        "compared": compared,
        "quantity": quantity,
        "test": test,
        "statistic": float(statistic) if np.isfinite(statistic) else None,
        "p_value": p,
        "effect_size": effect_name,
        "effect": float(effect) if np.isfinite(effect) else None,
        "agree": bool(p >= alpha),
    }
    row.update(extra)
    return row


def _rate_tests(
    spec: NetworkSpec, reference: SimulationResult, other: SimulationResult,
    compared: str, alpha: float,
) -> list[dict[str, Any]]:
    from scipy import stats

    rows = []
    same_seeds = list(reference.seeds) == list(other.seeds)
    for pop in spec.populations:
        a = other.mean_rates(pop.name).mean(axis=1)
        b = reference.mean_rates(pop.name).mean(axis=1)
        quantity = f"{pop.name} rate per seed (Hz)"
        difference = float(a.mean() - b.mean())
        if a.size > 1 and b.size > 1:
            welch = stats.ttest_ind(a, b, equal_var=False)
            rows.append(_test_row(
                compared, quantity, "Welch t", welch.statistic, welch.pvalue,
                "Hedges g", hedges_g(a, b), alpha, difference=difference,
            ))
        if same_seeds and a.size > 1:
            paired = stats.ttest_rel(a, b)
            rows.append(_test_row(
                compared, quantity, "paired t (same seeds)", paired.statistic,
                paired.pvalue, "max |difference| (Hz)", float(np.max(np.abs(a - b))),
                alpha, difference=difference,
            ))
    return rows


def _ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D of two 1-D samples."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _mann_whitney_effect(a: np.ndarray, b: np.ndarray) -> float:
    """``U / (n1 n2)``: P(a weight of ``a`` exceeds one of ``b``), ties counting half."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    u = ranks[: a.size].sum() - a.size * (a.size + 1) / 2
    return float(u / (a.size * b.size))


def _seed_permutations(
    n_first: int, n_second: int, paired: bool, rng: np.random.Generator
) -> list[np.ndarray]:
    """Row selections of the stacked seeds ``[first; second]`` that form a first sample.

    Unpaired: random sets of ``n_first`` seeds out of all. Paired (same seeds
    in both runs): each seed's two rows swapped at random, or every swap
    pattern when there are at most ``PERMUTATIONS + 1`` of them; the identity
    is always first.
    """
    if not paired:
        total = n_first + n_second
        draws = [np.arange(n_first)]
        draws += [rng.permutation(total)[:n_first] for _ in range(PERMUTATIONS)]
        return draws
    seeds = np.arange(n_first)
    if 2**n_first <= PERMUTATIONS + 1:
        patterns = (
            np.array([(k >> i) & 1 for i in range(n_first)], dtype=bool)
            for k in range(2**n_first)
        )
    else:
        patterns = [np.zeros(n_first, dtype=bool)]
        patterns += [rng.random(n_first) < 0.5 for _ in range(PERMUTATIONS)]
    return [np.where(swap, seeds + n_first, seeds) for swap in patterns]


def _permutation_tests(
    first: np.ndarray, second: np.ndarray, paired: bool
) -> dict[str, tuple[float, float]]:
    """Return (statistic, p-value) of D and of |U / (n1 n2) - 1/2| under seed permutations.

    Seeds, not synapses, are exchanged, because the synapses of one seed
    share its postsynaptic spikes and are not independent samples.
    """
    rng = np.random.default_rng(PERMUTATION_SEED)
    stacked = np.concatenate([first, second])
    everyone = np.arange(stacked.shape[0])
    observed_d = observed_u = 0.0
    exceed_d = exceed_u = 0
    selections = _seed_permutations(first.shape[0], second.shape[0], paired, rng)
    for index, chosen in enumerate(selections):
        rest = np.setdiff1d(everyone, chosen)
        a, b = stacked[chosen].ravel(), stacked[rest].ravel()
        d = _ks_statistic(a, b)
        u = abs(_mann_whitney_effect(a, b) - 0.5)
        if index == 0:
            observed_d, observed_u = d, u
        # A small tolerance keeps ties from rounding counted as exceeding.
        exceed_d += d >= observed_d - 1e-12
        exceed_u += u >= observed_u - 1e-12
    count = len(selections)
    return {"D": (observed_d, exceed_d / count), "U": (observed_u, exceed_u / count)}


def _weight_tests(
    spec: NetworkSpec, reference: SimulationResult, other: SimulationResult,
    compared: str, alpha: float,
) -> list[dict[str, Any]]:
    from scipy import stats

    rows = []
    paired = list(reference.seeds) == list(other.seeds)
    for proj in spec.projections:
        if proj.plasticity is None:
            continue
        a_final = other.final_weights(proj.name)
        b_final = reference.final_weights(proj.name)
        span = proj.w_max - proj.w_min
        difference = float(a_final.mean() - b_final.mean()) / span
        quantity = f"{proj.name} final weights (pooled)"
        permuted = _permutation_tests(a_final, b_final, paired)
        design = "paired seed swaps" if paired else "seed permutation"
        d, d_p = permuted["D"]
        naive = stats.ks_2samp(a_final.ravel(), b_final.ravel()).pvalue
        rows.append(_test_row(
            compared, quantity, f"Kolmogorov-Smirnov ({design})", d, d_p, "D", d, alpha,
            difference_of_means_per_range=difference,
            p_value_synapses_independent=float(naive),
        ))
        u, u_p = permuted["U"]
        rows.append(_test_row(
            compared, quantity, f"Mann-Whitney U ({design})", u, u_p,
            "P(first > second)", _mann_whitney_effect(a_final.ravel(), b_final.ravel()),
            alpha,
        ))
        a_seed, b_seed = a_final.mean(axis=1), b_final.mean(axis=1)
        if a_seed.size > 1 and b_seed.size > 1:
            welch = stats.ttest_ind(a_seed, b_seed, equal_var=False)
            rows.append(_test_row(
                compared, f"{proj.name} mean weight per seed", "Welch t",
                welch.statistic, welch.pvalue, "Hedges g", hedges_g(a_seed, b_seed),
                alpha, difference_of_means_per_range=difference,
            ))
    return rows


def compare_runs(
    spec: NetworkSpec,
    runs: Mapping[str, SimulationResult],
    pairs: list[tuple[str, str]] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Summarise every run and test the listed pairs of runs.

    Parameters
    ----------
    spec : NetworkSpec
        The spec whose populations and projections are compared; every run
        must have them.
    runs : mapping of label to SimulationResult
        Two or more runs, in the order to show them.
    pairs : list of (label, reference label), optional
        Which runs to test against which; by default every run against the
        first.
    alpha : float
        Significance level of each test.

    Returns
    -------
    dict
        JSON-able: ``alpha``, ``runs`` (summaries, in order), ``tests`` (one
        row per test, with p-value, effect size and whether it agrees) and
        ``agree`` (all tests agree).
    """
    labels = list(runs)
    if pairs is None:
        pairs = [(label, labels[0]) for label in labels[1:]]
    for pair in pairs:
        missing = [label for label in pair if label not in runs]
        if missing:
            raise KeyError(f"run {missing[0]!r} of pair {pair} is not among {labels}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    tests: list[dict[str, Any]] = []
    for label, reference in pairs:
        compared = f"{label} vs {reference}"
        tests += _rate_tests(spec, runs[reference], runs[label], compared, alpha)
        tests += _weight_tests(spec, runs[reference], runs[label], compared, alpha)
    return {
        "alpha": alpha,
        "runs": [summarise_run(spec, result, label) for label, result in runs.items()],
        "tests": tests,
        "agree": all(row["agree"] for row in tests),
    }


def run_backend_comparison(
    spec: NetworkSpec,
    primary: Any,
    primary_result: SimulationResult,
    other_name: str,
    other_options: Mapping[str, Any] | None = None,
    *,
    seeds: list[int] | None = None,
    duration: float | None = None,
    progress: Callable[[float], None] | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Run ``spec`` on a second backend and compare it with the first run.

    When one of the two backends is Lava and the spec has conductance-based
    synapses, torch also runs :func:`current_based_equivalent` of the spec,
    the model Lava runs, so the tests separate Lava's arithmetic from its
    frozen driving force. Every Lava run is tested against every torch run.

    Parameters
    ----------
    spec : NetworkSpec
    primary : Backend
        The backend that produced ``primary_result``.
    primary_result : SimulationResult
    other_name : {"torch", "lava"}
        The second backend; it must differ from the first.
    other_options : mapping, optional
        Keyword arguments of the second backend's constructor.
    seeds, duration : optional
        As given to the first run, so both runs use the same seeds.
    progress : callable, optional
        Called with the fraction done of the extra runs.
    alpha : float
        Significance level of each test.

    Returns
    -------
    dict
        :func:`compare_runs`'s dict, plus ``models`` (what each run
        simulated), ``notes`` and, when Lava ran, ``lava_mapping`` (requested
        and realised parameters).
    """
    from biosynapse_verify.simulate.base import get_backend

    if other_name == primary.name:
        raise ValueError(
            f"the comparison backend must differ from the simulation backend "
            f"({primary.name!r}); choose the other one"
        )
    other = get_backend(other_name, **dict(other_options or {}))
    backends = {primary.name: primary, other.name: other}
    lava = backends.get("lava")
    extra_runs = 1 + int(_needs_equivalent(spec, lava))
    done = [0]

    def step(fraction: float) -> None:
        if progress is not None:
            progress((done[0] + fraction) / extra_runs)

    results = {primary.name: primary_result}
    results[other.name] = other.run(spec, seeds=seeds, duration=duration, progress=step)
    done[0] += 1
    labels = {name: _run_label(name, results[name]) for name in results}
    runs = {labels[name]: results[name] for name in ("torch", "lava") if name in results}
    models = {label: "the spec as written" for label in runs}
    if lava is not None:
        models[labels["lava"]] = "the spec with conductance-based synapses frozen (current-based)"
    if extra_runs == 2:
        equivalent = backends["torch"].run(
            _equivalent(spec, lava), seeds=seeds, duration=duration, progress=step
        )
        runs[EQUIVALENT_LABEL] = equivalent
        models[EQUIVALENT_LABEL] = "current_based_equivalent(spec), the model Lava runs"
    pairs = None
    if lava is not None:
        pairs = [(labels["lava"], label) for label in runs if label.startswith("torch")]
    comparison = compare_runs(spec, runs, pairs, alpha)
    comparison["models"] = models
    comparison["notes"] = _comparison_notes(results)
    if lava is not None and lava.last_mapping is not None:
        comparison["lava_mapping"] = _json_numbers(lava.last_mapping.report())
    return comparison


def _json_numbers(value: Any) -> Any:
    """Replace NaN and infinite floats by None, which JSON can hold.

    The mapping report uses NaN for a realised value with no requested
    counterpart and infinity for a limit the spec does not have.
    """
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


EQUIVALENT_LABEL = "torch (current-based equivalent)"


def _run_label(name: str, result: SimulationResult) -> str:
    return "torch" if name == "torch" else result.backend


def _needs_equivalent(spec: NetworkSpec, lava: Any) -> bool:
    conductance = any(pop.synapse == "conductance" for pop in spec.populations)
    return lava is not None and conductance


def _equivalent(spec: NetworkSpec, lava: Any) -> NetworkSpec:
    from biosynapse_verify.simulate.lava_launcher import current_based_equivalent

    return current_based_equivalent(spec, lava.driving_force_potential)


def _comparison_notes(results: Mapping[str, SimulationResult]) -> list[str]:
    seeds = [list(result.seeds) for result in results.values()]
    notes = []
    if all(s == seeds[0] for s in seeds):
        notes.append(
            "All runs used the same seeds and therefore the same input spikes, so "
            "their samples are positively correlated: the unpaired tests are "
            "conservative, and the paired t-test is the sharper rate test."
        )
    notes.append(
        "Pooled weight tests count every synapse as a sample, but synapses onto "
        "one neuron share its spikes; the per-seed Welch test on mean weights "
        "uses independent samples."
    )
    return notes
