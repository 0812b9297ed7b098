"""Outputs of the shift benchmark: record (JSON), tables (Markdown), plot (PNG)."""

from __future__ import annotations

import io
import json
import logging
import platform
from pathlib import Path

import numpy as np
import sklearn
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from biosynapse_verify.bench.energy import cnn_energy, energy_sources, loihi_energy
from biosynapse_verify.bench.shift import (
    METHODS,
    BenchmarkSettings,
    SeedResult,
    shift_parameters,
)
from biosynapse_verify.bench.stdp import OperationCounts
from biosynapse_verify.report.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "CLAIMED_ACCURACY",
    "CLAIMED_ENERGY_RATIO",
    "build_record",
    "markdown_report",
    "write_outputs",
]

logger = logging.getLogger(__name__)

# The claim under audit, in percent test accuracy per shift level. The claim
# does not say which shift family it used.
CLAIMED_ACCURACY: dict[str, dict[str, float]] = {
    "stdp_online": {"0": 94.2, "0.1": 88.1, "0.2": 79.3, "0.4": 87.2},
    "cnn_frozen": {"0": 93.1, "0.1": 89.4, "0.2": 82.1, "0.4": 69.1},
    "ewc": {"0": 92.4, "0.1": 91.8, "0.2": 89.6, "0.4": 74.5},
}
# Claimed energy advantage of the STDP network over the CNN on a GPU.
CLAIMED_ENERGY_RATIO = 1000.0

_SHORT_NAMES = {
    "stdp_online": "STDP online",
    "cnn_frozen": "Frozen SGD CNN",
    "ewc": "EWC",
    "stdp_frozen": "STDP no adapt.",
    "stdp_relabel": "STDP + relabel",
}
_LABEL_USE = {
    "stdp_online": "none during adaptation",
    "cnn_frozen": "no adaptation",
    "ewc": "stream labels in every adaptation step",
    "stdp_frozen": "no adaptation",
    "stdp_relabel": "stream labels for the neuron labels",
}
_MICROJOULE = 1e-6


def _level_key(level: float) -> str:
    return f"{level:g}"


def _summarise(values: list[float]) -> dict[str, object]:
    array = np.asarray(values, dtype=float)
    spread = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return {
        "mean": float(array.mean()),
        "std": spread,
        "n": int(array.size),
        "values": [float(v) for v in array],
    }


def _aggregate(
    results: list[SeedResult], settings: BenchmarkSettings, attribute: str
) -> dict[str, dict[str, dict[str, dict[str, object]]]]:
    summary: dict[str, dict[str, dict[str, dict[str, object]]]] = {}
    for family in settings.families:
        for method in METHODS:
            for level in settings.levels:
                values = [
                    getattr(r, attribute)[family][method][level]
                    for r in results
                    if method in getattr(r, attribute).get(family, {})
                ]
                if values:
                    summary.setdefault(family, {}).setdefault(method, {})[
                        _level_key(level)
                    ] = _summarise(values)
    return summary


def _mean_counts(results: list[SeedResult], key: str) -> OperationCounts:
    fields = results[0].counts[key].keys()
    means = {
        name: float(np.mean([r.counts[key][name] for r in results])) for name in fields
    }
    return OperationCounts(**{name: value for name, value in means.items()})


def _energy_record(results: list[SeedResult]) -> dict[str, object]:
    """Estimate energy per test image (inference) and per stream image (adaptation)."""
    inference_counts = _mean_counts(results, "stdp_inference_per_image")
    adaptation_counts = _mean_counts(results, "stdp_adaptation_per_image")
    macs = int(results[0].counts["cnn_forward_macs"])
    parameters = int(results[0].counts["cnn_parameters"])
    steps = float(np.mean([r.counts["ewc_steps_per_stream_image"] for r in results]))

    stdp_inference = loihi_energy(inference_counts, include_learning=False)
    stdp_adaptation = loihi_energy(adaptation_counts, include_learning=True)
    cnn_inference = cnn_energy(macs, images=1)
    cnn_inference_sram = cnn_energy(macs, images=1, include_sram=True)
    ewc_adaptation = cnn_energy(
        macs, images=1, training=True, parameter_count=parameters, steps=steps
    )
    return {
        "label": "ESTIMATE from operation counts times published per-operation "
        "energies; nothing was measured on Loihi or a GPU",
        "per_operation_energies": energy_sources(),
        "stdp_counts_per_test_image": vars(inference_counts),
        "stdp_counts_per_stream_image": vars(adaptation_counts),
        "cnn_forward_macs_per_image": macs,
        "inference_per_image_J": {
            "stdp_loihi": stdp_inference.to_dict(),
            "cnn_mac_arithmetic_only": cnn_inference.to_dict(),
            "cnn_mac_with_sram_reads": cnn_inference_sram.to_dict(),
        },
        "adaptation_per_stream_image_J": {
            "stdp_loihi_with_learning": stdp_adaptation.to_dict(),
            "ewc_cnn_training_arithmetic_only": ewc_adaptation.to_dict(),
        },
        "ratio_cnn_over_stdp": {
            "inference_arithmetic_only": cnn_inference.total / stdp_inference.total,
            "inference_with_sram_reads": cnn_inference_sram.total
            / stdp_inference.total,
            "adaptation_arithmetic_only": ewc_adaptation.total / stdp_adaptation.total,
        },
        "claimed_ratio_cnn_over_stdp": CLAIMED_ENERGY_RATIO,
    }


def build_record(
    results: list[SeedResult],
    settings: BenchmarkSettings,
    wall_time: float,
    torch_threads: int,
) -> dict[str, object]:
    """Collect settings, per-seed results, summaries and the energy estimate.

    Parameters
    ----------
    results : list of SeedResult
        One per seed, in seed order.
    settings : BenchmarkSettings
        The settings that produced them.
    wall_time : float
        Seconds the whole run took.
    torch_threads : int
        Threads torch used during the run.

    Returns
    -------
    dict
        JSON-ready; accuracies are fractions in [0, 1].
    """
    per_seed = [
        {
            "seed": r.seed,
            "accuracy": _keys_to_text(r.accuracy),
            "retention": _keys_to_text(r.retention),
            "selected_hyperparameters": r.selected,
            "wall_time_s": r.wall_time,
        }
        for r in results
    ]
    return {
        "benchmark": "distribution shift (biosynapse-verify bench shift)",
        "mode": "quick" if settings.quick else "full",
        "data": "sklearn.datasets.load_digits, 8x8, stratified 60/20/20 split per seed",
        "methods": {
            key: {"label": METHODS[key], "labels_used": _LABEL_USE[key]}
            for key in METHODS
        },
        "settings": settings.to_dict(),
        "shift_parameters": shift_parameters(settings),
        "claimed_accuracy_percent": CLAIMED_ACCURACY,
        "measured_accuracy": _aggregate(results, settings, "accuracy"),
        "clean_accuracy_after_adaptation": _aggregate(results, settings, "retention"),
        "per_seed": per_seed,
        "energy": _energy_record(results),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "scikit_learn": sklearn.__version__,
            "torch_threads": torch_threads,
            "machine": platform.machine(),
        },
        "wall_time_s": wall_time,
    }


def _keys_to_text(table: dict[str, dict[str, dict[float, float]]]) -> dict:
    return {
        family: {
            method: {_level_key(k): v for k, v in levels.items()}
            for method, levels in methods.items()
        }
        for family, methods in table.items()
    }


def _percent(summary: dict[str, object]) -> str:
    mean, spread = 100 * summary["mean"], 100 * summary["std"]
    return f"{mean:.1f} ± {spread:.1f}"


def _claimed_table() -> list[str]:
    methods = list(CLAIMED_ACCURACY)
    lines = [
        "| shift | " + " | ".join(_SHORT_NAMES[m] for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for level in CLAIMED_ACCURACY["stdp_online"]:
        cells = [f"{CLAIMED_ACCURACY[m][level]:.1f}" for m in methods]
        lines.append(f"| {100 * float(level):g}% | " + " | ".join(cells) + " |")
    return lines


def _measured_table(record: dict, family: str, key: str) -> list[str]:
    table = record[key][family]
    methods = [m for m in METHODS if m in table]
    lines = [
        "| shift | " + " | ".join(_SHORT_NAMES[m] for m in methods) + " |",
        "|---|" + "---:|" * len(methods),
    ]
    for level, parameters in record["shift_parameters"][family].items():
        if level not in table[methods[0]]:
            continue
        detail = ", ".join(f"{name} {value:g}" for name, value in parameters.items())
        cells = [_percent(table[m][level]) for m in methods]
        lines.append(
            f"| {100 * float(level):g}% ({detail}) | " + " | ".join(cells) + " |"
        )
    return lines


def _micro(entry: dict) -> str:
    return f"{entry['total'] / _MICROJOULE:.3g} µJ"


def _energy_sources_lines(sources: dict) -> list[str]:
    loihi, gpu = sources["loihi"], sources["gpu_proxy"]
    loihi_line = (
        f"Loihi per-operation energies ({loihi['source']}): "
        f"synaptic op {loihi['synaptic_op_pJ']:g} pJ, "
        f"synaptic update {loihi['synaptic_update_pJ']:g} pJ, "
        f"neuron update {loihi['neuron_update_active_pJ']:g} pJ, "
        f"spike message {loihi['spike_message_within_tile_pJ']:g} pJ."
    )
    gpu_line = (
        f"CNN per-MAC energy ({gpu['source']}): "
        f"{gpu['mac_arithmetic_only_pJ']:g} pJ arithmetic only, "
        f"{gpu['mac_with_two_sram_reads_pJ']:g} pJ with two SRAM operand reads; "
        f"{gpu['note']}."
    )
    return [loihi_line, gpu_line]


def _energy_lines(energy: dict) -> list[str]:
    inference = energy["inference_per_image_J"]
    adaptation = energy["adaptation_per_stream_image_J"]
    ratio = energy["ratio_cnn_over_stdp"]
    claimed = f"{energy['claimed_ratio_cnn_over_stdp']:g}x"
    rows = [
        (
            "inference, per test image (MAC arithmetic only)",
            inference["stdp_loihi"],
            inference["cnn_mac_arithmetic_only"],
            ratio["inference_arithmetic_only"],
            claimed,
        ),
        (
            "inference, per test image (MAC + SRAM reads)",
            inference["stdp_loihi"],
            inference["cnn_mac_with_sram_reads"],
            ratio["inference_with_sram_reads"],
            claimed,
        ),
        (
            "adaptation, per stream image (STDP learning vs EWC training)",
            adaptation["stdp_loihi_with_learning"],
            adaptation["ewc_cnn_training_arithmetic_only"],
            ratio["adaptation_arithmetic_only"],
            "-",
        ),
    ]
    lines = [
        "## Energy (ESTIMATE, not a measurement)",
        "",
        *_energy_sources_lines(energy["per_operation_energies"]),
        "",
        "| quantity | STDP on Loihi | CNN | CNN / STDP | claimed |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, stdp, cnn, cnn_over_stdp, claim in rows:
        cells = [name, _micro(stdp), _micro(cnn), f"{cnn_over_stdp:.3g}x", claim]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(record: dict) -> str:
    """Render the record as Markdown: claimed table, measured tables, energy."""
    seeds = len(record["per_seed"])
    lines = [
        f"# Distribution-shift benchmark ({record['mode']} run, {seeds} seeds)",
        "",
        "## Claimed accuracy (%, as stated by the claim; not measured here)",
        "",
        *_claimed_table(),
        "",
        "The claim names no shift family; it is shown against both measured families.",
    ]
    for family in record["measured_accuracy"]:
        lines += [
            "",
            (
                f"## Measured test accuracy (%), shift family `{family}`, "
                f"mean ± std over {seeds} seeds"
            ),
            "",
            *_measured_table(record, family, "measured_accuracy"),
            "",
            f"Clean test accuracy (%) after adapting at each level (`{family}`):",
            "",
            *_measured_table(record, family, "clean_accuracy_after_adaptation"),
        ]
    lines += ["", "Columns:", ""]
    lines += [
        f"- {_SHORT_NAMES[m]}: {info['label']}. Labels on the shifted stream: "
        f"{info['labels_used']}."
        for m, info in record["methods"].items()
    ]
    lines += ["", *_energy_lines(record["energy"]), ""]
    lines.append(
        f"Wall time {record['wall_time_s']:.0f} s, "
        f"{record['environment']['torch_threads']} torch thread(s)."
    )
    return "\n".join(lines) + "\n"


def accuracy_figure(record: dict) -> Figure:
    """Draw accuracy against shift level, one panel per family, claims dashed."""
    families = list(record["measured_accuracy"])
    figure = Figure(figsize=(5.5 * len(families), 5.0), layout="constrained")
    axes = figure.subplots(1, len(families), squeeze=False)[0]
    colours = dict(zip(METHODS, ["C0", "C1", "C2", "C7", "C4"]))
    for axis, family in zip(axes, families):
        for method, levels in record["measured_accuracy"][family].items():
            x = [100 * float(level) for level in levels]
            y = [100 * s["mean"] for s in levels.values()]
            err = [100 * s["std"] for s in levels.values()]
            axis.errorbar(
                x,
                y,
                yerr=err,
                marker="o",
                capsize=3,
                color=colours[method],
                label=f"{_SHORT_NAMES[method]} (measured)",
            )
        for method, levels in CLAIMED_ACCURACY.items():
            x = [100 * float(level) for level in levels]
            axis.plot(
                x,
                list(levels.values()),
                linestyle="--",
                marker="x",
                color=colours[method],
                alpha=0.6,
                label=f"{_SHORT_NAMES[method]} (claimed)",
            )
        axis.set_title(f"shift family: {family}")
        axis.set_xlabel("shift level (%)")
        axis.set_ylabel("test accuracy (%)")
        axis.set_ylim(0, 100)
        axis.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    return figure


def write_outputs(record: dict, out_dir: Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.md`` and ``accuracy_vs_shift.png`` atomically.

    Parameters
    ----------
    record : dict
        From :func:`build_record`.
    out_dir : Path
        Created if missing.

    Returns
    -------
    dict of str to Path
        The written files by kind.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "results.json",
        "markdown": out_dir / "results.md",
        "plot": out_dir / "accuracy_vs_shift.png",
    }
    atomic_write_text(
        paths["json"], json.dumps(record, indent=2, sort_keys=False) + "\n"
    )
    atomic_write_text(paths["markdown"], markdown_report(record))

    buffer = io.BytesIO()
    FigureCanvasAgg(accuracy_figure(record)).print_png(buffer)
    atomic_write_bytes(paths["plot"], buffer.getvalue())
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
